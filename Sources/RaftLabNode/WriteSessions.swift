import StorageCore

/// Exactly-once writes (Raft dissertation §6.3): a write may carry an
/// idempotency key, and the state machine remembers each key's result, so a
/// client that retries a write whose outcome it does not know (a timeout, a
/// node that stopped, a leader change) gets the original result back instead
/// of applying the write twice, on any node and across leader changes.
///
/// The records live in the state store under a reserved namespace, written in
/// the same atomic batch as the write itself, so they survive restarts and
/// travel inside snapshots (a new or restored node knows them too):
///
///     0xFE 0x01 ‖ key                  → appliedAt (u64) ‖ result bytes
///     0xFE 0x02 ‖ appliedAt (u64) ‖ key → (empty: the expiry index)
///
/// A key is remembered for `window` log entries: every entry whose index is
/// a multiple of `expiryInterval` deletes the records at least `window` older
/// than itself. Expiry depends only on log indexes, never on how a node
/// batched its applies, so every node holds the same records at the same
/// index.
enum WriteSessions {
    static let namespace: UInt8 = 0xFE
    static let window: UInt64 = 100_000
    static let expiryInterval: UInt64 = 1_024
    static let maxKeyBytes = 255

    static func sessionKey(_ key: Bytes) -> Bytes { [namespace, 0x01] + key }

    static func expiryKey(_ key: Bytes, appliedAt: UInt64) -> Bytes {
        [namespace, 0x02] + appliedAt.bigEndianBytes + key
    }

    static let expiryPrefix: Bytes = [namespace, 0x02]

    /// A remembered result: the index the write was applied at and what it returned.
    struct Record: Equatable {
        var appliedAt: UInt64
        var result: Bytes

        func encoded() -> Bytes { appliedAt.bigEndianBytes + result }

        init(appliedAt: UInt64, result: Bytes) {
            self.appliedAt = appliedAt
            self.result = result
        }

        init(decoding bytes: Bytes) throws {
            guard bytes.count >= 8, let index = UInt64(bigEndianBytes: bytes.prefix(8)) else {
                throw StorageError.corrupted(path: "write session record", reason: "shorter than its 8-byte index")
            }
            self.init(appliedAt: index, result: Array(bytes.dropFirst(8)))
        }
    }

    /// Checks a client's key: 1 to 255 bytes of printable ASCII, as an HTTP
    /// header value can carry and a log line can show.
    static func validate(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        return !bytes.isEmpty && bytes.count <= maxKeyBytes && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Deletes, into `batch`, every record applied at or before `index - window`
    /// when `index` is an expiry point.
    static func expire(at index: UInt64, reading store: any StateStore, into batch: inout WriteBatch) throws {
        guard index % expiryInterval == 0, index > window else { return }
        let bound = index - window
        let range = KeyRange(from: expiryPrefix, to: expiryPrefix + (bound + 1).bigEndianBytes)
        for pair in try store.scan(range) {
            batch.delete(pair.key)
            batch.delete(sessionKey(Array(pair.key.dropFirst(expiryPrefix.count + 8))))
        }
    }
}

/// What a Raft log entry of a RaftLab node carries: the encoded NoSQL command
/// and, when the client sent one, its idempotency key.
///
///     0xE1 (format) | key length (1) | key | command
struct WriteEnvelope: Equatable {
    static let format: UInt8 = 0xE1

    var idempotencyKey: Bytes?
    var command: Bytes

    func encoded() -> Bytes {
        let key = idempotencyKey ?? []
        return [Self.format, UInt8(key.count)] + key + command
    }

    init(idempotencyKey: Bytes?, command: Bytes) {
        self.idempotencyKey = idempotencyKey.flatMap { $0.isEmpty ? nil : $0 }
        self.command = command
    }

    init(decoding bytes: Bytes) throws {
        guard bytes.count >= 2, bytes[0] == Self.format, bytes.count >= 2 + Int(bytes[1]) else {
            throw StorageError.corrupted(path: "raft log entry", reason: "not a RaftLab write envelope")
        }
        let keyLength = Int(bytes[1])
        self.init(
            idempotencyKey: keyLength == 0 ? nil : Array(bytes[2..<2 + keyLength]),
            command: Array(bytes[(2 + keyLength)...]))
    }
}

/// The result a write's proposer receives through Raft: where the write was
/// applied (for a retried write, where the first attempt was) and what the
/// state machine returned.
struct AppliedWrite: Equatable {
    var appliedAt: UInt64
    var result: Bytes

    func encoded() -> Bytes { appliedAt.bigEndianBytes + result }

    init(appliedAt: UInt64, result: Bytes) {
        self.appliedAt = appliedAt
        self.result = result
    }

    init(decoding bytes: Bytes) throws {
        let record = try WriteSessions.Record(decoding: bytes)
        self.init(appliedAt: record.appliedAt, result: record.result)
    }
}
