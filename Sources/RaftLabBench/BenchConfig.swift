import EncryptedStorage
import RaftLabNode
import RaftLabTLS
import StorageCore

enum BenchConfig {
    /// The cluster for one measurement: `options.nodes` nodes (plus
    /// `extraNodes` that may join later) on `backend`, in `directory`.
    /// Addresses matter only for the TCP transport; in-process runs never bind them.
    /// A protected row gets a fresh CA and certificates (`directory/tls`)
    /// or a fresh storage key (`directory/storage.key`).
    static func cluster(_ options: BenchOptions, backend: BackendPair, directory: String, extraNodes: Int = 0, basePort: Int = 19_100) throws -> ClusterConfig {
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
        config.storage.encryption = nil
        config.tls = nil
        if backend.protection.encryption || backend.protection.tls {
            try FileSystem.createDirectory(directory, sync: false)
        }
        if backend.protection.encryption {
            let keyFile = directory + "/storage.key"
            try FileSystem.writeFile(keyFile, EncryptionKey.generateBytes(), sync: false)
            config.storage.encryption = ClusterConfig.Encryption(keyFile: keyFile)
        }
        if backend.protection.tls {
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
