import NoSQL
import RaftLabAPI
import RaftLabHarness
import RaftLabNode
import RaftLabReport
import Synchronization

/// Runs a workload against a cluster's leader with `concurrency` clients, in
/// one of two ways:
///
/// - **Closed loop** (`rate` nil): each client sends its next request when
///   the previous one is answered. Latency runs from the request's first
///   attempt to its final answer.
/// - **Open loop** (`rate` requests per second): requests are scheduled at
///   fixed intervals whatever the answers, at most `concurrency` in flight.
///   Latency runs from each request's *scheduled* start, so a request that
///   had to wait behind a slow one carries that wait (coordinated omission
///   corrected, as wrk2 does).
///
/// Either way a request is retried until it succeeds, with each failed
/// attempt counted: answered with an error (not the leader, no leader,
/// shutting down, a server error) or with no answer in time (a timeout,
/// whose outcome is unknown). Retries stay inside the request's latency, so
/// a failover stall shows in p99 and max instead of vanishing.
///
/// Every write carries an idempotency key of its own, and its retries carry
/// the same key, as a careful client's would: a write whose first attempt
/// did commit (the answer was lost, or came back 504 `outcome_unknown`) is
/// answered from the node's record of it instead of being applied twice, so
/// a retried write is one write in the log's effects and in the counts.
///
/// The leader is a `BenchNode`: a node in this process, or one in its own
/// process reached over HTTP (whose latency then includes the HTTP round
/// trip, as a real client's would).
struct LoadGenerator: Sendable {
    static let table = "bench"
    /// Items per partition: a scan reads within one partition.
    static let groupSize: UInt64 = 100
    /// How long one request may keep failing before the run is declared broken.
    static let requestBudget: Duration = .seconds(60)

    let concurrency: Int
    let valueSize: Int
    let workload: BenchWorkload
    let distribution: KeyDistribution?
    /// Items 0..<records exist when the load starts.
    let records: UInt64
    let readRatio: Double
    let readConsistency: ReadConsistency
    let seed: UInt64
    /// Open loop: requests per second over all clients; nil for closed loop.
    let rate: Double?
    /// Where inserted keys come from; shared by a warm-up and the load after
    /// it so that both insert new items. Nil: keys after `records`.
    let inserts: InsertCounter?

    init(
        concurrency: Int, valueSize: Int, workload: BenchWorkload, distribution: KeyDistribution? = nil,
        records: UInt64, readRatio: Double = 0, readConsistency: ReadConsistency = .local, seed: UInt64,
        rate: Double? = nil, inserts: InsertCounter? = nil
    ) {
        self.inserts = inserts
        self.concurrency = concurrency
        self.valueSize = valueSize
        self.workload = workload
        self.distribution = distribution
        self.records = records
        self.readRatio = readRatio
        self.readConsistency = readConsistency
        self.seed = seed
        self.rate = rate
    }

    /// Where latencies go, per kind of operation.
    struct Recorders: Sendable {
        let write = LatencyRecorder()
        let read = LatencyRecorder()
        let scan = LatencyRecorder()
    }

    struct Outcome: Sendable {
        /// Operations completed (a read-modify-write counts once).
        var ops = 0
        var writes = 0
        var reads = 0
        var scans = 0
        var errors = 0
        var timeouts = 0
        var elapsed: Duration = .zero
    }

    /// When a duration-bound load may end: after `minimum`, once `ready`
    /// holds (the caller's steady-state condition), and at `maximum` at the latest.
    final class Stop: Sendable {
        let minimum: ContinuousClock.Instant
        let maximum: ContinuousClock.Instant
        private let isReady: Atomic<Bool>

        init(after minimum: Duration, atMost maximum: Duration, ready: Bool = true) {
            let now = ContinuousClock.now
            self.minimum = now + minimum
            self.maximum = now + max(minimum, maximum)
            isReady = Atomic(ready)
        }

        func markReady() { isReady.store(true, ordering: .relaxed) }

        func reached(_ now: ContinuousClock.Instant) -> Bool {
            now >= maximum || (now >= minimum && isReady.load(ordering: .relaxed))
        }
    }

    private final class Counters: Sendable {
        let issued = Atomic<Int>(0)
        let ops = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let scans = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let timeouts = Atomic<Int>(0)
    }

    /// The bench table: items grouped `groupSize` to a partition, so a scan
    /// is one partition's query and every key maps to one partition.
    static var schema: TableSchema { TableSchema(name: table, partitionKey: "p", sortKey: "k") }

    static func partition(of key: UInt64) -> String { "g" + padded(key / groupSize, width: 8) }

    static func itemKey(_ key: UInt64) -> ItemKey {
        ItemKey(partition: .string(partition(of: key)), sort: .string(padded(key, width: 12)))
    }

    /// A schema-valid item carrying `value`.
    static func item(key: UInt64, value: String) -> JSONValue {
        ["p": .string(partition(of: key)), "k": .string(padded(key, width: 12)), "v": .string(value)]
    }

    private static func padded(_ number: UInt64, width: Int) -> String {
        let digits = String(number)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Runs until `ops` operations were issued or, without `ops`, until `stop` says so.
    func run(
        leader initialLeader: @escaping @Sendable () async throws -> any BenchNode,
        ops: Int?, stop: Stop, recorders: Recorders?
    ) async throws -> Outcome {
        let value = String(repeating: "x", count: valueSize)
        let counters = Counters()
        let inserts = self.inserts ?? InsertCounter(loaded: records)
        let latest = (distribution ?? workload.defaultDistribution) == .latest ? ZipfianGenerator(items: max(1, records)) : nil
        let started = ContinuousClock.now
        // Unique to this run, so a warm-up and the load after it (same seed, same request numbers) never share a key.
        let keyPrefix = "bench-" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let interval = rate.map { Duration.seconds(1 / $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<concurrency {
                group.addTask {
                    var workload = Workload(
                        workload: workload, distribution: distribution, records: records, readRatio: readRatio,
                        seed: seed &+ UInt64(client) &* 0x9E37_79B9, inserts: inserts, latest: latest)
                    var session = Session(leader: try await initialLeader(), find: initialLeader, counters: counters)
                    while true {
                        let number = counters.issued.add(1, ordering: .relaxed).oldValue
                        if let ops, number >= ops { return }
                        // When this request should start: now (closed) or on the schedule (open).
                        var start = ContinuousClock.now
                        if let interval {
                            let scheduled = started + interval * number
                            if scheduled > start {
                                try await Task.sleep(until: scheduled, clock: .continuous)
                            }
                            start = scheduled
                        }
                        if ops == nil, stop.reached(ContinuousClock.now) { return }
                        try await perform(
                            workload.next(), from: start, value: value, idempotencyKey: "\(keyPrefix)-\(number)",
                            session: &session, recorders: recorders)
                        counters.ops.add(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Outcome(
            ops: counters.ops.load(ordering: .relaxed), writes: counters.writes.load(ordering: .relaxed),
            reads: counters.reads.load(ordering: .relaxed), scans: counters.scans.load(ordering: .relaxed),
            errors: counters.errors.load(ordering: .relaxed), timeouts: counters.timeouts.load(ordering: .relaxed),
            elapsed: ContinuousClock.now - started)
    }

    /// One client's view of the cluster: the node it believes leads, found again after failures.
    private struct Session {
        var leader: any BenchNode
        let find: @Sendable () async throws -> any BenchNode
        let counters: Counters
    }

    /// Runs one operation; a write in it carries `idempotencyKey` on every attempt.
    private func perform(
        _ operation: Operation, from start: ContinuousClock.Instant, value: String, idempotencyKey: String,
        session: inout Session, recorders: Recorders?
    ) async throws {
        let counters = session.counters
        switch operation {
        case .read(let key):
            try await attempt(from: start, session: &session) { node in
                _ = try await node.getItem(table: Self.table, key: Self.itemKey(key), consistency: readConsistency)
            }
            recorders?.read.record(ContinuousClock.now - start)
            counters.reads.add(1, ordering: .relaxed)
        case .update(let key), .insert(let key):
            try await write(
                key, value: value, idempotencyKey: idempotencyKey, from: start, session: &session, recorder: recorders?.write)
        case .scan(let key, let length):
            try await attempt(from: start, session: &session) { node in
                _ = try await node.query(
                    table: Self.table, partition: Self.partition(of: key), limit: length, consistency: readConsistency)
            }
            recorders?.scan.record(ContinuousClock.now - start)
            counters.scans.add(1, ordering: .relaxed)
        case .readModifyWrite(let key):
            // Timed as what it is made of: a read, then a write from the read's answer.
            try await attempt(from: start, session: &session) { node in
                _ = try await node.getItem(table: Self.table, key: Self.itemKey(key), consistency: readConsistency)
            }
            recorders?.read.record(ContinuousClock.now - start)
            counters.reads.add(1, ordering: .relaxed)
            try await write(
                key, value: value, idempotencyKey: idempotencyKey, from: ContinuousClock.now, session: &session,
                recorder: recorders?.write)
        }
    }

    private func write(
        _ key: UInt64, value: String, idempotencyKey: String, from start: ContinuousClock.Instant, session: inout Session,
        recorder: LatencyRecorder?
    ) async throws {
        let command = NoSQLCommand.putItem(table: Self.table, item: Self.item(key: key, value: value), expectedVersion: nil)
        // The same key on every attempt: a retry of a write that did commit is answered, not applied again.
        try await attempt(from: start, session: &session) { node in
            _ = try await node.replicate(command, idempotencyKey: idempotencyKey)
        }
        recorder?.record(ContinuousClock.now - start)
        session.counters.writes.add(1, ordering: .relaxed)
    }

    /// Runs `body` against the leader until it succeeds, counting every
    /// failed attempt and looking the leader up again after each.
    private func attempt(
        from start: ContinuousClock.Instant, session: inout Session, _ body: (any BenchNode) async throws -> Void
    ) async throws {
        while true {
            do {
                try await body(session.leader)
                return
            } catch let error as NodeError {
                switch error {
                case .timeout, .outcomeUnknown:
                    session.counters.timeouts.add(1, ordering: .relaxed)
                default:
                    session.counters.errors.add(1, ordering: .relaxed)
                }
                guard ContinuousClock.now - start < Self.requestBudget else {
                    throw BenchError.failed("a request failed for \(Self.requestBudget) (last: \(error))")
                }
                if case .notLeader = error {} else { try await Task.sleep(for: .milliseconds(1)) }
                session.leader = try await session.find()
            }
        }
    }
}
