import Foundation
import RaftLabBackends
import StorageCore
import SyncObserver
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The sync counter of `raftlab bench` must see the system calls a backend
/// makes, including those inside liblmdb and libleveldb, and it must be able
/// to say "none": a backend with sync switched off observes zero.
@Suite("Syncs observed at the system call")
struct SyncObserverTests {
    static let persistentBackends = BackendRegistry.standard.names.filter {
        (try? BackendRegistry.standard.backend(named: $0).isPersistent) ?? false
    }

    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "raftlab-syncs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func entries(_ range: ClosedRange<UInt64>) -> [LogEntry] {
        range.map { LogEntry(index: $0, term: 1, data: Array(repeating: 7, count: 100)) }
    }

    /// Observed syncs of `count` single-entry appends to a fresh log store of `backend`.
    func observedAppends(_ backend: String, sync: Bool, count: UInt64 = 20) throws -> (observed: SyncCounts, reported: UInt64) {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let watch = try #require(SyncWatch(directory: root))
        let store = try BackendRegistry.standard.openLogStore(backend: backend, StoreOptions(directory: root + "/log", sync: sync))
        defer { try? store.close() }
        // Opening a store may sync its new files whatever `sync` says: count the appends only.
        let before = watch.counts
        let reportedBefore = store.syncCount
        for index in 1...count { try store.append(entries(index...index), hardState: nil) }
        return (watch.counts.since(before), store.syncCount - reportedBefore)
    }

    @Test("calls made inside shared libraries reach the observer in this process")
    func observerIsActive() {
        #expect(SyncObserver.isActive, "the test binary does not export the interposed fsync/fdatasync")
    }

    @Test("a sync this process makes is counted for its directory and nowhere else")
    func attribution() throws {
        let inside = try directory()
        let outside = try directory()
        defer {
            try? FileManager.default.removeItem(atPath: inside)
            try? FileManager.default.removeItem(atPath: outside)
        }
        let watch = try #require(SyncWatch(directory: inside))
        let processBefore = SyncObserver.processCounts
        for (path, times) in [(inside + "/a", 3), (outside + "/b", 2)] {
            let fd = open(path, O_WRONLY | O_CREAT, 0o600)
            #expect(fd >= 0)
            for _ in 0..<times { #expect(fdatasync(fd) == 0) }
            #expect(fsync(fd) == 0)
            close(fd)
        }
        #expect(watch.counts == SyncCounts(fsync: 1, fdatasync: 3))
        let process = SyncObserver.processCounts.since(processBefore)
        #expect(process.fdatasync >= 5 && process.fsync >= 2)
    }

    @Test("writes through an O_DSYNC descriptor count as syncs, others do not")
    func synchronousWrites() throws {
        let root = try directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let watch = try #require(SyncWatch(directory: root))
        let bytes: [UInt8] = Array(repeating: 1, count: 64)
        for (name, flags, times) in [("dsync", O_DSYNC, 4), ("plain", 0, 3)] {
            let fd = open(root + "/" + name, O_WRONLY | O_CREAT | flags, 0o600)
            #expect(fd >= 0)
            for offset in 0..<times { #expect(pwrite(fd, bytes, bytes.count, off_t(offset * 64)) == 64) }
            close(fd)
        }
        #expect(watch.counts == SyncCounts(syncWrites: 4))
    }

    @Test("with sync on, every persistent backend's log syncs inside its library", arguments: persistentBackends)
    func syncOnIsObserved(_ backend: String) throws {
        let (observed, reported) = try observedAppends(backend, sync: true)
        #expect(observed.durableSyncs >= 20, "\(backend): \(observed)")
        #expect(reported > 0)
        if backend == "lmdb" {
            // LMDB: fdatasync of data.mdb, then the meta page through its O_DSYNC descriptor.
            #expect(observed.fdatasync >= 20 && observed.syncWrites >= 20, "\(observed)")
        }
    }

    @Test("with sync off, the same appends show zero observed syncs", arguments: persistentBackends)
    func syncOffObservesZero(_ backend: String) throws {
        let (observed, _) = try observedAppends(backend, sync: false)
        #expect(observed.durableSyncs == 0, "\(backend) synced with sync off: \(observed)")
    }
}
