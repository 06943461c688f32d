import StorageCore
import Testing

/// Expects `body` to throw `StorageError.invalidArgument` (any message).
func expectInvalidArgument(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected .invalidArgument, nothing was thrown", sourceLocation: sourceLocation)
    } catch StorageError.invalidArgument {
    } catch {
        Issue.record("expected .invalidArgument, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Seeded bytes, for keys and values that are not one repeated byte.
func seededBytes(_ count: Int, seed: UInt64) -> Bytes {
    var rng = SplitMix64(seed: seed)
    var out: Bytes = []
    out.reserveCapacity(count + 8)
    while out.count < count {
        withUnsafeBytes(of: rng.next()) { out.append(contentsOf: $0) }
    }
    return Array(out.prefix(count))
}

func sortedPairs(_ model: [Bytes: Bytes]) -> [KeyValue] {
    model.map { KeyValue(key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
}

/// Every state store holds every key and value within `StateStoreLimits.cluster`
/// (LMDB's own keys stop at 511 bytes: it goes through `LongKeys`) and refuses
/// anything larger without writing any of it; long keys keep byte order.
@Suite("StateStore limits and long keys")
struct StateStoreLimitsConformanceTests {
    static let limits = StateStoreLimits.cluster

    @Test("keys and values of exactly the cluster limits are held: get, scan, snapshot, restore, reopen", arguments: StateStoreUnderTest.all)
    func largestKeyAndValue(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-limits-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        let maxKey = seededBytes(Self.limits.maxKeyBytes, seed: 1)
        let maxValue = seededBytes(Self.limits.maxValueBytes, seed: 2)
        let siblingKey = Array(maxKey.dropLast()) + [maxKey.last! &+ 1]
        var model: [Bytes: Bytes] = [
            maxKey: bytes("longest key"),
            bytes("largest value"): maxValue,
            siblingKey: maxValue,
            bytes("short"): bytes("v"),
        ]
        do {
            let store = try backend.openState(dir.sub("source"))
            defer { try? store.close() }
            #expect(store.limits == Self.limits)
            var batch = WriteBatch()
            for (key, value) in model { batch.put(key, value) }
            try store.apply(batch, through: AppliedPosition(index: 1, term: 1))
            for (key, value) in model { #expect(try store.get(key) == value) }
            #expect(try store.scan(.all) == sortedPairs(model))
            #expect(try store.scan(prefix: Array(maxKey.prefix(1_000))) == sortedPairs(model).filter { $0.key.starts(with: maxKey.prefix(1_000)) })
            #expect(try store.scan(KeyRange(from: maxKey), limit: 1).map(\.key) == [maxKey])

            // One byte past either limit: refused, nothing of the batch written, the store still usable.
            let tooLongKey = maxKey + [0x00]
            let tooLargeValue = maxValue + [0x00]
            for bad in [
                WriteBatch([.put(key: bytes("a"), value: bytes("1")), .put(key: tooLongKey, value: bytes("x"))]),
                WriteBatch([.put(key: bytes("a"), value: bytes("1")), .put(key: bytes("b"), value: tooLargeValue)]),
                WriteBatch([.delete(key: maxKey), .delete(key: tooLongKey)]),
            ] {
                expectInvalidArgument { try store.apply(bad, through: AppliedPosition(index: 2, term: 1)) }
                #expect(try store.appliedPosition() == AppliedPosition(index: 1, term: 1))
                #expect(try store.get(bytes("a")) == nil)
                #expect(try store.get(maxKey) == bytes("longest key"))
            }
            #expect(try store.get(tooLongKey) == nil)
            #expect(try store.scan(.all) == sortedPairs(model))
            var after = WriteBatch()
            after.put(bytes("after"), bytes("refusals"))
            try store.apply(after, through: AppliedPosition(index: 2, term: 1))
            model[bytes("after")] = bytes("refusals")
            try store.checkpoint()

            // Snapshot, then restore elsewhere; a restore past the limits is refused and changes nothing.
            let snapshot = try store.snapshot()
            let pairs = try snapshot.readAll()
            snapshot.close()
            #expect(pairs == sortedPairs(model))
            let target = try backend.openState(dir.sub("target"))
            defer { try? target.close() }
            var old = WriteBatch()
            old.put(bytes("old"), bytes("state"))
            try target.apply(old, through: AppliedPosition(index: 1, term: 1))
            for bad in [[KeyValue(key: bytes("a"), value: []), KeyValue(key: tooLongKey, value: [])],
                        [KeyValue(key: bytes("a"), value: []), KeyValue(key: bytes("b"), value: tooLargeValue)]] {
                var source = ArrayKeyValueSource(bad)
                expectInvalidArgument { try target.restore(from: &source, position: AppliedPosition(index: 9, term: 2)) }
                #expect(try target.scan(.all) == [KeyValue(key: bytes("old"), value: bytes("state"))])
                #expect(try target.appliedPosition() == AppliedPosition(index: 1, term: 1))
            }
            var source = ArrayKeyValueSource(pairs)
            try target.restore(from: &source, position: AppliedPosition(index: 2, term: 1))
            #expect(try target.scan(.all) == sortedPairs(model))
            #expect(try target.get(maxKey) == bytes("longest key"))
        }
        // Reopen: everything is still there.
        let store = try backend.openState(dir.sub("source"))
        defer { try? store.close() }
        #expect(try store.appliedPosition() == AppliedPosition(index: 2, term: 1))
        #expect(try store.scan(.all) == sortedPairs(model))
        for (key, value) in model { #expect(try store.get(key) == value) }
    }

    /// Keys that stress a layout of 501-byte chunks: around each chunk
    /// boundary, prefixes of one another, differing in the last byte only,
    /// 0x00 and 0xFF where a chunk ends, and seeded keys sharing long prefixes.
    static func longKeys(seed: UInt64) -> [Bytes] {
        let base = seededBytes(7_000, seed: seed)
        let zeros = Bytes(repeating: 0x00, count: 7_000)
        let ones = Bytes(repeating: 0xFF, count: 7_000)
        var keys: [Bytes] = []
        for length in [1, 499, 500, 501, 502, 509, 510, 511, 512, 520, 1_001, 1_002, 1_003, 1_503, 6_000, 6_001, 6_500] {
            keys.append(Array(base.prefix(length)))
            keys.append(Array(zeros.prefix(length)))
            keys.append(Array(ones.prefix(length)))
        }
        for length in 500...520 { keys.append(Array(base.prefix(length))) }
        for boundary in [501, 1_002, 1_503, 6_012] {
            let stem = Array(base.prefix(boundary))
            keys += [stem + [0x00], stem + [0xFF], stem + [0x00, 0x00], stem + [0x00, 0x01], stem + [0xFF, 0xFF]]
            keys += [Array(stem.dropLast()) + [0x00], Array(stem.dropLast()) + [0xFF]]
            keys += [Array(stem.dropLast()) + [0x00, 0x00], Array(stem.dropLast()) + [0x01]]
        }
        for length in [700, 6_200] {
            let stem = Array(base.prefix(length - 1))
            keys += [stem + [0x00], stem + [0x01], stem + [0xFE], stem + [0xFF]]
        }
        // Seeded: a prefix of one of the bases, then one byte changed near a chunk boundary or the end.
        var rng = SplitMix64(seed: seed &+ 100)
        let bases = [base, zeros, ones]
        for _ in 0..<150 {
            let source = bases[Int(rng.next() % 3)]
            let length = [Int(rng.next() % 520), 490 + Int(rng.next() % 30), 995 + Int(rng.next() % 15), 5_990 + Int(rng.next() % 30)][Int(rng.next() % 4)]
            var key = Array(source.prefix(length))
            if !key.isEmpty, rng.next() % 2 == 0 {
                let near = [501, 1_002, 1_503, key.count - 1][Int(rng.next() % 4)]
                let at = min(key.count - 1, max(0, near + Int(rng.next() % 5) - 2))
                key[at] = [0x00, 0x01, 0x7F, 0xFF][Int(rng.next() % 4)]
            }
            keys.append(key)
        }
        return keys
    }

    @Test("long keys around the 501-byte chunk boundary: scans with bounds inside keys and limits match a sorted model", arguments: StateStoreUnderTest.all)
    func longKeyOrderMatchesModel(backend: StateStoreUnderTest) throws {
        let dir = TestDirectory("state-long-order-\(backend.backend)-\(backend.mode)")
        defer { dir.remove() }
        var store = try backend.openState(dir.sub("store"))
        defer { try? store.close() }
        var rng = SplitMix64(seed: 19)
        let keys = Self.longKeys(seed: 5)
        var model: [Bytes: Bytes] = [:]
        var index: UInt64 = 0

        func check(_ label: String) throws {
            let expected = sortedPairs(model)
            #expect(try store.scan(.all) == expected, "\(label): whole scan")
            for (key, value) in model where rng.next() % 4 == 0 {
                #expect(try store.get(key) == value, "\(label): get")
            }
            // Bounds cut out of stored keys (inside them, just past them) and out of nowhere.
            func bound() -> Bytes {
                let key = keys[Int(rng.next() % UInt64(keys.count))]
                switch rng.next() % 4 {
                case 0: return Array(key.prefix(Int(rng.next() % UInt64(key.count + 1))))
                case 1: return key + [0x00]
                case 2: return key
                default: return Array(key.prefix(Int(rng.next() % UInt64(key.count + 1)))) + [UInt8(truncatingIfNeeded: rng.next())]
                }
            }
            for _ in 0..<40 {
                var lower = bound()
                var upper: Bytes? = rng.next() % 4 == 0 ? nil : bound()
                if let u = upper, u.sortsBefore(lower) { (lower, upper) = (u, lower) }
                let range = KeyRange(from: lower, to: upper)
                let limit = rng.next() % 3 == 0 ? Int.max : 1 + Int(rng.next() % 8)
                let want = Array(expected.filter { range.contains($0.key) }.prefix(limit))
                let got = try store.scan(range, limit: limit)
                #expect(got.map(\.key) == want.map(\.key), "\(label): scan \(lower.count)..<\(upper?.count ?? -1) limit \(limit)")
                #expect(got == want)
            }
            let snapshot = try store.snapshot()
            #expect(try snapshot.readAll() == expected, "\(label): snapshot")
            snapshot.close()
        }

        // Batches of puts and deletes in seeded order, some keys put and deleted in one batch.
        for round in 0..<6 {
            var batch = WriteBatch()
            for _ in 0..<60 {
                let key = keys[Int(rng.next() % UInt64(keys.count))]
                if rng.next() % 4 == 0 {
                    batch.delete(key)
                    model[key] = nil
                } else {
                    let value = bytes("r\(round)-\(key.count)-\(rng.next() % 1_000)")
                    batch.put(key, value)
                    model[key] = value
                }
            }
            index += 1
            try store.apply(batch, through: AppliedPosition(index: index, term: 1))
            try check("round \(round)")
        }
        // Every key present, then reopen.
        var all = WriteBatch()
        for key in keys {
            let value = Array(key.suffix(3)) + bytes("\(key.count)")
            all.put(key, value)
            model[key] = value
        }
        index += 1
        try store.apply(all, through: AppliedPosition(index: index, term: 1))
        try check("all keys")
        try store.close()
        store = try backend.openState(dir.sub("store"))
        try check("after reopen")

        // Through a snapshot into another store (short keys after long ones in the stream).
        let snapshot = try store.snapshot()
        let target = try backend.openState(dir.sub("target"))
        defer { try? target.close() }
        var source = snapshot
        try target.restore(from: &source, position: snapshot.position)
        snapshot.close()
        #expect(try target.scan(.all) == sortedPairs(model))

        // Delete most keys, then scan again.
        var deletes = WriteBatch()
        for key in keys where rng.next() % 5 != 0 { deletes.delete(key); model[key] = nil }
        index += 1
        try store.apply(deletes, through: AppliedPosition(index: index, term: 1))
        try check("after deletes")
        var rest = WriteBatch()
        for key in model.keys { rest.delete(key) }
        model = [:]
        index += 1
        try store.apply(rest, through: AppliedPosition(index: index, term: 1))
        try check("empty")
    }
}
