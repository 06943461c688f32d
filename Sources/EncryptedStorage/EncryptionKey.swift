import Crypto
import Foundation
import StorageCore

/// A 256-bit key for AES-256-GCM, and the identity the stores record for it.
///
/// The identity is the first 8 bytes of HMAC-SHA256(key, "raftlab/key-id/v1")
/// in hex: it tells keys apart (a store refuses a key whose identity is not
/// the one in its marker) and reveals nothing usable about the key itself.
public struct EncryptionKey: Sendable, CustomStringConvertible {
    /// The key's identity, 16 hex digits.
    public let id: String
    /// Where the key came from, for messages ("the key in certs/storage.key").
    public let source: String
    let symmetric: SymmetricKey

    public static let byteCount = 32

    public init(bytes: [UInt8], source: String = "memory") throws(EncryptionKeyError) {
        guard bytes.count == Self.byteCount else {
            throw .wrongLength(source: source, count: bytes.count)
        }
        symmetric = SymmetricKey(data: bytes)
        self.source = source
        let code = HMAC<SHA256>.authenticationCode(for: Array("raftlab/key-id/v1".utf8), using: symmetric)
        id = code.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Reads a key file: exactly 32 bytes, as `raftlab certs init` writes
    /// them (or `head -c 32 /dev/urandom > FILE`).
    public static func load(path: String) throws(EncryptionKeyError) -> EncryptionKey {
        let bytes: Bytes?
        do { bytes = try FileSystem.readFile(path) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard let bytes else { throw .unreadable(path: path, reason: "no such file") }
        return try EncryptionKey(bytes: bytes, source: path)
    }

    /// 32 bytes from the system's cryptographically secure generator.
    public static func generateBytes() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    public var description: String { "key \(id) (\(source))" }
}

public enum EncryptionKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case wrongLength(source: String, count: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            "cannot read the encryption key file \(path): \(reason)"
        case let .wrongLength(source, count):
            "the encryption key in \(source) must be exactly \(EncryptionKey.byteCount) bytes, it has \(count) "
                + "(make one with `raftlab certs init` or `head -c 32 /dev/urandom > FILE`)"
        }
    }
}
