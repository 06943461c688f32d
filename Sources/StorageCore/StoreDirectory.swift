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
            // An encrypted store keeps its backend's files one level down;
            // its marker says how it is encrypted. Opening it without the
            // key would read ciphertext as data.
            if let encryption = fields[encryptionField] {
                throw StorageError.encryption(
                    directory: path,
                    problem: "the store is encrypted (\(encryption), key id \(fields[keyIDField] ?? "?")); "
                        + "open it with [storage] encryption = \"\(encryption)\" and its encryption_key_file")
            }
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

    /// The marker field naming the encryption of an encrypted store, and the
    /// one naming the identity of its key (see EncryptedStorage).
    public static let encryptionField = "encryption"
    public static let keyIDField = "key_id"

    /// The fields of the marker in `path`, or nil when there is none.
    public static func readMarker(_ path: String) throws -> [String: String]? {
        try FileSystem.readFile(path + "/" + markerName).map { parse(String(decoding: $0, as: UTF8.self)) }
    }

    /// Writes (or replaces, atomically) the marker of `path`: the standard
    /// fields for `backend` and `kind`, then `extra` fields in key order.
    public static func writeMarker(
        _ path: String, backend: String, kind: Kind, extra: [(String, String)] = [], sync: Bool
    ) throws {
        var text = "backend=\(backend)\nkind=\(kind.rawValue)\nformat=\(formatVersion)\n"
        for (key, value) in extra { text += "\(key)=\(value)\n" }
        try FileSystem.writeFileAtomically(path + "/" + markerName, Array(text.utf8), sync: sync)
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
