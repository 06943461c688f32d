import Metrics
import Synchronization

/// The node's numbers for `/metrics`, through swift-metrics so any backend
/// (Prometheus in `raftlab server`) can export them. Write counts and
/// latency are recorded as they happen; the engine's indexes, elections and
/// the stores' sync counts are sampled twice a second.
final class NodeMetrics: Sendable {
    private let writes: Counter
    private let writeLatency: Metrics.Timer
    private let term: Gauge
    private let commitIndex: Gauge
    private let appliedIndex: Gauge
    private let isLeader: Gauge
    /// 1 while the node cannot apply committed entries or write its log (see `NodeStall`).
    private let applyStalled: Gauge
    private let stalledIndex: Gauge
    private let elections: Counter
    private let syncs: Counter
    private let commits: Counter
    private let poller = Mutex<Task<Void, Never>?>(nil)

    init(nodeID: UInt64) {
        let dimensions = [("node", String(nodeID))]
        writes = Counter(label: "raftlab_writes_total", dimensions: dimensions)
        writeLatency = Metrics.Timer(label: "raftlab_write_latency", dimensions: dimensions, preferredDisplayUnit: .microseconds)
        term = Gauge(label: "raftlab_raft_term", dimensions: dimensions)
        commitIndex = Gauge(label: "raftlab_raft_commit_index", dimensions: dimensions)
        appliedIndex = Gauge(label: "raftlab_raft_applied_index", dimensions: dimensions)
        isLeader = Gauge(label: "raftlab_raft_is_leader", dimensions: dimensions)
        applyStalled = Gauge(label: "raftlab_apply_stalled", dimensions: dimensions)
        stalledIndex = Gauge(label: "raftlab_apply_stalled_index", dimensions: dimensions)
        elections = Counter(label: "raftlab_raft_terms_observed_total", dimensions: dimensions)
        syncs = Counter(label: "raftlab_storage_syncs_total", dimensions: dimensions)
        commits = Counter(label: "raftlab_raft_commits_total", dimensions: dimensions)
    }

    func recordWrite(since started: ContinuousClock.Instant) {
        writes.increment()
        let elapsed = ContinuousClock.now - started
        writeLatency.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    func startPolling(_ node: ClusterNode) {
        let task = Task { [weak node] in
            var lastTerm: UInt64 = 0
            var lastCommit: UInt64 = 0
            var lastSyncs: UInt64 = 0
            while !Task.isCancelled {
                guard let node else { return }
                let status = await node.raft.status
                if status.term > lastTerm {
                    if lastTerm > 0 { elections.increment(by: Int64(status.term - lastTerm)) }
                    lastTerm = status.term
                }
                if status.commitIndex > lastCommit {
                    commits.increment(by: Int64(status.commitIndex - lastCommit))
                    lastCommit = status.commitIndex
                }
                let syncCount = node.syncCount
                if syncCount > lastSyncs {
                    syncs.increment(by: Int64(syncCount - lastSyncs))
                    lastSyncs = syncCount
                }
                term.record(Double(status.term))
                commitIndex.record(Double(status.commitIndex))
                appliedIndex.record(Double(status.appliedIndex))
                isLeader.record(status.role == .leader ? 1 : 0)
                applyStalled.record(status.stall == nil ? 0 : 1)
                stalledIndex.record(Double(status.stall?.index ?? 0))
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        poller.withLock { $0 = task }
    }

    func stopPolling() {
        poller.withLock { task in
            task?.cancel()
            task = nil
        }
    }
}
