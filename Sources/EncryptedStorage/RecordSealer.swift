import Crypto
import Foundation
import StorageCore

/// Seals and opens single records with AES-256-GCM.
///
/// A sealed record is `version (1 byte) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`:
/// 29 bytes more than the plaintext. Every record gets a fresh random nonce
/// (from the system's secure generator), so the same value written twice
/// seals to different bytes; with random 96-bit nonces a key should seal at
/// most about 2^32 records (NIST SP 800-38D). The store's `SealCounter`
/// counts every seal durably and refuses (`StorageError.sealLimitReached`,
/// which says to run `raftlab rotate-key`) at its `SealLimits`.
///
/// The associated data binds a record to where it belongs: a log entry to
/// its index, term and kind, a state value to its key, a staged piece to its
/// position. A record copied to another place, altered, or sealed under
/// another key fails to open and is reported as corrupt, never returned.
struct RecordSealer: Sendable {
    static let version: UInt8 = 1
    static let nonceSize = 12
    static let tagSize = 16
    /// Bytes a sealed record adds to its plaintext.
    static let overhead = 1 + nonceSize + tagSize

    let key: EncryptionKey
    /// Counts seals under `key`; nil counts nothing (records sealed under a
    /// key of their own, such as a backup's).
    let counter: SealCounter?

    func seal(_ plaintext: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try counter?.count()
        let box = try AES.GCM.seal(plaintext, using: key.symmetric, nonce: AES.GCM.Nonce(), authenticating: context)
        var record = [UInt8]()
        record.reserveCapacity(plaintext.count + Self.overhead)
        record.append(Self.version)
        record.append(contentsOf: box.nonce)
        record.append(contentsOf: box.ciphertext)
        record.append(contentsOf: box.tag)
        return record
    }

    /// The plaintext, or `SealError` when the record is malformed or fails authentication.
    func open(_ record: [UInt8], context: [UInt8]) throws(SealError) -> [UInt8] {
        guard record.count >= Self.overhead else { throw .malformed("\(record.count) bytes, shorter than a sealed record") }
        guard record[0] == Self.version else { throw .malformed("unknown record version \(record[0])") }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: record[1..<(1 + Self.nonceSize)]),
                ciphertext: record[(1 + Self.nonceSize)..<(record.count - Self.tagSize)],
                tag: record[(record.count - Self.tagSize)...])
            return Array(try AES.GCM.open(box, using: key.symmetric, authenticating: context))
        } catch {
            throw .authentication
        }
    }

    enum SealError: Error {
        case malformed(String)
        case authentication

        var reason: String {
            switch self {
            case .malformed(let why): "not a sealed record (\(why))"
            case .authentication:
                "it fails AES-256-GCM authentication: the bytes were altered on disk, or sealed with another key or for another place"
            }
        }
    }

    // MARK: Associated data

    static func logContext(_ entry: LogEntry) -> [UInt8] {
        var context = Array("raftlab/log/v1".utf8)
        append(entry.index, to: &context)
        append(entry.term, to: &context)
        context.append(entry.kind.rawValue)
        return context
    }

    static func stateContext(_ key: Bytes) -> [UInt8] {
        Array("raftlab/state/v1".utf8) + key
    }

    static func stagingContext(_ frame: UInt64) -> [UInt8] {
        var context = Array("raftlab/staging/v1".utf8)
        append(frame, to: &context)
        return context
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// A key for messages: printable keys as text, others in hex, both cut short.
    static func describe(_ key: Bytes) -> String {
        let shown = key.prefix(48)
        let printable = shown.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        let text = printable ? "\"\(String(decoding: shown, as: UTF8.self))\"" : "0x" + shown.map { String(format: "%02x", $0) }.joined()
        return key.count > shown.count ? text + "…" : text
    }
}

/// Staged snapshot pieces, sealed with the state store's key.
struct StagingRecordSealer: StagingSealer {
    let sealer: RecordSealer
    let directory: String

    func seal(_ bytes: [UInt8], frame: UInt64) throws -> [UInt8] {
        try sealer.seal(bytes, context: RecordSealer.stagingContext(frame))
    }

    func unseal(_ bytes: [UInt8], frame: UInt64) throws -> [UInt8] {
        do {
            return try sealer.open(bytes, context: RecordSealer.stagingContext(frame))
        } catch {
            throw StorageError.corrupted(path: directory, reason: "staged snapshot piece \(frame) \(error.reason)")
        }
    }
}
