/// The distribution of one floor probe: its median is what reports use, the
/// p99 shows whether the floor itself was noisy (a busy disk or CPU makes
/// every multiple of it suspect).
public struct FloorMeasurement: Sendable, Equatable {
    public var medianUs: Double
    public var p99Us: Double
    /// Iterations completed; fewer than asked when the probe hit its time limit.
    public var samples: Int

    public init(medianUs: Double, p99Us: Double, samples: Int) {
        self.medianUs = medianUs
        self.p99Us = p99Us
        self.samples = samples
    }

    /// Summarises raw samples in microseconds; nil when there are none.
    public init?(samplesUs: [Double]) {
        guard !samplesUs.isEmpty else { return nil }
        let sorted = samplesUs.sorted()
        let middle = sorted.count / 2
        medianUs = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        // Nearest rank: the smallest sample with at least 99% of samples at or below it.
        let rank = Int((0.99 * Double(sorted.count)).rounded(.up))
        p99Us = sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
        samples = sorted.count
    }
}

extension Duration {
    /// This duration in microseconds, with sub-microsecond precision kept.
    public var microseconds: Double {
        let parts = components
        return Double(parts.seconds) * 1e6 + Double(parts.attoseconds) / 1e12
    }
}
