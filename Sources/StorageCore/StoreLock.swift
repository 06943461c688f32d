#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An exclusive lock on a store directory's `LOCK` file, held while a store is
/// open, for backends whose engine does not lock by itself (LevelDB and
/// RocksDB do): two writers on one log or one database would interleave their
/// frames or transactions.
///
/// Two layers, as LevelDB and RocksDB do it: a POSIX record lock (`lockf`)
/// keeps other processes out, and a table of the files this process has
/// locked keeps a second open in this process out (record locks are per
/// process). Not `flock`: a child forked by another thread holds a copy of
/// every descriptor until it execs, and with it a `flock`, which made a
/// close-then-reopen fail in the meantime; record locks are not inherited.
/// The kernel drops the lock if the process dies.
public final class StoreLock: Sendable {
    public static let fileName = "LOCK"

    /// (device, inode) of every LOCK file this process holds.
    private static let held = Mutex(Set<FileID>())

    private struct FileID: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
    }

    private let descriptor: Atomic<Int32>
    private let file: FileID

    public init(directory: String, backend: String) throws {
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw StorageError.io(operation: "fstat", path: path, errno: code)
        }
        let file = FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let locked = "\(directory) is locked: the store is already open"
        guard Self.held.withLock({ $0.insert(file).inserted }) else {
            close(fd)
            throw StorageError.engine(backend: backend, message: "\(locked) in this process")
        }
        guard lockf(fd, F_TLOCK, 0) == 0 else {
            let code = errno
            close(fd)
            _ = Self.held.withLock { $0.remove(file) }
            if code == EACCES || code == EAGAIN {
                throw StorageError.engine(backend: backend, message: "\(locked) in another process")
            }
            throw StorageError.io(operation: "lockf", path: path, errno: code)
        }
        descriptor = Atomic(fd)
        self.file = file
    }

    /// Releases the lock (closing the descriptor drops it); twice is harmless.
    public func release() {
        let fd = descriptor.exchange(-1, ordering: .relaxed)
        guard fd >= 0 else { return }
        close(fd)
        _ = Self.held.withLock { $0.remove(file) }
    }

    deinit { release() }
}
