import EncryptedStorage
import Foundation
import RaftLabBackends
import RaftRuntime
import StorageCore
import Testing

/// Encryption at rest as a wrapper over every registered backend: the store
/// contracts still hold, nothing readable reaches the disk, keys are checked,
/// and a record altered behind the wrapper's back is reported as corrupt.
@Suite("Encryption at rest: stores")
struct EncryptedStoreTests {
    static let key = try! EncryptionKey(bytes: Array(repeating: 7, count: 32), source: "test key A")
    static let otherKey = try! EncryptionKey(bytes: Array(repeating: 9, count: 32), source: "test key B")
    static let all = BackendRegistry.standard.names
    static let persistent = all.filter { (try? BackendRegistry.standard.backend(named: $0).isPersistent) == true }
    /// Backends that provide the log, the state store, or both (wal is a log store only).
    static let logs = BackendRegistry.standard.names(providing: .log)
    static let states = BackendRegistry.standard.names(providing: .state)
    static let both = all.filter { logs.contains($0) && states.contains($0) }
    static let persistentBoth = persistent.filter { both.contains($0) }

    static func provides(_ backend: String, _ kind: StoreKind) -> Bool {
        BackendRegistry.standard.names(providing: kind).contains(backend)
    }

    static func encrypted(_ name: String, _ key: EncryptionKey = key) throws -> EncryptedBackend {
        EncryptedBackend(inner: try BackendRegistry.standard.backend(named: name), key: key)
    }

    static let secret = bytes("zq-distinctive-7731")

    func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [LogEntry] {
        range.map { LogEntry(index: $0, term: term, data: Self.secret + bytes(" entry \($0)") + Array(repeating: 0x41, count: 40)) }
    }

    @Test("the log contract: entries, terms, bounds, maxBytes in plaintext bytes, truncation, compaction", arguments: logs)
    func logContract(backend: String) throws {
        let dir = TestDirectory("log-\(backend)")
        defer { dir.remove() }
        let written = entries(1...20, term: 1)
        do {
            let log = try Self.encrypted(backend).openLogStore(StoreOptions(directory: dir.path))
            defer { try? log.close() }
            try log.append(Array(written[0..<5]), hardState: HardState(term: 1, votedFor: 2, commit: 3))
            try log.append(Array(written[5...]))
            #expect(try log.entries(1...20, maxBytes: .max) == written)
            #expect(try log.lastIndex() == 20)
            #expect(try log.term(at: 7) == 1)
            #expect(try log.entries(1...20, maxBytes: 0) == [written[0]])
            // The budget counts plaintext, as the contract says, not the 29 sealing bytes per entry.
            let perEntry = written[0].data.count
            #expect(try log.entries(1...20, maxBytes: perEntry * 3).count == 3)
            #expect(try log.entries(1...20, maxBytes: perEntry * 3 + 1).count == 4)
            try log.truncateSuffix(after: 15)
            try log.append(entries(16...17, term: 2))
            try log.compact(through: 4, term: 1)
            #expect(try log.firstIndex() == 5)
        }
        let reopened = try Self.encrypted(backend).openLogStore(StoreOptions(directory: dir.path))
        defer { try? reopened.close() }
        if try Self.encrypted(backend).isPersistent {
            #expect(try reopened.entries(5...17, maxBytes: .max) == Array(written[4..<15]) + entries(16...17, term: 2))
            #expect(try reopened.hardState() == HardState(term: 1, votedFor: 2, commit: 3))
        }
    }

    @Test("the state contract: get, ordered scans, snapshot while writing, streamed restore, checkpoint", arguments: states)
    func stateContract(backend: String) throws {
        let dir = TestDirectory("state-\(backend)")
        defer { dir.remove() }
        let store = try Self.encrypted(backend).openStateStore(StoreOptions(directory: dir.path))
        defer { try? store.close() }
        var batch = WriteBatch()
        let keys: [[UInt8]] = [[], [0x00], [0x00, 0xFF], bytes("a"), bytes("a/b"), [0xFE, 0x01], [0xFF], [0xFF, 0xFF]]
        for (i, key) in keys.enumerated() { batch.put(key, Self.secret + bytes(" \(i)")) }
        batch.put(bytes("empty"), [])
        try store.apply(batch, through: AppliedPosition(index: 3, term: 1))
        #expect(try store.get(bytes("a")) == Self.secret + bytes(" 3"))
        #expect(try store.get(bytes("empty")) == [])
        #expect(try store.get(bytes("missing")) == nil)
        #expect(try store.scan(.all).map(\.key) == (keys + [bytes("empty")]).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(try store.scan(prefix: bytes("a")).map(\.value) == [Self.secret + bytes(" 3"), Self.secret + bytes(" 4")])

        let snapshot = try store.snapshot()
        var later = WriteBatch()
        later.put(bytes("a"), bytes("changed"))
        later.delete(bytes("a/b"))
        try store.apply(later, through: AppliedPosition(index: 4, term: 1))
        let pairs = try snapshot.readAll()
        snapshot.close()
        #expect(pairs.first { $0.key == bytes("a") }?.value == Self.secret + bytes(" 3"))
        #expect(pairs.count == keys.count + 1)
        #expect(try store.checkpoint() == AppliedPosition(index: 4, term: 1))

        var source = ArrayKeyValueSource([KeyValue(key: bytes("r1"), value: Self.secret), KeyValue(key: bytes("r2"), value: [])])
        try store.restore(from: &source, position: AppliedPosition(index: 9, term: 2))
        #expect(try store.scan(.all) == [KeyValue(key: bytes("r1"), value: Self.secret), KeyValue(key: bytes("r2"), value: [])])
        #expect(try store.appliedPosition() == AppliedPosition(index: 9, term: 2))
    }

    @Test("a key and a value of exactly the cluster limits fit under the seal (29 bytes more underneath); one byte past is refused", arguments: states)
    func clusterLimitsFitUnderTheSeal(backend: String) throws {
        let dir = TestDirectory("state-limits-\(backend)")
        defer { dir.remove() }
        let limits = StateStoreLimits.cluster
        let key = Array(repeating: UInt8(0xAB), count: limits.maxKeyBytes)
        let value = Array(repeating: UInt8(0x5C), count: limits.maxValueBytes)
        let store = try Self.encrypted(backend).openStateStore(StoreOptions(directory: dir.path))
        defer { try? store.close() }
        #expect(store.limits == limits)
        try store.apply(WriteBatch([.put(key: key, value: value)]), through: AppliedPosition(index: 1, term: 1))
        #expect(try store.get(key) == value)
        for bad in [WriteBatch([.put(key: key + [0], value: [])]), WriteBatch([.put(key: bytes("v"), value: value + [0])])] {
            do {
                try store.apply(bad, through: AppliedPosition(index: 2, term: 1))
                Issue.record("a write past the cluster limits was accepted")
            } catch StorageError.invalidArgument {
            }
        }
        try store.checkpoint()
        let snapshot = try store.snapshot()
        let pairs = try snapshot.readAll()
        snapshot.close()
        #expect(pairs == [KeyValue(key: key, value: value)])
        var source = ArrayKeyValueSource(pairs)
        try store.restore(from: &source, position: AppliedPosition(index: 3, term: 1))
        #expect(try store.scan(.all) == [KeyValue(key: key, value: value)])
        #expect(try store.appliedPosition() == AppliedPosition(index: 3, term: 1))
    }

    @Test("no file of the store holds a value or payload in the clear; without encryption the same search finds it", arguments: persistent)
    func nothingReadableOnDisk(backend: String) throws {
        for encrypted in [true, false] {
            let dir = TestDirectory("disk-\(backend)-\(encrypted)")
            defer { dir.remove() }
            let plain = try BackendRegistry.standard.backend(named: backend)
            let chosen: any StorageBackend = encrypted ? try Self.encrypted(backend) : plain
            if Self.provides(backend, .log) {
                let log = try chosen.openLogStore(StoreOptions(directory: dir.sub("log")))
                try log.append(entries(1...50, term: 1), hardState: HardState(term: 1, votedFor: 1, commit: 50))
                try log.close()
            }
            if Self.provides(backend, .state) {
                let state = try chosen.openStateStore(StoreOptions(directory: dir.sub("state"), stateSync: .always))
                for i in 0..<50 {
                    var batch = WriteBatch()
                    batch.put(bytes("item-\(i)"), bytes("{\"secret\":\"") + Self.secret + bytes("\"}"))
                    try state.apply(batch, through: AppliedPosition(index: UInt64(i + 1), term: 1))
                }
                try state.checkpoint()
                try state.close()
            }
            let found = filesContaining(Self.secret, under: dir.path)
            if encrypted {
                #expect(found.isEmpty, "\(backend): \(found) hold the value in the clear")
                // The keys stay readable, as docs/security.md says: ordered scans need them.
                #expect(!filesContaining(bytes("item-1"), under: dir.sub("state")).isEmpty || backend == "flatfile" || !Self.provides(backend, .state))
            } else {
                #expect(!found.isEmpty, "\(backend) without encryption: the search must find the value (or it proves nothing)")
            }
        }
    }

    @Test("a wrong key, no key, or a key for an unencrypted store is refused with a message", arguments: persistentBoth)
    func keysAreChecked(backend: String) throws {
        let dir = TestDirectory("keys-\(backend)")
        defer { dir.remove() }
        let options = StoreOptions(directory: dir.sub("state"))
        let store = try Self.encrypted(backend).openStateStore(options)
        var batch = WriteBatch()
        batch.put(bytes("k"), Self.secret)
        try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
        try store.checkpoint()
        try store.close()

        #expect(throws: StorageError.self) { _ = try Self.encrypted(backend, Self.otherKey).openStateStore(options) }
        do {
            _ = try Self.encrypted(backend, Self.otherKey).openStateStore(options)
        } catch let error as StorageError {
            guard case .encryption = error else { Issue.record("expected an encryption error, got \(error)"); return }
            #expect(error.description.contains("wrong encryption key"))
            #expect(error.description.contains(Self.key.id) && error.description.contains(Self.otherKey.id))
        }
        do {
            _ = try BackendRegistry.standard.backend(named: backend).openStateStore(options)
            Issue.record("an encrypted store opened without its key")
        } catch let error as StorageError {
            #expect(error.description.contains("encrypted"), "\(error)")
            #expect(error.description.contains(Self.key.id))
        }
        let plainOptions = StoreOptions(directory: dir.sub("plain"))
        try BackendRegistry.standard.backend(named: backend).openLogStore(plainOptions).close()
        do {
            _ = try Self.encrypted(backend).openLogStore(plainOptions)
            Issue.record("an unencrypted store opened with a key")
        } catch let error as StorageError {
            #expect(error.description.contains("not encrypted"), "\(error)")
        }
        // The right key still opens it, and the value is intact.
        let again = try Self.encrypted(backend).openStateStore(options)
        #expect(try again.get(bytes("k")) == Self.secret)
        try again.close()
    }

    @Test("a flipped byte in a sealed record, or a record moved to another key or index, is reported as corrupt", arguments: both)
    func tamperingIsCorruption(backend: String) throws {
        let dir = TestDirectory("tamper-\(backend)")
        defer { dir.remove() }
        let wrapper = try Self.encrypted(backend)
        let inner = try BackendRegistry.standard.backend(named: backend)
        // The backend's own store, one level down: an attacker who rewrites
        // records there keeps the backend's checksums valid.
        let stateOptions = StoreOptions(directory: dir.sub("state"))
        let innerState = StoreOptions(directory: dir.sub("state") + "/aes-256-gcm-\(Self.key.id)")
        do {
            let store = try wrapper.openStateStore(stateOptions)
            var batch = WriteBatch()
            batch.put(bytes("a"), Self.secret)
            batch.put(bytes("b"), bytes("other"))
            try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
            try store.checkpoint()
            try store.close()
        }
        do {
            let raw = try inner.openStateStore(innerState)
            var sealedA = try #require(try raw.get(bytes("a")))
            #expect(sealedA.firstRange(of: Self.secret) == nil)
            let sealedB = try #require(try raw.get(bytes("b")))
            sealedA[sealedA.count / 2] ^= 0x01
            var batch = WriteBatch()
            batch.put(bytes("a"), sealedA)
            batch.put(bytes("c"), sealedB)  // b's record under another key
            try raw.apply(batch, through: AppliedPosition(index: 2, term: 1))
            try raw.checkpoint()
            try raw.close()
        }
        let store = try wrapper.openStateStore(stateOptions)
        defer { try? store.close() }
        for key in ["a", "c"] {
            do {
                _ = try store.get(bytes(key))
                Issue.record("\(backend): a tampered record under \(key) was returned")
            } catch let error as StorageError {
                guard case .corrupted(_, let reason) = error else { Issue.record("expected corrupted, got \(error)"); continue }
                #expect(reason.contains("authentication"), "\(reason)")
            }
        }
        #expect(throws: StorageError.self) { _ = try store.scan(.all) }
        #expect(try store.get(bytes("b")) == bytes("other"))

        let logOptions = StoreOptions(directory: dir.sub("log"))
        let innerLog = StoreOptions(directory: dir.sub("log") + "/aes-256-gcm-\(Self.key.id)")
        do {
            let log = try wrapper.openLogStore(logOptions)
            try log.append(entries(1...3, term: 1))
            try log.close()
            let raw = try inner.openLogStore(innerLog)
            var sealed = try raw.entries(1...3, maxBytes: .max)
            sealed[1].data[sealed[1].data.count - 1] ^= 0x80
            let moved = LogEntry(index: 3, term: 1, kind: .command, data: sealed[0].data)  // entry 1's payload at index 3
            try raw.append([sealed[1], moved])
            try raw.close()
        }
        let log = try wrapper.openLogStore(logOptions)
        defer { try? log.close() }
        #expect(try log.entry(at: 1).data.starts(with: Self.secret))
        for index: UInt64 in [2, 3] {
            do {
                _ = try log.entry(at: index)
                Issue.record("\(backend): tampered log entry \(index) was returned")
            } catch let error as StorageError {
                guard case .corrupted(_, let reason) = error else { Issue.record("expected corrupted, got \(error)"); continue }
                #expect(reason.contains("log entry \(index)"), "\(reason)")
            }
        }
    }

    @Test("rotate-key re-encrypts log and state with the new key; the old key no longer opens them", arguments: persistentBoth)
    func keyRotation(backend: String) throws {
        let dir = TestDirectory("rotate-\(backend)")
        defer { dir.remove() }
        let inner = try BackendRegistry.standard.backend(named: backend)
        let logOptions = StoreOptions(directory: dir.sub("log"))
        let stateOptions = StoreOptions(directory: dir.sub("state"))
        do {
            let log = try Self.encrypted(backend).openLogStore(logOptions)
            try log.append(entries(1...30, term: 2), hardState: HardState(term: 2, votedFor: 1, commit: 30))
            try log.compact(through: 10, term: 2)
            try log.close()
            let state = try Self.encrypted(backend).openStateStore(stateOptions)
            var batch = WriteBatch()
            for i in 0..<100 { batch.put(bytes("key-\(i)"), Self.secret + bytes("\(i)")) }
            try state.apply(batch, through: AppliedPosition(index: 30, term: 2))
            try state.checkpoint()
            try state.close()
        }
        // A copy left by a rotation that crashed before its switch is discarded.
        try FileSystem.createDirectory(dir.sub("log.rotating"), sync: false)
        try FileSystem.writeFile(dir.sub("log.rotating/junk"), [1, 2, 3], sync: false)

        let log = try KeyRotation.rotateLogStore(backend: inner, options: logOptions, from: Self.key, to: Self.otherKey)
        #expect(log.records == 20)
        let state = try KeyRotation.rotateStateStore(backend: inner, options: stateOptions, from: Self.key, to: Self.otherKey)
        #expect(state.records == 100)

        #expect(throws: StorageError.self) { _ = try Self.encrypted(backend).openLogStore(logOptions) }
        #expect(throws: StorageError.self) { _ = try Self.encrypted(backend).openStateStore(stateOptions) }
        let rotatedLog = try Self.encrypted(backend, Self.otherKey).openLogStore(logOptions)
        #expect(try rotatedLog.entries(11...30, maxBytes: .max) == Array(entries(1...30, term: 2)[10...]))
        #expect(try rotatedLog.firstIndex() == 11)
        #expect(try rotatedLog.term(at: 10) == 2)
        #expect(try rotatedLog.hardState() == HardState(term: 2, votedFor: 1, commit: 30))
        try rotatedLog.close()
        let rotatedState = try Self.encrypted(backend, Self.otherKey).openStateStore(stateOptions)
        #expect(try rotatedState.get(bytes("key-42")) == Self.secret + bytes("42"))
        #expect(try rotatedState.scan(.all).count == 100)
        #expect(try rotatedState.appliedPosition() == AppliedPosition(index: 30, term: 2))
        try rotatedState.close()
        // Only the new key's directory is left, and no leftovers beside the stores.
        #expect(try FileSystem.listDirectory(dir.sub("log")).filter { $0.hasPrefix("aes-256-gcm-") } == ["aes-256-gcm-\(Self.otherKey.id)"])
        #expect(!FileSystem.exists(dir.sub("log.rotating")) && !FileSystem.exists(dir.sub("state.rotating")))
        #expect(filesContaining(Self.secret, under: dir.path).isEmpty)
    }

    @Test("snapshot data staged on disk is sealed with the state store's key, and restores from there")
    func stagedSnapshotsAreSealed() throws {
        let dir = TestDirectory("staging")
        defer { dir.remove() }
        let source = try Self.encrypted("leveldb").openStateStore(StoreOptions(directory: dir.sub("leader")))
        var batch = WriteBatch()
        for i in 0..<200 { batch.put(bytes("item-\(i)"), Self.secret + Array(repeating: 0x42, count: 200)) }
        try source.apply(batch, through: AppliedPosition(index: 5, term: 1))
        let chunks = try SnapshotStream.chunks(of: source, fallback: .init(voters: [1]), maxChunkBytes: 4096)
        try source.close()
        #expect(chunks.count > 5)

        let target = try Self.encrypted("lmdb").openStateStore(StoreOptions(directory: dir.sub("follower")))
        defer { try? target.close() }
        var receiver = SnapshotReceiver(stagingDirectory: dir.sub("staging"), sealer: target.stagingSealer)
        for chunk in chunks.dropLast() { #expect(try receiver.add(chunk, from: 1) == nil) }
        // Mid-transfer, the staging file holds most of the state: none of it readable.
        #expect(fileCount(under: dir.sub("staging")) == 1)
        #expect(filesContaining(Self.secret, under: dir.sub("staging")).isEmpty)
        #expect(filesContaining(bytes("item-1"), under: dir.sub("staging")).isEmpty)
        let complete = try #require(try receiver.add(chunks.last!, from: 1))
        try complete.data.restore(into: target, position: AppliedPosition(index: 5, term: 1))
        complete.data.discard()
        #expect(try target.get(bytes("item-7")) == Self.secret + Array(repeating: 0x42, count: 200))
        #expect(try target.scan(.all).count == 200)
    }
}
