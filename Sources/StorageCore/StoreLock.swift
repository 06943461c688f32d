#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An exclusive `flock` on a store directory's `LOCK` file, held while a
/// store is open, for backends whose engine does not lock by itself (LevelDB
/// and RocksDB do): two writers on one log or one database would interleave
/// their frames or transactions. The lock is per open file, so a second open
/// in the same process is refused too; the kernel drops it if the process dies.
public final class StoreLock: Sendable {
    public static let fileName = "LOCK"
    private let descriptor: Atomic<Int32>

    public init(directory: String, backend: String) throws {
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw StorageError.engine(
                    backend: backend, message: "\(directory) is locked: the store is already open in this or another process")
            }
            throw StorageError.io(operation: "flock", path: path, errno: code)
        }
        descriptor = Atomic(fd)
    }

    /// Releases the lock (closing the descriptor drops it); twice is harmless.
    public func release() {
        let fd = descriptor.exchange(-1, ordering: .relaxed)
        if fd >= 0 { close(fd) }
    }

    deinit { release() }
}
