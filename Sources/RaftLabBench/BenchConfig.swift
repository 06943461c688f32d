import RaftLabNode

enum BenchConfig {
    /// The cluster for one measurement: `options.nodes` nodes (plus
    /// `extraNodes` that may join later) on `backend`, in `directory`.
    /// Addresses matter only for the TCP transport; in-process runs never bind them.
    static func cluster(_ options: BenchOptions, backend: BackendPair, directory: String, extraNodes: Int = 0, basePort: Int = 19_100) -> ClusterConfig {
        var config = options.cluster
        config.storage.log = backend.log
        config.storage.state = backend.state
        config.storage.sync = options.sync
        config.storage.dataDirectory = directory
        config.nodes = (1...(options.nodes + extraNodes)).map { id in
            ClusterConfig.Node(
                id: UInt64(id),
                raftAddress: HostPort(host: "127.0.0.1", port: basePort + id),
                httpAddress: HostPort(host: "127.0.0.1", port: basePort + 100 + id))
        }
        return config
    }
}
