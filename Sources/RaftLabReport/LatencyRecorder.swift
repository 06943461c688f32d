import Histogram
import Synchronization

/// Collects latencies from many client tasks at once into an HdrHistogram
/// (3 significant digits), so percentiles up to p99.9 and the max come out
/// exact to 0.1% whatever the number of operations, in constant memory.
///
/// Recording takes a short lock (a `Mutex`): one histogram increment, cheap
/// next to a network round trip. Each client task may instead keep its own
/// recorder and `merge` them at the end. Optionally keeps the first
/// `rawSampleLimit` samples in arrival order for `latency.csv`, where stalls
/// show as runs of slow operations; later samples still count in the
/// histogram and in `droppedSamples`.
public final class LatencyRecorder: Sendable {
    /// The histogram's unit. Microseconds suit network-bound writes;
    /// nanoseconds keep sub-microsecond detail (in-memory paths).
    public enum Resolution: Sendable, Equatable {
        case microseconds
        case nanoseconds

        var unitsPerMicrosecond: Double { self == .microseconds ? 1 : 1000 }
    }

    private struct State: Sendable {
        var histogram: Histogram<UInt64>
        var samplesUs: [Double] = []
        var droppedSamples: UInt64 = 0
    }

    public let resolution: Resolution
    public let rawSampleLimit: Int
    private let state: Mutex<State>

    public init(resolution: Resolution = .microseconds, rawSampleLimit: Int = 0) {
        self.resolution = resolution
        self.rawSampleLimit = Swift.max(0, rawSampleLimit)
        // Auto-resizing: no latency is ever rejected as out of range.
        state = Mutex(State(histogram: Histogram<UInt64>(numberOfSignificantValueDigits: .three)))
    }

    // MARK: Recording

    /// Records one latency; negative durations (clock skew between the two
    /// ends of a lag measurement) count as zero.
    public func record(_ duration: Duration) {
        record(microseconds: duration.microseconds)
    }

    public func record(microseconds: Double) {
        let us = microseconds.isFinite ? Swift.max(0, microseconds) : 0
        let units = UInt64((us * resolution.unitsPerMicrosecond).rounded())
        let limit = rawSampleLimit
        state.withLock { state in
            state.histogram.record(units)
            if state.samplesUs.count < limit {
                state.samplesUs.append(us)
            } else if limit > 0 {
                state.droppedSamples += 1
            }
        }
    }

    public func record(nanoseconds: UInt64) {
        record(microseconds: Double(nanoseconds) / 1000)
    }

    /// Times `body` and records its duration.
    public func time<T>(_ body: () async throws -> T) async rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await body()
        record(clock.now - start)
        return result
    }

    /// Adds everything `other` recorded (histogram counts and, up to this
    /// recorder's limit, its raw samples after ours). Both must use the same
    /// resolution, or the counts would mean different units.
    public func merge(_ other: LatencyRecorder) {
        precondition(resolution == other.resolution, "cannot merge recorders with different resolutions")
        let theirs = other.state.withLock { $0 }
        let limit = rawSampleLimit
        state.withLock { state in
            state.histogram.add(theirs.histogram)
            let room = Swift.max(0, limit - state.samplesUs.count)
            state.samplesUs.append(contentsOf: theirs.samplesUs.prefix(room))
            state.droppedSamples += theirs.droppedSamples + UInt64(Swift.max(0, theirs.samplesUs.count - room))
        }
    }

    public func reset() {
        state.withLock { state in
            state.histogram.reset()
            state.samplesUs.removeAll()
            state.droppedSamples = 0
        }
    }

    // MARK: Reading

    public var count: UInt64 { state.withLock { $0.histogram.totalCount } }

    /// A copy of the histogram, in `resolution` units.
    public var histogram: Histogram<UInt64> { state.withLock { $0.histogram } }

    /// The kept raw samples in microseconds, in recording order.
    public var rawSamplesUs: [Double] { state.withLock { $0.samplesUs } }

    /// Samples recorded after the raw sample buffer was full.
    public var droppedSamples: UInt64 { state.withLock { $0.droppedSamples } }

    /// The value at `percentile` (0...100) in microseconds; nil when empty.
    public func microseconds(atPercentile percentile: Double) -> Double? {
        let histogram = self.histogram
        guard histogram.totalCount > 0 else { return nil }
        return microseconds(histogram.valueAtPercentile(percentile))
    }

    /// The largest value recorded, exactly, in microseconds; nil when empty.
    public var maxMicroseconds: Double? {
        let histogram = self.histogram
        return histogram.totalCount > 0 ? microseconds(histogram.maxRecorded) : nil
    }

    /// p50/p90/p99/p99.9/max for `write_latency_us`; nil when nothing was
    /// recorded, so a run without writes cannot pass for a fast one.
    public func writeLatencySummary() -> LatencySummary? {
        let histogram = self.histogram
        guard histogram.totalCount > 0 else { return nil }
        return LatencySummary(
            p50: microseconds(histogram.valueAtPercentile(50)),
            p90: microseconds(histogram.valueAtPercentile(90)),
            p99: microseconds(histogram.valueAtPercentile(99)),
            p999: microseconds(histogram.valueAtPercentile(99.9)),
            max: microseconds(histogram.maxRecorded))
    }

    /// p50/p99/max for `read_latency_us` and `scan_latency_us`; nil when
    /// nothing was recorded (the workload has no such operation).
    public func percentileSummary() -> PercentileSummary? {
        let histogram = self.histogram
        guard histogram.totalCount > 0 else { return nil }
        return PercentileSummary(
            p50: microseconds(histogram.valueAtPercentile(50)),
            p99: microseconds(histogram.valueAtPercentile(99)),
            max: microseconds(histogram.maxRecorded))
    }

    /// p50/p99/max for `replication_lag_us`; all nil when nothing was recorded.
    public func replicationLagSummary() -> LagSummary {
        let histogram = self.histogram
        guard histogram.totalCount > 0 else { return LagSummary() }
        return LagSummary(
            p50: microseconds(histogram.valueAtPercentile(50)),
            p99: microseconds(histogram.valueAtPercentile(99)),
            max: microseconds(histogram.maxRecorded))
    }

    private func microseconds(_ units: UInt64) -> Double {
        Double(units) / resolution.unitsPerMicrosecond
    }
}
