#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by a reader-writer lock: many `withShared` callers at
/// once, `withExclusive` alone.
///
/// Why the stores need one: an engine handle (an LMDB environment, a LevelDB
/// database) is safe to use from many threads, and a read must not wait while
/// another thread's write sits in fsync. Only closing the handle needs it to
/// itself, so reads and writes take the lock shared and `close` exclusive.
public final class ReadWriteLock<Value>: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with the value, beside any other `withShared` caller. The
    /// value must be safe to use from several threads at once.
    public func withShared<R>(_ body: (Value) throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    /// Runs `body` alone, able to change the value.
    public func withExclusive<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
