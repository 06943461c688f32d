import EncryptedStorage
import RaftLabAPI
import RaftLabHarness
import RaftLabNode
import RaftLabTLS
import StorageCore

/// What one cluster of a run is built from: the backend pair and the state
/// store's sync mode, the unit that recovery is measured for and that a
/// report row is labelled with.
struct BenchSeries: Sendable, Hashable, CustomStringConvertible {
    var backend: BackendPair
    var stateSync: StateSyncMode
    var protection = Protection()

    var description: String { "\(backend)\(protection.label.map { " " + $0 } ?? "") (state sync \(stateSync))" }

    /// A name safe in a directory name.
    var slug: String { "\(backend.log)-\(backend.state)-\(stateSync)" + (protection.label.map { "-" + $0 } ?? "") }
}

enum BenchConfig {
    /// The cluster for one measurement: `options.nodes` nodes (plus
    /// `extraNodes` that may join later) on `series`, in `directory`.
    /// Addresses matter only for the TCP transport (which picks free ports); in-process runs never bind them.
    /// A protected series gets a fresh CA and certificates (`directory/tls`)
    /// or a fresh storage key (`directory/storage.key`).
    static func cluster(
        _ options: BenchOptions, series: BenchSeries, directory: String, extraNodes: Int = 0, basePort: Int = 19_100
    ) throws -> ClusterConfig {
        var config = options.cluster
        config.storage.log = series.backend.log
        config.storage.state = series.backend.state
        config.storage.sync = options.sync
        config.storage.stateSync = series.stateSync
        config.storage.dataDirectory = directory
        config.nodes = (1...(options.nodes + extraNodes)).map { id in
            ClusterConfig.Node(
                id: UInt64(id),
                raftAddress: HostPort(host: "127.0.0.1", port: basePort + id),
                httpAddress: HostPort(host: "127.0.0.1", port: basePort + 100 + id))
        }
        config.storage.encryption = nil
        config.tls = nil
        if series.protection.encryption || series.protection.tls {
            try FileSystem.createDirectory(directory, sync: false)
        }
        if series.protection.encryption {
            let keyFile = directory + "/storage.key"
            try FileSystem.writeFile(keyFile, EncryptionKey.generateBytes(), sync: false)
            config.storage.encryption = ClusterConfig.Encryption(keyFile: keyFile)
        }
        if series.protection.tls {
            let certificates = directory + "/tls"
            do {
                _ = try CertificateFactory.initialize(directory: certificates, nodes: config.nodes.count)
            } catch {
                throw BenchError.failed("cannot make certificates for the TLS rows: \(error)")
            }
            config.tls = ClusterConfig.TLS(
                caFile: certificates + "/" + CertificateFactory.caCertificateFile,
                certificateFile: certificates + "/node-{id}.pem", keyFile: certificates + "/node-{id}-key.pem")
        }
        return config
    }
}
