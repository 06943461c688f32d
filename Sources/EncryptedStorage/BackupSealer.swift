import Crypto
import StorageCore

/// Seals the pairs of a backup of an encrypted cluster.
///
/// Each backup is sealed under a key of its own, HKDF-SHA256 of the
/// cluster's key with a random 32-byte salt and the backup's header as
/// info: the records of a backup never draw on the cluster key's seal budget
/// (`SealLimits`), and a header altered in the file (another index, say)
/// derives another key, so nothing opens. Pairs are sealed by the same
/// `RecordSealer` as the stores, each with its position in the file as
/// associated data (so pairs cannot be reordered or dropped), and the pair
/// count is sealed last (so the file cannot be cut short at a record boundary).
public struct BackupSealer: Sendable {
    public static let saltSize = 32

    /// The identity of the cluster key (`EncryptionKey.id`), recorded in the header.
    public let keyID: String
    public let salt: [UInt8]
    private let sealer: RecordSealer

    /// A sealer for a new backup (a fresh random salt) or for reading one
    /// (its salt). `info` is the backup's header bytes.
    public init(key: EncryptionKey, salt: [UInt8]? = nil, info: [UInt8]) throws {
        let salt = salt ?? SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key.symmetric, salt: salt, info: Array("raftlab/backup/v1".utf8) + info,
            outputByteCount: EncryptionKey.byteCount)
        self.keyID = key.id
        self.salt = salt
        sealer = RecordSealer(
            key: try EncryptionKey(bytes: derived.withUnsafeBytes { Array($0) }, source: "backup key"), counter: nil)
    }

    /// Seals pair number `ordinal` (from 0): key and value together.
    public func seal(_ pair: KeyValue, ordinal: UInt64) throws -> [UInt8] {
        var plain = BinaryWriter(capacity: pair.key.count + pair.value.count + 4)
        plain.write(lengthPrefixed: pair.key)
        plain.write(raw: pair.value)
        return try sealer.seal(plain.bytes, context: Self.context("pair", ordinal))
    }

    /// The pair sealed as number `ordinal`, or nil when it does not open
    /// (another key, or altered, moved or truncated bytes).
    public func open(_ record: [UInt8], ordinal: UInt64) -> KeyValue? {
        guard let plain = try? sealer.open(record, context: Self.context("pair", ordinal)) else { return nil }
        var reader = BinaryReader(plain)
        guard let key = try? reader.readLengthPrefixed() else { return nil }
        return KeyValue(key: key, value: Array(plain[(4 + key.count)...]))
    }

    /// Seals the number of pairs, written after the last one.
    public func sealCount(_ count: UInt64) throws -> [UInt8] {
        try sealer.seal([], context: Self.context("end", count))
    }

    /// Whether `record` seals exactly `count` pairs.
    public func opensCount(_ record: [UInt8], count: UInt64) -> Bool {
        (try? sealer.open(record, context: Self.context("end", count))) != nil
    }

    private static func context(_ kind: String, _ number: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: 32)
        writer.write(raw: Array("raftlab/backup/v1/\(kind)".utf8))
        writer.write(number)
        return writer.bytes
    }
}
