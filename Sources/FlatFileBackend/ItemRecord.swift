import StorageCore

/// The content of one item file: `Checksummed(length-prefixed key + value)`.
///
/// The key is stored even though the file name usually encodes it, because a
/// hashed name (for long keys) does not: with the key inside, every file says
/// exactly which key it holds, and a reader can check it against the key it
/// asked for.
enum ItemRecord {
    static func encode(key: Bytes, value: Bytes) -> Bytes {
        var writer = BinaryWriter(capacity: 4 + key.count + value.count)
        writer.write(lengthPrefixed: key)
        writer.write(raw: value)
        return Checksummed.seal(writer.bytes)
    }

    static func decode(_ bytes: Bytes, source: @autoclosure () -> String) throws -> KeyValue {
        let body = try Checksummed.open(bytes, source: source())
        var reader = BinaryReader(body)
        do {
            let key = try reader.readLengthPrefixed()
            let value = try reader.readBytes(reader.remaining)
            return KeyValue(key: key, value: value)
        } catch {
            throw StorageError.corrupted(path: source(), reason: "item record is truncated")
        }
    }

    /// Reads and checks the item file at `path`: nil when there is no file.
    ///
    /// `name` is the file's name; for a plain (hex) name the stored key must be
    /// the one the name spells, otherwise the file was damaged or moved.
    static func read(_ path: String, name: String) throws -> KeyValue? {
        guard let bytes = try FileSystem.readFile(path) else { return nil }
        let pair = try decode(bytes, source: path)
        guard KeyFileName.name(for: pair.key) == name else {
            throw StorageError.corrupted(path: path, reason: "the item file holds a key that does not belong under this file name")
        }
        return pair
    }
}
