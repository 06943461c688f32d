import CLevelDB
import StorageCore

/// A leveldb iterator. Not a class with a deinit on purpose: an iterator must
/// be destroyed before its database closes, so its owner ends it explicitly
/// with `destroy()` at a point it controls.
struct LevelDBIterator {
    let pointer: OpaquePointer
    let directory: String

    init(db: OpaquePointer, readOptions: OpaquePointer, directory: String) {
        pointer = leveldb_create_iterator(db, readOptions)
        self.directory = directory
    }

    func destroy() { leveldb_iter_destroy(pointer) }

    func seek(_ key: Bytes) {
        withChars(key) { chars, count in leveldb_iter_seek(pointer, chars, count) }
    }

    func seekToLast() { leveldb_iter_seek_to_last(pointer) }
    func next() { leveldb_iter_next(pointer) }
    func previous() { leveldb_iter_prev(pointer) }

    /// The pair under the iterator, nil past either end. An iterator that
    /// stopped because of an error (a bad block) throws instead of looking
    /// like the end of the data.
    func current() throws -> KeyValue? {
        guard leveldb_iter_valid(pointer) != 0 else {
            try LevelDBError.call("iterate", directory: directory) { leveldb_iter_get_error(pointer, $0) }
            return nil
        }
        var keyCount = 0
        var valueCount = 0
        let key = leveldb_iter_key(pointer, &keyCount)
        let value = leveldb_iter_value(pointer, &valueCount)
        return KeyValue(key: copyBytes(key, keyCount), value: copyBytes(value, valueCount))
    }
}
