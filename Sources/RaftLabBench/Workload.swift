/// Which keys a benchmark writes and reads.
public enum KeyDistribution: String, Sendable, Hashable, CaseIterable {
    /// 0, 1, 2, ...: every write is a new item (append-heavy, no overwrites).
    case sequential
    /// Uniformly random over the key space.
    case uniform
    /// YCSB's zipfian (θ = 0.99): a few hot keys take most operations.
    case zipfian
}

/// A seeded source of operations. Two generators with the same seed produce
/// the same operations, so every backend in a run sees the same workload.
public struct Workload: Sendable {
    public enum Operation: Sendable, Hashable {
        case write(key: UInt64)
        case read(key: UInt64)
    }

    public let distribution: KeyDistribution
    public let keySpace: UInt64
    public let readRatio: Double
    private var random: SeededRandom
    private var nextSequential: UInt64 = 0
    private let zipf: ZipfianGenerator?

    public init(distribution: KeyDistribution, keySpace: UInt64, readRatio: Double, seed: UInt64) {
        self.distribution = distribution
        self.keySpace = max(1, keySpace)
        self.readRatio = readRatio
        random = SeededRandom(seed: seed)
        zipf = distribution == .zipfian ? ZipfianGenerator(items: max(1, keySpace)) : nil
    }

    public mutating func next() -> Operation {
        let isRead = readRatio > 0 && random.nextUnitDouble() < readRatio
        let key: UInt64
        switch distribution {
        case .sequential:
            // Reads go to keys already written; writes move forward.
            if isRead {
                key = nextSequential == 0 ? 0 : random.next() % nextSequential
            } else {
                key = nextSequential
                nextSequential += 1
            }
        case .uniform:
            key = random.next() % keySpace
        case .zipfian:
            key = zipf?.next(&random) ?? 0
        }
        return isRead ? .read(key: key) : .write(key: key)
    }
}

/// SplitMix64: tiny, fast, and good enough to drive workloads reproducibly.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

/// The zipfian generator of Gray et al., "Quickly generating billion-record
/// synthetic databases" (SIGMOD 1994), as YCSB uses it: O(1) per draw after an
/// O(n) set-up of ζ(n).
struct ZipfianGenerator: Sendable {
    let items: UInt64
    let theta = 0.99
    let alpha: Double
    let zetaN: Double
    let eta: Double

    init(items: UInt64) {
        self.items = items
        let zeta2 = 1 + 1 / pow2(2, theta)
        var zeta = 0.0
        for i in 1...items { zeta += 1 / pow2(Double(i), theta) }
        zetaN = zeta
        alpha = 1 / (1 - theta)
        eta = (1 - pow2(2 / Double(items), 1 - theta)) / (1 - zeta2 / zeta)
    }

    func next(_ random: inout SeededRandom) -> UInt64 {
        let u = random.nextUnitDouble()
        let uz = u * zetaN
        if uz < 1 { return 0 }
        if uz < 1 + pow2(0.5, theta) { return min(1, items - 1) }
        let value = UInt64(Double(items) * pow2(eta * u - eta + 1, alpha))
        return min(value, items - 1)
    }
}

#if canImport(Glibc)
import Glibc
#endif

private func pow2(_ base: Double, _ exponent: Double) -> Double { pow(base, exponent) }
