import NoSQL
import RaftLabHarness
import RaftLabNode
import RaftLabReport
import Synchronization

/// (e) A live engine swap under load: every node of an in-process cluster is
/// replaced, one at a time, by a node on the target backends
/// (`LocalCluster.migrate`) while clients keep writing. Measured: the whole
/// swap's time, the longest time without an acknowledged write, write
/// latency during the swap, and the bytes the nodes sent each other
/// (InstallSnapshot chunks, log entries).
struct MigrationProbe: Sendable {
    let target: BackendPair
    let valueSize: Int
    /// Clients writing throughout.
    var writers = 4

    /// What the writers share: a stop flag and the tally of their writes.
    private final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        let tally = Mutex((writes: 0, failed: 0, lastAck: ContinuousClock.now, longestGap: Duration.zero))
    }

    func run(_ cluster: LocalCluster) async throws -> MigrationFigures {
        let latency = LatencyRecorder()
        let shared = Shared()
        let trafficBefore = cluster.trafficSent
        let started = ContinuousClock.now
        shared.tally.withLock { $0.lastAck = started }
        let size = valueSize
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var key = UInt64(writer) << 40
                        while !shared.stop.load(ordering: .relaxed) {
                            key += 1
                            let command = NoSQLCommand.putItem(
                                table: LoadGenerator.table, item: LoadGenerator.item(key: key, value: String(repeating: "m", count: size)),
                                expectedVersion: nil)
                            let sent = ContinuousClock.now
                            do {
                                _ = try await cluster.leader(within: .seconds(5)).write(command)
                                let now = ContinuousClock.now
                                latency.record(now - sent)
                                shared.tally.withLock { t in
                                    t.writes += 1
                                    t.longestGap = max(t.longestGap, now - t.lastAck)
                                    t.lastAck = max(t.lastAck, now)
                                }
                            } catch {
                                shared.tally.withLock { $0.failed += 1 }
                                try? await Task.sleep(for: .milliseconds(1))
                            }
                        }
                    }
                }
            }
        }
        let summary: ClusterMigration.Summary
        do {
            summary = try await cluster.migrate(toLog: target.log, state: target.state)
        } catch {
            shared.stop.store(true, ordering: .relaxed)
            await load.value
            throw BenchError.failed("the live swap to \(target) failed: \(error)")
        }
        let finished = ContinuousClock.now
        shared.stop.store(true, ordering: .relaxed)
        await load.value
        let traffic = cluster.trafficSent
        let counts = shared.tally.withLock { t in
            (t.writes, t.failed, max(t.longestGap, finished - t.lastAck))
        }
        return MigrationFigures(
            to: ReportBackend(log: target.log, state: target.state), nodesReplaced: summary.replaced.count,
            totalUs: micros(finished - started), writes: counts.0, failedAttempts: counts.1, longestWriteGapUs: micros(counts.2),
            writeLatencyUs: latency.writeLatencySummary(),
            snapshotBytes: traffic.snapshotBytes - trafficBefore.snapshotBytes, entryBytes: traffic.entryBytes - trafficBefore.entryBytes)
    }

    private func micros(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }
}
