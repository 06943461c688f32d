import RaftLabHarness

// A cluster of node processes (RaftLabHarness) as the benchmark drives it:
// the same measurements run on it as on a cluster in this process.

extension HTTPBenchNode: BenchNode {}

extension ProcessCluster: BenchCluster {
    var nodes: [any BenchNode] { httpNodes }

    func node(_ id: UInt64) -> (any BenchNode)? { httpNode(id) }

    func leader(within timeout: Duration) async throws -> any BenchNode {
        try await leaderNode(within: timeout)
    }
}
