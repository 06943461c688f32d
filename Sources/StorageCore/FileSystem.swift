#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Counts the syncs a store issues, so reports can show that durable writes
/// really reached the disk.
public final class SyncCounter: Sendable {
    private let count = Atomic<UInt64>(0)
    public init() {}
    public func record(_ n: UInt64 = 1) { count.add(n, ordering: .relaxed) }
    public var value: UInt64 { count.load(ordering: .relaxed) }
}

/// Thin, throwing wrappers over POSIX file calls. Every durable write in the
/// disk backends goes through here, so the fsync rules live in one place:
/// a new or renamed file is durable only after the file *and* its directory
/// have been synced.
public enum FileSystem {
    private static func fail(_ operation: String, _ path: String) -> StorageError {
        .io(operation: operation, path: path, errno: errno)
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and missing parents; with `sync`, fsyncs each parent whose
    /// entries changed so the new directories survive power loss.
    public static func createDirectory(_ path: String, sync: Bool) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path, !isDirectory(parent) { try createDirectory(parent, sync: sync) }
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw fail("mkdir", path) }
        if sync { try syncDirectory(parent) }
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw fail("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file, or nil when it does not exist.
    public static func readFile(_ path: String) throws -> Bytes? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw fail("open", path)
        }
        defer { close(fd) }
        var result: Bytes = []
        var chunk = Bytes(repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("read", path)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ bytes: Bytes, path: String) throws {
        var offset = 0
        try bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("write", path)
                }
                offset += n
            }
        }
    }

    /// Creates or truncates `path` and writes `bytes`; with `sync`, fdatasyncs it.
    /// Not atomic: use for temporary files that are renamed into place.
    public static func writeFile(_ path: String, _ bytes: Bytes, sync: Bool, counter: SyncCounter? = nil) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("open", path) }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        if sync {
            guard fdatasync(fd) == 0 else { throw fail("fdatasync", path) }
            counter?.record()
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves the old or the new
    /// content, never a mix: write a temporary file, sync it, rename it over
    /// `path`, sync the directory (the last two only with `sync`).
    public static func writeFileAtomically(_ path: String, _ bytes: Bytes, sync: Bool, counter: SyncCounter? = nil) throws {
        let temporary = path + ".tmp"
        try writeFile(temporary, bytes, sync: sync, counter: counter)
        try rename(temporary, to: path)
        if sync { try syncDirectory(parentDirectory(of: path), counter: counter) }
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw fail("rename", from) }
    }

    /// Removes a file; a missing file is not an error.
    public static func removeFile(_ path: String) throws {
        if unlink(path) != 0, errno != ENOENT { throw fail("unlink", path) }
    }

    /// Removes a directory tree; a missing one is not an error.
    public static func removeTree(_ path: String) throws {
        guard isDirectory(path) else { return try removeFile(path) }
        for name in try listDirectory(path) { try removeTree(path + "/" + name) }
        if rmdir(path) != 0, errno != ENOENT { throw fail("rmdir", path) }
    }

    public static func syncFile(_ path: String, counter: SyncCounter? = nil) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("open", path) }
        defer { close(fd) }
        guard fdatasync(fd) == 0 else { throw fail("fdatasync", path) }
        counter?.record()
    }

    /// fsync of a directory: makes creations, renames and deletions in it durable.
    public static func syncDirectory(_ path: String, counter: SyncCounter? = nil) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw fail("fsync", path) }
        counter?.record()
    }

    /// Bytes used by the files under `path` (allocated blocks, as `du` counts).
    public static func diskUsage(_ path: String) -> UInt64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        if (info.st_mode & S_IFMT) != S_IFDIR { return UInt64(info.st_blocks) * 512 }
        let children = (try? listDirectory(path)) ?? []
        return children.reduce(UInt64(info.st_blocks) * 512) { $0 + diskUsage(path + "/" + $1) }
    }
}
