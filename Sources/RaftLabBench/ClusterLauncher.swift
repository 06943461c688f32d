import RaftLabHarness
import RaftLabNode
import StorageCore

/// Starts the cluster under test the way `--transport` asks: every node in
/// this process on an in-process hub, or one `raftlab server` process per
/// node over TCP on 127.0.0.1.
struct ClusterLauncher: Sendable {
    let options: BenchOptions
    let registry: BackendRegistry

    /// Starts the first `voters` nodes of `config` (all when nil) as its
    /// voters; the others may join later (`startJoining`).
    func launch(_ config: ClusterConfig, voters: Int? = nil) async throws -> any BenchCluster {
        switch options.transport {
        case .inprocess:
            let cluster = try await LocalCluster(config: config, voters: voters, registry: registry, seed: options.seed)
            return InProcessBenchCluster(cluster, registry: registry)
        case .tcp:
            return try await ProcessCluster.launch(
                config: config, voters: voters ?? config.nodes.count,
                executable: options.serverExecutable ?? ProcessCluster.ownExecutable(), registry: registry)
        }
    }
}
