#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StorageCore

/// File-system calls the flat-file backend needs beyond `StorageCore.FileSystem`.
enum FlatFileSystem {
    /// A second name for an existing file. Item files are only ever replaced
    /// by rename, never written in place, so a hard link keeps the content the
    /// file had when it was linked: that is how a snapshot freezes the state.
    static func hardLink(_ existing: String, to newPath: String) throws {
        guard link(existing, newPath) == 0 else {
            throw StorageError.io(operation: "link", path: existing, errno: errno)
        }
    }

    /// Creates one directory (its parent must exist); with `sync`, fsyncs the
    /// parent so the new name survives power loss, and counts that sync.
    static func makeDirectory(_ path: String, sync: Bool, counter: SyncCounter) throws {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw StorageError.io(operation: "mkdir", path: path, errno: errno)
        }
        if sync { try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path), counter: counter) }
    }

    /// Removes every `*.tmp` file directly in `directory`: the remains of
    /// writes that were interrupted before their rename, hence never part of
    /// the store's state.
    static func removeTemporaryFiles(in directory: String, names: [String]) throws {
        for name in names where name.hasSuffix(".tmp") {
            try FileSystem.removeFile(directory + "/" + name)
        }
    }
}
