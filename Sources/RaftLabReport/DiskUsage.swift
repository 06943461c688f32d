#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes a directory tree occupies on disk, for the `disk_bytes` column.
/// Counts allocated blocks (st_blocks × 512, what `du` shows) rather than file
/// lengths, because preallocating engines (LMDB's map, log segments) and
/// sparse files would otherwise be misrepresented. Hard links count once.
public enum DiskUsage {
    public static func allocatedBytes(of path: String) -> UInt64 {
        var seen = Set<[UInt64]>()
        return walk(path, seen: &seen)
    }

    private static func walk(_ path: String, seen: inout Set<[UInt64]>) -> UInt64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        let identity = [UInt64(info.st_dev), UInt64(info.st_ino)]
        guard seen.insert(identity).inserted else { return 0 }
        var total = UInt64(info.st_blocks) * 512
        guard (info.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) else { return total }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            total += walk(path + "/" + name, seen: &seen)
        }
        return total
    }
}
