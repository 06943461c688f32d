import ArgumentParser
import EncryptedStorage
import Foundation
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftLabTLS
import StorageCore

/// `raftlab certs`: a CA and node certificates without openssl.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Make a certificate authority, node certificates and a storage key (no openssl needed).",
        discussion: """
            `raftlab certs init --out certs --nodes 3` writes what examples/cluster-3proc-tls.toml uses: \
            ca.pem and ca-key.pem (the cluster's CA), node-N.pem and node-N-key.pem per node (naming \
            node-N, which peers check, and localhost, 127.0.0.1 and ::1 for HTTPS clients, or the --host \
            names), and storage.key (32 random bytes for [storage] encryption_key_file). Private keys are \
            written readable by their owner only. Keep ca-key.pem off the nodes if you can: it is only \
            needed to issue certificates.
            """,
        subcommands: [CertsInitCommand.self, CertsNodeCommand.self, CertsKeyCommand.self])
}

struct CertsInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create a CA, certificates for nodes 1...N and a storage key in a new directory.")

    @Option(help: ArgumentHelp("The directory to write (created; existing files are never overwritten).", valueName: "dir"))
    var out: String

    @Option(help: "Certificates for nodes 1 through this.")
    var nodes: Int = 3

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "A DNS name or IP address clients reach the nodes by (repeat; default: localhost, 127.0.0.1, ::1).",
        valueName: "name"))
    var hosts: [String] = []

    @Option(help: "Days the node certificates are valid (the CA: 10 years).")
    var days: Int = 825

    func run() throws {
        do {
            let written = try CertificateFactory.initialize(
                directory: out, nodes: nodes, hosts: hosts.isEmpty ? CertificateFactory.defaultHosts : hosts, days: days)
            for path in written { print("wrote \(path)") }
        } catch {
            throw exitWithMessage(error.description, code: 1)
        }
    }
}

struct CertsNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Issue a certificate for one more node from the CA in a directory (a node joining later).")

    @Option(help: ArgumentHelp("The directory holding ca.pem and ca-key.pem; the new files go there.", valueName: "dir"))
    var dir: String

    @Option(name: .customLong("node-id"), help: "The node the certificate names.")
    var nodeID: UInt64

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "A DNS name or IP address clients reach the node by (repeat; default: localhost, 127.0.0.1, ::1).", valueName: "name"))
    var hosts: [String] = []

    @Option(help: "Days the certificate is valid.")
    var days: Int = 825

    func run() throws {
        do {
            let written = try CertificateFactory.issueNode(
                directory: dir, id: nodeID, hosts: hosts.isEmpty ? CertificateFactory.defaultHosts : hosts, days: days)
            for path in written { print("wrote \(path)") }
        } catch {
            throw exitWithMessage(error.description, code: 1)
        }
    }
}

struct CertsKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Write a new 32-byte storage encryption key (for `raftlab rotate-key`).")

    @Option(help: ArgumentHelp("The key file to create (never overwritten; readable by its owner only).", valueName: "file"))
    var out: String

    func run() throws {
        let descriptor = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw exitWithMessage("cannot create \(out): \(String(cString: strerror(errno)))", code: 1)
        }
        let key = EncryptionKey.generateBytes()
        let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, key.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == key.count, synced else { throw exitWithMessage("cannot write \(out)", code: 1) }
        let id = (try? EncryptionKey(bytes: key).id) ?? "?"
        print("wrote \(out) (key \(id))")
    }
}

/// `raftlab rotate-key`: re-encrypts stopped nodes' stores with a new key.
struct RotateKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Re-encrypt a stopped node's stores with a new key; afterwards the old key can be destroyed.",
        discussion: """
            Reads the old key from the config's [storage] encryption_key_file and the new one from \
            --new-key-file (make one with `raftlab certs key --out FILE`). For each store of each node \
            (--node-id, or every node of the config), a copy sealed with the new key is written beside \
            it, synced, and switched to with one atomic rewrite of the store's marker; then the old copy \
            is deleted. A crash at any point leaves the store readable with exactly one of the two keys \
            (the marker says which). Stop the node first: a node that answers on its raft_addr or \
            http_addr is refused. Then point encryption_key_file at the new key and start the node.

            Example:
              raftlab certs key --out certs/storage-2.key
              raftlab rotate-key --config c.toml --node-id 1 --new-key-file certs/storage-2.key
            """)

    @Option(help: "The node's TOML config (its [storage] names the backends and the current key).")
    var config: String

    @Option(name: .customLong("node-id"), help: "Rotate this node only (default: every node of the config).")
    var nodeID: UInt64?

    @Option(help: ArgumentHelp("The new 32-byte key.", valueName: "file"))
    var newKeyFile: String

    func run() throws {
        let cluster: ClusterConfig
        do {
            cluster = try ClusterConfig.load(path: config)
            try cluster.validate(registry: .standard)
            if let nodeID { _ = try cluster.node(nodeID) }
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }
        guard let encryption = cluster.storage.encryption else {
            throw exitWithMessage("\(config) has no [storage] encryption: there is no key to rotate", code: 64)
        }
        let old: EncryptionKey
        let new: EncryptionKey
        do {
            old = try EncryptionKey.load(path: encryption.keyFile)
            new = try EncryptionKey.load(path: newKeyFile)
        } catch {
            throw exitWithMessage(error.description, code: 64)
        }
        let ids = nodeID.map { [$0] } ?? cluster.nodes.map(\.id)
        for id in ids {
            let node = try cluster.node(id)
            for address in [node.raftAddress, node.httpAddress] where Self.accepts(address) {
                throw exitWithMessage(
                    "node \(id) seems to be running (\(address) accepts connections); stop it before rotating its key", code: 1)
            }
        }
        do {
            for id in ids {
                let storage = cluster.storage.storageConfig(forNode: id)
                let log = try KeyRotation.rotateLogStore(
                    backend: try BackendRegistry.standard.backend(named: storage.logBackend), options: storage.logOptions,
                    from: old, to: new)
                print("node \(id): log store (\(storage.logBackend)) re-encrypted, \(log.records) entries, key \(old.id) -> \(new.id)")
                let state = try KeyRotation.rotateStateStore(
                    backend: try BackendRegistry.standard.backend(named: storage.stateBackend), options: storage.stateOptions,
                    from: old, to: new)
                print("node \(id): state store (\(storage.stateBackend)) re-encrypted, \(state.records) pairs, key \(old.id) -> \(new.id)")
                // Staged snapshot pieces were sealed with the old key; a node discards them at start anyway.
                let staging = storage.dataDirectory + "/snapshot-staging"
                for name in (try? FileSystem.listDirectory(staging)) ?? [] where name.hasSuffix(".staging") {
                    try? FileSystem.removeFile(staging + "/" + name)
                }
            }
        } catch let error as StorageError {
            throw exitWithMessage("key rotation failed: \(error.description)", code: 74)
        }
        print("done: set [storage] encryption_key_file = \"\(newKeyFile)\" before starting the node; key \(old.id) is no longer needed by \(ids.count == 1 ? "it" : "these nodes")")
    }

    /// True when something accepts a TCP connection at `address` within a second.
    static func accepts(_ address: HostPort) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &result) == 0, let first = result else { return false }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0
    }
}
