/// Every failure a store reports. Callers can switch on the case; the
/// description is a sentence a user can act on.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The entries asked for lie beyond the end of the log.
    case unavailable(index: UInt64, lastIndex: UInt64)
    /// The entries asked for were compacted into a snapshot.
    case compacted(index: UInt64, firstIndex: UInt64)
    /// An append that would leave a gap or rewrite compacted entries.
    case nonContiguous(expected: UInt64, got: UInt64)
    /// An argument that makes no sense for this store (empty range, position going backwards...).
    case invalidArgument(String)
    /// Bytes on disk failed their checksum or could not be decoded.
    case corrupted(path: String, reason: String)
    /// The store directory was written by another backend or kind of store.
    case backendMismatch(directory: String, expected: String, found: String)
    /// The LMDB map (or another fixed-size space) is full.
    case full(backend: String, detail: String)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// The engine under a backend reported an error.
    case engine(backend: String, message: String)
    /// No backend is registered under this name.
    case unknownBackend(name: String, known: [String])
    /// The store is encrypted and was opened without its key or with
    /// another one, or it is not encrypted and was opened with a key.
    case encryption(directory: String, problem: String)
    /// The backend does not provide this kind of store; `providers` are the
    /// registered backends that do.
    case unsupportedStore(backend: String, kind: StoreKind, providers: [String])
    /// The store's encryption key has sealed as many records as it safely
    /// may (random 96-bit nonces: about 2^32); it seals no more until the
    /// store is re-encrypted with a new key.
    case sealLimitReached(directory: String, keyID: String, seals: UInt64, limit: UInt64)
    /// The store was closed.
    case closed

    public var description: String {
        switch self {
        case let .unavailable(index, lastIndex):
            "log entry \(index) is not available: the log ends at \(lastIndex)"
        case let .compacted(index, firstIndex):
            "log entry \(index) was compacted into a snapshot: the log starts at \(firstIndex)"
        case let .nonContiguous(expected, got):
            "log append must start at or before index \(expected), got \(got)"
        case let .invalidArgument(message):
            "invalid argument: \(message)"
        case let .corrupted(path, reason):
            "corrupted data in \(path): \(reason)"
        case let .backendMismatch(directory, expected, found):
            "store directory \(directory) was written by backend '\(found)', refusing to open it with backend '\(expected)'"
        case let .full(backend, detail):
            "\(backend) store is full: \(detail)"
        case let .io(operation, path, errno):
            "\(operation) failed for \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case let .engine(backend, message):
            "\(backend) error: \(message)"
        case let .unknownBackend(name, known):
            "unknown storage backend '\(name)'; known backends: \(known.joined(separator: ", "))"
        case let .encryption(directory, problem):
            "cannot open the store in \(directory): \(problem)"
        case let .unsupportedStore(backend, kind, providers):
            "backend '\(backend)' cannot be a \(kind) store"
                + (providers.isEmpty ? "" : "; backends that can: \(providers.joined(separator: ", "))")
        case let .sealLimitReached(directory, keyID, seals, limit):
            "refusing to seal more records in \(directory): encryption key \(keyID) has sealed \(seals) records, "
                + "its limit is \(limit) (random 96-bit nonces, NIST SP 800-38D); stop the node and run "
                + "`raftlab rotate-key --new-key-file NEW`, then point encryption_key_file at NEW"
        case .closed:
            "the store is closed"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
