/// A sorted map of physical keys that an engine with a short key limit
/// provides (LMDB inside one transaction): exact lookups and "first key at
/// or after". That is all the long-key layout needs to read.
public protocol OrderedKeyReader {
    func get(_ key: Bytes) throws -> Bytes?
    /// The first pair whose key is at or after `key` in unsigned byte order, or nil.
    func seek(_ key: Bytes) throws -> KeyValue?
}

/// An `OrderedKeyReader` that can also be written (a write transaction,
/// which must see its own writes).
public protocol OrderedKeySpace: OrderedKeyReader {
    func put(_ key: Bytes, _ value: Bytes) throws
    /// Deletes `key`; a missing key is not an error.
    func delete(_ key: Bytes) throws
}

/// How a state store on an engine whose physical keys are at most 511 bytes
/// (LMDB's compiled-in limit) holds every key up to `StateStoreLimits.cluster`
/// while keeping unsigned byte order for scans and snapshots. Engine-independent:
/// the engine supplies an `OrderedKeySpace`; LMDB uses it for each generation
/// database of its state store.
///
/// # Layout (physical key → value)
/// - **Short keys** (at most `maxShortKeyBytes` = 510 bytes): `0x00 ‖ key` →
///   value. This is the layout from before long keys existed, unchanged, and
///   the only one an ordinary key ever touches.
/// - **Long keys** live in a trie of fixed-size chunks under the tag `0x01`.
///   A key is cut into chunks c1…cn of `chunkBytes` (C = 501) bytes, all full
///   except the last, which holds 1…C bytes (a long key has n ≥ 2). A trie
///   node is an 8-byte identifier (big-endian); the root is node 0. Entries
///   of node N:
///   - edge: `0x01 ‖ N ‖ c ‖ 0x01` → child node identifier (8 bytes), where
///     c is exactly C bytes: every key continuing with c below N;
///   - leaf: `0x01 ‖ N ‖ c ‖ 0x00` → value, where c is 1…C bytes: the key
///     that ends with c at N.
///   1 + 8 + C + 1 = 511 bytes at most, which LMDB accepts.
///   The key from the root down to N is the concatenation of the edge chunks
///   on the way: no hashes, so two different keys can never share an entry.
/// - **Node counter**: `0x02` → the next node identifier (8 bytes,
///   big-endian). Nodes are allocated from it inside the write transaction;
///   it is removed when the trie becomes empty.
///
/// Every `0x00` key sorts before every trie entry and the counter, which is
/// what lets a restore append short keys (MDB_APPEND) until the first long one.
///
/// # Why a node's physical order is the logical order of the keys below it
/// Let P be the key prefix of node N. A leaf with chunk c stands for the key
/// P‖c; an edge with chunk d stands for keys P‖d‖r with r non-empty. Compare
/// physical suffixes `c‖0x00` (leaf) and `d‖0x01` (edge), or two of a kind:
/// - if the chunks differ at a position both have, that byte decides both
///   the physical and the logical order;
/// - if c is a proper prefix of d (a short last chunk), `c‖0x00` is either
///   smaller at position |c| or a prefix of `d‖0x01` (when d has 0x00 there):
///   it sorts first, as P‖c, a prefix of P‖d‖r, does;
/// - if c == d, `c‖0x00 < c‖0x01`, and P‖c is a prefix of P‖c‖r;
/// - two leaves where one chunk is a proper prefix of the other: the shorter
///   chunk followed by 0x00 is smaller or a prefix of the longer one, as the
///   shorter key is a prefix of the longer; two edges have distinct C-byte chunks.
/// So a depth-first walk that visits each node's entries in physical order
/// and descends at each edge yields the long keys in byte order; `Cursor`
/// merges them with the short keys, which it reads in order from `0x00‖…`.
/// A walk starts at a lower bound by seeking, in each node on the bound's
/// path, to `0x01 ‖ N ‖ the bound's chunk at that depth`: every entry before
/// that stands only for keys below the bound.
///
/// # Costs
/// A short key costs what it did before (one B-tree operation; a scan pays
/// one extra seek to find the trie empty or to start it). A long key of L
/// bytes costs about L / C lookups, and a put may add as many edges. Deleting
/// a long key removes edges of nodes left empty, bottom-up, so create/delete
/// cycles leave no entry behind.
public enum LongKeys {
    /// The longest physical key the layout produces (LMDB's default maximum).
    public static let maxPhysicalKeyBytes = 511
    /// Keys up to this length are stored as `0x00 ‖ key`.
    public static let maxShortKeyBytes = maxPhysicalKeyBytes - 1
    /// C: bytes of one trie chunk (1 + 8 + C + 1 = 511).
    public static let chunkBytes = maxPhysicalKeyBytes - 10
    public static let shortTag: UInt8 = 0x00
    public static let trieTag: UInt8 = 0x01
    public static let counterKey: Bytes = [0x02]
    static let leafType: UInt8 = 0x00
    static let edgeType: UInt8 = 0x01
    static let root: UInt64 = 0

    public static func isLong(_ key: Bytes) -> Bool { key.count > maxShortKeyBytes }

    /// The physical key of a short key.
    public static func shortKey(_ key: Bytes) -> Bytes { [shortTag] + key }

    /// `0x01 ‖ node`: the prefix of all of a node's entries.
    static func nodePrefix(_ node: UInt64) -> Bytes {
        var bytes: Bytes = [trieTag]
        bytes.reserveCapacity(maxPhysicalKeyBytes)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: node >> UInt64(shift))) }
        return bytes
    }

    static func entryKey(_ node: UInt64, _ chunk: ArraySlice<UInt8>, _ type: UInt8) -> Bytes {
        nodePrefix(node) + chunk + [type]
    }

    static func encodeID(_ id: UInt64) -> Bytes {
        Array(nodePrefix(id).dropFirst())
    }

    static func decodeID(_ bytes: some Collection<UInt8>) throws -> UInt64 {
        guard bytes.count == 8 else { throw corrupted("a trie node identifier of \(bytes.count) bytes") }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func corrupted(_ reason: String) -> StorageError {
        .corrupted(path: "long-key trie", reason: reason)
    }

    /// The chunks of a long key: all `chunkBytes` long but the last (1…C bytes).
    static func chunks(_ key: Bytes) -> [ArraySlice<UInt8>] {
        stride(from: 0, to: key.count, by: chunkBytes).map { key[$0..<Swift.min($0 + chunkBytes, key.count)] }
    }

    /// The edges from the root to the node that holds the leaf of `key`:
    /// (edge physical key, child) pairs, or nil when an edge is missing.
    private static func path(to chunks: [ArraySlice<UInt8>], in space: some OrderedKeyReader) throws -> [(edge: Bytes, child: UInt64)]? {
        var node = root
        var path: [(edge: Bytes, child: UInt64)] = []
        for chunk in chunks.dropLast() {
            let edge = entryKey(node, chunk, edgeType)
            guard let child = try space.get(edge) else { return nil }
            node = try decodeID(child)
            path.append((edge, node))
        }
        return path
    }

    /// The value of a long key, or nil.
    public static func get(_ key: Bytes, in space: some OrderedKeyReader) throws -> Bytes? {
        precondition(isLong(key), "short keys are stored as 0x00 ‖ key")
        let chunks = chunks(key)
        guard let path = try path(to: chunks, in: space) else { return nil }
        return try space.get(entryKey(path.last?.child ?? root, chunks[chunks.count - 1], leafType))
    }

    /// Stores a long key, creating the edges it needs.
    public static func put(_ key: Bytes, _ value: Bytes, in space: some OrderedKeySpace) throws {
        precondition(isLong(key), "short keys are stored as 0x00 ‖ key")
        let chunks = chunks(key)
        var node = root
        for chunk in chunks.dropLast() {
            let edge = entryKey(node, chunk, edgeType)
            if let child = try space.get(edge) {
                node = try decodeID(child)
            } else {
                let next = try space.get(counterKey).map(decodeID) ?? root + 1
                try space.put(counterKey, encodeID(next + 1))
                try space.put(edge, encodeID(next))
                node = next
            }
        }
        try space.put(entryKey(node, chunks[chunks.count - 1], leafType), value)
    }

    /// Deletes a long key (a missing one is not an error) and the edges of
    /// every node it leaves empty, bottom-up; the counter goes with the last entry.
    public static func delete(_ key: Bytes, in space: some OrderedKeySpace) throws {
        precondition(isLong(key), "short keys are stored as 0x00 ‖ key")
        let chunks = chunks(key)
        guard var path = try path(to: chunks, in: space) else { return }
        let leaf = entryKey(path.last?.child ?? root, chunks[chunks.count - 1], leafType)
        guard try space.get(leaf) != nil else { return }
        try space.delete(leaf)
        while let (edge, child) = path.last {
            guard try isEmpty(child, in: space) else { return }
            try space.delete(edge)
            path.removeLast()
        }
        if try isEmpty(root, in: space) { try space.delete(counterKey) }
    }

    private static func isEmpty(_ node: UInt64, in space: some OrderedKeyReader) throws -> Bool {
        let prefix = nodePrefix(node)
        guard let next = try space.seek(prefix) else { return true }
        return !next.key.starts(with: prefix)
    }

    /// The long keys of `range` in byte order: a depth-first walk of the
    /// trie with an explicit stack, each node read by seeking past the entry
    /// read last.
    public struct TrieWalk<Space: OrderedKeyReader> {
        private struct Frame {
            let node: UInt64
            let prefix: Bytes
            var seekKey: Bytes
        }

        private let space: Space
        private let range: KeyRange
        private var stack: [Frame]

        public init(_ space: Space, range: KeyRange) {
            self.space = space
            self.range = range
            var start = nodePrefix(root)
            start += range.lower.prefix(chunkBytes)
            stack = [Frame(node: root, prefix: [], seekKey: start)]
        }

        /// The next long key in range, or nil past the last one or the upper bound.
        public mutating func next() throws -> KeyValue? {
            while let top = stack.last {
                let prefix = nodePrefix(top.node)
                guard let entry = try space.seek(top.seekKey), entry.key.starts(with: prefix) else {
                    stack.removeLast()
                    continue
                }
                guard entry.key.count >= prefix.count + 2, entry.key.count <= maxPhysicalKeyBytes else {
                    throw corrupted("an entry of \(entry.key.count) bytes in node \(top.node)")
                }
                stack[stack.count - 1].seekKey = entry.key + [0x00]
                let chunk = entry.key[prefix.count..<(entry.key.count - 1)]
                let key = top.prefix + chunk
                if range.isPastEnd(key) {
                    // Everything after this entry (and below it) is past the end too.
                    stack.removeAll()
                    return nil
                }
                switch entry.key[entry.key.count - 1] {
                case leafType:
                    if range.contains(key) { return KeyValue(key: key, value: entry.value) }
                case edgeType:
                    guard chunk.count == chunkBytes else { throw corrupted("an edge chunk of \(chunk.count) bytes") }
                    let child = try decodeID(entry.value)
                    var seek = nodePrefix(child)
                    // On the lower bound's path, keys before the bound's next chunk are below it.
                    if range.lower.starts(with: key) { seek += range.lower[key.count...].prefix(chunkBytes) }
                    stack.append(Frame(node: child, prefix: key, seekKey: seek))
                default:
                    throw corrupted("an entry of unknown type \(entry.key[entry.key.count - 1])")
                }
            }
            return nil
        }
    }

    /// The pairs of `range` in byte order, at most `limit` of them and, past
    /// the first, at most about `maxBytes` of keys and values: `shortKeys`
    /// (user keys, in order, from at most `maxShortKeyBytes` of the lower
    /// bound on; the range is applied here) merged with the trie's long keys.
    public static func scan(
        _ range: KeyRange, limit: Int, maxBytes: Int = .max,
        shortKeys: inout some KeyValueSource, trie space: some OrderedKeyReader
    ) throws -> [KeyValue] {
        guard limit > 0 else { return [] }
        var walk = TrieWalk(space, range: range)
        var short = try nextShort(&shortKeys, range)
        var long = try walk.next()
        var pairs: [KeyValue] = []
        var bytes = 0
        while pairs.count < limit, bytes < maxBytes {
            let pair: KeyValue
            switch (short, long) {
            case (nil, nil):
                return pairs
            case (let s?, let l?) where l.key.sortsBefore(s.key):
                pair = l
                long = try walk.next()
            case (let s?, _):
                pair = s
                short = try nextShort(&shortKeys, range)
            case (nil, let l?):
                pair = l
                long = try walk.next()
            }
            pairs.append(pair)
            bytes += pair.key.count + pair.value.count
        }
        return pairs
    }

    private static func nextShort(_ source: inout some KeyValueSource, _ range: KeyRange) throws -> KeyValue? {
        while let pair = try source.next() {
            if range.isPastEnd(pair.key) { return nil }
            if range.contains(pair.key) { return pair }
        }
        return nil
    }
}
