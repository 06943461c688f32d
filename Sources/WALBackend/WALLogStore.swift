import StorageCore
import Synchronization

/// The Raft log as a segmented write-ahead log (format in `WALFrame`,
/// `SegmentFile` and `WALMeta`; where it syncs in `WALBackend`).
///
/// Every mutating call is one frame written with one `pwrite` per page and,
/// with sync on, made durable with one `fdatasync`. Entries are never
/// rewritten in place: an append that replaces a suffix, and
/// `truncateSuffix`, are frames too, which replay applies in order. Reads
/// find an entry through the in-memory index (log index -> term, segment,
/// offset, length) and read just its record, whose own CRC-32C is checked on
/// every read.
///
/// Concurrency: `writer` serialises mutating calls across their write and
/// fsync; `state`, what readers see, is held only for a moment, and a write
/// publishes its result there once it is durable. So a read never waits for
/// a write to reach the disk. Readers copy the locations they need and read
/// outside the lock; frames are never overwritten, and a segment deleted by
/// compaction is only unlinked, its descriptor closed when the last reader
/// holding it lets go, so such a read still finds its bytes.
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

    /// What readers see.
    struct State: Sendable {
        var bounds: LogBounds
        /// `locations[i]` is entry `bounds.first + i`.
        var locations: [Location]
        var hardState: HardState
        /// Contiguous ids, oldest first; the last one is written to.
        var segments: [SegmentFile]

        var active: SegmentFile { segments[segments.count - 1] }

        func location(_ index: UInt64) -> Location { locations[Int(index - bounds.first)] }
    }

    let directory: String
    let sync: Bool
    let segmentSize: Int
    private let syncs = SyncCounter()
    /// One writer per directory, in this process or any other.
    private let lock: StoreLock
    /// Published state; nil once closed. Held only for a moment.
    private let state: Mutex<State?>
    /// Serialises mutating calls; holds the failure that stopped writes, if any.
    private let writer = Mutex<StorageError?>(nil)

    init(directory: String, sync: Bool, segmentSize: Int) throws {
        self.directory = directory
        self.sync = sync
        self.segmentSize = segmentSize
        lock = try StoreLock(directory: directory, backend: "wal")
        state = Mutex(try WALRecovery(directory: directory, sync: sync, segmentSize: segmentSize, syncs: syncs).recover())
    }

    private func current() throws -> State {
        guard let current = state.withLock({ $0 }) else { throw StorageError.closed }
        return current
    }

    /// For mutating calls: refuses after a failed write, and marks the store
    /// failed when `body` throws an I/O error. `body` gets the published state.
    private func mutate(_ body: (State) throws -> Void) throws {
        try writer.withLock { failure in
            if let failure { throw failure }
            do {
                try body(try current())
            } catch let error as StorageError {
                if case .io = error { failure = error }
                throw error
            }
        }
    }

    /// Changes the published state, unless the store was closed meanwhile.
    private func publish(_ change: (inout State) -> Void) {
        state.withLock { state in
            if state != nil { change(&state!) }
        }
    }

    // MARK: Reads

    func snapshotIndex() throws -> UInt64 { try current().bounds.snapshot.index }
    func firstIndex() throws -> UInt64 { try current().bounds.first }
    func lastIndex() throws -> UInt64 { try current().bounds.last }

    func term(at index: UInt64) throws -> UInt64 {
        try state.withLock { state in
            guard let state else { throw StorageError.closed }
            if let known = try state.bounds.knownTerm(at: index) { return known }
            return state.location(index).term
        }
    }

    func entries(_ range: ClosedRange<UInt64>, maxBytes: Int) throws -> [LogEntry] {
        // Copy out just the locations the read can use (maxBytes of payload
        // and one more), and the segments, then read outside the lock.
        let (first, locations, segments) = try state.withLock { state in
            guard let state else { throw StorageError.closed }
            try state.bounds.check(range)
            var locations: [Location] = []
            var payload = 0
            var index = range.lowerBound
            while true {
                let location = state.location(index)
                locations.append(location)
                payload += location.length - LogEntryCodec.headerSize
                if index == range.upperBound || payload > maxBytes { break }
                index += 1
            }
            return (range.lowerBound, locations, state.segments)
        }
        func segment(_ id: UInt64) -> SegmentFile { segments[Int(id - segments[0].id)] }
        var collector = EntryCollector(range: range, maxBytes: maxBytes)
        // Records of consecutive entries written by one frame lie next to
        // each other (4 length bytes apart): read such a run with one pread.
        var at = 0
        while collector.expected != nil, at < locations.count {
            let head = locations[at]
            var runEnd = at
            var runBytes = head.length
            while runEnd + 1 < locations.count, runBytes < 1 << 20 {
                let previous = locations[runEnd]
                let next = locations[runEnd + 1]
                guard next.segment == head.segment, next.offset == previous.offset + previous.length + 4 else { break }
                runEnd += 1
                runBytes = next.offset + next.length - head.offset
            }
            let file = segment(head.segment)
            let bytes = try file.read(at: head.offset, count: runBytes)
            for position in at...runEnd {
                let location = locations[position]
                let start = location.offset - head.offset
                let entry = try LogEntryCodec.decode(
                    bytes[start..<start + location.length], source: "\(file.path) (log entry \(first + UInt64(position)))")
                guard try collector.add(entry, path: file.path) else { break }
            }
            at = runEnd + 1
        }
        return collector.entries
    }

    func hardState() throws -> HardState { try current().hardState }

    // MARK: Writes

    func append(_ entries: [LogEntry], hardState: HardState?) throws {
        try mutate { current in
            let plan = try current.bounds.planAppend(entries)
            guard plan != nil || hardState != nil else { return }
            let frame = WALFrame.append(entries, hardState: hardState)
            let (segment, offset, created) = try write(frame.bytes, after: current.active)
            if let plan { segment.maxIndex = max(segment.maxIndex, plan.newLast) }
            publish { state in
                if let created { state.segments.append(created) }
                if let first = entries.first, let plan {
                    state.locations.removeSubrange(Int(first.index - state.bounds.first)...)
                    for (entry, record) in zip(entries, frame.records) {
                        state.locations.append(
                            Location(term: entry.term, segment: segment.id, offset: offset + record.offset, length: record.length))
                    }
                    state.bounds.last = plan.newLast
                }
                if let hardState { state.hardState = hardState }
            }
        }
    }

    func truncateSuffix(after index: UInt64) throws {
        try mutate { current in
            guard try current.bounds.planTruncate(after: index) != nil else { return }
            let (_, _, created) = try write(WALFrame.truncate(keepingThrough: index), after: current.active)
            publish { state in
                if let created { state.segments.append(created) }
                state.locations.removeSubrange(Int(index + 1 - state.bounds.first)...)
                state.bounds.last = index
            }
        }
    }

    /// Records the new compaction point in `meta`, then deletes the oldest
    /// segments whose every frame lies at or before it. A segment that still
    /// holds a live entry, or any entry past the compaction point (even one
    /// replaced since), is kept, so replaying the kept segments over the
    /// compaction point rebuilds exactly the live log (see `WALRecovery`).
    func compact(through index: UInt64, term: UInt64) throws {
        try mutate { current in
            guard let plan = try current.bounds.planCompact(through: index, term: term) else { return }
            var keepFrom = 0
            while keepFrom < current.segments.count - 1, current.segments[keepFrom].maxIndex <= index { keepFrom += 1 }
            let meta = WALMeta(
                snapshot: plan.bounds.snapshot, firstSegment: current.segments[keepFrom].id, hardState: current.hardState)
            try FileSystem.writeFileAtomically(directory + "/" + WALMeta.fileName, meta.encode(), sync: sync, counter: syncs)
            publish { state in
                state.locations.removeFirst(min(state.locations.count, plan.dropped.count))
                state.bounds = plan.bounds
                state.segments.removeFirst(keepFrom)
            }
            // Unlinked only: a reader may still hold one; its descriptor
            // closes with the last reference. A failed unlink leaves a file
            // that open ignores and removes.
            for segment in current.segments[..<keepFrom] { try? FileSystem.removeFile(segment.path) }
        }
    }

    /// Writes one frame at the end of the active segment (rolling over to a
    /// new segment when it does not fit) and syncs it; returns where it went
    /// and the segment it created, if any.
    private func write(_ frame: Bytes, after active: SegmentFile) throws -> (SegmentFile, Int, SegmentFile?) {
        var segment = active
        var created: SegmentFile?
        if segment.writeOffset + frame.count > segment.capacity {
            let capacity = max(segmentSize, (SegmentFile.headerSize + frame.count + 4095) / 4096 * 4096)
            segment = try SegmentFile.create(
                id: segment.id + 1, directory: directory, capacity: capacity, sync: sync, syncs: syncs)
            created = segment
        }
        let offset = segment.writeOffset
        try segment.zeroAhead(covering: offset + frame.count)
        try segment.write(frame, at: offset)
        if sync { try segment.sync(syncs) }
        segment.writeOffset = offset + frame.count
        return (segment, offset, created)
    }

    var syncCount: UInt64 { syncs.value }

    /// With sync off, the active segment is synced once here. Segment files
    /// close as the last reference to each goes (here, unless a read is
    /// still under way).
    func close() throws {
        try writer.withLock { failure in
            guard let open = state.withLock({ $0 }) else { return }
            state.withLock { $0 = nil }
            defer { lock.release() }
            if !sync, failure == nil { try open.active.sync(syncs) }
        }
    }
}
