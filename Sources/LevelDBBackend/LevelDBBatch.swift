import CLevelDB
import StorageCore

/// A leveldb WriteBatch: every mutating store call builds exactly one and
/// writes it with one `leveldb_write`, which LevelDB applies atomically (one
/// log record) and, with sync on, makes durable with one sync.
final class LevelDBBatch {
    let pointer: OpaquePointer
    /// The C API cannot count a batch's operations; an empty batch is not written.
    private(set) var count = 0

    init() {
        pointer = leveldb_writebatch_create()
    }

    deinit { leveldb_writebatch_destroy(pointer) }

    func put(_ key: Bytes, _ value: Bytes) {
        withChars(key) { keyChars, keyCount in
            withChars(value) { valueChars, valueCount in
                leveldb_writebatch_put(pointer, keyChars, keyCount, valueChars, valueCount)
            }
        }
        count += 1
    }

    func delete(_ key: Bytes) {
        withChars(key) { chars, length in leveldb_writebatch_delete(pointer, chars, length) }
        count += 1
    }
}
