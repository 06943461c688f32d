import EncryptedStorage
import Foundation
import RaftLabBackends
import StorageCore
import Testing
import TestUtilities

/// A key seals a bounded number of records (random 96-bit nonces): every
/// store counts its seals durably, warns well before the limit and refuses
/// at it with a storage error that says to rotate the key.
@Suite("Encryption at rest: seal counting")
struct SealCountTests {
    static let key = try! EncryptionKey(bytes: Array(repeating: 7, count: 32), source: "test key A")
    static let newKey = try! EncryptionKey(bytes: Array(repeating: 9, count: 32), source: "test key B")

    func put(_ state: any StateStore, _ i: Int) throws {
        var batch = WriteBatch()
        batch.put(bytes("item-\(i)"), bytes("value \(i)"))
        try state.apply(batch, through: AppliedPosition(index: UInt64(i), term: 1))
    }

    @Test("a small injected limit: a warning past the mark, a refusal naming rotate-key at the limit, counts survive reopening", arguments: ["flatfile", "lmdb"])
    func warnsThenRefuses(backend: String) throws {
        let dir = TestDirectory("seals-\(backend)")
        defer { dir.remove() }
        let logs = LogCapture()
        let limits = SealLimits(limit: 10, warning: 5, reservation: 4)
        let encrypted = EncryptedBackend(
            inner: try BackendRegistry.standard.backend(named: backend), key: Self.key, sealLimits: limits,
            logger: logs.logger(level: .warning))
        let options = StoreOptions(directory: dir.sub("state"), stateSync: .always)
        var state = try encrypted.openStateStore(options)
        for i in 1...4 { try put(state, i) }
        #expect(logs.lines(atLeast: .warning).isEmpty, "warned before the mark")
        for i in 5...6 { try put(state, i) }
        let warnings = logs.lines(atLeast: .warning)
        #expect(warnings.count == 1 && warnings[0].contains("rotate-key"), "\(warnings)")
        // Counts are reserved durably before use: what a crash now would leave on disk covers every seal.
        let countFile = options.directory + "/seal-count-\(Self.key.id)"
        #expect(try FileSystem.readFile(countFile) == bytes("8\n"))
        // A clean close records the exact count, and reopening resumes from it.
        try state.close()
        #expect(try FileSystem.readFile(countFile) == bytes("6\n"))
        state = try encrypted.openStateStore(options)
        for i in 7...10 { try put(state, i) }
        var refusal: (any Error)?
        do { try put(state, 11) } catch { refusal = error }
        guard case .sealLimitReached(_, let keyID, let seals, let limit)? = refusal as? StorageError else {
            Issue.record("the eleventh seal was not refused with sealLimitReached: \(String(describing: refusal))")
            return
        }
        #expect(keyID == Self.key.id && seals == 10 && limit == 10)
        let message = String(describing: refusal ?? StorageError.closed)
        #expect(message.contains("raftlab rotate-key"), "\(message)")
        // What was sealed before the refusal still reads back.
        #expect(try state.get(bytes("item-10")) == bytes("value 10"))
        try state.close()
        // Rotation gives the store a new key with a count of its own (the records it re-sealed).
        let rotated = try KeyRotation.rotateStateStore(
            backend: try BackendRegistry.standard.backend(named: backend), options: options, from: Self.key, to: Self.newKey)
        #expect(rotated.records == 10)
        #expect(try FileSystem.readFile(options.directory + "/seal-count-\(Self.newKey.id)") == bytes("10\n"))
        let fresh = EncryptedBackend(
            inner: try BackendRegistry.standard.backend(named: backend), key: Self.newKey,
            sealLimits: SealLimits(limit: 20, warning: 15, reservation: 4),
            logger: logs.logger(level: .warning))
        let again = try fresh.openStateStore(options)
        try put(again, 11)
        #expect(try again.get(bytes("item-11")) == bytes("value 11"))
        try again.close()
        let files = try FileSystem.listDirectory(options.directory).filter { $0.hasPrefix("seal-count-") }
        #expect(files == ["seal-count-\(Self.newKey.id)"], "\(files)")
    }

    @Test("the log store counts too: an append past the limit fails with the rotate message")
    func logRefuses() throws {
        let dir = TestDirectory("seals-log")
        defer { dir.remove() }
        let encrypted = EncryptedBackend(
            inner: try BackendRegistry.standard.backend(named: "wal"), key: Self.key,
            sealLimits: SealLimits(limit: 3, warning: 2, reservation: 2))
        let log = try encrypted.openLogStore(StoreOptions(directory: dir.sub("log")))
        defer { try? log.close() }
        try log.append((1...3).map { LogEntry(index: $0, term: 1, data: bytes("entry \($0)")) })
        #expect {
            try log.append([LogEntry(index: 4, term: 1, data: bytes("entry 4"))])
        } throws: { error in
            "\(error)".contains("raftlab rotate-key")
        }
    }
}
