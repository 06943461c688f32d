import EncryptedStorage
import Foundation
import Raft
import StorageCore

/// What a backup says about itself, before its data.
public struct BackupHeader: Sendable, Hashable {
    /// The applied position the backup is a consistent snapshot of.
    public var index: UInt64
    public var term: UInt64
    /// The cluster and node it was taken from.
    public var clusterID: UInt64
    public var nodeID: UInt64
    /// When it was taken, in milliseconds since 1970.
    public var createdUnixMilliseconds: UInt64
    /// The engines of the node it was taken from (for the record; a backup
    /// restores on any backend).
    public var logBackend: String
    public var stateBackend: String
    /// Set when the pairs are sealed (a backup of a cluster that encrypts at rest).
    public var encryption: BackupEncryption?

    public init(
        index: UInt64, term: UInt64, clusterID: UInt64, nodeID: UInt64, createdUnixMilliseconds: UInt64,
        logBackend: String, stateBackend: String, encryption: BackupEncryption? = nil
    ) {
        self.encryption = encryption
        self.index = index
        self.term = term
        self.clusterID = clusterID
        self.nodeID = nodeID
        self.createdUnixMilliseconds = createdUnixMilliseconds
        self.logBackend = logBackend
        self.stateBackend = stateBackend
    }
}

/// How a backup's pairs are sealed: the algorithm, the identity of the
/// cluster key they are sealed under (never the key) and the salt of the
/// backup's own key (see `BackupSealer`).
public struct BackupEncryption: Sendable, Hashable {
    public var algorithm: String
    public var keyID: String
    public var salt: [UInt8]
}

/// The backup file format: a header, every key/value pair of a state store
/// snapshot in key order (the cluster membership and the member records
/// included: they live in the state), and a trailer with the pair count and
/// a CRC-32C of every byte before it.
///
///     "RLBACKUP" | format version (4) | header length (4) | header
///     (0x01 | key length (4) | key | value length (4) | value)*
///     0x00 | pair count (8) | CRC-32C (4)
///
///     header: index (8) | term (8) | cluster ID (8) | node ID (8) |
///             created ms (8) | log backend (4 + n) | state backend (4 + n)
///
/// Integers are big-endian. A file that ends early, or whose checksum or
/// count does not match, is refused as a whole.
///
/// A backup of a cluster that encrypts at rest is format version 2: the
/// header goes on with `algorithm (4 + n) | key id (4 + n) | salt (4 + n)`,
/// each pair is `0x02 | sealed length (4) | sealed key and value` and the
/// trailer is `0x00 | pair count (8) | sealed count length (4) | sealed
/// count | CRC-32C (4)` (see `BackupSealer`). A backup of an unencrypted
/// cluster is version 1, as before.
public enum BackupFormat {
    public static let magic: Bytes = Array("RLBACKUP".utf8)
    public static let version: UInt32 = 1
    public static let encryptedVersion: UInt32 = 2
    static let pairTag: UInt8 = 0x01
    static let sealedPairTag: UInt8 = 0x02
    static let endTag: UInt8 = 0x00

    /// The header fields every version has, as bytes (also what a backup's key is derived with).
    static func headerBody(_ header: BackupHeader) -> Bytes {
        var body = BinaryWriter(capacity: 128)
        for value in [header.index, header.term, header.clusterID, header.nodeID, header.createdUnixMilliseconds] {
            body.write(value)
        }
        body.write(lengthPrefixed: Array(header.logBackend.utf8))
        body.write(lengthPrefixed: Array(header.stateBackend.utf8))
        return body.bytes
    }
}

/// Why a backup file cannot be used.
public enum BackupError: Error, Sendable, Hashable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notABackup(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    /// The file ends before its trailer: an interrupted download or copy.
    case truncated(path: String, bytes: UInt64)
    case corrupted(path: String, reason: String)
    /// The backup is encrypted and no key was given.
    case keyRequired(path: String, keyID: String)
    /// The backup is encrypted with another key than the one given.
    case wrongKey(path: String, keyID: String, given: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read backup \(path): \(reason)"
        case let .notABackup(path): "\(path) is not a RaftLab backup (it does not start with RLBACKUP)"
        case let .unsupportedVersion(path, version): "\(path) is a backup of format version \(version); this raftlab reads version \(BackupFormat.version)"
        case let .truncated(path, bytes):
            "backup \(path) is truncated: it ends after \(bytes) bytes, before its trailer (an interrupted download or copy?); refusing it"
        case let .corrupted(path, reason): "backup \(path) is corrupted: \(reason); refusing it"
        case let .keyRequired(path, keyID):
            "backup \(path) is encrypted with key \(keyID): give that key (--key-file, or the config's [storage] encryption_key_file)"
        case let .wrongKey(path, keyID, given):
            "wrong key for backup \(path): it is encrypted with key \(keyID), but \(given) was given; refusing it"
        }
    }
}

/// Turns a snapshot into backup bytes, piece by piece (for streaming).
public struct BackupEncoder: Sendable {
    private var crc: UInt32 = 0
    public private(set) var pairs: UInt64 = 0
    public private(set) var bytes: UInt64 = 0
    /// The cluster's key: with one, the pairs are sealed (format version 2).
    private let key: EncryptionKey?
    private var sealer: BackupSealer?

    public init(key: EncryptionKey? = nil) {
        self.key = key
    }

    public mutating func start(_ header: BackupHeader) throws -> Bytes {
        var body = BinaryWriter(capacity: 192)
        let base = BackupFormat.headerBody(header)
        body.write(raw: base)
        if let key {
            let sealer = try BackupSealer(key: key, info: base)
            self.sealer = sealer
            body.write(lengthPrefixed: Array(EncryptedBackend.algorithm.utf8))
            body.write(lengthPrefixed: Array(sealer.keyID.utf8))
            body.write(lengthPrefixed: sealer.salt)
        }
        var writer = BinaryWriter(capacity: 16 + body.bytes.count)
        writer.write(raw: BackupFormat.magic)
        writer.write(key == nil ? BackupFormat.version : BackupFormat.encryptedVersion)
        writer.write(lengthPrefixed: body.bytes)
        return emit(writer.bytes)
    }

    /// Encodes pairs from `source` until about `maxBytes` are out; empty at the end of the source.
    public mutating func encode(from source: inout some KeyValueSource, maxBytes: Int) throws -> Bytes {
        var writer = BinaryWriter(capacity: min(maxBytes, 1 << 20) + 1024)
        while writer.bytes.count < maxBytes, let pair = try source.next() {
            if let sealer {
                writer.write(BackupFormat.sealedPairTag)
                writer.write(lengthPrefixed: try sealer.seal(pair, ordinal: pairs))
            } else {
                writer.write(BackupFormat.pairTag)
                writer.write(lengthPrefixed: pair.key)
                writer.write(lengthPrefixed: pair.value)
            }
            pairs += 1
        }
        return emit(writer.bytes)
    }

    public mutating func finish() throws -> Bytes {
        var writer = BinaryWriter(capacity: 64)
        writer.write(BackupFormat.endTag)
        writer.write(pairs)
        if let sealer { writer.write(lengthPrefixed: try sealer.sealCount(pairs)) }
        var out = emit(writer.bytes)
        var tail = BinaryWriter(capacity: 4)
        tail.write(crc)
        out += tail.bytes
        bytes += 4
        return out
    }

    private mutating func emit(_ chunk: Bytes) -> Bytes {
        crc = CRC32C.checksum(chunk, seed: crc)
        bytes += UInt64(chunk.count)
        return chunk
    }
}

/// Reads a backup file front to back: the header at open, then the pairs;
/// the trailer's count and checksum are checked when the pairs run out, and
/// any shortfall throws. Use `BackupReader.verify` to check a whole file
/// before acting on it.
public final class BackupReader: KeyValueSource {
    public let path: String
    public private(set) var header: BackupHeader
    private let handle: FileHandle
    private var buffer: Bytes = []
    private var position = 0
    private var offset: UInt64 = 0
    private var crc: UInt32 = 0
    private var pairs: UInt64 = 0
    private var finished = false
    public private(set) var checksum: UInt32 = 0
    /// Opens the pairs of an encrypted backup; nil when it is not encrypted
    /// or (`structureOnly`) no key was given.
    private var sealer: BackupSealer?
    /// Walk an encrypted backup without its key: check its framing, count
    /// and checksum, return no pairs' contents.
    private let structureOnly: Bool

    /// Opens the backup at `path`. An encrypted backup needs `key` (its
    /// cluster's), unless `structureOnly`; a wrong key is refused here.
    public init(path: String, key: EncryptionKey? = nil, structureOnly: Bool = false) throws {
        self.structureOnly = structureOnly
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw BackupError.unreadable(path: path, reason: FileSystem.exists(path) ? "permission denied" : "no such file")
        }
        self.handle = handle
        header = BackupHeader(index: 0, term: 0, clusterID: 0, nodeID: 0, createdUnixMilliseconds: 0, logBackend: "", stateBackend: "")
        let magic = try read(BackupFormat.magic.count, allowEnd: true)
        guard magic == BackupFormat.magic else { throw BackupError.notABackup(path: path) }
        let version = try readUInt32()
        guard version == BackupFormat.version || version == BackupFormat.encryptedVersion else {
            throw BackupError.unsupportedVersion(path: path, version: version)
        }
        let length = try readUInt32()
        guard length <= 1 << 20 else { throw BackupError.corrupted(path: path, reason: "a header of \(length) bytes") }
        var reader = BinaryReader(try read(Int(length)))
        do {
            let numbers = try (0..<5).map { _ in try reader.readUInt64() }
            header = BackupHeader(
                index: numbers[0], term: numbers[1], clusterID: numbers[2], nodeID: numbers[3],
                createdUnixMilliseconds: numbers[4],
                logBackend: String(decoding: try reader.readLengthPrefixed(), as: UTF8.self),
                stateBackend: String(decoding: try reader.readLengthPrefixed(), as: UTF8.self))
            if version == BackupFormat.encryptedVersion {
                header.encryption = BackupEncryption(
                    algorithm: String(decoding: try reader.readLengthPrefixed(), as: UTF8.self),
                    keyID: String(decoding: try reader.readLengthPrefixed(), as: UTF8.self),
                    salt: try reader.readLengthPrefixed())
            }
        } catch {
            throw BackupError.corrupted(path: path, reason: "an unreadable header")
        }
        guard let encryption = header.encryption else { return }
        guard encryption.algorithm == EncryptedBackend.algorithm, encryption.salt.count == BackupSealer.saltSize else {
            throw BackupError.corrupted(path: path, reason: "an unknown encryption \(encryption.algorithm)")
        }
        guard let key else {
            if structureOnly { return }
            throw BackupError.keyRequired(path: path, keyID: encryption.keyID)
        }
        guard key.id == encryption.keyID else {
            throw BackupError.wrongKey(path: path, keyID: encryption.keyID, given: key.description)
        }
        sealer = try BackupSealer(key: key, salt: encryption.salt, info: BackupFormat.headerBody(header))
    }

    /// Whether the pairs are sealed (a backup of an encrypted cluster).
    public var isEncrypted: Bool { header.encryption != nil }

    deinit { try? handle.close() }

    /// The next pair, or nil after the trailer checked out.
    public func next() throws -> KeyValue? {
        guard !finished else { return nil }
        let tag = try read(1)[0]
        switch tag {
        case BackupFormat.pairTag where !isEncrypted:
            let key = try read(Int(try readUInt32()))
            let value = try read(Int(try readUInt32()))
            pairs += 1
            return KeyValue(key: key, value: value)
        case BackupFormat.sealedPairTag where isEncrypted:
            let record = try read(Int(try readUInt32()))
            defer { pairs += 1 }
            guard let sealer else { return KeyValue(key: [], value: []) }
            guard let pair = sealer.open(record, ordinal: pairs) else {
                throw BackupError.corrupted(
                    path: path,
                    reason: "pair \(pairs) does not open with key \(sealer.keyID): it was altered or moved (AES-256-GCM authentication failed)")
            }
            return pair
        case BackupFormat.endTag:
            let count = try readUInt64()
            let sealedCount: Bytes = try isEncrypted ? read(Int(readUInt32())) : []
            let expected = crc
            let stored = try readUInt32()
            guard stored == expected else {
                throw BackupError.corrupted(
                    path: path, reason: "its checksum is \(hex(expected)) but the trailer says \(hex(stored))")
            }
            guard count == pairs else {
                throw BackupError.corrupted(path: path, reason: "it holds \(pairs) pairs but the trailer says \(count)")
            }
            if let sealer, !sealer.opensCount(sealedCount, count: count) {
                throw BackupError.corrupted(path: path, reason: "its sealed pair count does not open: the file was cut short or altered")
            }
            if try !read(1, allowEnd: true).isEmpty {
                throw BackupError.corrupted(path: path, reason: "bytes follow its trailer")
            }
            checksum = stored
            finished = true
            return nil
        default:
            throw BackupError.corrupted(path: path, reason: "an unknown record tag \(tag) at byte \(offset - 1)")
        }
    }

    /// What a verified backup holds.
    public struct Summary: Sendable, Hashable {
        public var header: BackupHeader
        public var pairs: UInt64
        public var bytes: UInt64
        public var checksum: UInt32
        /// The membership recorded in the state (nil if the state has none).
        public var configuration: ClusterConfiguration?
        public var records: [MemberRecord]
        /// The NoSQL data: pairs outside the engine's and the node's namespaces.
        public var dataPairs: UInt64
        /// Whether every pair was read (false: an encrypted backup checked
        /// without its key, so only its framing, count and checksum).
        public var contentsChecked: Bool = true
    }

    /// Reads the whole file and checks it; throws `BackupError` for anything
    /// amiss. An encrypted backup is opened with `key`; without one, only
    /// its framing, count and checksum are checked.
    public static func verify(path: String, key: EncryptionKey? = nil) throws -> Summary {
        let reader = try BackupReader(path: path, key: key, structureOnly: key == nil)
        if reader.isEncrypted, key == nil {
            while try reader.next() != nil {}
            return Summary(
                header: reader.header, pairs: reader.pairs, bytes: reader.offset, checksum: reader.checksum,
                configuration: nil, records: [], dataPairs: 0, contentsChecked: false)
        }
        var configuration: ClusterConfiguration?
        var records: [MemberRecord] = []
        var data: UInt64 = 0
        while let pair = try reader.next() {
            if pair.key == ClusterConfiguration.stateKey {
                configuration = try? ClusterConfiguration(encoded: pair.value)
            } else if MemberRegistry.isRecordKey(pair.key) {
                if let record = try? MemberRegistry.decode(pair.value) { records.append(record) }
            } else if pair.key.first.map({ $0 < 0xFE }) ?? true {
                data += 1
            }
        }
        return Summary(
            header: reader.header, pairs: reader.pairs, bytes: reader.offset, checksum: reader.checksum,
            configuration: configuration, records: records, dataPairs: data)
    }

    // MARK: Reading

    private func read(_ count: Int, allowEnd: Bool = false) throws -> Bytes {
        var out: Bytes = []
        out.reserveCapacity(count)
        while out.count < count {
            if position == buffer.count {
                let chunk = try readChunk()
                if chunk.isEmpty {
                    if allowEnd && out.isEmpty { return [] }
                    throw out.isEmpty && offset == 0 ? BackupError.notABackup(path: path) : BackupError.truncated(path: path, bytes: offset)
                }
                buffer = chunk
                position = 0
            }
            let take = min(count - out.count, buffer.count - position)
            out += buffer[position..<position + take]
            position += take
        }
        crc = CRC32C.checksum(out, seed: crc)
        offset += UInt64(count)
        return out
    }

    private func readChunk() throws -> Bytes {
        do {
            return Array(try handle.read(upToCount: 1 << 20) ?? Data())
        } catch {
            throw BackupError.unreadable(path: path, reason: "\(error)")
        }
    }

    private func readUInt32() throws -> UInt32 {
        var reader = BinaryReader(try read(4))
        return try reader.readUInt32()
    }

    private func readUInt64() throws -> UInt64 {
        var reader = BinaryReader(try read(8))
        return try reader.readUInt64()
    }

    private func hex(_ value: UInt32) -> String { String(value, radix: 16) }
}
