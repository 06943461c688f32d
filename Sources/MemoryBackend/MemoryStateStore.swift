import StorageCore
import Synchronization

/// The state of one memory store directory; outlives `MemoryStateStore` instances.
final class MemoryStateVolume: Sendable {
    struct Contents {
        var map = SortedChunkMap()
        var position = AppliedPosition.zero
    }

    let contents = Mutex(Contents())
}

/// A `StateStore` in memory: a sorted chunk map behind a lock. A batch is
/// applied under the lock, so readers see all of it or none of it.
final class MemoryStateStore: StateStore {
    private let volume: MemoryStateVolume
    private let isClosed = Atomic(false)
    /// The largest key and value this store holds; larger writes are refused before any is written.
    let limits: StateStoreLimits

    init(volume: MemoryStateVolume, limits: StateStoreLimits = .cluster) {
        self.volume = volume
        self.limits = limits
    }

    var syncCount: UInt64 { 0 }

    private func withContents<T>(_ body: (inout MemoryStateVolume.Contents) throws -> T) throws -> T {
        guard !isClosed.load(ordering: .acquiring) else { throw StorageError.closed }
        return try volume.contents.withLock { try body(&$0) }
    }

    func get(_ key: Bytes) throws -> Bytes? {
        try withContents { $0.map.get(key) }
    }

    func scan(_ range: KeyRange, limit: Int) throws -> [KeyValue] {
        try withContents { state in
            var result: [KeyValue] = []
            guard limit > 0 else { return result }
            state.map.forEach(in: range) { pair in
                result.append(pair)
                return result.count < limit
            }
            return result
        }
    }

    func apply(_ batch: WriteBatch, through position: AppliedPosition) throws {
        try limits.check(batch)
        try withContents { state in
            guard position.index >= state.position.index else {
                throw StorageError.invalidArgument(
                    "applied index would go backwards from \(state.position.index) to \(position.index)")
            }
            for operation in batch.operations {
                switch operation {
                case let .put(key, value): state.map.put(key, value)
                case let .delete(key): state.map.delete(key)
                }
            }
            state.position = position
        }
    }

    func appliedPosition() throws -> AppliedPosition {
        try withContents { $0.position }
    }

    /// Nothing to sync: the data lives and dies with the process.
    func checkpoint() throws -> AppliedPosition {
        try appliedPosition()
    }

    func snapshot() throws -> any StateSnapshot {
        try withContents { MemorySnapshot(map: $0.map, position: $0.position) }
    }

    func restore(from source: inout some KeyValueSource, position: AppliedPosition) throws {
        guard !isClosed.load(ordering: .acquiring) else { throw StorageError.closed }
        var map = SortedChunkMap()
        var previous: Bytes?
        while let pair = try source.next() {
            try RestoreOrder.check(pair.key, after: previous)
            try limits.check(key: pair.key, value: pair.value)
            map.put(pair.key, pair.value)
            previous = pair.key
        }
        try withContents { state in
            state.map = map
            state.position = position
        }
    }

    func close() throws {
        isClosed.store(true, ordering: .releasing)
    }
}

/// A frozen copy of the map: copy-on-write shares it with the live store
/// until the store writes, so taking one is cheap and later writes don't show.
final class MemorySnapshot: StateSnapshot {
    let position: AppliedPosition
    private let map: SortedChunkMap
    private enum Cursor { case start, after(Bytes), done }
    private let cursor = Mutex(Cursor.start)

    init(map: SortedChunkMap, position: AppliedPosition) {
        self.map = map
        self.position = position
    }

    func next() throws -> KeyValue? {
        cursor.withLock { cursor in
            let pair: KeyValue?
            switch cursor {
            case .start: pair = map.first(after: nil)
            case .after(let key): pair = map.first(after: key)
            case .done: return nil
            }
            cursor = pair.map { .after($0.key) } ?? .done
            return pair
        }
    }

    func close() {}
}
