import StorageCore
import Synchronization

/// The Raft log as a segmented write-ahead log (format in `WALFrame`,
/// `SegmentFile` and `WALMeta`; where it syncs in `WALBackend`).
///
/// Every mutating call is one frame written with one `pwrite` and, with sync
/// on, made durable with one `fdatasync`. Entries are never rewritten in
/// place: an append that replaces a suffix, and `truncateSuffix`, are frames
/// too, which replay applies in order. Reads find an entry through the
/// in-memory index (log index -> term, segment, offset, length) and read just
/// its record, whose own CRC-32C is checked on every read.
///
/// After a failed write or sync the store refuses further writes with the
/// error it saw: what reached the disk is then unknown (a failed fsync may
/// have dropped dirty pages), and only a reopen, which rescans the files,
/// knows again.
final class WALLogStore: LogStore {
    /// Where one live entry's record is.
    struct Location: Sendable {
        var term: UInt64
        var segment: UInt64
        var offset: Int
        var length: Int
    }

    struct State: Sendable {
        var bounds: LogBounds
        /// `locations[i]` is entry `bounds.first + i`.
        var locations: [Location]
        var hardState: HardState
        /// Contiguous ids, oldest first; the last one is written to.
        var segments: [SegmentFile]
        var failure: StorageError?

        var active: SegmentFile { segments[segments.count - 1] }

        func segment(_ id: UInt64) -> SegmentFile { segments[Int(id - segments[0].id)] }

        func location(_ index: UInt64) -> Location { locations[Int(index - bounds.first)] }
    }

    let directory: String
    let sync: Bool
    let segmentSize: Int
    private let syncs = SyncCounter()
    /// One writer per directory, in this process or any other.
    private let lock: StoreLock
    /// nil once closed.
    private let state: Mutex<State?>

    init(directory: String, sync: Bool, segmentSize: Int) throws {
        self.directory = directory
        self.sync = sync
        self.segmentSize = segmentSize
        lock = try StoreLock(directory: directory, backend: "wal")
        state = Mutex(try WALRecovery(directory: directory, sync: sync, segmentSize: segmentSize, syncs: syncs).recover())
    }

    private func withState<T>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { state in
            guard state != nil else { throw StorageError.closed }
            return try body(&state!)
        }
    }

    /// For mutating calls: refuses after a failed write, and marks the store
    /// failed when `body` throws an I/O error.
    private func mutate(_ body: (inout State) throws -> Void) throws {
        try withState { state in
            if let failure = state.failure { throw failure }
            do {
                try body(&state)
            } catch let error as StorageError {
                if case .io = error { state.failure = error }
                throw error
            }
        }
    }

    // MARK: Reads

    func snapshotIndex() throws -> UInt64 { try withState { $0.bounds.snapshot.index } }
    func firstIndex() throws -> UInt64 { try withState { $0.bounds.first } }
    func lastIndex() throws -> UInt64 { try withState { $0.bounds.last } }

    func term(at index: UInt64) throws -> UInt64 {
        try withState { state in
            if let known = try state.bounds.knownTerm(at: index) { return known }
            return state.location(index).term
        }
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        try withState { state in
            try state.bounds.check(range)
            var collector = EntryCollector(range: range, maxBytes: maxBytes)
            // Records of consecutive entries written by one frame lie next to
            // each other (4 length bytes apart): read such a run with one pread.
            var index = range.lowerBound
            while collector.expected != nil {
                let first = state.location(index)
                var runEnd = index
                var runBytes = first.length
                while runEnd < range.upperBound, runBytes < 1 << 20 {
                    let previous = state.location(runEnd)
                    let next = state.location(runEnd + 1)
                    guard next.segment == first.segment, next.offset == previous.offset + previous.length + 4 else { break }
                    runEnd += 1
                    runBytes = next.offset + next.length - first.offset
                }
                let segment = state.segment(first.segment)
                let bytes = try segment.read(at: first.offset, count: runBytes)
                for at in index...runEnd {
                    let location = state.location(at)
                    let start = location.offset - first.offset
                    let entry = try LogEntryCodec.decode(
                        bytes[start..<start + location.length], source: "\(segment.path) (log entry \(at))")
                    guard try collector.add(entry, path: segment.path) else { break }
                }
                index = runEnd + 1
            }
            return collector.entries
        }
    }

    func hardState() throws -> HardState { try withState { $0.hardState } }

    // MARK: Writes

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try mutate { state in
            let plan = try state.bounds.planAppend(entries)
            guard plan != nil || hardState != nil else { return }
            let frame = WALFrame.append(entries, hardState: hardState)
            let (segment, offset) = try write(frame.bytes, in: &state)
            if let first = entries.first, let plan {
                state.locations.removeSubrange(Int(first.index - state.bounds.first)...)
                for (entry, record) in zip(entries, frame.records) {
                    state.locations.append(
                        Location(term: entry.term, segment: segment.id, offset: offset + record.offset, length: record.length))
                }
                segment.maxIndex = max(segment.maxIndex, plan.newLast)
                state.bounds.last = plan.newLast
            }
            if let hardState { state.hardState = hardState }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try mutate { state in
            guard try state.bounds.planTruncate(after: index) != nil else { return }
            _ = try write(WALFrame.truncate(keepingThrough: index), in: &state)
            state.locations.removeSubrange(Int(index + 1 - state.bounds.first)...)
            state.bounds.last = index
        }
    }

    /// Records the new compaction point in `meta`, then deletes the oldest
    /// segments whose every frame lies at or before it. A segment that still
    /// holds a live entry, or any entry past the compaction point (even one
    /// replaced since), is kept, so replaying the kept segments over the
    /// compaction point rebuilds exactly the live log (see `WALRecovery`).
    func compact(through index: UInt64, term: UInt64) throws {
        try mutate { state in
            guard let plan = try state.bounds.planCompact(through: index, term: term) else { return }
            var keepFrom = 0
            while keepFrom < state.segments.count - 1, state.segments[keepFrom].maxIndex <= index { keepFrom += 1 }
            let meta = WALMeta(snapshot: plan.bounds.snapshot, firstSegment: state.segments[keepFrom].id, hardState: state.hardState)
            try FileSystem.writeFileAtomically(directory + "/" + WALMeta.fileName, meta.encode(), sync: sync, counter: syncs)
            state.locations.removeFirst(min(state.locations.count, plan.dropped.count))
            state.bounds = plan.bounds
            for segment in state.segments[..<keepFrom] {
                segment.close()
                // A failed unlink leaves a file open ignores and removes.
                try? FileSystem.removeFile(segment.path)
            }
            state.segments.removeFirst(keepFrom)
        }
    }

    /// Writes one frame at the end of the active segment (rolling over to a
    /// new segment when it does not fit) and syncs it; returns where it went.
    private func write(_ frame: Bytes, in state: inout State) throws -> (SegmentFile, Int) {
        var segment = state.active
        if segment.writeOffset + frame.count > segment.capacity {
            let capacity = max(segmentSize, (SegmentFile.headerSize + frame.count + 4095) / 4096 * 4096)
            segment = try SegmentFile.create(
                id: segment.id + 1, directory: directory, capacity: capacity, sync: sync, syncs: syncs)
            state.segments.append(segment)
        }
        let offset = segment.writeOffset
        try segment.zeroAhead(covering: offset + frame.count)
        try segment.write(frame, at: offset)
        if sync { try segment.sync(syncs) }
        segment.writeOffset = offset + frame.count
        return (segment, offset)
    }

    var syncCount: UInt64 { syncs.value }

    /// With sync off, the active segment is synced once here.
    func close() throws {
        try state.withLock { state in
            guard let open = state else { return }
            state = nil
            defer {
                for segment in open.segments { segment.close() }
                lock.release()
            }
            if !sync, open.failure == nil { try open.active.sync(syncs) }
        }
    }
}
