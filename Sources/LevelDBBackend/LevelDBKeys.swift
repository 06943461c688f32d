import StorageCore

/// Key layout of both LevelDB stores. A one-byte namespace keeps records of
/// different kinds apart in LevelDB's single ordered key space; metadata sits
/// in namespace 0x00 so the data namespace 0x01 is last and its end is the
/// one-byte key 0x02.
enum LevelDBKeys {
    static let meta: UInt8 = 0x00
    static let data: UInt8 = 0x01
    /// Exclusive end of the data namespace.
    static let dataEnd: Bytes = [0x02]

    // Log store
    static let hardState: Bytes = [meta, 0x68]  // "h"
    static let compaction: Bytes = [meta, 0x63]  // "c"

    /// 8-byte big-endian index, so key order is index order.
    static func entry(_ index: UInt64) -> Bytes { [data] + index.bigEndianBytes }

    static func index(ofEntry key: Bytes) -> UInt64? {
        guard key.first == data else { return nil }
        return UInt64(bigEndianBytes: key.dropFirst())
    }

    // State store: pairs live in one of two generations (see
    // `LevelDBStateStore`), namespaces 0x01 and 0x02.
    static let applied: Bytes = [meta, 0x61]  // "a"
    static let generation: Bytes = [meta, 0x67]  // "g"

    static func state(_ key: Bytes, generation: UInt8) -> Bytes { [data + generation] + key }

    /// First and exclusive end key of a generation's namespace.
    static func stateStart(_ generation: UInt8) -> Bytes { [data + generation] }
    static func stateEnd(_ generation: UInt8) -> Bytes { [data + generation + 1] }

    /// The user key of a state record, nil for a key outside the generation's namespace.
    static func userKey(_ stored: Bytes, generation: UInt8) -> Bytes? {
        guard stored.first == data + generation else { return nil }
        return Array(stored.dropFirst())
    }
}
