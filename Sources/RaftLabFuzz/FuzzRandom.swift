import Raft

/// The campaign's only source of choices: the project's SplitMix64, so a
/// whole campaign (requests, target nodes, restarts) replays from `--seed`.
public struct FuzzRandom: Sendable {
    private var generator: SplitMix64

    public init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    public mutating func next() -> UInt64 { generator.next() }

    /// A uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(generator.next(below: width))
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool {
        Double(generator.next() >> 11) / Double(UInt64(1) << 53) < probability
    }

    public mutating func pick<T>(_ choices: [T]) -> T {
        choices[int(0...(choices.count - 1))]
    }

    /// Picks by weight: `[(weight, value)]`.
    public mutating func weighted<T>(_ choices: [(Int, T)]) -> T {
        let total = choices.reduce(0) { $0 + $1.0 }
        var roll = int(0...(total - 1))
        for (weight, value) in choices {
            if roll < weight { return value }
            roll -= weight
        }
        return choices[choices.count - 1].1
    }

    /// Random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = generator.next()
            for _ in 0..<8 where out.count < count {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }

    /// A short lowercase word.
    public mutating func word(_ length: ClosedRange<Int> = 1...8) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return String((0..<int(length)).map { _ in letters[int(0...25)] })
    }
}
