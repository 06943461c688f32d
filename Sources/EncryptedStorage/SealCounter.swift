import Foundation
import Logging
import StorageCore
import Synchronization

/// How many records a store may seal under one key, and when to warn.
///
/// With random 96-bit nonces a key should seal at most about 2^32 records
/// (NIST SP 800-38D, 8.3): past that, the chance that two records share a
/// nonce (which would expose their XOR and let tags be forged) rises above
/// 2^-32. The defaults refuse at 2^32 and warn from 2^31.
public struct SealLimits: Sendable, Hashable {
    /// Seals refused from this count on (the store then needs `raftlab rotate-key`).
    public var limit: UInt64
    /// A warning is logged once the count passes this.
    public var warning: UInt64
    /// Counts reserved durably at a time: the count on disk is always at
    /// least the number of records sealed, so a crash may skip up to this
    /// many (counting high), never count low.
    public var reservation: UInt64

    public init(limit: UInt64 = 1 << 32, warning: UInt64 = 1 << 31, reservation: UInt64 = 1 << 16) {
        self.limit = limit
        self.warning = warning
        self.reservation = max(reservation, 1)
    }

    public static let standard = SealLimits()
}

/// Counts one store's seals under one key, durably: `seal-count-<key id>`
/// beside the store's marker holds a count reserved ahead of use (written
/// atomically and synced before any record it covers is sealed), so after a
/// crash the count resumes from at least what was used (after a clean close,
/// from exactly that: `close()` writes the exact count). Another
/// key's file (left by `raftlab rotate-key`) is removed when the store opens.
/// A store that keeps nothing on disk counts in memory.
final class SealCounter: Sendable {
    private struct State {
        var used: UInt64
        var reserved: UInt64
        var warned: Bool
    }

    static let filePrefix = "seal-count-"

    private let state: Mutex<State>
    private let path: String?
    private let directory: String
    private let keyID: String
    private let limits: SealLimits
    private let logger: Logger

    private init(path: String?, directory: String, keyID: String, start: UInt64, limits: SealLimits, logger: Logger) {
        self.path = path
        self.directory = directory
        self.keyID = keyID
        self.limits = limits
        self.logger = logger
        state = Mutex(State(used: start, reserved: start, warned: false))
    }

    /// The counter of the store in `directory` under `key`; `persistent`
    /// false keeps it in memory only.
    static func open(
        directory: String, key: EncryptionKey, limits: SealLimits, logger: Logger, persistent: Bool
    ) throws -> SealCounter {
        guard persistent else {
            return SealCounter(path: nil, directory: directory, keyID: key.id, start: 0, limits: limits, logger: logger)
        }
        let name = filePrefix + key.id
        for other in try FileSystem.listDirectory(directory) where other.hasPrefix(filePrefix) && other != name {
            try FileSystem.removeFile(directory + "/" + other)
        }
        let path = directory + "/" + name
        var start: UInt64 = 0
        if let bytes = try FileSystem.readFile(path) {
            guard let count = UInt64(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw StorageError.corrupted(path: path, reason: "the seal count is not a number")
            }
            start = count
        }
        return SealCounter(path: path, directory: directory, keyID: key.id, start: start, limits: limits, logger: logger)
    }

    /// The number of seals counted so far (at least the records sealed).
    var count: UInt64 { state.withLock { $0.used } }

    /// At a clean close, records the exact count instead of the reservation
    /// (a later seal reserves again), so only a crash counts high.
    func close() throws {
        try state.withLock { state in
            guard state.used < state.reserved, let path else { return }
            try FileSystem.writeFileAtomically(path, Array("\(state.used)\n".utf8), sync: true)
            state.reserved = state.used
        }
    }

    /// Counts one seal, reserving more counts durably first when needed;
    /// throws `StorageError.sealLimitReached` once the limit is reached.
    func count(_ records: UInt64 = 1) throws {
        let warnNow: UInt64? = try state.withLock { state in
            guard state.used + records <= limits.limit else {
                throw StorageError.sealLimitReached(directory: directory, keyID: keyID, seals: state.used, limit: limits.limit)
            }
            if state.used + records > state.reserved {
                let reserved = min(max(state.used + records, state.reserved + limits.reservation), limits.limit)
                if let path {
                    try FileSystem.writeFileAtomically(path, Array("\(reserved)\n".utf8), sync: true)
                }
                state.reserved = reserved
            }
            state.used += records
            guard state.used >= limits.warning, !state.warned else { return nil }
            state.warned = true
            return state.used
        }
        if let warnNow {
            logger.warning(
                "encryption key \(keyID) has sealed \(warnNow) records in \(directory); it will refuse to seal more at \(limits.limit): run `raftlab rotate-key` soon")
        }
    }
}
