import StorageCore

/// Rebuilds a wal log store's state at open: reads `meta`, then replays every
/// frame of the live segments, oldest first, into the in-memory index.
///
/// # Replay over a compaction point
/// Replay starts from `meta`'s compaction point `c` with an empty log and
/// applies each frame restricted to indexes after `c`: an append drops the
/// entries from its first index on and adds its own entries past `c`; a
/// truncate drops the entries past its index. This rebuilds exactly the live
/// log because compaction deletes only segments whose frames all lie at or
/// before `c` (`SegmentFile.maxIndex`): every entry past `c` that a later
/// frame relied on is in a kept segment, so the restricted log never has a
/// gap, and a gap found here means damage.
///
/// # Torn tails
/// A crash during an append can leave a partial frame at the end of the data
/// of the last segment, followed only by zeros (segments are zero-filled
/// ahead of the writer). Such a frame never returned to its caller; it is cut
/// (zeroed, and synced with sync on) and the log continues before it. A bad
/// frame anywhere else (in an older segment, or followed by more data) is
/// damage to acknowledged writes and is reported as `.corrupted`, never
/// skipped. The one torn write this cannot tell from damage is a crash that
/// lost a frame's first page but kept a later one: that reopens with
/// `.corrupted` too, refusing rather than guessing.
struct WALRecovery {
    let directory: String
    let sync: Bool
    let segmentSize: Int
    let syncs: SyncCounter

    func recover() throws -> WALLogStore.State {
        let metaPath = directory + "/" + WALMeta.fileName
        try FileSystem.removeFile(metaPath + ".tmp")
        let meta = try FileSystem.readFile(metaPath).map { try WALMeta.decode($0, path: metaPath) } ?? WALMeta()

        // Segments before meta's first are left over from a compaction that
        // crashed before deleting them.
        var ids: [UInt64] = []
        for name in try FileSystem.listDirectory(directory) {
            guard let id = SegmentFile.id(fromName: name) else { continue }
            if id < meta.firstSegment { try FileSystem.removeFile(directory + "/" + name) } else { ids.append(id) }
        }
        ids.sort()
        for (position, id) in ids.enumerated() where id != meta.firstSegment + UInt64(position) {
            throw StorageError.corrupted(
                path: directory, reason: "wal segment \(SegmentFile.name(meta.firstSegment + UInt64(position))) is missing")
        }

        var state = WALLogStore.State(
            bounds: LogBounds(snapshot: meta.snapshot, last: meta.snapshot.index), locations: [],
            hardState: meta.hardState, segments: [])
        do {
            for (position, id) in ids.enumerated() {
                let segment = try SegmentFile.open(id: id, directory: directory)
                let isLast = position == ids.count - 1
                switch try segment.checkHeader() {
                case .valid:
                    state.segments.append(segment)
                    try replay(segment, isLast: isLast, into: &state)
                case .blank where isLast:
                    // Created but never finished (its frames would follow a synced header): start it again.
                    segment.close()
                    try FileSystem.removeFile(segment.path)
                case .blank:
                    throw StorageError.corrupted(path: segment.path, reason: "segment header is blank, but later segments exist")
                case .damaged(let reason):
                    throw StorageError.corrupted(path: segment.path, reason: reason)
                }
            }
            if state.segments.isEmpty {
                let id = ids.last ?? meta.firstSegment
                state.segments.append(
                    try SegmentFile.create(id: id, directory: directory, capacity: segmentSize, sync: sync, syncs: syncs))
            }
        } catch {
            for segment in state.segments { segment.close() }
            throw error
        }
        return state
    }

    /// Replays one segment's frames and leaves its write position at the end of its data.
    private func replay(_ segment: SegmentFile, isLast: Bool, into state: inout WALLogStore.State) throws {
        var cursor = SegmentCursor(segment)
        var offset = SegmentFile.headerSize
        while offset + WALFrame.headerSize <= segment.capacity {
            var header = BinaryReader(try cursor.bytes(at: offset, count: WALFrame.headerSize))
            let length = Int(try header.readUInt32())
            let crc = try header.readUInt32()
            if length == 0, crc == 0 { break }
            let end = offset + WALFrame.headerSize + length
            guard end <= segment.capacity,
                case let body = try cursor.bytes(at: offset + WALFrame.headerSize, count: length),
                CRC32C.checksum(body) == crc
            else {
                try cutTornFrame(at: offset, claimedEnd: end, in: segment, isLast: isLast, cursor: &cursor)
                segment.markData(through: offset)
                return
            }
            let source = "\(segment.path) (frame at offset \(offset))"
            try apply(WALFrame.decode(body: body, source: source), at: offset, in: segment, to: &state, source: source)
            offset = end
        }
        guard try cursor.isZero(from: offset) else {
            throw StorageError.corrupted(
                path: segment.path, reason: "data after the end marker at offset \(offset): a damaged frame header")
        }
        segment.markData(through: offset)
    }

    /// A frame that is not whole: a torn tail if it is the last thing in the
    /// last segment (zeroed so new frames can follow), damage otherwise.
    private func cutTornFrame(
        at offset: Int, claimedEnd: Int, in segment: SegmentFile, isLast: Bool, cursor: inout SegmentCursor
    ) throws {
        let plausible = claimedEnd <= segment.capacity
        guard isLast, plausible, try cursor.isZero(from: claimedEnd) else {
            throw StorageError.corrupted(
                path: segment.path,
                reason: "damaged frame at offset \(offset)" + (isLast ? " followed by more data" : " in a segment that is not the last"))
        }
        try segment.write(Bytes(repeating: 0, count: claimedEnd - offset), at: offset)
        if sync { try segment.sync(syncs) }
    }

    private func apply(
        _ frame: WALFrame.Decoded, at offset: Int, in segment: SegmentFile, to state: inout WALLogStore.State,
        source: @autoclosure () -> String
    ) throws {
        let compacted = state.bounds.snapshot.index
        switch frame {
        case let .append(first, entries, hardState):
            if let last = entries.last {
                guard first <= state.bounds.last + 1 else {
                    throw StorageError.corrupted(
                        path: source(), reason: "frame appends from log index \(first), but the log ends at \(state.bounds.last)")
                }
                // Drops what the append replaced, then adds its entries past the compaction point.
                state.locations.removeSubrange(Int(max(first, compacted + 1) - state.bounds.first)...)
                for entry in entries where entry.index > compacted {
                    state.locations.append(WALLogStore.Location(
                        term: entry.term, segment: segment.id,
                        offset: offset + WALFrame.headerSize + entry.offset, length: entry.length))
                }
                segment.maxIndex = max(segment.maxIndex, last.index)
                state.bounds.last = compacted + UInt64(state.locations.count)
            }
            if let hardState { state.hardState = hardState }
        case let .truncate(index):
            if index < state.bounds.last {
                state.locations.removeSubrange(Int(max(index, compacted) + 1 - state.bounds.first)...)
                state.bounds.last = compacted + UInt64(state.locations.count)
            }
        }
    }
}
