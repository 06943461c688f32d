/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014), the
/// project's one seeded generator: the core's election timeouts, the
/// simulations, the bench's workloads, the chaos and fuzz campaigns all draw
/// from it, so a seed means the same sequence everywhere (a known-answer test
/// pins it to the reference constants).
///
/// The core has no randomness of its own: it draws election timeouts from the
/// generator it is given. Tests and the simulation pass a seeded one so that a
/// run replays exactly; the runtime seeds one from the system generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// Seeds from the system's random source.
    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1): the top 53 bits as a Double's fraction.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniformly distributed value in `0..<bound` (`bound > 0`).
    public mutating func next(below bound: UInt64) -> UInt64 {
        bound == 0 ? 0 : next() % bound
    }
}
