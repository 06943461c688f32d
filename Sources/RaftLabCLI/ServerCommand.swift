import ArgumentParser
import Logging
import Metrics
import Prometheus
import RaftLabBackends
import RaftLabNode
import RaftLabServer
import RaftLabTLS
import ServiceLifecycle
import StorageCore
import UnixSignals

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a RaftLab cluster: every node in this process, or one node per process.",
        discussion: """
            With no options, as the original simulator: three nodes in this process, HTTP APIs on \
            localhost:8100, 8101 and 8102, the memory backend.

            --config FILE reads a TOML cluster config: [storage] names the log and state backends \
            (memory, flatfile, lmdb, leveldb, rocksdb, sqlite; wal for the log only), sync and data_dir; \
            [[nodes]] lists ids, raft_addr and \
            http_addr. See examples/cluster.toml. Swap the storage engine by editing `log` and `state`.

            --node-id N with --config runs only node N, talking to its peers over TCP, so a cluster \
            can span processes and hosts (examples/cluster-3proc.toml).

            Ctrl-C or SIGTERM shuts down cleanly: in-flight requests are answered, then the stores \
            are flushed and closed.

            Security (see README, "Security"): [tls] turns on mutual TLS between nodes and HTTPS for \
            clients (certificates from `raftlab certs init`; SIGHUP reloads them without a restart), \
            [[auth.tokens]] requires bearer tokens with roles, and [storage] encryption = "aes-256-gcm" \
            encrypts the stores at rest (examples/cluster-3proc-tls.toml).

            Examples:
              raftlab server
              raftlab server --config examples/cluster.toml
              raftlab server --config examples/cluster-3proc.toml --node-id 2
            """)

    @Option(help: "A TOML cluster config (default: three in-process nodes on 8100-8102, memory backend).")
    var config: String?

    @Option(name: .customLong("node-id"), help: "Run only this node of --config, over TCP to its peers.")
    var nodeID: UInt64?

    @Flag(help: "Forward writes sent to a follower to the leader instead of redirecting the client.")
    var forwardWrites = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if nodeID != nil, config == nil {
            throw ValidationError("--node-id needs --config: the other nodes' addresses come from it")
        }
    }

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "raftlab.server")
        let cluster: ClusterConfig
        do {
            cluster = try config.map { try ClusterConfig.load(path: $0) } ?? .standard
            try cluster.validate(registry: .standard)
            if let nodeID { _ = try cluster.node(nodeID) }
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var options = HTTPAPIOptions(
            forwardWritesToLeader: forwardWrites, maxBodyBytes: cluster.limits.maxItemBytes + 64 * 1024,
            accessKeys: cluster.auth.accessKeys)
        options.auth = cluster.auth

        // Every local node's TLS material, loaded (and checked) once; SIGHUP reloads it.
        var tls: [UInt64: TLSContexts] = [:]
        do {
            for node in cluster.nodes where nodeID == nil || node.id == nodeID {
                if let contexts = try cluster.tlsContexts(forNode: node.id) { tls[node.id] = contexts }
            }
            if let files = cluster.tls, files.https {
                options.clientTLS = try TLSContexts.httpsClient(caFile: files.caFile)
            }
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        } catch let error as TLSSetupError {
            throw exitWithMessage("[tls]: \(error.description)", code: 64)
        }

        let nodes: [ClusterNode]
        let stopNodes: @Sendable () async -> Void
        do {
            if let nodeID {
                let node = try ClusterNode(
                    id: nodeID, config: cluster,
                    transport: try ClusterNode.tcpTransport(for: nodeID, config: cluster, tls: tls[nodeID]))
                try await node.start()
                nodes = [node]
                stopNodes = { await node.stop() }
            } else {
                let local = try await LocalCluster(config: cluster)
                nodes = local.nodes
                stopNodes = { await local.stop() }
            }
        } catch let error as StorageError {
            throw exitWithMessage("cannot open the stores: \(error.description)", code: 74)
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }

        var services: [any Service] = [NodesService(stop: stopNodes, logger: logger)]
        for node in nodes {
            let address = try cluster.node(node.id).httpAddress
            var nodeOptions = options
            if cluster.tls?.https == true { nodeOptions.tls = tls[node.id] }
            let scheme = nodeOptions.scheme
            services.append(makeApplication(
                service: node, address: address, registry: registry, options: nodeOptions,
                logger: Logger(label: "raftlab.http.node\(node.id)"),
                onListening: { bound in
                    logger.info("node \(node.id) serving HTTP", metadata: [
                        "address": "\(bound)", "log": "\(cluster.storage.log)", "state": "\(cluster.storage.state)",
                        "sync": "\(cluster.storage.sync)", "scheme": "\(scheme)",
                        "encryption": "\(cluster.storage.encryption?.algorithm ?? "none")",
                        "tokens": "\(cluster.auth.tokens.count)",
                    ])
                }))
        }
        if !tls.isEmpty { services.append(TLSReloadService(contexts: tls, logger: logger)) }
        // Services stop in reverse order: HTTP first (in-flight requests are
        // answered), then the nodes, which close and flush their stores.
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Keeps the nodes running until the service group shuts down, then stops them.
struct NodesService: Service {
    let stop: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("stopping nodes and closing stores")
        await stop()
    }
}

/// Reloads every local node's certificates on SIGHUP: connections made after
/// it use the new files; a file that does not load leaves the old ones in use.
struct TLSReloadService: Service {
    let contexts: [UInt64: TLSContexts]
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            for (id, context) in contexts.sorted(by: { $0.key < $1.key }) {
                do {
                    let loaded = try context.reload()
                    logger.notice("node \(id): reloaded TLS certificates on SIGHUP", metadata: [
                        "certificate": "\(context.files.certificateFile)", "not_valid_after": "\(loaded.notValidAfter)",
                    ])
                } catch {
                    logger.error("node \(id): SIGHUP: cannot reload TLS certificates, keeping the ones in use: \(error.description)")
                }
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Logs to standard error at `level`, once per process.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
