import Crypto
import NoSQL
import StorageCore

/// Exactly-once writes (Raft dissertation §6.3): a write may carry an
/// idempotency key, and the state machine remembers each key's request and
/// result, so a client that retries a write whose outcome it does not know
/// (a timeout, a node that stopped, a leader change) gets the original
/// result back instead of applying the write twice, on any node and across
/// leader changes.
///
/// The records live in the state store under a reserved namespace, written in
/// the same atomic batch as the write itself, so they survive restarts and
/// travel inside snapshots (a new or restored node knows them too):
///
///     0xFE 0x00                           → the log clock (u64 ms)
///     0xFE 0x01 ‖ key                     → 0xD1 ‖ appliedAt (u64) ‖ appliedTime (u64 ms) ‖ SHA-256 of the command ‖ result
///     0xFE 0x02 ‖ appliedTime (u64) ‖ key → (empty: the expiry order)
///
/// # Time that comes from the log
/// The leader stamps every write entry with its wall clock when it proposes
/// it (`WriteEnvelope.stamp`). The *log clock* is the largest stamp applied
/// so far, so it never goes back, whichever leader's clock was ahead. A
/// record is kept for `window` of log-clock time (10 minutes by default),
/// and records are expired each time the log clock enters a new second.
/// Everything here — the clock, expiry, the lookups — reads and writes
/// through the batch's one overlay (`PendingWrites`), so what a node holds
/// after an entry depends only on the log up to that entry, never on how the
/// node batched its applies.
///
/// # A key reused, a key too old
/// - The record keeps a SHA-256 digest of the command: a key that comes
///   back with another request is refused (`idempotency_key_mismatch`, 409;
///   DynamoDB's `IdempotentParameterMismatchException` for a
///   `ClientRequestToken`), never answered with the first request's result.
/// - A retry after its record expired cannot be recognised by the cluster,
///   so the client says when it first sent the key (`Idempotency-Key-Time`,
///   ms since the Unix epoch; the CLI sends it): a keyed write first sent
///   more than `window − clockSkew` ago by the log clock is refused
///   (`idempotency_key_expired`, 409) instead of being applied a second
///   time. Why this and not tombstones of expired keys: tombstones only move
///   the edge (a retry after the tombstone is gone is applied again) and
///   cost storage at every write rate; a client's own first-attempt time
///   closes it for good at no storage cost. The refusal is computed from the
///   log clock at apply time, so every replica gives the same answer.
///   `clockSkew` (1 minute) absorbs clocks that disagree; a time further
///   than that ahead of the log clock is refused as invalid. A key sent
///   without a time is protected for the window only.
///
/// # Cost
/// One record per keyed write held for the window: about 60 bytes plus the
/// key and the result (a put's result is its version, a few dozen bytes), so
/// at 10,000 keyed writes/s a 10-minute window holds 6 million records,
/// roughly 1 GB with 64-byte keys; at 100 writes/s, about 10 MB.
struct WriteSessions: Sendable {
    static let namespace: UInt8 = 0xFE
    static let maxKeyBytes = 255
    static let clockKey: Bytes = [namespace, 0x00]
    static let expiryPrefix: Bytes = [namespace, 0x02]
    static let defaultWindowMilliseconds: UInt64 = 10 * 60 * 1000
    /// Clocks of clients and leaders may disagree by this much.
    static let clockSkewMilliseconds: UInt64 = 60 * 1000
    /// Records are expired whenever the log clock enters a new interval.
    static let expiryIntervalMilliseconds: UInt64 = 1000

    /// How long a record is kept, in log-clock milliseconds. The same on
    /// every node (it decides results): a cluster setting.
    var windowMilliseconds: UInt64

    init(windowMilliseconds: UInt64 = WriteSessions.defaultWindowMilliseconds) {
        self.windowMilliseconds = max(windowMilliseconds, Self.clockSkewMilliseconds * 2)
    }

    static func sessionKey(_ key: Bytes) -> Bytes { [namespace, 0x01] + key }

    static func expiryKey(_ key: Bytes, appliedTime: UInt64) -> Bytes {
        expiryPrefix + appliedTime.bigEndianBytes + key
    }

    static func digest(_ command: Bytes) -> Bytes { Array(SHA256.hash(data: command)) }

    /// A remembered request: where it was applied, when by the log clock,
    /// a digest of its command, and what it returned.
    struct Record: Equatable {
        static let format: UInt8 = 0xD1
        var appliedAt: UInt64
        var appliedTime: UInt64
        /// Empty for a record written before digests were kept.
        var digest: Bytes
        var result: Bytes

        func encoded() -> Bytes {
            [Self.format] + appliedAt.bigEndianBytes + appliedTime.bigEndianBytes + digest + result
        }

        init(appliedAt: UInt64, appliedTime: UInt64, digest: Bytes, result: Bytes) {
            self.appliedAt = appliedAt
            self.appliedTime = appliedTime
            self.digest = digest
            self.result = result
        }

        init(decoding bytes: Bytes) throws {
            if bytes.first == Self.format, bytes.count >= 1 + 8 + 8 + 32,
                let index = UInt64(bigEndianBytes: bytes[1..<9]), let time = UInt64(bigEndianBytes: bytes[9..<17])
            {
                self.init(appliedAt: index, appliedTime: time, digest: Array(bytes[17..<49]), result: Array(bytes[49...]))
                return
            }
            // The first release's form: appliedAt ‖ result.
            guard bytes.count >= 8, let index = UInt64(bigEndianBytes: bytes.prefix(8)) else {
                throw StorageError.corrupted(path: "write session record", reason: "shorter than its 8-byte index")
            }
            self.init(appliedAt: index, appliedTime: 0, digest: [], result: Array(bytes.dropFirst(8)))
        }
    }

    /// Checks a client's key: 1 to 255 bytes of printable ASCII, as an HTTP
    /// header value can carry and a log line can show.
    static func validate(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        return !bytes.isEmpty && bytes.count <= maxKeyBytes && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The log clock as of the writes in `pending`.
    static func clock(in pending: PendingWrites) throws -> UInt64 {
        guard let bytes = try pending.get(clockKey) else { return 0 }
        guard let value = UInt64(bigEndianBytes: bytes) else {
            throw StorageError.corrupted(path: "write sessions clock", reason: "expected 8 bytes, found \(bytes.count)")
        }
        return value
    }

    /// Moves the log clock to `stamp` if that is later, and expires the
    /// records the new time leaves behind when it enters a new interval.
    /// Returns the log clock after the entry.
    func advanceClock(to stamp: UInt64, in pending: inout PendingWrites) throws -> UInt64 {
        let now = try Self.clock(in: pending)
        guard stamp > now else { return now }
        pending.put(Self.clockKey, stamp.bigEndianBytes)
        if stamp / Self.expiryIntervalMilliseconds > now / Self.expiryIntervalMilliseconds, stamp > windowMilliseconds {
            let bound = stamp - windowMilliseconds
            let range = KeyRange(from: Self.expiryPrefix, to: Self.expiryPrefix + bound.bigEndianBytes)
            for key in try pending.keys(in: range) {
                pending.delete(key)
                pending.delete(Self.sessionKey(Array(key.dropFirst(Self.expiryPrefix.count + 8))))
            }
        }
        return stamp
    }

    /// What a keyed write finds: nil when it must be applied (and recorded),
    /// or the result to return instead.
    func lookUp(
        key: Bytes, command: Bytes, issuedAt: UInt64?, index: UInt64, clock: UInt64, in pending: PendingWrites
    ) throws -> AppliedWrite? {
        if let bytes = try pending.get(Self.sessionKey(key)) {
            let record = try Record(decoding: bytes)
            if !record.digest.isEmpty, record.digest != Self.digest(command) {
                return AppliedWrite(appliedAt: index, result: CommandResultCodec.encode(.failure(NoSQLError(
                    .idempotencyKeyMismatch,
                    "the Idempotency-Key was first used with another request (applied at index \(record.appliedAt)); a key names one request"))))
            }
            return AppliedWrite(appliedAt: record.appliedAt, result: record.result)
        }
        guard let issuedAt, clock > 0 else { return nil }
        if issuedAt > clock + Self.clockSkewMilliseconds {
            return AppliedWrite(appliedAt: index, result: CommandResultCodec.encode(.failure(NoSQLError(
                .invalidArgument,
                "the Idempotency-Key-Time is \((issuedAt - clock) / 1000) s ahead of the cluster's clock (more than the \(Self.clockSkewMilliseconds / 1000) s allowed)"))))
        }
        if clock > issuedAt, clock - issuedAt > windowMilliseconds - Self.clockSkewMilliseconds {
            return AppliedWrite(appliedAt: index, result: CommandResultCodec.encode(.failure(NoSQLError(
                .idempotencyKeyExpired,
                "the Idempotency-Key was first sent \((clock - issuedAt) / 1000) s ago, longer than the cluster remembers keys (\((windowMilliseconds - Self.clockSkewMilliseconds) / 1000) s): the write may already have been applied, so it is not applied again; send a new key if it should be"))))
        }
        return nil
    }

    /// Records a keyed write's result.
    func record(key: Bytes, command: Bytes, appliedAt: UInt64, clock: UInt64, result: Bytes, in pending: inout PendingWrites) {
        let record = Record(appliedAt: appliedAt, appliedTime: clock, digest: Self.digest(command), result: result)
        pending.put(Self.sessionKey(key), record.encoded())
        pending.put(Self.expiryKey(key, appliedTime: clock), [])
    }
}

/// What a Raft log entry of a RaftLab node carries: the encoded NoSQL
/// command, the leader's clock when it proposed it, and, when the client
/// sent them, its idempotency key and when it first sent that key.
///
///     0xE3 (format) | stamp (u64 ms) | issuedAt (u64 ms, 0: none) | key length (1) | key | command
///
/// The first release's form, still read: `0xE1 | key length (1) | key | command` (no times).
/// (0xE2 opens a `MemberRecordEnvelope`.)
struct WriteEnvelope: Equatable {
    static let format: UInt8 = 0xE3
    static let firstFormat: UInt8 = 0xE1

    var idempotencyKey: Bytes?
    var command: Bytes
    /// The proposing leader's wall clock, ms since the Unix epoch (0: none).
    var stamp: UInt64
    /// When the client first sent `idempotencyKey` (nil: it did not say).
    var issuedAt: UInt64?

    func encoded() -> Bytes {
        let key = idempotencyKey ?? []
        var bytes: Bytes = [Self.format]
        bytes.reserveCapacity(18 + key.count + command.count)
        bytes += stamp.bigEndianBytes
        bytes += (issuedAt ?? 0).bigEndianBytes
        bytes.append(UInt8(key.count))
        bytes += key
        bytes += command
        return bytes
    }

    init(idempotencyKey: Bytes?, command: Bytes, stamp: UInt64 = 0, issuedAt: UInt64? = nil) {
        self.idempotencyKey = idempotencyKey.flatMap { $0.isEmpty ? nil : $0 }
        self.command = command
        self.stamp = stamp
        self.issuedAt = issuedAt.flatMap { $0 == 0 ? nil : $0 }
    }

    init(decoding bytes: Bytes) throws(NoSQLError) {
        if bytes.first == Self.format, bytes.count >= 18, bytes.count >= 18 + Int(bytes[17]),
            let stamp = UInt64(bigEndianBytes: bytes[1..<9]), let issued = UInt64(bigEndianBytes: bytes[9..<17])
        {
            let keyLength = Int(bytes[17])
            self.init(
                idempotencyKey: keyLength == 0 ? nil : Array(bytes[18..<18 + keyLength]),
                command: Array(bytes[(18 + keyLength)...]), stamp: stamp, issuedAt: issued)
            return
        }
        guard bytes.count >= 2, bytes[0] == Self.firstFormat, bytes.count >= 2 + Int(bytes[1]) else {
            throw NoSQLError(.invalidCommand, "the log entry is not a RaftLab write envelope")
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
        guard bytes.count >= 8, let index = UInt64(bigEndianBytes: bytes.prefix(8)) else {
            throw StorageError.corrupted(path: "applied write", reason: "shorter than its 8-byte index")
        }
        self.init(appliedAt: index, result: Array(bytes.dropFirst(8)))
    }
}
