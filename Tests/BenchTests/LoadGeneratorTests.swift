import NoSQL
import RaftLabAPI
@testable import RaftLabBench
import RaftLabNode
import RaftLabReport
import Synchronization
import Testing

/// A node that answers after a fixed delay, and fails the first `failures`
/// requests with `failure`: the load generator's clocks can be checked
/// against it without a cluster.
final class StubNode: BenchNode {
    let id: UInt64 = 1
    let delay: Duration
    let failure: NodeError
    private let failuresLeft: Mutex<Int>
    let requests = Atomic<Int>(0)
    /// The idempotency key of every write attempt, in arrival order.
    let writeKeys = Mutex<[String?]>([])
    /// Writes applied, one per key, as a deduplicating server applies them;
    /// a write fails only *after* it applied (its answer was lost).
    let applied = Mutex<Set<String>>([])

    init(delay: Duration, failures: Int = 0, failure: NodeError = .timeout) {
        self.delay = delay
        self.failure = failure
        failuresLeft = Mutex(failures)
    }

    private func serve() async throws {
        requests.add(1, ordering: .relaxed)
        try await Task.sleep(for: delay)
        let fail = failuresLeft.withLock { left in
            defer { left = max(0, left - 1) }
            return left > 0
        }
        if fail { throw failure }
    }

    func replicate(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> UInt64 {
        writeKeys.withLock { $0.append(idempotencyKey) }
        if let idempotencyKey { _ = applied.withLock { $0.insert(idempotencyKey) } }
        try await serve()
        return 1
    }

    func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> JSONValue? {
        try await serve()
        return nil
    }

    func query(table: String, partition: String, limit: Int, consistency: ReadConsistency) async throws -> Int {
        try await serve()
        return limit
    }

    func status() async throws -> NodeStatus { fatalError("not used") }
    func syncs() async throws -> NodeSyncReport { NodeSyncReport(observed: nil, reported: 0) }
    func timeline(after: UInt64) async throws -> ReplicationTimeline.Page { .init(events: [], next: 0, missed: 0) }
}

@Suite("Load generator clocks")
struct LoadGeneratorTests {
    func load(rate: Double? = nil, workload: BenchWorkload = .write) -> LoadGenerator {
        LoadGenerator(concurrency: 1, valueSize: 10, workload: workload, records: 100, seed: 1, rate: rate)
    }

    func run(_ generator: LoadGenerator, on node: StubNode, ops: Int) async throws -> (LoadGenerator.Outcome, LoadGenerator.Recorders) {
        let recorders = LoadGenerator.Recorders()
        let outcome = try await generator.run(
            leader: { node }, ops: ops, stop: .init(after: .seconds(60), atMost: .seconds(60)), recorders: recorders)
        return (outcome, recorders)
    }

    @Test("a failed attempt is counted and its time stays in the request's latency")
    func retriesAreTimed() async throws {
        let node = StubNode(delay: .milliseconds(20), failures: 1, failure: .timeout)
        let (outcome, recorders) = try await run(load(), on: node, ops: 3)
        #expect(outcome.timeouts == 1 && outcome.errors == 0 && outcome.writes == 3)
        #expect(node.requests.load(ordering: .relaxed) == 4)
        // The first write took two attempts: its latency covers both.
        #expect(try #require(recorders.write.maxMicroseconds) >= 40_000)

        let refused = StubNode(delay: .milliseconds(1), failures: 2, failure: .noLeader)
        let (second, _) = try await run(load(), on: refused, ops: 2)
        #expect(second.errors == 2 && second.timeouts == 0 && second.ops == 2)
    }

    @Test("a write whose outcome is unknown is retried with its own idempotency key, so it applies once")
    func retriesReuseTheIdempotencyKey() async throws {
        for failure in [NodeError.timeout, .outcomeUnknown("the answer was lost")] {
            // The first two attempts apply but lose their answer.
            let node = StubNode(delay: .microseconds(100), failures: 2, failure: failure)
            let (outcome, _) = try await run(load(), on: node, ops: 5)
            let keys = node.writeKeys.withLock { $0 }
            #expect(outcome.writes == 5 && outcome.timeouts == 2)
            #expect(keys.count == 7 && keys.allSatisfy { $0 != nil })
            // Three attempts of the first write under one key, then one key per write.
            #expect(keys[0] == keys[1] && keys[1] == keys[2])
            #expect(Set(keys.compactMap { $0 }).count == 5)
            #expect(node.applied.withLock { $0.count } == 5)
        }
        // Two loads on one cluster (a warm-up, then the measured load) never share a key.
        let node = StubNode(delay: .microseconds(100))
        _ = try await run(load(), on: node, ops: 3)
        _ = try await run(load(), on: node, ops: 3)
        #expect(node.applied.withLock { $0.count } == 6)
    }

    @Test("open loop: latency runs from the scheduled start, so a slow server's backlog shows")
    func openLoopCorrectsCoordinatedOmission() async throws {
        // Service takes 10 ms; requests are due every 2 ms with one in flight.
        let node = StubNode(delay: .milliseconds(10))
        let (closed, closedTimes) = try await run(load(), on: node, ops: 20)
        let (open, openTimes) = try await run(load(rate: 500), on: node, ops: 20)
        #expect(closed.ops == 20 && open.ops == 20)
        // Bounds that a slow, loaded machine can only make larger (no upper bounds on time):
        // every request takes at least its 10 ms of service...
        #expect(try #require(closedTimes.write.microseconds(atPercentile: 0)) >= 10_000)
        // ...and in open loop the 20th was due at 38 ms but could not end before 200 ms:
        // its latency counts the 160 ms it waited behind the others.
        #expect(try #require(openTimes.write.maxMicroseconds) >= 150_000)
    }

    @Test("reads, scans and read-modify-writes go to their own recorders")
    func recordersPerKind() async throws {
        let node = StubNode(delay: .microseconds(100))
        let (scans, scanTimes) = try await run(load(workload: .e), on: node, ops: 200)
        #expect(scans.scans + scans.writes == 200 && scans.scans > 150)
        #expect(scanTimes.scan.count == UInt64(scans.scans) && scanTimes.read.count == 0)
        let (rmw, rmwTimes) = try await run(load(workload: .f), on: node, ops: 200)
        // Each read-modify-write is one operation, timed as a read and a write.
        #expect(rmw.ops == 200 && rmw.reads == 200 && rmw.writes > 60)
        #expect(rmwTimes.read.count == 200 && rmwTimes.write.count == UInt64(rmw.writes))
    }
}

@Suite("Replication lag from node timelines")
struct LagCollectorTests {
    /// A node whose timeline is given.
    private struct TimelineNode: BenchNode {
        let id: UInt64
        let events: [ReplicationTimeline.Event]

        func replicate(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> UInt64 { 0 }
        func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> JSONValue? { nil }
        func query(table: String, partition: String, limit: Int, consistency: ReadConsistency) async throws -> Int { 0 }
        func status() async throws -> NodeStatus { fatalError("not used") }
        func syncs() async throws -> NodeSyncReport { NodeSyncReport(observed: nil, reported: 0) }
        func timeline(after: UInt64) async throws -> ReplicationTimeline.Page {
            // Sequence numbers 1...count; "after .max" reads nothing, as a live ring would.
            let from = after == .max ? UInt64(events.count) : min(after, UInt64(events.count))
            return .init(events: Array(events[Int(from)...]), next: UInt64(events.count), missed: 0)
        }
    }

    @Test("lag is leader commit → each other node's apply, per index, across a leader change")
    func joinsTimelines() async throws {
        func commit(_ index: UInt64, _ ns: UInt64) -> ReplicationTimeline.Event { .init(kind: .commit, index: index, nanoseconds: ns) }
        func apply(_ index: UInt64, _ ns: UInt64) -> ReplicationTimeline.Event { .init(kind: .apply, index: index, nanoseconds: ns) }
        // Node 1 leads and commits 1...4; node 3 takes over and commits 5...6.
        let one = TimelineNode(id: 1, events: [commit(2, 1_000), apply(2, 1_500), commit(4, 2_000), apply(4, 2_600)])
        let two = TimelineNode(id: 2, events: [apply(1, 1_200), apply(4, 2_300), apply(6, 9_000)])
        let three = TimelineNode(id: 3, events: [apply(4, 2_500), commit(6, 8_000), apply(6, 8_100)])
        let collector = LagCollector()
        let empty = [one, two, three].map { TimelineNode(id: $0.id, events: []) }
        try await collector.begin(empty)
        try await collector.poll([one, two, three])
        let recorder = LatencyRecorder(resolution: .nanoseconds, rawSampleLimit: 100)
        collector.summarize(window: 1...6, into: recorder)
        // Node 2: 1 at 1200 (committed at 1000): 0.2 µs; 2 at 2300 (1000): 1.3; 3, 4 at 2300 (2000): 0.3, 0.3;
        // 5, 6 at 9000 (8000): 1.0, 1.0. Node 3: 1, 2 at 2500 (1000): 1.5, 1.5; 3, 4 (2000): 0.5, 0.5.
        // Node 1: 5, 6 never applied. The announcer's own applies are not lag.
        #expect(recorder.rawSamplesUs.sorted() == [0.2, 0.3, 0.3, 0.5, 0.5, 1.0, 1.0, 1.3, 1.5, 1.5])
    }
}
