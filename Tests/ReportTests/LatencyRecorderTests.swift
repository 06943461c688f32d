import Testing
import RaftLabReport

@Suite("LatencyRecorder")
struct LatencyRecorderTests {
    @Test func percentilesOfKnownInputs() throws {
        let recorder = LatencyRecorder()
        for us in 1 ... 1000 { recorder.record(microseconds: Double(us)) }
        #expect(recorder.count == 1000)
        let summary = try #require(recorder.writeLatencySummary())
        // Below 2048 µs a 3-digit HdrHistogram is exact to the microsecond.
        #expect(summary.p50 == 500)
        #expect(summary.p90 == 900)
        #expect(summary.p99 == 990)
        #expect(summary.p999 == 999)
        #expect(summary.max == 1000)
        let lag = recorder.replicationLagSummary()
        #expect(lag.p50 == 500 && lag.p99 == 990 && lag.max == 1000)
    }

    @Test func largeValuesStayWithinThreeSignificantDigits() throws {
        let recorder = LatencyRecorder()
        for us in stride(from: 1000, through: 1_000_000, by: 1000) { recorder.record(microseconds: Double(us)) }
        let summary = try #require(recorder.writeLatencySummary())
        #expect(abs(summary.p50 - 500_000) <= 500_000 * 0.001)
        #expect(abs(summary.p99 - 990_000) <= 990_000 * 0.001)
        #expect(summary.max == 1_000_000)
    }

    @Test func nanosecondResolutionKeepsSubMicrosecondDetail() throws {
        let recorder = LatencyRecorder(resolution: .nanoseconds)
        for ns in 1 ... 1000 { recorder.record(nanoseconds: UInt64(ns * 100)) }  // 0.1 µs ... 100 µs
        let summary = try #require(recorder.writeLatencySummary())
        #expect(abs(summary.p50 - 50) <= 50 * 0.001)
        #expect(abs(summary.p99 - 99) <= 99 * 0.001)
        #expect(recorder.microseconds(atPercentile: 0.1) == 0.1)
        recorder.record(.microseconds(250))
        #expect(recorder.maxMicroseconds == 250)
    }

    @Test func emptyRecorderHasNoSummary() {
        let recorder = LatencyRecorder()
        #expect(recorder.writeLatencySummary() == nil)
        #expect(recorder.replicationLagSummary() == LagSummary())
        #expect(recorder.microseconds(atPercentile: 50) == nil)
    }

    @Test func negativeDurationsCountAsZero() {
        let recorder = LatencyRecorder()
        recorder.record(.microseconds(-5))
        #expect(recorder.count == 1)
        #expect(recorder.maxMicroseconds == 0)
    }

    @Test func recordsFromManyTasksAtOnce() async {
        let recorder = LatencyRecorder(rawSampleLimit: 1000)
        await withTaskGroup(of: Void.self) { group in
            for task in 0 ..< 16 {
                group.addTask {
                    for i in 1 ... 5000 { recorder.record(microseconds: Double(task * 5000 + i)) }
                }
            }
        }
        #expect(recorder.count == 80000)
        #expect(recorder.rawSamplesUs.count == 1000)
        #expect(recorder.droppedSamples == 79000)
        #expect(recorder.maxMicroseconds == 80000)
    }

    @Test func mergeAddsCountsAndSamples() throws {
        let a = LatencyRecorder(rawSampleLimit: 4), b = LatencyRecorder(rawSampleLimit: 4)
        for us in 1 ... 500 { a.record(microseconds: Double(us)) }
        for us in 501 ... 1000 { b.record(microseconds: Double(us)) }
        let merged = LatencyRecorder(rawSampleLimit: 6)
        merged.merge(a)
        merged.merge(b)
        #expect(merged.count == 1000)
        #expect(try #require(merged.writeLatencySummary()).p50 == 500)
        #expect(merged.rawSamplesUs == [1, 2, 3, 4, 501, 502])
        // a and b each dropped 496; merging dropped 2 more of b's kept samples.
        #expect(merged.droppedSamples == 496 + 496 + 2)
    }

    @Test func rawSamplesAreBoundedAndInOrder() {
        let recorder = LatencyRecorder(rawSampleLimit: 100)
        for us in 1 ... 150 { recorder.record(microseconds: Double(us)) }
        #expect(recorder.rawSamplesUs == (1 ... 100).map(Double.init))
        #expect(recorder.droppedSamples == 50)
        #expect(recorder.count == 150)
        recorder.reset()
        #expect(recorder.count == 0 && recorder.rawSamplesUs.isEmpty && recorder.droppedSamples == 0)
    }

    @Test func noRawSamplesByDefault() {
        let recorder = LatencyRecorder()
        recorder.record(microseconds: 5)
        #expect(recorder.rawSamplesUs.isEmpty)
        #expect(recorder.droppedSamples == 0)
    }

    @Test func timesAClosure() async throws {
        let recorder = LatencyRecorder()
        let value = try await recorder.time { () async throws -> Int in
            try await Task.sleep(for: .milliseconds(2))
            return 7
        }
        #expect(value == 7)
        #expect(try #require(recorder.maxMicroseconds) >= 2000)
    }
}
