import RaftLabAPI
import StorageCore

/// Where one member of the cluster listens and which storage engines it runs.
///
/// The config file only describes the nodes a cluster started with; a node
/// added later (a joiner, a replacement during a live engine swap) is in no
/// one else's file. So every member's record is kept in replicated state,
/// written through Raft before the membership change that adds the member:
/// every node (and a new or restored one, through its snapshot) knows where
/// each member listens and what it runs.
public struct MemberRecord: Sendable, Hashable {
    public var id: UInt64
    public var raftAddress: HostPort
    public var httpAddress: HostPort
    public var logBackend: String
    public var stateBackend: String
    /// The member this one replaces in a live engine swap (`migrate-cluster`),
    /// 0 for none: what lets an interrupted swap resume where it stopped.
    public var replaces: UInt64

    public init(
        id: UInt64, raftAddress: HostPort, httpAddress: HostPort, logBackend: String, stateBackend: String,
        replaces: UInt64 = 0
    ) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.logBackend = logBackend
        self.stateBackend = stateBackend
        self.replaces = replaces
    }

    /// The same member, ignoring what `replaces` says.
    func describesSameNode(as other: MemberRecord) -> Bool {
        id == other.id && raftAddress == other.raftAddress && httpAddress == other.httpAddress
            && logBackend == other.logBackend && stateBackend == other.stateBackend
    }

    ///     format (1) | id (8) | replaces (8) | 4 × (length (4) | UTF-8): raft, http, log, state
    func encoded() -> Bytes {
        var writer = BinaryWriter(capacity: 64)
        writer.write(UInt8(1))
        writer.write(id)
        writer.write(replaces)
        for text in [raftAddress.description, httpAddress.description, logBackend, stateBackend] {
            writer.write(lengthPrefixed: Array(text.utf8))
        }
        return writer.bytes
    }

    init(decoding bytes: Bytes) throws {
        var reader = BinaryReader(bytes)
        do {
            guard try reader.readUInt8() == 1 else { throw StorageError.corrupted(path: "member record", reason: "unknown format") }
            let id = try reader.readUInt64()
            let replaces = try reader.readUInt64()
            var texts: [String] = []
            for _ in 0..<4 {
                texts.append(String(decoding: try reader.readLengthPrefixed(), as: UTF8.self))
            }
            self.init(
                id: id, raftAddress: try HostPort(parsing: texts[0]), httpAddress: try HostPort(parsing: texts[1]),
                logBackend: texts[2], stateBackend: texts[3], replaces: replaces)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.corrupted(path: "member record", reason: "\(error)")
        }
    }
}

/// The member records in the state store, under the node namespace 0xFE
/// that write sessions use too (0x01, 0x02):
///
///     0xFE 0x03 ‖ member id (u64, big-endian) → `MemberRecord`
///
/// They are written by log entries of their own (`MemberRecordEnvelope`),
/// applied like any command, so they travel in snapshots and backups.
public enum MemberRegistry {
    static let prefix: Bytes = [0xFE, 0x03]

    static func key(_ id: UInt64) -> Bytes { prefix + id.bigEndianBytes }

    /// Every record in `store`, by member id.
    public static func records(in store: any StateStore) throws -> [UInt64: MemberRecord] {
        var records: [UInt64: MemberRecord] = [:]
        for pair in try store.scan(prefix: prefix) {
            let record = try MemberRecord(decoding: pair.value)
            records[record.id] = record
        }
        return records
    }

    /// True for keys of the registry (a restore replaces them).
    public static func isRecordKey(_ key: Bytes) -> Bool {
        key.count == prefix.count + 8 && key.starts(with: prefix)
    }

    /// The pair storing `record`.
    public static func pair(_ record: MemberRecord) -> KeyValue {
        KeyValue(key: key(record.id), value: record.encoded())
    }

    public static func decode(_ value: Bytes) throws -> MemberRecord {
        try MemberRecord(decoding: value)
    }
}

/// A log entry that writes or deletes one member record (not a NoSQL command):
///
///     0xE2 (format) | 0x01 put | record      or      0xE2 | 0x02 delete | id (8)
struct MemberRecordEnvelope: Equatable {
    static let format: UInt8 = 0xE2

    enum Operation: Equatable {
        case put(MemberRecord)
        case delete(UInt64)
    }

    var operation: Operation

    func encoded() -> Bytes {
        switch operation {
        case .put(let record): [Self.format, 0x01] + record.encoded()
        case .delete(let id): [Self.format, 0x02] + id.bigEndianBytes
        }
    }

    static func isEnvelope(_ bytes: Bytes) -> Bool { bytes.first == format }

    init(_ operation: Operation) {
        self.operation = operation
    }

    init(decoding bytes: Bytes) throws {
        guard bytes.count >= 2, bytes[0] == Self.format else {
            throw StorageError.corrupted(path: "raft log entry", reason: "not a member record entry")
        }
        switch bytes[1] {
        case 0x01: operation = .put(try MemberRecord(decoding: Array(bytes[2...])))
        case 0x02:
            guard bytes.count == 10, let id = UInt64(bigEndianBytes: bytes[2...]) else {
                throw StorageError.corrupted(path: "raft log entry", reason: "a member deletion without its 8-byte id")
            }
            operation = .delete(id)
        default: throw StorageError.corrupted(path: "raft log entry", reason: "unknown member record operation \(bytes[1])")
        }
    }

    /// The write this entry makes.
    func apply(to batch: inout WriteBatch) {
        switch operation {
        case .put(let record): batch.put(MemberRegistry.key(record.id), record.encoded())
        case .delete(let id): batch.delete(MemberRegistry.key(id))
        }
    }
}
