import Raft
import Linearizability
import Synchronization

/// Which node leads, as the clients last heard (a 307's `leader_id`, the
/// nemesis's status probes). Only a hint: a wrong guess costs one redirect.
final class LeaderHint: Sendable {
    private let value = Mutex<UInt64?>(nil)
    var current: UInt64? { value.withLock { $0 } }
    func set(_ id: UInt64?) { value.withLock { $0 = id } }
}

/// The chaos run's seeded generator: the project's one SplitMix64 (this run
/// once had a copy of its own with a mistyped constant), so a run's choices
/// replay from its seed.
typealias SeededGenerator = SplitMix64

/// One client of the load: a loop of operations on a few shared keys, each
/// recorded from invocation to final answer.
///
/// - Reads are strong (`consistency=strong`), sent to a random node: a
///   follower serves them through a ReadIndex round with the leader.
/// - Puts write a value unique in the run (`c<client>-<n>`); compare-and-sets
///   expect the version this client last saw of the key (0, "absent", when
///   it last saw none); deletes are unconditional.
/// - Writes go to the leader the client believes in and carry an
///   `Idempotency-Key`. A redirect is followed once. An answer that leaves
///   the outcome unknown (504, lost connection, timeout) is retried with the
///   same key until the operation's deadline, so that the write is applied at
///   most once and the client usually learns what happened; if it never
///   does, the operation is recorded as `info`.
struct ChaosClient: Sendable {
    let number: Int
    let keys: [String]
    let requests: NodeRequests
    let leader: LeaderHint
    let recorder: HistoryRecorder
    let runID: String
    let operationDeadline: Duration
    /// Seconds between this client's operation starts; 0 for none.
    let interval: Double
    let budget: OperationBudget

    func run(until end: ContinuousClock.Instant, seed: UInt64) async {
        var random = SeededGenerator(seed: seed &+ UInt64(number) &* 0x9E37_79B9)
        var lastSeen: [String: UInt64] = [:]  // version this client last saw per key; 0 = absent
        var sequence = 0
        let clock = ContinuousClock()
        var next = clock.now
        while clock.now < end, !Task.isCancelled, budget.take() {
            if interval > 0 {
                if next > clock.now { try? await Task.sleep(until: next, clock: clock) }
                next = max(next + .milliseconds(Int(interval * 1000)), clock.now - .milliseconds(Int(interval * 1000)))
                guard clock.now < end else { break }
            }
            let key = keys[Int(random.next() % UInt64(keys.count))]
            sequence += 1
            let value = "c\(number)-\(sequence)"
            let call: RegisterCall
            switch random.next() % 10 {
            case 0..<4: call = .read
            case 4..<6: call = .put(value: value)
            case 6..<9: call = .compareAndSet(expected: lastSeen[key] ?? 0, value: value)
            default: call = .delete
            }
            let operation = await perform(call, key: key, sequence: sequence, random: &random)
            recorder.record(operation)
            if case .ok(let result) = operation.outcome {
                switch result {
                case .value(_, let version), .written(let version): lastSeen[key] = version
                case .absent, .deleted, .notFound: lastSeen[key] = 0
                case .conflict, .unknown: break
                }
            }
        }
    }

    func perform(_ call: RegisterCall, key: String, sequence: Int, random: inout SeededGenerator) async -> ChaosOperation {
        let id = recorder.newID()
        let invoked = recorder.now()
        let nodes = requests.nodeIDs
        var operation = ChaosOperation(
            id: id, client: number, key: key, call: call, invokedAt: invoked, completedAt: invoked,
            outcome: .fail("not attempted"), node: 0, attempts: 0)

        guard call.isWrite else {
            let node = nodes[Int(random.next() % UInt64(nodes.count))]
            let attempt = await requests.perform(call, key: key, on: node, idempotencyKey: "")
            operation.attempts = 1
            operation.node = node
            operation.completedAt = recorder.now()
            switch attempt {
            case .done(let result): operation.outcome = .ok(result)
            case .refused(let why, _): operation.outcome = .fail(why)
            case .unknown(let why): operation.outcome = .info(why)
            }
            return operation
        }

        let idempotencyKey = "\(runID)-c\(number)-\(sequence)"
        let deadline = ContinuousClock.now + operationDeadline
        var target = leader.current ?? nodes[Int(random.next() % UInt64(nodes.count))]
        var unknownWhy: String?
        var redirects = 0
        while true {
            operation.attempts += 1
            operation.node = target
            let attempt = await requests.perform(call, key: key, on: target, idempotencyKey: idempotencyKey)
            switch attempt {
            case .done(let result):
                operation.completedAt = recorder.now()
                operation.outcome = .ok(result)
                leader.set(target)
                return operation
            case .refused(let why, let hinted):
                if let hinted, hinted != target, redirects < 2 {
                    // Nothing was applied here; the leader may take it.
                    redirects += 1
                    leader.set(hinted)
                    target = hinted
                    continue
                }
                guard unknownWhy != nil, ContinuousClock.now < deadline else {
                    operation.completedAt = recorder.now()
                    operation.outcome = unknownWhy.map { .info($0) } ?? .fail(why)
                    if hinted == nil { leader.set(nil) }
                    return operation
                }
            case .unknown(let why):
                unknownWhy = why
                guard ContinuousClock.now < deadline else {
                    operation.completedAt = recorder.now()
                    operation.outcome = .info(why)
                    return operation
                }
            }
            // Still unknown: try again with the same key, elsewhere, shortly.
            redirects = 0
            try? await Task.sleep(for: .milliseconds(50 + Int(random.next() % 100)))
            target = leader.current.flatMap { $0 == target ? nil : $0 } ?? nodes[Int(random.next() % UInt64(nodes.count))]
        }
    }
}

/// The run's cap on operations, shared by every client.
final class OperationBudget: Sendable {
    private let remaining: Atomic<Int>
    init(_ count: Int) { remaining = Atomic(count) }
    func take() -> Bool { remaining.subtract(1, ordering: .relaxed).newValue >= 0 }
}
