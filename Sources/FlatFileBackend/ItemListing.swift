import StorageCore

/// The items of one directory (a live generation or a snapshot) in key order.
///
/// The directory is the index: listing it and decoding the names gives every
/// key, sorted here in unsigned byte order (hex names would sort the same way
/// as strings, but hashed names and their prefixes would not, so sorting is
/// done on the decoded keys). Only hashed names need their file read to learn
/// the key; the value is kept then, so that file is read once.
enum ItemListing {
    struct Item: Sendable {
        let key: Bytes
        let name: String
        /// Already read while decoding a hashed name.
        let value: Bytes?

        func load(from directory: String) throws -> KeyValue {
            if let value { return KeyValue(key: key, value: value) }
            let path = directory + "/" + name
            guard let pair = try ItemRecord.read(path, name: name) else {
                throw StorageError.corrupted(path: path, reason: "item file vanished while it was being read")
            }
            return pair
        }
    }

    /// Items whose key passes `include`, sorted by key. Files that are not
    /// items (`applied`, `journal`, temp files) are skipped.
    static func read(_ directory: String, where include: (Bytes) -> Bool = { _ in true }) throws -> [Item] {
        var items: [Item] = []
        for name in try FileSystem.listDirectory(directory) {
            switch KeyFileName.decode(name) {
            case .plain(let key)?:
                if include(key) { items.append(Item(key: key, name: name, value: nil)) }
            case .hashed?:
                let path = directory + "/" + name
                guard let pair = try ItemRecord.read(path, name: name) else { continue }
                if include(pair.key) { items.append(Item(key: pair.key, name: name, value: pair.value)) }
            case nil:
                continue
            }
        }
        items.sort { $0.key.sortsBefore($1.key) }
        return items
    }
}
