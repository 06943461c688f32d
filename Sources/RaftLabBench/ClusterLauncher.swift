import RaftLabNode
import StorageCore

/// Starts the cluster under test the way `--transport` asks: every node in
/// this process on an in-process hub, or one `raftlab server` process per
/// node over TCP on 127.0.0.1.
struct ClusterLauncher: Sendable {
    let options: BenchOptions
    let registry: BackendRegistry

    /// Whether the clusters this launcher starts can change membership (add
    /// an empty node), which the snapshot install measurement needs. The
    /// node processes' HTTP API has no membership endpoints.
    var supportsMembershipChanges: Bool { options.transport == .inprocess }

    /// Starts the first `voters` nodes of `config` (all when nil; over TCP,
    /// every node of `config` is a voter). `lag` receives every apply on
    /// every node, which only an in-process cluster can report.
    func launch(_ config: ClusterConfig, voters: Int? = nil, lag: LagTracker? = nil) async throws -> any BenchCluster {
        switch options.transport {
        case .inprocess:
            var observer: (@Sendable (UInt64) -> ApplyObserver)?
            if let lag { observer = { node in lag.observer(for: node) } }
            let cluster = try await LocalCluster(
                config: config, voters: voters, registry: registry, seed: options.seed, observer: observer)
            return InProcessBenchCluster(cluster)
        case .tcp:
            if let voters, voters != config.nodes.count {
                throw BenchError.failed("over TCP every node of the config is a voter; asked for \(voters) of \(config.nodes.count)")
            }
            return try await ProcessCluster.launch(
                config: config, executable: options.serverExecutable ?? ProcessCluster.ownExecutable(), registry: registry)
        }
    }
}
