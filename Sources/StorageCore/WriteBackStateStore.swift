import Synchronization

/// A state store whose applied batches wait in memory until a checkpoint
/// writes them to the store underneath in one durable batch.
///
/// Why: some engines cannot write without syncing and stay consistent after
/// power loss. LMDB with MDB_NOSYNC may reuse pages the last durable meta page
/// still points to, so a power cut between syncs can corrupt the database; a
/// file per item has no ordering between files at all. For those backends,
/// checkpoint mode (`StateSyncMode.checkpoint`) keeps the writes since the
/// last checkpoint here, as etcd keeps bbolt's pending writes in its batch
/// buffer, and the engine sees one synced batch per checkpoint. A crash loses
/// the buffer, which the contract allows: the store reopens at its last
/// checkpoint and Raft replays its log from there.
///
/// Reads see the buffer over the store underneath; a snapshot freezes both.
/// A checkpoint hands the buffer to the store without blocking applies or
/// reads meanwhile: new applies start a fresh buffer, and the one being
/// written stays readable until the store holds it. Buffered bytes are
/// bounded: an apply that takes the buffer past `maxBufferedBytes` checkpoints.
public final class WriteBackStateStore: StateStore {
    /// Buffered writes: a value, or nil for a delete.
    private struct Overlay: Sendable {
        var pairs = SortedChunkMap()
        var position: AppliedPosition?
        var bytes = 0

        var isEmpty: Bool { position == nil }

        /// Values are kept with a leading tag byte: 1 and the value, or 0 for a delete.
        mutating func put(_ key: Bytes, _ value: Bytes?) {
            if let value {
                pairs.put(key, [1] + value)
                bytes += key.count + value.count + 1
            } else {
                pairs.put(key, [0])
                bytes += key.count + 1
            }
        }

        /// `.some(nil)` for a buffered delete, nil when the key is not buffered.
        func lookup(_ key: Bytes) -> Bytes?? {
            guard let tagged = pairs.get(key) else { return nil }
            return Self.untag(tagged)
        }

        static func untag(_ tagged: Bytes) -> Bytes? {
            tagged.first == 1 ? Array(tagged.dropFirst()) : nil
        }

        var writeBatch: WriteBatch {
            var batch = WriteBatch()
            pairs.forEach(in: .all) { pair in
                if let value = Self.untag(pair.value) { batch.put(pair.key, value) } else { batch.delete(pair.key) }
                return true
            }
            return batch
        }

        /// This overlay laid over `older`: keys of both, this one winning.
        func over(_ older: Overlay) -> Overlay {
            var merged = older
            pairs.forEach(in: .all) { pair in
                merged.pairs.put(pair.key, pair.value)
                merged.bytes += pair.key.count + pair.value.count
                return true
            }
            merged.position = position ?? older.position
            return merged
        }
    }

    private struct Buffers: Sendable {
        /// Writes applied since the last checkpoint began.
        var live = Overlay()
        /// Writes a running checkpoint is handing to the store.
        var flushing = Overlay()
        var isClosed = false
    }

    private let inner: any StateStore
    private let check: @Sendable (WriteBatch.Operation) throws -> Void
    private let buffers = Mutex(Buffers())
    /// Serialises checkpoints, restores and the taking of snapshots, so the
    /// store underneath never changes between a snapshot's two halves.
    private let checkpointing = Mutex(())
    public let maxBufferedBytes: Int

    /// `inner` must make each `apply` durable itself (`StateSyncMode.always`).
    /// Every apply is checked against `inner.limits` before it is buffered,
    /// and `check` may refuse more: a write `inner` would refuse at the
    /// checkpoint must be refused at apply time, since a checkpoint that
    /// fails on bad input would fail again on every retry.
    public init(
        wrapping inner: any StateStore, maxBufferedBytes: Int = 64 << 20,
        check: @escaping @Sendable (WriteBatch.Operation) throws -> Void = { _ in }
    ) {
        self.inner = inner
        self.maxBufferedBytes = maxBufferedBytes
        self.check = check
    }

    private func withBuffers<T>(_ body: (inout Buffers) throws -> T) throws -> T {
        try buffers.withLock { buffers in
            guard !buffers.isClosed else { throw StorageError.closed }
            return try body(&buffers)
        }
    }

    // MARK: Reads

    public func get(_ key: Bytes) throws -> Bytes? {
        let buffered: Bytes?? = try withBuffers { $0.live.lookup(key) ?? $0.flushing.lookup(key) }
        if let buffered { return buffered }
        return try inner.get(key)
    }

    public func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        guard limit > 0 else { return [] }
        let (live, flushing) = try withBuffers { ($0.live, $0.flushing) }
        var buffered: [(key: Bytes, value: Bytes?)] = []
        live.over(flushing).pairs.forEach(in: range) { pair in
            buffered.append((pair.key, Overlay.untag(pair.value)))
            return true
        }
        var merged = MergedPairs(buffered: buffered, pageSize: min(max(limit, 64), 4096)) { lower, count in
            try self.inner.scan(KeyRange(from: lower, to: range.upper), limit: count)
        }
        var result: [KeyValue] = []
        while result.count < limit, let pair = try merged.next(from: range.lower) {
            result.append(pair)
        }
        return result
    }

    public func appliedPosition() throws -> AppliedPosition {
        if let position = try withBuffers({ $0.live.position ?? $0.flushing.position }) { return position }
        return try inner.appliedPosition()
    }

    public func snapshot() throws -> any StateSnapshot {
        try checkpointing.withLock { _ in
            let (live, flushing) = try withBuffers { ($0.live, $0.flushing) }
            let base = try inner.snapshot()
            let overlay = live.over(flushing)
            return WriteBackSnapshot(base: base, overlay: overlay.pairs, position: overlay.position ?? base.position)
        }
    }

    // MARK: Writes

    /// The store underneath's.
    public var limits: StateStoreLimits { inner.limits }

    public func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try inner.limits.check(batch)
        for operation in batch.operations { try check(operation) }
        let full: Bool = try withBuffers { buffers in
            let current = try buffers.live.position ?? buffers.flushing.position ?? inner.appliedPosition()
            if position < current {
                throw StorageError.invalidArgument(
                    "applied position \(position.index) is below the current position \(current.index)")
            }
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value): buffers.live.put(key, value)
                case .delete(let key): buffers.live.put(key, nil)
                }
            }
            buffers.live.position = position
            return buffers.live.bytes + buffers.flushing.bytes > maxBufferedBytes
        }
        if full { try checkpoint() }
    }

    @discardableResult
    public func checkpoint() throws -> AppliedPosition {
        try checkpointing.withLock { _ in
            let flushing: Overlay = try withBuffers { buffers in
                buffers.flushing = buffers.live
                buffers.live = Overlay()
                return buffers.flushing
            }
            guard let position = flushing.position else { return try inner.appliedPosition() }
            do {
                try inner.apply(flushing.writeBatch, through: position)
            } catch {
                // Nothing was written: keep the writes buffered, under any newer ones.
                buffers.withLock { buffers in
                    buffers.live = buffers.live.over(buffers.flushing)
                    buffers.flushing = Overlay()
                }
                throw error
            }
            buffers.withLock { $0.flushing = Overlay() }
            return position
        }
    }

    /// Writes the buffer first, so a restore that fails leaves the old state
    /// whole, as the contract asks, and readers never see a buffer laid over
    /// the restored state.
    public func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        try checkpoint()
        try checkpointing.withLock { _ in
            try inner.restore(from: &source, position: position)
        }
    }

    public var syncCount: UInt64 { inner.syncCount }

    /// Writes what is buffered, then closes the store underneath.
    public func close() throws {
        let alreadyClosed = buffers.withLock { $0.isClosed }
        guard !alreadyClosed else { return }
        defer {
            buffers.withLock { $0.isClosed = true }
            try? inner.close()
        }
        try checkpoint()
    }
}

/// Buffered pairs merged over pages of the store underneath, in key order;
/// a buffered key hides the store's pair, a buffered delete hides it entirely.
private struct MergedPairs {
    let buffered: [(key: Bytes, value: Bytes?)]
    let pageSize: Int
    let readPage: (Bytes, Int) throws -> [KeyValue]
    private var bufferedAt = 0
    private var page: [KeyValue] = []
    private var pageAt = 0
    private var nextLower: Bytes?
    private var started = false

    init(buffered: [(key: Bytes, value: Bytes?)], pageSize: Int, readPage: @escaping (Bytes, Int) throws -> [KeyValue]) {
        self.buffered = buffered
        self.pageSize = pageSize
        self.readPage = readPage
    }

    /// The store's next pair, reading another page when one runs out.
    private mutating func peekStored(from lower: Bytes) throws -> KeyValue? {
        if !started {
            started = true
            nextLower = lower
        }
        if pageAt == page.count, let from = nextLower {
            page = try readPage(from, pageSize)
            pageAt = 0
            nextLower = page.count == pageSize ? page.last.map { $0.key + [0x00] } : nil
        }
        return pageAt < page.count ? page[pageAt] : nil
    }

    mutating func next(from lower: Bytes) throws -> KeyValue? {
        while true {
            let stored = try peekStored(from: lower)
            let pending = bufferedAt < buffered.count ? buffered[bufferedAt] : nil
            switch (stored, pending) {
            case (nil, nil):
                return nil
            case (let stored?, nil):
                pageAt += 1
                return stored
            case (let stored?, let pending?) where stored.key.sortsBefore(pending.key):
                pageAt += 1
                return stored
            case (let stored, let pending?):
                if stored?.key == pending.key { pageAt += 1 }
                bufferedAt += 1
                if let value = pending.value { return KeyValue(key: pending.key, value: value) }
            }
        }
    }
}

/// A snapshot of the store underneath with a frozen copy of the buffer on top.
private final class WriteBackSnapshot: StateSnapshot, @unchecked Sendable {
    let position: AppliedPosition
    private let base: any StateSnapshot
    /// Guards the merge cursor; `@unchecked Sendable` above because the
    /// cursor's state is only touched under this lock.
    private let lock = Mutex(())
    private let overlay: SortedChunkMap
    private var baseNext: KeyValue??
    private var overlayAfter: Bytes?
    private var overlayNext: KeyValue??

    init(base: any StateSnapshot, overlay: SortedChunkMap, position: AppliedPosition) {
        self.base = base
        self.overlay = overlay
        self.position = position
    }

    func next() throws -> KeyValue? {
        try lock.withLock { _ in
            while true {
                if baseNext == nil { baseNext = .some(try base.next()) }
                if overlayNext == nil {
                    let pair = overlay.first(after: overlayAfter)
                    overlayNext = .some(pair)
                    overlayAfter = pair?.key
                }
                switch (baseNext!, overlayNext!) {
                case (nil, nil):
                    return nil
                case (let stored?, nil):
                    baseNext = nil
                    return stored
                case (let stored?, let pending?) where stored.key.sortsBefore(pending.key):
                    baseNext = nil
                    return stored
                case (let stored, let pending?):
                    if stored?.key == pending.key { baseNext = nil }
                    overlayNext = nil
                    if pending.value.first == 1 { return KeyValue(key: pending.key, value: Array(pending.value.dropFirst())) }
                }
            }
        }
    }

    func close() { base.close() }
}
