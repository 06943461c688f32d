import Foundation
import StorageCore
import Synchronization
import Testing

/// The LogStore contract, run against every registered backend that provides a log store.
@Suite("LogStore conformance")
struct LogStoreConformanceTests {
    @Test("empty log: first 1, last 0, term(0) = 0, nothing to read", arguments: BackendUnderTest.logStores)
    func emptyLog(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-empty-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.snapshotIndex() == 0)
        #expect(try log.firstIndex() == 1)
        #expect(try log.lastIndex() == 0)
        #expect(try log.term(at: 0) == 0)
        #expect(try log.hardState() == .initial)
        #expect(try log.entries(from: 1).isEmpty)
        expectError(.unavailable(index: 1, lastIndex: 0)) { _ = try log.entries(1...1, maxBytes: .max) }
        expectError(.unavailable(index: 1, lastIndex: 0)) { _ = try log.term(at: 1) }
    }

    @Test("append then read back entries, terms and bounds", arguments: BackendUnderTest.logStores)
    func appendAndRead(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-append-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        let written = entries(1...10, term: 1) + entries(11...20, term: 2)
        try log.append(Array(written[0..<1]))
        try log.append(Array(written[1..<20]))
        #expect(try log.firstIndex() == 1)
        #expect(try log.lastIndex() == 20)
        #expect(try log.entries(1...20, maxBytes: .max) == written)
        #expect(try log.entries(5...7, maxBytes: .max) == Array(written[4...6]))
        #expect(try log.entry(at: 20) == written[19])
        #expect(try log.term(at: 10) == 1)
        #expect(try log.term(at: 11) == 2)
        expectError(.unavailable(index: 21, lastIndex: 20)) { _ = try log.term(at: 21) }
        expectError(.unavailable(index: 25, lastIndex: 20)) { _ = try log.entries(15...25, maxBytes: .max) }
        // maxBytes bounds a read but always returns at least one entry.
        #expect(try log.entries(1...20, maxBytes: 0) == [written[0]])
        let perEntry = written[0].data.count
        #expect(try log.entries(1...20, maxBytes: perEntry * 3).count == 3)
    }

    @Test("64-entry batch, empty and 1 MiB payloads, every entry kind", arguments: BackendUnderTest.logStores)
    func payloadShapes(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-shapes-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        var batch = entries(1...64, term: 3)
        batch[0].data = []
        batch[1].kind = .noop
        batch[2].kind = .configuration
        batch[3].data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try log.append(batch, hardState: HardState(term: 3, votedFor: 2, commit: 0))
        #expect(try log.entries(1...64, maxBytes: .max) == batch)
        #expect(try log.hardState() == HardState(term: 3, votedFor: 2, commit: 0))
    }

    @Test("bad appends are refused with typed errors and change nothing", arguments: BackendUnderTest.logStores)
    func badAppends(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-bad-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        try log.append(entries(1...5, term: 1))
        expectError(.nonContiguous(expected: 6, got: 8)) { try log.append(entries(8...9, term: 1)) }
        var gappy = entries(6...8, term: 1)
        gappy.remove(at: 1)
        expectError(.invalidArgument("appended entries must have consecutive indexes: expected 7, got 8")) {
            try log.append(gappy)
        }
        #expect(try log.lastIndex() == 5)
        #expect(try log.entries(1...5, maxBytes: .max) == entries(1...5, term: 1))
    }

    @Test("§5.3 an append that conflicts replaces the existing suffix", arguments: BackendUnderTest.logStores)
    func conflictingAppendReplacesSuffix(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-conflict-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        try log.append(entries(1...10, term: 1))
        try log.append(entries(6...7, term: 2))
        #expect(try log.lastIndex() == 7)
        #expect(try log.entries(1...7, maxBytes: .max) == entries(1...5, term: 1) + entries(6...7, term: 2))
        expectError(.unavailable(index: 8, lastIndex: 7)) { _ = try log.term(at: 8) }
        // Re-appending an identical range is harmless.
        try log.append(entries(6...7, term: 2))
        #expect(try log.lastIndex() == 7)
    }

    @Test("truncateSuffix keeps the prefix and is a no-op past the end", arguments: BackendUnderTest.logStores)
    func truncateSuffix(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-truncate-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        try log.append(entries(1...10, term: 1))
        try log.truncateSuffix(after: 10)
        #expect(try log.lastIndex() == 10)
        try log.truncateSuffix(after: 6)
        #expect(try log.lastIndex() == 6)
        #expect(try log.entries(1...6, maxBytes: .max) == entries(1...6, term: 1))
        expectError(.unavailable(index: 7, lastIndex: 6)) { _ = try log.entries(7...7, maxBytes: .max) }
        try log.append(entries(7...8, term: 4))
        #expect(try log.term(at: 8) == 4)
        try log.truncateSuffix(after: 0)
        #expect(try log.lastIndex() == 0)
        #expect(try log.firstIndex() == 1)
    }

    @Test("compaction drops the prefix and remembers the snapshot term", arguments: BackendUnderTest.logStores)
    func compaction(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-compact-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        try log.append(entries(1...5, term: 1) + entries(6...10, term: 2))
        try log.compact(through: 6, term: 2)
        #expect(try log.snapshotIndex() == 6)
        #expect(try log.firstIndex() == 7)
        #expect(try log.lastIndex() == 10)
        #expect(try log.term(at: 6) == 2)
        expectError(.compacted(index: 5, firstIndex: 7)) { _ = try log.term(at: 5) }
        expectError(.compacted(index: 3, firstIndex: 7)) { _ = try log.entries(3...8, maxBytes: .max) }
        #expect(try log.entries(7...10, maxBytes: .max) == entries(7...10, term: 2))
        // Appends continue after compaction; nothing may be appended inside the snapshot.
        try log.append(entries(11...12, term: 3))
        #expect(try log.lastIndex() == 12)
        expectError(.compacted(index: 6, firstIndex: 7)) { try log.append(entries(6...7, term: 3)) }
        expectError(.compacted(index: 5, firstIndex: 7)) { try log.truncateSuffix(after: 5) }
        // Compacting to the snapshot index again changes nothing.
        try log.compact(through: 6, term: 2)
        #expect(try log.firstIndex() == 7)
    }

    @Test("compacting past the end empties the log, which continues after the snapshot", arguments: BackendUnderTest.logStores)
    func compactionPastTheEnd(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-install-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        try log.append(entries(1...4, term: 1))
        try log.compact(through: 100, term: 7)
        #expect(try log.snapshotIndex() == 100)
        #expect(try log.firstIndex() == 101)
        #expect(try log.lastIndex() == 100)
        #expect(try log.term(at: 100) == 7)
        #expect(try log.entries(from: 101).isEmpty)
        expectError(.nonContiguous(expected: 101, got: 102)) { try log.append(entries(102...102, term: 7)) }
        try log.append(entries(101...103, term: 8))
        #expect(try log.entries(101...103, maxBytes: .max) == entries(101...103, term: 8))
    }

    @Test("hard state is saved alone and together with entries", arguments: BackendUnderTest.logStores)
    func hardStatePersistence(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-hardstate-\(backend)")
        defer { dir.remove() }
        do {
            let log = try backend.openLog(dir.path)
            try log.saveHardState(HardState(term: 4, votedFor: 3, commit: 0))
            #expect(try log.hardState() == HardState(term: 4, votedFor: 3, commit: 0))
            try log.append(entries(1...3, term: 5), hardState: HardState(term: 5, votedFor: nil, commit: 2))
            #expect(try log.hardState() == HardState(term: 5, votedFor: nil, commit: 2))
            try log.saveHardState(HardState(term: 6, votedFor: 0, commit: 3))
            try log.close()
        }
        let reopened = try backend.openLog(dir.path)
        defer { try? reopened.close() }
        // votedFor 0 is a real id and must not be confused with "no vote".
        #expect(try reopened.hardState() == HardState(term: 6, votedFor: 0, commit: 3))
        #expect(try reopened.lastIndex() == 3)
    }

    @Test("reopen after a clean close keeps entries, compaction point and hard state", arguments: BackendUnderTest.logStores)
    func reopenKeepsEverything(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-reopen-\(backend)")
        defer { dir.remove() }
        let written = entries(1...30, term: 2)
        do {
            let log = try backend.openLog(dir.path)
            try log.append(written, hardState: HardState(term: 2, votedFor: 1, commit: 25))
            try log.compact(through: 10, term: 2)
            try log.truncateSuffix(after: 28)
            try log.close()
            expectError(.closed) { _ = try log.lastIndex() }
        }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.snapshotIndex() == 10)
        #expect(try log.firstIndex() == 11)
        #expect(try log.lastIndex() == 28)
        #expect(try log.term(at: 10) == 2)
        #expect(try log.entries(11...28, maxBytes: .max) == Array(written[10..<28]))
        #expect(try log.hardState() == HardState(term: 2, votedFor: 1, commit: 25))
    }

    @Test("reopen after writes with sync off keeps entries, compaction point, hard state and an overwrite past the compaction point", arguments: BackendUnderTest.logStores)
    func reopenAfterUnsyncedWrites(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-reopen-loose-\(backend)")
        defer { dir.remove() }
        do {
            let log = try backend.openLog(dir.path, sync: false)
            try log.append(entries(1...50, term: 3), hardState: HardState(term: 3, votedFor: 2, commit: 40))
            try log.compact(through: 20, term: 3)
            try log.append(entries(45...46, term: 4))
            try log.close()
        }
        let log = try backend.openLog(dir.path)
        defer { try? log.close() }
        #expect(try log.snapshotIndex() == 20)
        #expect(try log.term(at: 20) == 3)
        #expect(try log.lastIndex() == 46)
        #expect(try log.entries(21...46, maxBytes: .max) == entries(21...44, term: 3) + entries(45...46, term: 4))
        #expect(try log.hardState() == HardState(term: 3, votedFor: 2, commit: 40))
    }

    @Test("syncs as the backend documents: one call, one commit; calls that change nothing sync nothing; sync off syncs at close", arguments: BackendUnderTest.logStores.filter { $0.hooks.logSyncs != nil })
    func syncsPerCall(backend: BackendUnderTest) throws {
        let syncs = try #require(backend.hooks.logSyncs)
        let dir = TestDirectory("log-syncs-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.sub("synced"))
        var before = log.syncCount
        try log.append(entries(1...64, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 0))
        #expect(log.syncCount == before + syncs.perCall, "64 entries and a hard state are one call")
        before = log.syncCount
        try log.saveHardState(HardState(term: 2, votedFor: nil, commit: 10))
        try log.truncateSuffix(after: 60)
        try log.append(entries(61...61, term: 2))
        #expect(log.syncCount == before + 3 * syncs.perCall, "hard state, truncation, append")
        before = log.syncCount
        try log.compact(through: 5, term: 1)
        #expect(log.syncCount == before + syncs.compaction, "compaction")
        before = log.syncCount
        try log.append([])
        try log.truncateSuffix(after: 61)
        try log.compact(through: 3, term: 1)
        #expect(log.syncCount == before, "calls that change nothing sync nothing")
        try log.close()

        guard let atClose = syncs.unsyncedClose else { return }
        let loose = try backend.openLog(dir.sub("loose"), sync: false)
        try loose.append(entries(1...64, term: 1))
        try loose.compact(through: 10, term: 1)
        #expect(loose.syncCount == 0, "sync off syncs nothing")
        try loose.close()
        #expect(loose.syncCount == atClose, "close flushes what sync off left unsynced")
    }

    @Test("a log record that fails its checksum is .corrupted on every read, never returned", arguments: BackendUnderTest.logStores.filter { $0.hooks.entryDamage != nil })
    func corruptedEntry(backend: BackendUnderTest) throws {
        let hooks = backend.hooks
        let dir = TestDirectory("log-corrupt-\(backend)")
        defer { dir.remove() }
        let damaged = LogEntry(index: 5, term: 1, data: bytes("PAYLOAD-TO-BE-DAMAGED-ON-DISK"))
        let written = try backend.openLog(dir.path)
        try written.append(entries(1...4, term: 1) + [damaged] + entries(6...8, term: 1))
        let log: any LogStore
        switch try #require(hooks.entryDamage) {
        case .closed(let damage):
            try written.close()
            try damage(dir.path, damaged)
            log = try backend.openLog(dir.path)
        case .open(let damage):
            try damage(dir.path, damaged)
            log = written
        }
        defer { try? log.close() }
        #expect(try log.lastIndex() == 8, "the damaged entry is not dropped")
        #expect(try log.entries(1...4, maxBytes: .max) == entries(1...4, term: 1))
        var reads: [(name: String, read: () throws -> Void)] = [
            ("entries", { _ = try log.entries(1...8, maxBytes: .max) }),
            ("entry", { _ = try log.entry(at: 5) }),
        ]
        if hooks.termReadsRecord { reads.append(("term", { _ = try log.term(at: 5) })) }
        for (name, read) in reads {
            do {
                try read()
                Issue.record("\(name): a damaged entry was returned")
            } catch let StorageError.corrupted(path, reason) {
                #expect(path.hasSuffix(hooks.entrySource(5)), "\(name): \(path)")
                #expect(reason.contains("checksum"), "\(name): \(reason)")
            }
        }
    }

    @Test("reads on another thread see whole entries while appends, truncations and compactions go on", arguments: BackendUnderTest.logStores)
    func concurrentReads(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-concurrent-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path, sync: false)
        defer { try? log.close() }
        try log.append(entries(1...20, term: 1))
        // The writer runs on a thread of its own: a dispatch queue would share
        // the few worker threads that run the tests (this one included), and
        // the writer could wait behind the reader that waits for it.
        let writerDone = DispatchSemaphore(value: 0)
        let writerError = Mutex<Error?>(nil)
        let writing = Atomic(true)
        let writer = Thread {
            defer {
                writing.store(false, ordering: .releasing)
                writerDone.signal()
            }
            do {
                var term: UInt64 = 1
                for round in 0..<150 {
                    let last = try log.lastIndex()
                    switch round % 5 {
                    case 3:
                        term += 1
                        try log.append(entries(last - 2...last + 3, term: term))
                    case 4:
                        try log.truncateSuffix(after: last - 1)
                        let through = try log.firstIndex() + 2
                        try log.compact(through: through, term: try log.term(at: through))
                    default:
                        try log.append(entries(last + 1...last + 4, term: term), hardState: HardState(term: term, votedFor: 1, commit: last))
                    }
                }
            } catch {
                writerError.withLock { $0 = error }
            }
        }
        writer.start()
        var reads = 0
        let deadline = Date().addingTimeInterval(60)
        while writing.load(ordering: .acquiring) || (reads == 0 && Date() < deadline) {
            do {
                let first = try log.firstIndex()
                let read = try log.entries(first...max(first, try log.lastIndex()), maxBytes: .max)
                // Whole entries, consecutive, each holding what was written for its index and term.
                for (offset, entry) in read.enumerated() {
                    #expect(entry.index == first + UInt64(offset))
                    #expect(entry == entries(entry.index...entry.index, term: entry.term)[0])
                }
                reads += 1
            } catch StorageError.compacted, StorageError.unavailable {
                // The log moved between the bounds and the read: a typed answer, not damage.
            }
        }
        writerDone.wait()
        if let error = writerError.withLock({ $0 }) { throw error }
        #expect(reads > 0)
    }

    @Test("seeded random operations match a reference model", arguments: BackendUnderTest.logStores)
    func randomOperationsMatchModel(backend: BackendUnderTest) throws {
        let dir = TestDirectory("log-model-\(backend)")
        defer { dir.remove() }
        let log = try backend.openLog(dir.path, sync: false)
        defer { try? log.close() }
        var rng = SplitMix64(seed: 42)
        var model: [LogEntry] = []
        var snapshot: (index: UInt64, term: UInt64) = (0, 0)
        var term: UInt64 = 1
        for _ in 0..<300 {
            let last = snapshot.index + UInt64(model.count)
            switch rng.next() % 10 {
            case 0..<6:
                let start = last + 1 - min(UInt64(rng.next() % 3), UInt64(model.count))
                if rng.next() % 4 == 0 { term += 1 }
                let batch = entries(start...(start + rng.next() % 8), term: term)
                try log.append(batch)
                model.removeSubrange(Int(start - snapshot.index - 1)...)
                model += batch
            case 6..<8:
                let keep = snapshot.index + UInt64(rng.next() % UInt64(model.count + 1))
                try log.truncateSuffix(after: keep)
                model.removeSubrange(Int(keep - snapshot.index)...)
            default:
                guard !model.isEmpty else { continue }
                let through = snapshot.index + 1 + rng.next() % UInt64(model.count)
                let throughTerm = model[Int(through - snapshot.index - 1)].term
                try log.compact(through: through, term: throughTerm)
                model.removeSubrange(...Int(through - snapshot.index - 1))
                snapshot = (through, throughTerm)
            }
            #expect(try log.snapshotIndex() == snapshot.index)
            #expect(try log.lastIndex() == snapshot.index + UInt64(model.count))
            #expect(try log.term(at: snapshot.index) == snapshot.term)
            #expect(try log.entries(from: snapshot.index + 1) == model)
        }
    }
}
