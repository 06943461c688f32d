import Raft
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which keys a benchmark touches.
public enum KeyDistribution: String, Sendable, Hashable, CaseIterable {
    /// 0, 1, 2, ...: every write is a new item (append-heavy, no overwrites).
    case sequential
    /// Uniformly random over the loaded items.
    case uniform
    /// YCSB's scrambled zipfian (θ = 0.99): a few hot keys take most
    /// operations, spread over the key space rather than clustered at its start.
    case zipfian
    /// YCSB's "latest": zipfian over recency, the newest items the hottest.
    case latest
}

/// The operations of a benchmark: YCSB's core workloads, and the write-only
/// runs the comparison always had.
public enum BenchWorkload: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Updates only (with `--read-ratio`, that fraction of reads).
    case write
    /// A: update heavy, 50% reads, 50% updates.
    case a
    /// B: read mostly, 95% reads, 5% updates.
    case b
    /// C: read only.
    case c
    /// D: read latest, 95% reads, 5% inserts, reads favour new items.
    case d
    /// E: short ranges, 95% scans of 1-100 items, 5% inserts.
    case e
    /// F: read-modify-write, 50% reads, 50% read-then-update of one item.
    case f

    public var description: String { rawValue }

    /// YCSB's request distribution for the workload (write-only: uniform).
    public var defaultDistribution: KeyDistribution {
        switch self {
        case .write: .uniform
        case .d: .latest
        case .a, .b, .c, .e, .f: .zipfian
        }
    }

    /// Proportions of each operation, summing to 1.
    public func mix(readRatio: Double) -> OperationMix {
        switch self {
        case .write: OperationMix(read: readRatio, update: 1 - readRatio)
        case .a: OperationMix(read: 0.5, update: 0.5)
        case .b: OperationMix(read: 0.95, update: 0.05)
        case .c: OperationMix(read: 1)
        case .d: OperationMix(read: 0.95, insert: 0.05)
        case .e: OperationMix(insert: 0.05, scan: 0.95)
        case .f: OperationMix(read: 0.5, readModifyWrite: 0.5)
        }
    }
}

/// How often each kind of operation comes up.
public struct OperationMix: Sendable, Hashable {
    public var read = 0.0
    public var update = 0.0
    public var insert = 0.0
    public var scan = 0.0
    public var readModifyWrite = 0.0

    public init(read: Double = 0, update: Double = 0, insert: Double = 0, scan: Double = 0, readModifyWrite: Double = 0) {
        self.read = read
        self.update = update
        self.insert = insert
        self.scan = scan
        self.readModifyWrite = readModifyWrite
    }

    public var writes: Bool { update + insert + readModifyWrite > 0 }
}

/// One operation of a workload. Keys are item numbers; `LoadGenerator`
/// turns them into items.
public enum Operation: Sendable, Hashable {
    case read(key: UInt64)
    case update(key: UInt64)
    case insert(key: UInt64)
    /// Up to `length` items in key order from the group holding `key`.
    case scan(key: UInt64, length: Int)
    case readModifyWrite(key: UInt64)
}

/// Keys inserted so far, shared by every client of one load: inserts take
/// the next number, and "latest" reads favour the newest.
public final class InsertCounter: Sendable {
    private let next: Atomic<UInt64>

    /// `loaded` items (0..<loaded) exist already.
    public init(loaded: UInt64) { next = Atomic(loaded) }

    func take() -> UInt64 { next.add(1, ordering: .relaxed).oldValue }

    /// One past the newest key.
    var end: UInt64 { next.load(ordering: .relaxed) }
}

/// A seeded source of operations for one client. Clients with the same seed
/// produce the same operations (apart from the numbers of inserted keys,
/// which come from the shared counter), so every backend in a run sees the
/// same workload.
public struct Workload: Sendable {
    public let workload: BenchWorkload
    public let distribution: KeyDistribution
    public let mix: OperationMix
    /// Items 0..<records exist when the load starts.
    public let records: UInt64
    private let inserts: InsertCounter
    private var random: SeededRandom
    private var latest: ZipfianGenerator?
    private static let scrambled = ScrambledZipfian()
    /// Scans read 1...maxScanLength items (YCSB E: uniform up to 100).
    public static let maxScanLength = 100

    public init(
        workload: BenchWorkload, distribution: KeyDistribution? = nil, records: UInt64, readRatio: Double = 0,
        seed: UInt64, inserts: InsertCounter? = nil, latest: ZipfianGenerator? = nil
    ) {
        self.workload = workload
        self.distribution = distribution ?? workload.defaultDistribution
        mix = workload.mix(readRatio: readRatio)
        self.records = max(1, records)
        self.inserts = inserts ?? InsertCounter(loaded: max(1, records))
        random = SeededRandom(seed: seed)
        if self.distribution == .latest {
            self.latest = latest ?? ZipfianGenerator(items: self.records)
        }
    }

    public mutating func next() -> Operation {
        var draw = random.nextUnitDouble()
        func take(_ share: Double) -> Bool {
            if draw < share { return true }
            draw -= share
            return false
        }
        if take(mix.read) { return .read(key: chooseKey()) }
        if take(mix.update) { return .update(key: chooseKey()) }
        if take(mix.insert) { return .insert(key: inserts.take()) }
        if take(mix.scan) {
            let length = Int(random.next() % UInt64(Self.maxScanLength)) + 1
            return .scan(key: chooseKey(), length: length)
        }
        if mix.readModifyWrite > 0 { return .readModifyWrite(key: chooseKey()) }
        return .update(key: chooseKey())
    }

    /// A key that exists (or, sequential, the next new one).
    mutating func chooseKey() -> UInt64 {
        switch distribution {
        case .sequential:
            return inserts.take()
        case .uniform:
            return random.next() % max(1, inserts.end)
        case .zipfian:
            // Over the loaded items: inserted ones are reached by "latest".
            return Self.scrambled.next(&random) % records
        case .latest:
            let end = inserts.end
            let back = latest?.next(&random) ?? 0
            return back < end ? end - 1 - back : 0
        }
    }
}

/// The workloads' seeded generator: the project's one SplitMix64.
public typealias SeededRandom = SplitMix64

/// The zipfian generator of Gray et al., "Quickly generating billion-record
/// synthetic databases" (SIGMOD 1994), as YCSB uses it: O(1) per draw after an
/// O(n) set-up of ζ(n). Item 0 is the most popular. Build one per load and
/// copy it into each client: the set-up is the expensive part.
public struct ZipfianGenerator: Sendable {
    public static let theta = 0.99
    let items: UInt64
    let alpha: Double
    let zetaN: Double
    let eta: Double
    let halfPowTheta: Double

    public init(items: UInt64) {
        self.init(items: items, zetaN: Self.zeta(max(1, items)))
    }

    /// With ζ(n) known (YCSB's scrambled generator uses a constant).
    init(items: UInt64, zetaN: Double) {
        let theta = Self.theta
        self.items = max(1, items)
        self.zetaN = zetaN
        let zeta2 = 1 + 1 / pow(2, theta)
        alpha = 1 / (1 - theta)
        eta = (1 - pow(2 / Double(self.items), 1 - theta)) / (1 - zeta2 / zetaN)
        halfPowTheta = 1 + pow(0.5, theta)
    }

    static func zeta(_ n: UInt64) -> Double {
        var sum = 0.0
        for i in 1...n { sum += 1 / pow(Double(i), theta) }
        return sum
    }

    /// A rank in 0..<items, 0 the most frequent.
    func next(_ random: inout SeededRandom) -> UInt64 {
        let u = random.nextUnitDouble()
        let uz = u * zetaN
        if uz < 1 { return 0 }
        if uz < halfPowTheta { return min(1, items - 1) }
        let value = UInt64(Double(items) * pow(eta * u - eta + 1, alpha))
        return min(value, items - 1)
    }
}

/// YCSB's ScrambledZipfianGenerator: a zipfian rank over ten billion items
/// (ζ precomputed), hashed with FNV-1a so the popular keys are scattered over
/// the key space; the caller takes it modulo the item count.
struct ScrambledZipfian: Sendable {
    static let itemCount: UInt64 = 10_000_000_000
    static let zetaN = 26.46902820178302
    let zipfian = ZipfianGenerator(items: itemCount, zetaN: zetaN)

    func next(_ random: inout SeededRandom) -> UInt64 {
        Self.fnv1a64(zipfian.next(&random))
    }

    /// YCSB's Utils.fnvhash64: FNV-1a over the value's eight bytes, low first.
    static func fnv1a64(_ value: UInt64) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var rest = value
        for _ in 0..<8 {
            hash ^= rest & 0xFF
            hash = hash &* 0x0000_0100_0000_01B3
            rest >>= 8
        }
        return hash
    }
}
