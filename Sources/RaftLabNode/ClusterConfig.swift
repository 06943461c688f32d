import RaftLabAPI
import StorageCore

/// A cluster as a config file describes it: which storage engines each node
/// uses, how the engine is tuned, and where each node listens.
///
/// Loaded from TOML (`ClusterConfig.load(path:)`); every key is checked, so a
/// typo is an error naming the key rather than a silently ignored setting.
public struct ClusterConfig: Sendable, Hashable {
    public struct Storage: Sendable, Hashable {
        /// Backend name of the Raft log store (`memory`, `flatfile`, `lmdb`, `leveldb`).
        public var log: String = "memory"
        /// Backend name of the state store.
        public var state: String = "memory"
        /// fsync before acknowledging (see each backend's doc for where it syncs).
        /// Off is not safe for Raft: on power loss a node may forget a vote it
        /// gave or an entry it acknowledged, and a committed write can be lost.
        public var sync: Bool = true
        /// When the state store syncs: at checkpoints before log compaction
        /// (the log is the durability point), or on every apply.
        public var stateSync: StateSyncMode = .checkpoint
        /// Each node's stores live in `<dataDirectory>/node-<id>/{log,state}`.
        public var dataDirectory: String = "data"
        /// Per-backend settings, e.g. `[storage.lmdb] map_size = 1073741824`.
        public var settings: [String: [String: String]] = [:]
        /// Encryption at rest of both stores, whatever their backends (nil: none).
        public var encryption: Encryption?

        public init() {}

        public func storageConfig(forNode id: UInt64) -> StorageConfig {
            StorageConfig(
                logBackend: log, stateBackend: state,
                dataDirectory: dataDirectory + "/node-\(id)", sync: sync, stateSync: stateSync, settings: settings)
        }
    }

    public struct Engine: Sendable, Hashable {
        /// Length of one Raft tick.
        public var tickMilliseconds: Int = 10
        /// Election timeout, randomized in [electionTicks, 2 × electionTicks).
        public var electionTicks: Int = 10
        public var heartbeatTicks: Int = 1
        /// Take a snapshot and compact the log after this many applied entries.
        public var snapshotEntries: Int = 10_000
        /// Entries kept in the log behind a snapshot, so a follower a little
        /// behind catches up from the log rather than a whole snapshot.
        public var snapshotKeepEntries: Int = 1_000
        /// Most proposals batched into one append (one sync).
        public var maxBatch: Int = 512
        /// AppendEntries messages in flight per follower.
        public var maxInflight: Int = 256

        public init() {}
    }

    public struct Limits: Sendable, Hashable {
        /// Largest item accepted, in bytes (DynamoDB's limit by default).
        public var maxItemBytes: Int = 400 * 1024
        /// How long an idempotency key is remembered, in seconds of the log's
        /// clock (see `WriteSessions`). It decides results, so every node of
        /// a cluster must use the same value.
        public var idempotencyWindowSeconds: Int = 600
        /// The largest `maxItemBytes` a config may set: an item and its
        /// previous version, as stored, must fit `StateStoreLimits.cluster`.
        public static let maxItemBytesCeiling = 4 << 20
        public init() {}
    }

    /// Client authentication. `[auth]` is one table for every kind of
    /// credential: `[[auth.access_keys]]` entries for AWS Signature Version 4
    /// on the DynamoDB API, `[[auth.tokens]]` bearer tokens with roles for
    /// every request (see ClusterConfig+Security.swift).
    public struct Auth: Sendable, Hashable {
        /// An AWS-style access key: `access_key_id` is public, the secret never leaves the config.
        public struct AccessKey: Sendable, Hashable {
            public var accessKeyID: String
            public var secretAccessKey: String

            public init(accessKeyID: String, secretAccessKey: String) {
                self.accessKeyID = accessKeyID
                self.secretAccessKey = secretAccessKey
            }
        }

        /// The keys DynamoDB API requests must be signed with. Empty (no
        /// `[auth]`, or no `[[auth.access_keys]]`): any credentials, or
        /// none, are accepted.
        public var accessKeys: [AccessKey] = []
        /// Bearer tokens and their roles; with none, the API needs no token.
        public var tokens: [Token] = []
        /// Leave `GET /status` and `GET /metrics` open without a token (for
        /// monitoring); off by default.
        public var openStatusAndMetrics = false

        public init(accessKeys: [AccessKey] = []) {
            self.accessKeys = accessKeys
        }

        /// True when requests need a bearer token.
        public var isEnabled: Bool { !tokens.isEmpty }
    }

    public struct Node: Sendable, Hashable {
        public var id: UInt64
        public var raftAddress: HostPort
        public var httpAddress: HostPort

        public init(id: UInt64, raftAddress: HostPort, httpAddress: HostPort) {
            self.id = id
            self.raftAddress = raftAddress
            self.httpAddress = httpAddress
        }
    }

    public var storage = Storage()
    public var engine = Engine()
    public var limits = Limits()
    public var auth = Auth()
    public var nodes: [Node]
    /// Names the cluster (top-level `cluster_name`); with the member list it
    /// determines the cluster ID a new cluster is bootstrapped with.
    public var clusterName = "raftlab"
    /// A member's HTTP address (top-level `join`): a node started with no
    /// data joins the cluster running there instead of bootstrapping one
    /// (`raftlab server --join` says the same).
    public var join: String?
    /// The raw `[bench]` table, interpreted by the benchmark runner.
    public var bench: [String: ConfigValue] = [:]
    /// Mutual TLS between nodes and HTTPS for clients (nil: plaintext).
    public var tls: TLS?

    public init(nodes: [Node]) {
        self.nodes = nodes
    }

    /// The original simulator's cluster: three nodes in one process, HTTP on
    /// localhost:8100-8102, the memory backend.
    public static let standard = ClusterConfig(nodes: (1...3).map { id in
        Node(
            id: UInt64(id),
            raftAddress: HostPort(host: "127.0.0.1", port: 9099 + id),
            httpAddress: HostPort(host: "127.0.0.1", port: 8099 + id))
    })

    /// The ID a new cluster of these nodes is bootstrapped with: a hash of
    /// the cluster name and every node's id and Raft address, as etcd derives
    /// its cluster ID from the initial members. Nodes given different member
    /// lists get different IDs, so they refuse each other's messages instead
    /// of counting different quorums.
    public var bootstrapClusterID: UInt64 {
        var text = clusterName
        for node in nodes.sorted(by: { $0.id < $1.id }) { text += "\n\(node.id)@\(node.raftAddress)" }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return hash == 0 ? 1 : hash
    }

    public func node(_ id: UInt64) throws -> Node {
        guard let node = nodes.first(where: { $0.id == id }) else {
            throw ConfigError.invalid(
                "node id \(id) is not in the config; it lists \(nodes.map { String($0.id) }.joined(separator: ", "))")
        }
        return node
    }

    /// Checks what a parser cannot: backend names, unique ids and addresses, sane numbers.
    public func validate(registry: BackendRegistry) throws {
        for (key, name, kind) in [("log", storage.log, StoreKind.log), ("state", storage.state, .state)] {
            do { _ = try registry.backend(named: name, providing: kind) } catch let error as StorageError {
                throw ConfigError.invalid("[storage] \(key): \(error.description)")
            }
        }
        guard !nodes.isEmpty else { throw ConfigError.invalid("the config lists no [[nodes]]") }
        if nodes.contains(where: { $0.id == 0 }) { throw ConfigError.invalid("node ids start at 1; 0 means 'none' in Raft") }
        if Set(nodes.map(\.id)).count != nodes.count { throw ConfigError.invalid("node ids must be unique") }
        let addresses = nodes.flatMap { [$0.raftAddress, $0.httpAddress] }
        if Set(addresses).count != addresses.count { throw ConfigError.invalid("every raft_addr and http_addr must be different") }
        guard engine.tickMilliseconds > 0, engine.heartbeatTicks > 0, engine.electionTicks > engine.heartbeatTicks else {
            throw ConfigError.invalid("[engine] needs tick_ms > 0 and election_ticks > heartbeat_ticks > 0")
        }
        let keyIDs = auth.accessKeys.map(\.accessKeyID)
        if keyIDs.contains(where: \.isEmpty) || auth.accessKeys.contains(where: \.secretAccessKey.isEmpty) {
            throw ConfigError.invalid("[[auth.access_keys]] need a non-empty access_key_id and secret_access_key")
        }
        if Set(keyIDs).count != keyIDs.count { throw ConfigError.invalid("every [[auth.access_keys]] access_key_id must be different") }
        guard engine.snapshotEntries > 0, engine.snapshotKeepEntries >= 0, engine.maxBatch > 0, engine.maxInflight > 0, limits.maxItemBytes > 0 else {
            throw ConfigError.invalid("snapshot_entries, max_batch, max_inflight and max_item_bytes must be positive, snapshot_keep_entries not negative")
        }
        guard limits.maxItemBytes <= Limits.maxItemBytesCeiling else {
            throw ConfigError.invalid(
                "[limits] max_item_bytes is \(limits.maxItemBytes); at most \(Limits.maxItemBytesCeiling) (an item and its previous version must fit what every engine holds)")
        }
        guard limits.idempotencyWindowSeconds >= 120 else {
            throw ConfigError.invalid("[limits] idempotency_window_seconds must be at least 120 (twice the 60 s of clock skew it allows for)")
        }
        try validateSecurity()
    }
}

extension HostPort {
    /// Parses `host:port` (the port 1-65535); a malformed address is a config error.
    public init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port), colon != text.startIndex
        else { throw ConfigError.invalid("'\(text)' is not an address of the form host:port") }
        self.init(host: String(text[..<colon]), port: port)
    }
}

/// A scalar from a config table.
public enum ConfigValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([ConfigValue])

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .list(let l): l.map(\.description).joined(separator: ",")
        }
    }
}

public enum ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case syntax(path: String, line: Int, column: Int, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read config \(path): \(reason)"
        case let .syntax(path, line, column, reason): "\(path):\(line):\(column): \(reason)"
        case let .invalid(reason): "invalid config: \(reason)"
        }
    }
}
