import NoSQL
import RaftLabNode
import RaftLabReport
import Synchronization

/// Runs `concurrency` clients against a cluster's leader until `ops`
/// operations or `duration` is reached, timing every write from submit to
/// commit acknowledgment. The leader is a `BenchNode`: a node in this
/// process, or one in its own process reached over HTTP (whose latency then
/// includes the HTTP round trip, as a real client's would).
struct LoadGenerator: Sendable {
    static let table = "bench"

    let concurrency: Int
    let valueSize: Int
    let distribution: KeyDistribution
    let keySpace: UInt64
    let readRatio: Double
    let seed: UInt64

    struct Outcome: Sendable {
        var ops: Int
        var writes: Int
        var elapsed: Duration
    }

    private final class Counters: Sendable {
        let issued = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
    }

    /// A schema-valid item of about `valueSize` bytes of payload.
    static func item(key: UInt64, value: String) -> NoSQL.JSONValue {
        ["k": .string("key-\(key)"), "v": .string(value)]
    }

    func run(
        leader initialLeader: @escaping @Sendable () async throws -> any BenchNode,
        ops: Int?, duration: Duration, recorder: LatencyRecorder?
    ) async throws -> Outcome {
        let value = String(repeating: "x", count: valueSize)
        let counters = Counters()
        let deadline = ContinuousClock.now + duration
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<concurrency {
                group.addTask {
                    var workload = Workload(
                        distribution: distribution, keySpace: keySpace, readRatio: readRatio,
                        seed: seed &+ UInt64(client) &* 0x9E37_79B9)
                    var leader = try await initialLeader()
                    while true {
                        if let ops {
                            guard counters.issued.add(1, ordering: .relaxed).newValue <= ops else { return }
                        } else {
                            guard ContinuousClock.now < deadline else { return }
                            counters.issued.add(1, ordering: .relaxed)
                        }
                        let operation = workload.next()
                        while true {
                            do {
                                switch operation {
                                case .write(let key):
                                    let begin = ContinuousClock.now
                                    _ = try await leader.replicate(.putItem(
                                        table: Self.table, item: Self.item(key: key, value: value), expectedVersion: nil))
                                    recorder?.record(ContinuousClock.now - begin)
                                    counters.writes.add(1, ordering: .relaxed)
                                case .read(let key):
                                    _ = try await leader.getItem(
                                        table: Self.table, key: ItemKey("key-\(key)"), consistency: .local)
                                }
                                break
                            } catch let error as NodeError {
                                // Leadership moved: find the new leader and retry, unmeasured.
                                switch error {
                                case .notLeader, .noLeader, .timeout, .outcomeUnknown: leader = try await initialLeader()
                                case .shuttingDown, .internal: throw BenchError.failed("node error: \(error)")
                                }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let done = ops.map { min($0, counters.issued.load(ordering: .relaxed)) } ?? counters.issued.load(ordering: .relaxed)
        return Outcome(ops: done, writes: counters.writes.load(ordering: .relaxed), elapsed: ContinuousClock.now - started)
    }
}
