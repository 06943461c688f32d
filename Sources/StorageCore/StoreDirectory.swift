/// Every store directory carries a small marker file naming the backend and the
/// kind of store that wrote it. Opening a directory with another backend is
/// refused with a message naming both, instead of misreading foreign files.
public enum StoreDirectory {
    public static let markerName = "RAFTLAB_STORE"
    public static let formatVersion = 1

    public typealias Kind = StoreKind

    /// Creates `path` if needed and checks or writes its marker.
    ///
    /// A directory that exists, is not empty and has no marker is refused too:
    /// it was not made by RaftLab, and writing into it could destroy someone's files.
    public static func prepare(_ path: String, backend: String, kind: Kind, sync: Bool) throws {
        try FileSystem.createDirectory(path, sync: sync)
        let markerPath = path + "/" + markerName
        let expected = "backend=\(backend)\nkind=\(kind.rawValue)\nformat=\(formatVersion)\n"
        if let existing = try FileSystem.readFile(markerPath) {
            let fields = parse(String(decoding: existing, as: UTF8.self))
            let found = fields["backend"] ?? "unknown"
            let foundKind = fields["kind"] ?? "unknown"
            guard found == backend, foundKind == kind.rawValue else {
                throw StorageError.backendMismatch(
                    directory: path, expected: "\(backend) \(kind.rawValue) store",
                    found: "\(found) \(foundKind) store")
            }
            guard fields["format"] == String(formatVersion) else {
                throw StorageError.corrupted(path: markerPath, reason: "unsupported store format \(fields["format"] ?? "?")")
            }
            return
        }
        let others = try FileSystem.listDirectory(path).filter { $0 != markerName + ".tmp" }
        guard others.isEmpty else {
            throw StorageError.backendMismatch(
                directory: path, expected: "\(backend) \(kind.rawValue) store",
                found: "unknown (the directory is not empty and has no \(markerName) marker)")
        }
        try FileSystem.writeFileAtomically(markerPath, Array(expected.utf8), sync: sync)
    }

    private static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }
}
