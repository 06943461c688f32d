import Foundation
import RaftLabBackends
import StorageCore
import Testing
@testable import WALBackend

/// What only the wal backend promises: preallocated segment files whose size
/// never changes, one fdatasync per call, torn tails cut at open, damage
/// reported, compaction by whole segments, and replay over a compaction point.
@Suite("WAL backend")
struct WALSpecificTests {
    let wal = WALBackend()
    static let smallSegments = ["segment_size": String(64 << 10)]

    /// A damaged frame is refused at open, so the kit damages an entry while
    /// the store is open; the term of every live entry is kept in memory. A
    /// compaction replaces meta: fdatasync of the temporary file and fsync of
    /// the directory; with sync off, close syncs the active segment once.
    static let hooks = BackendHooks(
        entryDamage: .open { directory, entry in
            let segment = directory + "/0000000000000001.seg"
            let damaged = flipAll(entry.data, in: try #require(try FileSystem.readFile(segment)))
            #expect(damaged.count == 1)
            try overwrite(segment, at: 0, with: Array(damaged.bytes.prefix(1 << 16)))
        },
        entrySource: { "0000000000000001.seg (log entry \($0))" },
        termReadsRecord: false,
        lockWord: "locked",
        logSyncs: (perCall: 1, compaction: 2, unsyncedClose: 1),
        badSettings: ["big", "0", "-1", "4096", String(2 << 30)].map { ["segment_size": $0] })

    func open(_ path: String, sync: Bool = true, settings: [String: String] = [:]) throws -> any LogStore {
        try wal.openLogStore(StoreOptions(directory: path, sync: sync, settings: settings))
    }

    static func segments(_ path: String) throws -> [String] {
        try FileSystem.listDirectory(path).filter { $0.hasSuffix(".seg") }.sorted()
    }

    static func fileSize(_ path: String) -> (size: Int, allocated: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else { return (-1, -1) }
        return (Int(info.st_size), Int(info.st_blocks) * 512)
    }

    /// Offset of the end of the data in a segment: walks the frames' length fields.
    static func endOfData(_ path: String) throws -> Int {
        let bytes = try #require(try FileSystem.readFile(path))
        var offset = SegmentFile.headerSize
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            if length == 0 { break }
            offset += 8 + length
        }
        return offset
    }

    static func overwrite(_ path: String, at offset: Int, with bytes: Bytes) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        handle.write(Data(bytes))
    }

    static func expectCorrupted(
        _ reasonPart: String? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected .corrupted, nothing was thrown", sourceLocation: sourceLocation)
        } catch let StorageError.corrupted(_, reason) {
            if let reasonPart { #expect(reason.contains(reasonPart), "\(reason)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected .corrupted, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a store is a marker, a lock, a meta file after compaction and preallocated segments whose size never changes")
    func filesOnDisk() throws {
        let dir = TestDirectory("wal-files")
        defer { dir.remove() }
        let log = try open(dir.path)
        let segment = dir.sub("0000000000000001.seg")
        #expect(Self.fileSize(segment).size == WALBackend.defaultSegmentSize, "created at its full size")
        #expect(Self.fileSize(segment).allocated >= WALBackend.defaultSegmentSize, "and allocated (fallocate)")
        for start in stride(from: UInt64(1), through: 2_000, by: 10) {
            try log.append(entries(start...start + 9, term: 1, size: 100), hardState: HardState(term: 1, votedFor: 1, commit: start))
        }
        #expect(Self.fileSize(segment).size == WALBackend.defaultSegmentSize, "appends never change the file size")
        try log.compact(through: 100, term: 1)
        #expect(try FileSystem.listDirectory(dir.path).sorted() == [
            "0000000000000001.seg", StoreLock.fileName, StoreDirectory.markerName, WALMeta.fileName,
        ])
        try log.close()
    }

    @Test("small segments roll over; compaction deletes whole segments and records the first one; all survives reopen")
    func rolloverAndCompaction() throws {
        let dir = TestDirectory("wal-segments")
        defer { dir.remove() }
        let written = entries(1...3_000, term: 2, size: 200)
        do {
            let log = try open(dir.path, settings: Self.smallSegments)
            for start in stride(from: 0, to: written.count, by: 50) {
                try log.append(Array(written[start..<start + 50]))
            }
            #expect(try Self.segments(dir.path).count > 5)
            for name in try Self.segments(dir.path) { #expect(Self.fileSize(dir.sub(name)).size == 64 << 10) }
            try log.saveHardState(HardState(term: 2, votedFor: 3, commit: 2_500))
            try log.compact(through: 2_000, term: 2)
            try log.close()
        }
        // 1000 live entries of about 250 bytes fill 4 segments of 64 KiB, a 5th at most by alignment.
        let remaining = try Self.segments(dir.path)
        #expect((4...5).contains(remaining.count), "segments wholly before index 2000 are gone: \(remaining)")
        #expect(remaining.first != "0000000000000001.seg")
        let meta = try WALMeta.decode(try #require(try FileSystem.readFile(dir.sub(WALMeta.fileName))), path: "meta")
        #expect(meta.snapshot == AppliedPosition(index: 2_000, term: 2))
        #expect(SegmentFile.name(meta.firstSegment) == remaining.first)

        let log = try open(dir.path, settings: Self.smallSegments)
        defer { try? log.close() }
        #expect(try log.firstIndex() == 2_001)
        #expect(try log.lastIndex() == 3_000)
        #expect(try log.term(at: 2_000) == 2)
        #expect(try log.entries(2_001...3_000, maxBytes: .max) == Array(written[2_000...]))
        #expect(try log.hardState() == HardState(term: 2, votedFor: 3, commit: 2_500))
    }

    @Test("a hard state whose frame was in a deleted segment comes back from meta")
    func hardStateOutlivesItsSegment() throws {
        let dir = TestDirectory("wal-hardstate")
        defer { dir.remove() }
        do {
            let log = try open(dir.path, settings: Self.smallSegments)
            try log.saveHardState(HardState(term: 7, votedFor: 2, commit: 0))
            for start in stride(from: UInt64(1), to: 2_000, by: 100) {
                try log.append(entries(start...start + 99, term: 7, size: 100))
            }
            try log.compact(through: 1_990, term: 7)
            try log.close()
        }
        #expect(!(try Self.segments(dir.path)).contains("0000000000000001.seg"), "the segment with the vote is gone")
        let log = try open(dir.path, settings: Self.smallSegments)
        defer { try? log.close() }
        #expect(try log.hardState() == HardState(term: 7, votedFor: 2, commit: 0))
        #expect(try log.entries(1_991...2_000, maxBytes: .max) == entries(1_991...2_000, term: 7, size: 100))
    }

    @Test("replay over a compaction point rebuilds the live log after overwrites and truncations (seeded, reopening often)")
    func replayMatchesModel() throws {
        let dir = TestDirectory("wal-replay")
        defer { dir.remove() }
        var log = try open(dir.path, settings: Self.smallSegments)
        defer { try? log.close() }
        var rng = SplitMix64(seed: 2024)
        var model: [LogEntry] = []
        var snapshot = AppliedPosition.zero
        var term: UInt64 = 1
        var hardState = HardState.initial
        for step in 0..<400 {
            let last = snapshot.index + UInt64(model.count)
            switch rng.next() % 10 {
            case 0..<6:
                let back = min(UInt64(rng.next() % 4 == 0 ? rng.next() % 40 : 0), UInt64(model.count))
                let start = last + 1 - back
                if back > 0 { term += 1 }
                let batch = entries(start...(start + rng.next() % 30), term: term, size: Int(rng.next() % 300))
                hardState = HardState(term: term, votedFor: rng.next() % 3, commit: snapshot.index)
                try log.append(batch, hardState: hardState)
                model.removeSubrange(Int(start - snapshot.index - 1)...)
                model += batch
            case 6:
                let keep = snapshot.index + UInt64(rng.next() % UInt64(model.count + 1))
                try log.truncateSuffix(after: keep)
                model.removeSubrange(Int(keep - snapshot.index)...)
            case 7, 8:
                guard !model.isEmpty else { continue }
                let through = snapshot.index + 1 + rng.next() % UInt64(model.count)
                let throughTerm = model[Int(through - snapshot.index - 1)].term
                try log.compact(through: through, term: throughTerm)
                model.removeSubrange(...Int(through - snapshot.index - 1))
                snapshot = AppliedPosition(index: through, term: throughTerm)
            default:
                try log.close()
                log = try open(dir.path, settings: Self.smallSegments)
            }
            #expect(try log.snapshotIndex() == snapshot.index, "step \(step)")
            #expect(try log.lastIndex() == snapshot.index + UInt64(model.count), "step \(step)")
            #expect(try log.hardState() == hardState, "step \(step)")
        }
        try log.close()
        log = try open(dir.path, settings: Self.smallSegments)
        #expect(try log.term(at: snapshot.index) == snapshot.term)
        #expect(try log.entries(from: snapshot.index + 1) == model)
        #expect(try Self.segments(dir.path).count < 12, "compaction keeps deleting segments")
    }

    @Test("a frame larger than a segment gets a segment of its own size")
    func oversizedFrame() throws {
        let dir = TestDirectory("wal-oversized")
        defer { dir.remove() }
        var big = entries(2...2, term: 1)
        big[0].data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        do {
            let log = try open(dir.path, settings: Self.smallSegments)
            try log.append(entries(1...1, term: 1))
            try log.append(big)
            try log.append(entries(3...3, term: 1))
            try log.close()
        }
        let sizes = try Self.segments(dir.path).map { Self.fileSize(dir.sub($0)).size }
        #expect(sizes.contains { $0 > 1 << 20 })
        let log = try open(dir.path, settings: Self.smallSegments)
        defer { try? log.close() }
        #expect(try log.entries(1...3, maxBytes: .max) == entries(1...1, term: 1) + big + entries(3...3, term: 1))
    }

    /// A torn frame: the size of its entry's payload and how much of it reached the disk.
    struct TornFrame: Sendable, CustomTestStringConvertible {
        let payload: Int
        let written: Double
        var testDescription: String { "\(payload)-byte entry, \(Int(written * 100))% written" }
    }

    @Test(
        "a torn frame at the end of the last segment is cut (and zeroed) at open, and the log goes on after it",
        arguments: [
            TornFrame(payload: 300, written: 0.01), TornFrame(payload: 300, written: 0.5),
            TornFrame(payload: 300, written: 0.98), TornFrame(payload: 3 << 20, written: 0.9),
        ])
    func tornTailIsCut(torn: TornFrame) throws {
        let dir = TestDirectory("wal-torn")
        defer { dir.remove() }
        let segment = dir.sub("0000000000000001.seg")
        do {
            let log = try open(dir.path)
            for index in UInt64(1)...10 {
                try log.append(entries(index...index, term: 1, size: 300), hardState: HardState(term: 1, votedFor: 1, commit: index))
            }
            try log.close()
        }
        // The frame the next append would write, cut short as a crash
        // mid-write leaves it (1%: its length field only). A reopen after the
        // next appends must find no leftover of it, even past the stretch the
        // writer zero-fills ahead of itself (3 MiB): the cut zeroed it.
        let end = try Self.endOfData(segment)
        let frame = WALFrame.append(
            entries(11...11, term: 1, size: torn.payload), hardState: HardState(term: 1, votedFor: 1, commit: 11)
        ).bytes
        try Self.overwrite(segment, at: end, with: Array(frame.prefix(Int(Double(frame.count) * torn.written))))

        do {
            let log = try open(dir.path)
            #expect(try log.lastIndex() == 10)
            #expect(try log.entries(1...10, maxBytes: .max) == entries(1...10, term: 1, size: 300))
            #expect(try log.hardState() == HardState(term: 1, votedFor: 1, commit: 10))
            try log.append(entries(11...12, term: 2))
            try log.close()
        }
        let log = try open(dir.path)
        defer { try? log.close() }
        #expect(try log.entries(1...12, maxBytes: .max) == entries(1...10, term: 1, size: 300) + entries(11...12, term: 2))
    }

    @Test("damage to an acknowledged frame is .corrupted at open, never cut or skipped")
    func damagedFrameIsReported() throws {
        let dir = TestDirectory("wal-damage")
        defer { dir.remove() }
        let marker = bytes("PAYLOAD-TO-BE-DAMAGED-ON-DISK")
        do {
            let log = try open(dir.path)
            try log.append(entries(1...4, term: 1))
            try log.append([LogEntry(index: 5, term: 1, data: marker)] + entries(6...8, term: 1))
            try log.append(entries(9...12, term: 1))
            try log.close()
        }
        let segment = dir.sub("0000000000000001.seg")
        let damaged = flipAll(marker, in: try #require(try FileSystem.readFile(segment)))
        #expect(damaged.count == 1)
        try FileSystem.writeFile(segment, damaged.bytes, sync: false)
        Self.expectCorrupted("followed by more data") { _ = try open(dir.path) }
        // Opening again changes nothing: the damage is still there and still refused.
        Self.expectCorrupted("followed by more data") { _ = try open(dir.path) }
    }

    @Test("a missing segment, a damaged header or a damaged meta file is .corrupted")
    func damagedLayout() throws {
        let dir = TestDirectory("wal-layout")
        defer { dir.remove() }
        func build(_ path: String) throws {
            let log = try open(path, settings: Self.smallSegments)
            for start in stride(from: UInt64(1), to: 1_500, by: 50) { try log.append(entries(start...start + 49, term: 1, size: 200)) }
            try log.compact(through: 10, term: 1)
            try log.close()
        }
        try build(dir.sub("missing"))
        try FileSystem.removeFile(dir.sub("missing/0000000000000002.seg"))
        Self.expectCorrupted("is missing") { _ = try open(dir.sub("missing"), settings: Self.smallSegments) }

        try build(dir.sub("header"))
        try Self.overwrite(dir.sub("header/0000000000000002.seg"), at: 0, with: bytes("NOTASEGM"))
        Self.expectCorrupted("magic") { _ = try open(dir.sub("header"), settings: Self.smallSegments) }

        try build(dir.sub("meta"))
        try Self.overwrite(dir.sub("meta/meta"), at: 10, with: [0xAA])
        Self.expectCorrupted("checksum") { _ = try open(dir.sub("meta"), settings: Self.smallSegments) }
    }

    @Test("wal is a log store only: opening it as a state store is refused")
    func noStateStore() {
        #expect(wal.kinds == [.log])
        #expect(throws: StorageError.unsupportedStore(backend: "wal", kind: .state, providers: [])) {
            _ = try wal.openStateStore(StoreOptions(directory: "/nonexistent"))
        }
    }
}
