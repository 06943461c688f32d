import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import RaftLabAPI
import RaftLabBackends
import RaftLabNode
import RaftLabServer
import RaftLabTLS
import RaftTCPTransport
import ServiceLifecycle
import StorageCore
import StorageFaults
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a RaftLab cluster: every node in this process, or one node per process.",
        discussion: """
            With no options, as the original simulator: three nodes in this process, HTTP APIs on \
            localhost:8100, 8101 and 8102, the memory backend.

            --config FILE reads a TOML cluster config: [storage] names the log and state backends \
            (\(BackendNames.bothStores); \(BackendNames.logOnly) for the log only), sync and data_dir; \
            [[nodes]] lists ids, raft_addr and \
            http_addr. See examples/cluster.toml. Swap the storage engine by editing `log` and `state`.

            --node-id N with --config runs only node N, talking to its peers over TCP, so a cluster \
            can span processes and hosts (examples/cluster-3proc.toml).

            --join ADDR (or `join = "ADDR"` in the config) with --node-id makes a new node join the \
            running cluster whose member serves HTTP at ADDR instead of bootstrapping one: it starts \
            empty, learns the cluster's ID and members from ADDR, and waits until a member adds it \
            (`raftlab member add-learner`); it then catches up through InstallSnapshot. Its [storage] \
            may name other backends than the rest of the cluster. A node that has data resumes as it was.

            Ctrl-C or SIGTERM shuts down cleanly: in-flight requests are answered, then the stores \
            are flushed and closed.

            Security (see docs/security.md): [tls] turns on mutual TLS between nodes and HTTPS for \
            clients (certificates from `raftlab certs init`; SIGHUP reloads them without a restart), \
            [[auth.tokens]] requires bearer tokens with roles, and [storage] encryption = "aes-256-gcm" \
            encrypts the stores at rest (examples/cluster-3proc-tls.toml).

            Examples:
              raftlab server
              raftlab server --config examples/cluster.toml
              raftlab server --config examples/cluster-3proc.toml --node-id 2
              raftlab server --config node4.toml --node-id 4 --join 127.0.0.1:8100
            """)

    @Option(help: "A TOML cluster config (default: three in-process nodes on 8100-8102, memory backend).")
    var config: String?

    @Option(name: .customLong("node-id"), help: "Run only this node of --config, over TCP to its peers.")
    var nodeID: UInt64?

    @Option(help: "With --node-id: the voters a new cluster starts with, comma-separated ids (default: every node of --config); the other nodes can join later with --join.")
    var voters: String?

    @Option(help: ArgumentHelp("Join the running cluster a member of which serves HTTP here (with --node-id).", valueName: "host:port"))
    var join: String?

    @Flag(help: "Forward writes sent to a follower to the leader instead of redirecting the client.")
    var forwardWrites = false

    @Flag(help: "With --node-id: accept network fault rules at /admin/faults (drop messages to or from peers). For fault-injection tests such as `raftlab chaos`; never needed in normal operation.")
    var allowFaultInjection = false

    @Flag(help: "With --allow-fault-injection and the memory backend: model a disk under the stores, so that POST /admin/power-cut loses exactly what was never synced (state applied since the last checkpoint) and the next start finds the rest.")
    var powerCutModel = false

    @Flag(help: ArgumentHelp(
        "Deliberately broken, for testing the chaos checker: serve consistency=strong reads from local state without ReadIndex.",
        visibility: .hidden))
    var unsafeStrongReadsWithoutReadIndex = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if nodeID != nil, config == nil {
            throw ValidationError("--node-id needs --config: the other nodes' addresses come from it")
        }
        if voters != nil, nodeID == nil {
            throw ValidationError("--voters needs --node-id")
        }
        if let voters, parsedVoters(voters) == nil {
            throw ValidationError("--voters takes comma-separated node ids, e.g. 1,2,3 (got '\(voters)')")
        }
        if join != nil, nodeID == nil {
            throw ValidationError("--join needs --node-id (and --config): one node joins a running cluster")
        }
        if let join, (try? HostPort(parsing: join)) == nil {
            throw ValidationError("--join must be host:port, got \"\(join)\"")
        }
        if allowFaultInjection, nodeID == nil {
            throw ValidationError("--allow-fault-injection needs --node-id: faults are injected into a node's TCP transport")
        }
        if powerCutModel, !allowFaultInjection {
            throw ValidationError("--power-cut-model needs --allow-fault-injection: a power cut is a fault")
        }
    }

    private func parsedVoters(_ text: String) -> Set<UInt64>? {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let ids = parts.compactMap { UInt64($0) }
        return !ids.isEmpty && ids.count == parts.count ? Set(ids) : nil
    }

    func run() async throws {
        bootstrapLogging(level: logLevel)
        let logger = Logger(label: "raftlab.server")
        let cluster: ClusterConfig
        do {
            cluster = try config.map { try ClusterConfig.load(path: $0) } ?? .standard
            try cluster.validate(registry: .standard)
            if let nodeID { _ = try cluster.node(nodeID) }
            if powerCutModel, cluster.storage.log != "memory" || cluster.storage.state != "memory" {
                throw ConfigError.invalid(
                    "--power-cut-model models the disk of the memory backend only; this config uses log \(cluster.storage.log), state \(cluster.storage.state)")
            }
        } catch let error as ConfigError {
            throw exitWithMessage(error.description, code: 64)
        }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let faults = allowFaultInjection ? NetworkFaults() : nil
        var options = HTTPAPIOptions(
            forwardWritesToLeader: forwardWrites, maxBodyBytes: cluster.limits.maxItemBytes + 64 * 1024,
            accessKeys: cluster.auth.accessKeys, networkFaults: faults)
        options.auth = cluster.auth
        options.unsafeStrongReadsWithoutReadIndex = unsafeStrongReadsWithoutReadIndex
        if allowFaultInjection {
            logger.warning("fault injection is enabled: this node drops Raft messages as /admin/faults tells it")
        }
        if unsafeStrongReadsWithoutReadIndex {
            logger.warning("DELIBERATELY BROKEN: strong reads are served locally without ReadIndex; reads may be stale")
        }
        ParentWatch.startIfAsked()
        var backends = BackendRegistry.standard
        if powerCutModel, let nodeID {
            let backend = PowerCutVolatileBackend(
                inner: try backends.backend(named: "memory"),
                imagePath: cluster.storage.storageConfig(forNode: nodeID).dataDirectory + "/power-cut-image")
            backends.register(backend)
            options.powerCut = {
                try backend.saveDurableImage()
                FileHandle.standardError.write(Data("raftlab server: power cut: durable state saved; exiting\n".utf8))
                _exit(137)
            }
        }

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
                var joinTarget: ClusterNode.JoinTarget?
                if let address = try (join ?? cluster.join).map(HostPort.init(parsing:)) {
                    do {
                        joinTarget = try await ClusterHTTP.joinTarget(at: address, logger: logger)
                    } catch {
                        // A node with data resumes without it; a new one learns from the first leader that adds it.
                        logger.warning("could not learn the cluster to join; starting with the config's addresses", metadata: ["error": "\(error)"])
                        joinTarget = ClusterNode.JoinTarget(clusterID: 0, members: [])
                    }
                }
                let node = try ClusterNode(
                    id: nodeID, config: cluster,
                    transport: try ClusterNode.tcpTransport(for: nodeID, config: cluster, tls: tls[nodeID], faults: faults),
                    registry: backends, initialVoters: voters.flatMap(parsedVoters), join: joinTarget,
                    registrar: ClusterHTTP.registrar())
                try await node.start()
                nodes = [node]
                stopNodes = { await node.stop() }
            } else {
                let local = try await LocalCluster(config: cluster, registry: .standard)
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

/// A node process started by another `raftlab` process (a benchmark or a
/// chaos run) exits when that process is gone, even if it died without
/// stopping its children (a crash, SIGKILL): the parent sets
/// `RAFTLAB_PARENT_PID` to its pid, and the node checks once a second that
/// it is still its parent.
enum ParentWatch {
    static let variable = "RAFTLAB_PARENT_PID"

    static func startIfAsked() {
        guard let text = ProcessInfo.processInfo.environment[variable], let parent = Int32(text) else { return }
        Thread.detachNewThread {
            while getppid() == parent { Thread.sleep(forTimeInterval: 1) }
            FileHandle.standardError.write(Data("raftlab server: parent process \(parent) is gone; exiting\n".utf8))
            _exit(70)
        }
    }
}
