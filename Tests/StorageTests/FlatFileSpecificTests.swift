import Foundation
import RaftLabBackends
import StorageCore
import Testing

/// What only the flat-file backend promises: its file names, its one-file-per-
/// record layout, and how it repairs or reports what a crash or damage left.
@Suite("FlatFile backend specifics")
struct FlatFileSpecificTests {
    let backend = BackendUnderTest(name: "flatfile")

    /// Each entry is its own file, damaged in place.
    static let hooks = BackendHooks(
        entryDamage: .closed { directory, entry in
            let path = directory + "/" + entryFile(entry.index)
            let damaged = flipAll(entry.data, in: try #require(try FileSystem.readFile(path)))
            #expect(damaged.count == 1)
            try FileSystem.writeFile(path, damaged.bytes, sync: false)
        },
        entrySource: { "/" + entryFile($0) })

    /// A store directory under /tmp, removed by `remove()`.
    struct Scratch {
        let path: String
        init(path: String = "/tmp/raftlab-flatfile-\(UUID().uuidString)") { self.path = path }
        func remove() { try? FileSystem.removeTree(path) }
        func names(_ sub: String = "") throws -> [String] {
            try FileSystem.listDirectory(sub.isEmpty ? path : path + "/" + sub).sorted()
        }
        /// The live items directory of a state store (there is exactly one after open).
        func itemsDirectory() throws -> String {
            let generations = try names().filter { $0.hasPrefix("items-") }
            try #require(generations.count == 1)
            return path + "/" + generations[0]
        }
    }

    static func entryFile(_ index: UInt64) -> String {
        String(format: "%020llu.entry", index)
    }

    static func expectCorrupted(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected .corrupted, nothing was thrown", sourceLocation: sourceLocation)
        } catch let error as StorageError {
            guard case .corrupted = error else {
                Issue.record("expected .corrupted, got \(error)", sourceLocation: sourceLocation)
                return
            }
        } catch {
            Issue.record("expected .corrupted, got \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: State store file names

    static let awkwardKeys: [Bytes] = [
        [], [0x00], [0x00, 0x00], [0x00, 0xFF], [0xFF], [0xFF, 0x00], [0xFF, 0xFF],
        bytes("/"), bytes("a/b"), bytes(".."), bytes("../../etc/passwd"), bytes("."), bytes("k"),
        bytes("é"), bytes("e\u{301}"), bytes("日本語"), bytes("🙂"), [0xC3], [0x80, 0x80],
        bytes("applied"), bytes("journal"), bytes("x.tmp"),
        Array(repeating: 0x61, count: 100), Array(repeating: 0x61, count: 101),
        Array(repeating: 0x61, count: 5000), Array(repeating: 0x61, count: 5000) + [0x00],
        Array(repeating: 0xFF, count: 5000), (0..<5000).map { UInt8(truncatingIfNeeded: $0) },
    ]

    @Test("awkward keys (/, .., unicode, 0x00/0xFF, empty, 5000 bytes) round trip through put, get, scan and reopen")
    func awkwardKeysRoundTrip() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let sorted = Self.awkwardKeys.sorted { $0.lexicographicallyPrecedes($1) }
        do {
            let store = try backend.openState(dir.path, stateSync: .always)
            var batch = WriteBatch()
            for (i, key) in Self.awkwardKeys.enumerated() { batch.put(key, bytes("value-\(i)") + key) }
            try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
            #expect(try store.scan(.all).map(\.key) == sorted)
            for (i, key) in Self.awkwardKeys.enumerated() {
                #expect(try store.get(key) == bytes("value-\(i)") + key)
            }
            // Keys that share a long prefix only differ after the 48 bytes kept in the name.
            let longA = Array(repeating: UInt8(0x61), count: 5000)
            #expect(try store.scan(.prefix(longA)).map(\.key) == sorted.filter { $0.starts(with: longA) })
            #expect(try store.get(Array(repeating: 0x61, count: 4999)) == nil)
            try store.close()
        }
        // Every name is a plain file directly in the items directory, within NAME_MAX.
        let items = try dir.itemsDirectory()
        let itemNames = try FileSystem.listDirectory(items).filter { $0.hasPrefix("k") || $0.hasPrefix("h") }
        #expect(itemNames.count == Self.awkwardKeys.count)
        for name in itemNames {
            #expect(name.utf8.count <= 255)
            #expect(!name.contains("/") && !name.contains("."))
        }
        #expect(itemNames.contains("k"), "the empty key is the file 'k'")

        let reopened = try backend.openState(dir.path, stateSync: .always)
        defer { try? reopened.close() }
        #expect(try reopened.scan(.all).map(\.key) == sorted)
        for (i, key) in Self.awkwardKeys.enumerated() {
            #expect(try reopened.get(key) == bytes("value-\(i)") + key)
        }
        var deletes = WriteBatch()
        for key in Self.awkwardKeys { deletes.delete(key) }
        try reopened.apply(deletes, through: AppliedPosition(index: 2, term: 1))
        #expect(try reopened.scan(.all).isEmpty)
        #expect(try FileSystem.listDirectory(items).filter { $0.hasPrefix("k") || $0.hasPrefix("h") }.isEmpty)
    }

    @Test("a long key's file holding a key that does not belong under its name is reported, never returned or overwritten")
    func misplacedHashedItemIsDetected() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        let owner = Array(repeating: UInt8(0x62), count: 300)
        let intruder = Array(repeating: UInt8(0x62), count: 299) + [0x63]
        var batch = WriteBatch()
        batch.put(owner, bytes("owner's value"))
        batch.put(intruder, bytes("intruder's value"))
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))

        // Both keys share their first 48 bytes, so their names differ only in the hash part.
        let items = try dir.itemsDirectory()
        let hashed = try FileSystem.listDirectory(items).filter { $0.hasPrefix("h") }.sorted()
        try #require(hashed.count == 2)
        let ownerBytes = ItemFileBytes.make(owner, bytes("owner's value"))
        let ownerFile = try #require(hashed.first { (try? FileSystem.readFile(items + "/" + $0)) == ownerBytes })
        let intruderFile = try #require(hashed.first { $0 != ownerFile })
        // Put the owner's record under the intruder's name, as a hash collision would.
        try FileSystem.rename(items + "/" + ownerFile, to: items + "/" + intruderFile)

        Self.expectCorrupted { _ = try store.get(intruder) }
        var overwrite = WriteBatch()
        overwrite.put(intruder, bytes("must not replace the owner"))
        #expect(throws: StorageError.self) { try store.apply(overwrite, through: AppliedPosition(index: 2, term: 1)) }
        var delete = WriteBatch()
        delete.delete(intruder)
        #expect(throws: StorageError.self) { try store.apply(delete, through: AppliedPosition(index: 2, term: 1)) }
        #expect(try FileSystem.readFile(items + "/" + intruderFile) == ownerBytes, "the misplaced record is left untouched")
        #expect(try store.appliedPosition() == AppliedPosition(index: 1, term: 1))
    }

    // MARK: One file per record

    @Test("one file per log entry and one file per item exist on disk")
    func oneFilePerRecord() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let log = try backend.openLog(dir.path + "/log")
        try log.append(entries(1...7, term: 1), hardState: HardState(term: 1, votedFor: 2, commit: 3))
        try log.append(entries(5...9, term: 2))
        try log.close()
        let logNames = try dir.names("log")
        #expect(logNames.filter { $0.hasSuffix(".entry") } == (1...9).map(Self.entryFile))
        #expect(logNames.contains("hardstate"))
        #expect(!logNames.contains { $0.hasSuffix(".tmp") || $0.contains(".staged-") })
        let entry5 = try #require(try FileSystem.readFile(dir.path + "/log/" + Self.entryFile(5)))
        #expect(try LogEntryCodec.decode(entry5, source: "entry 5") == entries(5...5, term: 2)[0])

        let stateDir = Scratch(path: dir.path + "/state")
        let state = try backend.openState(stateDir.path, stateSync: .always)
        var batch = WriteBatch()
        for i in 0..<25 { batch.put(bytes("key-\(i)"), bytes("value-\(i)")) }
        try state.apply(batch, through: AppliedPosition(index: 9, term: 2))
        try state.close()
        let itemNames = try FileSystem.listDirectory(try stateDir.itemsDirectory())
        #expect(itemNames.filter { $0.hasPrefix("k") }.count == 25)
        #expect(itemNames.contains("k" + bytes("key-7").map { String(format: "%02x", $0) }.joined()))
        #expect(itemNames.contains("applied"))
        #expect(!itemNames.contains("journal"), "the journal is gone once its batch is applied")
    }

    @Test("checkpoint mode: applies write no item files until a checkpoint writes them in one journaled batch")
    func checkpointMode() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let state = try backend.openState(dir.path, stateSync: .checkpoint)
        defer { try? state.close() }
        let before = state.syncCount
        for i in 0..<5 {
            var batch = WriteBatch()
            batch.put(bytes("key-\(i)"), bytes("value-\(i)"))
            try state.apply(batch, through: AppliedPosition(index: UInt64(i + 1), term: 1))
        }
        #expect(try state.get(bytes("key-3")) == bytes("value-3"))
        #expect(try FileSystem.listDirectory(try dir.itemsDirectory()).filter { $0.hasPrefix("k") }.isEmpty)
        #expect(state.syncCount == before)
        #expect(try state.checkpoint() == AppliedPosition(index: 5, term: 1))
        #expect(try FileSystem.listDirectory(try dir.itemsDirectory()).filter { $0.hasPrefix("k") }.count == 5)
        #expect(state.syncCount == before + 5 + 4, "one batch of 5 puts: puts + 4")
    }

    @Test("sync on counts syncs for every durable call; sync off issues none")
    func syncCounts() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let synced = try backend.openLog(dir.path + "/synced")
        let before = synced.syncCount
        try synced.append(entries(1...4, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))
        #expect(synced.syncCount - before == 4 + 3)
        try synced.close()

        let unsynced = try backend.openLog(dir.path + "/unsynced", sync: false)
        try unsynced.append(entries(1...4, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))
        #expect(unsynced.syncCount == 0)
        try unsynced.close()

        let state = try backend.openState(dir.path + "/state", stateSync: .always)
        let stateBefore = state.syncCount
        var batch = WriteBatch()
        batch.put(bytes("a"), bytes("1"))
        batch.put(bytes("b"), bytes("2"))
        batch.delete(bytes("c"))
        try state.apply(batch, through: AppliedPosition(index: 1, term: 1))
        #expect(state.syncCount - stateBefore == 2 + 4)
        try state.close()
    }

    // MARK: Batch journal

    /// The journal format, spelled out independently of the backend's encoder.
    static func journalBytes(_ operations: [(Bytes, Bytes?)], position: AppliedPosition) -> Bytes {
        var writer = BinaryWriter()
        writer.write(lengthPrefixed: PositionCodec.encode(position))
        writer.write(UInt32(operations.count))
        for (key, value) in operations {
            writer.write(UInt8(value == nil ? 0 : 1))
            writer.write(lengthPrefixed: key)
            if let value { writer.write(lengthPrefixed: value) }
        }
        return Checksummed.seal(writer.bytes)
    }

    /// A store holding a=1, b=2 at position 5, closed.
    func storeWithTwoKeys(_ dir: Scratch) throws {
        let store = try backend.openState(dir.path, stateSync: .always)
        var batch = WriteBatch()
        batch.put(bytes("a"), bytes("1"))
        batch.put(bytes("b"), bytes("2"))
        try store.apply(batch, through: AppliedPosition(index: 5, term: 1))
        try store.close()
    }

    @Test("a complete journal found at open is redone, including the applied position")
    func completeJournalIsRedone() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try storeWithTwoKeys(dir)
        let items = try dir.itemsDirectory()
        let journal = Self.journalBytes(
            [(bytes("a"), bytes("1-new")), (bytes("b"), nil), (bytes("c"), bytes("3"))],
            position: AppliedPosition(index: 6, term: 2))
        try FileSystem.writeFile(items + "/journal", journal, sync: false)
        // A crash midway: the put of "a" had already landed, its temp file of "c" was half written.
        try FileSystem.writeFile(items + "/k" + "63.tmp", [1, 2, 3], sync: false)

        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        #expect(try store.appliedPosition() == AppliedPosition(index: 6, term: 2))
        #expect(try store.scan(.all) == [KeyValue(key: bytes("a"), value: bytes("1-new")), KeyValue(key: bytes("c"), value: bytes("3"))])
        #expect(!(try FileSystem.listDirectory(items)).contains { $0 == "journal" || $0.hasSuffix(".tmp") })
    }

    @Test("a half-written or damaged journal found at open is discarded: its batch never committed")
    func tornJournalIsDiscarded() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try storeWithTwoKeys(dir)
        let items = try dir.itemsDirectory()
        let journal = Self.journalBytes([(bytes("a"), bytes("torn")), (bytes("z"), bytes("26"))], position: AppliedPosition(index: 6, term: 2))
        for damaged in [Array(journal.prefix(journal.count / 2)), [], Array(journal.prefix(3))] {
            try FileSystem.writeFile(items + "/journal", damaged, sync: false)
            try FileSystem.writeFile(items + "/journal.tmp", journal, sync: false)
            let store = try backend.openState(dir.path, stateSync: .always)
            #expect(try store.appliedPosition() == AppliedPosition(index: 5, term: 1))
            #expect(try store.scan(.all) == [KeyValue(key: bytes("a"), value: bytes("1")), KeyValue(key: bytes("b"), value: bytes("2"))])
            try store.close()
            #expect(!(try FileSystem.listDirectory(items)).contains { $0.hasPrefix("journal") })
        }
        var flipped = journal
        flipped[flipped.count - 1] ^= 0x01
        try FileSystem.writeFile(items + "/journal", flipped, sync: false)
        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        #expect(try store.get(bytes("z")) == nil)
        #expect(try store.get(bytes("a")) == bytes("1"))
    }

    @Test("a damaged item file reads as .corrupted")
    func damagedItemIsCorrupted() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try storeWithTwoKeys(dir)
        let file = try dir.itemsDirectory() + "/k61"
        var content = try #require(try FileSystem.readFile(file))
        content[content.count - 1] ^= 0x40
        try FileSystem.writeFile(file, content, sync: false)
        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        Self.expectCorrupted { _ = try store.get(bytes("a")) }
        Self.expectCorrupted { _ = try store.scan(.all) }
        #expect(try store.get(bytes("b")) == bytes("2"))
    }

    // MARK: Snapshots and generations

    @Test("a snapshot taken before later writes, deletes and a restore still reads the old values")
    func snapshotKeepsOldValues() throws {
        let dir = Scratch()
        defer { dir.remove() }
        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        var batch = WriteBatch()
        for i in 0..<20 { batch.put(bytes("key-\(String(format: "%02d", i))"), bytes("old-\(i)")) }
        batch.put(Array(repeating: 0x7A, count: 5000), bytes("long-old"))
        try store.apply(batch, through: AppliedPosition(index: 3, term: 1))
        let expected = try store.scan(.all)

        let snapshot = try store.snapshot()
        let first = try snapshot.next()
        var later = WriteBatch()
        for i in 0..<20 where i % 2 == 0 { later.put(bytes("key-\(String(format: "%02d", i))"), bytes("new-\(i)")) }
        for i in 0..<20 where i % 2 == 1 { later.delete(bytes("key-\(String(format: "%02d", i))")) }
        later.put(Array(repeating: 0x7A, count: 5000), bytes("long-new"))
        later.put(bytes("key-99"), bytes("added"))
        try store.apply(later, through: AppliedPosition(index: 4, term: 1))
        var replacement = ArrayKeyValueSource([KeyValue(key: bytes("only"), value: bytes("one"))])
        try store.restore(from: &replacement, position: AppliedPosition(index: 50, term: 2))
        #expect(try store.scan(.all) == [KeyValue(key: bytes("only"), value: bytes("one"))])

        #expect(snapshot.position == AppliedPosition(index: 3, term: 1))
        #expect([first].compactMap { $0 } + (try snapshot.readAll()) == expected)
        #expect(try dir.names("snapshots").count == 1)
        snapshot.close()
        #expect(try dir.names("snapshots").isEmpty, "close() removes the snapshot's directory")
        #expect(throws: StorageError.self) { _ = try snapshot.next() }
    }

    @Test("restore leaves one generation; an interrupted restore's generation is deleted at open")
    func restoreGenerations() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try storeWithTwoKeys(dir)
        let before = try dir.itemsDirectory()
        // An interrupted restore: a half-built generation CURRENT does not name.
        try FileSystem.createDirectory(dir.path + "/items-000777", sync: false)
        try FileSystem.writeFile(dir.path + "/items-000777/k7a", ItemFileBytes.make(bytes("z"), bytes("half")), sync: false)
        do {
            let store = try backend.openState(dir.path, stateSync: .always)
            #expect(try store.get(bytes("z")) == nil)
            #expect(try dir.itemsDirectory() == before)
            var source = ArrayKeyValueSource([KeyValue(key: bytes("r"), value: bytes("restored"))])
            try store.restore(from: &source, position: AppliedPosition(index: 9, term: 3))
            try store.close()
        }
        #expect(try dir.itemsDirectory() != before)
        let store = try backend.openState(dir.path, stateSync: .always)
        defer { try? store.close() }
        #expect(try store.scan(.all) == [KeyValue(key: bytes("r"), value: bytes("restored"))])
        #expect(try store.appliedPosition() == AppliedPosition(index: 9, term: 3))
    }

    // MARK: Log damage and crash remains

    /// A closed log holding entries 1...5 of term 1.
    func logWithFiveEntries(_ dir: Scratch) throws {
        let log = try backend.openLog(dir.path)
        try log.append(entries(1...5, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 2))
        try log.close()
    }

    @Test("a log entry file cut short or emptied reads as .corrupted, never as data")
    func truncatedEntryIsCorrupted() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try logWithFiveEntries(dir)
        let cut = dir.path + "/" + Self.entryFile(5)
        let whole = try #require(try FileSystem.readFile(cut))
        try FileSystem.writeFile(cut, Array(whole.prefix(whole.count - 3)), sync: false)

        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.lastIndex() == 5, "open does not drop damaged entries")
        #expect(try log.entries(1...4, maxBytes: .max) == entries(1...4, term: 1))
        Self.expectCorrupted { _ = try log.entries(1...5, maxBytes: .max) }
        Self.expectCorrupted { _ = try log.entry(at: 5) }
        Self.expectCorrupted { _ = try log.term(at: 5) }
        try FileSystem.writeFile(cut, [], sync: false)
        Self.expectCorrupted { _ = try log.entry(at: 5) }
    }

    @Test("a gap in the entry files at open is reported as .corrupted")
    func gapIsCorrupted() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try logWithFiveEntries(dir)
        try FileSystem.removeFile(dir.path + "/" + Self.entryFile(3))
        Self.expectCorrupted { _ = try backend.openLog(dir.path) }
        // Losing the last entry is a gap too: the commit record says the log ends at 5.
        let dir2 = Scratch()
        defer { dir2.remove() }
        try logWithFiveEntries(dir2)
        try FileSystem.removeFile(dir2.path + "/" + Self.entryFile(5))
        Self.expectCorrupted { _ = try backend.openLog(dir2.path) }
    }

    @Test("files an append left behind before its commit record are discarded at open")
    func uncommittedAppendIsDiscarded() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try logWithFiveEntries(dir)
        // Entries 6-7 written, and a staged replacement for 4, but no new commit record.
        for entry in entries(6...7, term: 2) {
            try FileSystem.writeFile(dir.path + "/" + Self.entryFile(entry.index), LogEntryCodec.encode(entry), sync: false)
        }
        try FileSystem.writeFile(dir.path + "/" + String(format: "%020llu.staged-2", 4), LogEntryCodec.encode(entries(4...4, term: 2)[0]), sync: false)
        try FileSystem.writeFile(dir.path + "/hardstate.tmp", [0, 1, 2], sync: false)

        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.lastIndex() == 5)
        #expect(try log.entries(1...5, maxBytes: .max) == entries(1...5, term: 1))
        #expect(try log.hardState() == HardState(term: 1, votedFor: 1, commit: 2))
        #expect(try dir.names().filter { $0.contains(".entry") || $0.contains(".staged") || $0.hasSuffix(".tmp") }
            == (1...5).map(Self.entryFile))
    }

    @Test("staged replacements of a committed overlapping append are finished at open")
    func committedStagedFilesAreRolledForward() throws {
        let dir = Scratch()
        defer { dir.remove() }
        try logWithFiveEntries(dir)
        // Rebuild, by hand, a crash right after the commit record of append(4...6, term 2):
        // entry 6 is in place, the replacement of 4 and 5 is still staged.
        let hardState = try #require(try FileSystem.readFile(dir.path + "/hardstate"))
        var reader = BinaryReader(try Checksummed.open(hardState, source: "hardstate"))
        _ = try reader.readLengthPrefixed()
        _ = try reader.readUInt64()
        let generation = try reader.readUInt64() + 1
        let replacement = entries(4...6, term: 2)
        for entry in replacement.prefix(2) {
            try FileSystem.writeFile(dir.path + "/" + String(format: "%020llu.staged-%llu", entry.index, generation), LogEntryCodec.encode(entry), sync: false)
        }
        try FileSystem.writeFile(dir.path + "/" + Self.entryFile(6), LogEntryCodec.encode(replacement[2]), sync: false)
        var record = BinaryWriter()
        record.write(lengthPrefixed: HardStateCodec.encode(HardState(term: 2, votedFor: nil, commit: 3)))
        record.write(UInt64(6))
        record.write(generation)
        try FileSystem.writeFile(dir.path + "/hardstate", Checksummed.seal(record.bytes), sync: false)

        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.lastIndex() == 6)
        #expect(try log.entries(1...6, maxBytes: .max) == entries(1...3, term: 1) + replacement)
        #expect(try log.hardState() == HardState(term: 2, votedFor: nil, commit: 3))
        #expect(!(try dir.names()).contains { $0.contains(".staged") })
    }

    @Test("an overlapping append with a hard state replaces the suffix and both survive reopen")
    func overlappingAppendWithHardState() throws {
        let dir = Scratch()
        defer { dir.remove() }
        do {
            let log = try backend.openLog(dir.path)
            try log.append(entries(1...10, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 4))
            try log.append(entries(6...8, term: 3), hardState: HardState(term: 3, votedFor: 2, commit: 8))
            try log.close()
        }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.entries(1...8, maxBytes: .max) == entries(1...5, term: 1) + entries(6...8, term: 3))
        #expect(try log.lastIndex() == 8)
        #expect(try log.hardState() == HardState(term: 3, votedFor: 2, commit: 8))
        #expect(try dir.names().filter { $0.hasSuffix(".entry") } == (1...8).map(Self.entryFile))
    }
}

/// Item file bytes, spelled out independently of the backend: Checksummed(length-prefixed key + value).
enum ItemFileBytes {
    static func make(_ key: Bytes, _ value: Bytes) -> Bytes {
        var writer = BinaryWriter()
        writer.write(lengthPrefixed: key)
        writer.write(raw: value)
        return Checksummed.seal(writer.bytes)
    }
}
