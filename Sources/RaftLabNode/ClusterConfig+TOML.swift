import RaftLabAPI
import TOMLKit

#if canImport(Glibc)
import Glibc
#endif
import StorageCore

extension ClusterConfig {
    /// Reads a TOML config file:
    ///
    ///     cluster_name = "raftlab"  # optional; with the members, names the cluster
    ///     join = "127.0.0.1:8100"   # optional: a member's HTTP address; a new node joins that running cluster
    ///     [storage]
    ///     log = "lmdb"          # memory | flatfile | lmdb | leveldb | rocksdb | sqlite | wal
    ///     state = "lmdb"
    ///     sync = true
    ///     state_sync = "checkpoint"  # or "always": sync the state store on every apply
    ///     data_dir = "data"     # relative paths are relative to the working directory
    ///     encryption = "aes-256-gcm"        # optional, with:
    ///     encryption_key_file = "storage.key"
    ///     [storage.lmdb]        # optional backend settings
    ///     map_size = 1073741824
    ///     [engine]              # optional: tick_ms, election_ticks, heartbeat_ticks,
    ///                           # snapshot_entries, snapshot_keep_entries, max_batch, max_inflight
    ///     [limits]              # optional: max_item_bytes, idempotency_window_seconds
    ///     [[auth.access_keys]]  # optional: DynamoDB API requests must be SigV4-signed with one
    ///     access_key_id = "AKIA..."
    ///     secret_access_key = "..."
    ///     [[nodes]]
    ///     id = 1
    ///     raft_addr = "127.0.0.1:9100"
    ///     http_addr = "127.0.0.1:8100"
    ///     [bench]               # optional: read by `raftlab bench --config`
    ///     [tls]                 # optional: ca_file, cert_file, key_file ({id} = node id), https
    ///     [auth]                # optional: open_status_and_metrics, [[auth.tokens]] token + role
    public static func load(path: String) throws -> ClusterConfig {
        let bytes: Bytes?
        do { bytes = try FileSystem.readFile(path) } catch let error as StorageError {
            throw ConfigError.unreadable(path: path, reason: error.description)
        }
        guard let bytes else { throw ConfigError.unreadable(path: path, reason: "no such file") }
        return try parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String = "<config>") throws -> ClusterConfig {
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigError.syntax(path: path, line: error.source.begin.line, column: error.source.begin.column, reason: error.description)
        }
        var reader = TableReader(root, path: "")
        var config = ClusterConfig(nodes: [])
        if let name = try reader.string("cluster_name") {
            guard !name.isEmpty else { throw ConfigError.invalid("cluster_name must not be empty") }
            config.clusterName = name
        }
        if let join = try reader.string("join") {
            _ = try HostPort(parsing: join)
            config.join = join
        }

        if var storage = try reader.table("storage") {
            config.storage.log = try storage.string("log") ?? config.storage.log
            config.storage.state = try storage.string("state") ?? config.storage.state
            config.storage.sync = try storage.bool("sync") ?? config.storage.sync
            if let mode = try storage.string("state_sync") {
                guard let parsed = StateSyncMode(rawValue: mode) else {
                    throw ConfigError.invalid(
                        "storage.state_sync must be \(StateSyncMode.allCases.map { "'\($0)'" }.joined(separator: " or ")), got '\(mode)'")
                }
                config.storage.stateSync = parsed
            }
            config.storage.dataDirectory = try storage.string("data_dir") ?? config.storage.dataDirectory
            let encryption = try storage.string("encryption")
            let keyFile = try storage.string("encryption_key_file")
            switch (encryption, keyFile) {
            case (nil, nil), ("none", nil): break
            case let (algorithm?, keyFile?) where algorithm != "none":
                config.storage.encryption = Encryption(algorithm: algorithm, keyFile: keyFile)
            case (_, nil): throw ConfigError.invalid("storage.encryption needs storage.encryption_key_file (32 bytes; `raftlab certs init` writes one)")
            case (_, _?): throw ConfigError.invalid("storage.encryption_key_file is set but storage.encryption is not (\"aes-256-gcm\")")
            }
            for name in storage.remainingKeys {
                guard var settings = try storage.table(name) else { continue }
                config.storage.settings[name] = try settings.scalars().mapValues(\.description)
            }
            try storage.finish()
        }
        if var engine = try reader.table("engine") {
            config.engine.tickMilliseconds = try engine.int("tick_ms") ?? config.engine.tickMilliseconds
            config.engine.electionTicks = try engine.int("election_ticks") ?? config.engine.electionTicks
            config.engine.heartbeatTicks = try engine.int("heartbeat_ticks") ?? config.engine.heartbeatTicks
            config.engine.snapshotEntries = try engine.int("snapshot_entries") ?? config.engine.snapshotEntries
            config.engine.snapshotKeepEntries = try engine.int("snapshot_keep_entries") ?? config.engine.snapshotKeepEntries
            config.engine.maxBatch = try engine.int("max_batch") ?? config.engine.maxBatch
            config.engine.maxInflight = try engine.int("max_inflight") ?? config.engine.maxInflight
            try engine.finish()
        }
        if var limits = try reader.table("limits") {
            config.limits.maxItemBytes = try limits.int("max_item_bytes") ?? config.limits.maxItemBytes
            config.limits.idempotencyWindowSeconds =
                try limits.int("idempotency_window_seconds") ?? config.limits.idempotencyWindowSeconds
            try limits.finish()
        }
        if var auth = try reader.table("auth") {
            for var key in try auth.tableArray("access_keys") {
                guard let id = try key.string("access_key_id"), let secret = try key.string("secret_access_key") else {
                    throw ConfigError.invalid("\(key.path) needs access_key_id and secret_access_key")
                }
                config.auth.accessKeys.append(Auth.AccessKey(accessKeyID: id, secretAccessKey: secret))
                try key.finish()
            }
            for var entry in try auth.tableArray("tokens") {
                guard let token = try entry.string("token"), let role = try entry.string("role") else {
                    throw ConfigError.invalid("\(entry.path) needs token and role")
                }
                guard let parsed = Role(rawValue: role) else {
                    throw ConfigError.invalid("\(entry.path).role must be read, write or admin, got '\(role)'")
                }
                config.auth.tokens.append(Token(token: token, role: parsed))
                try entry.finish()
            }
            config.auth.openStatusAndMetrics = try auth.bool("open_status_and_metrics") ?? false
            try auth.finish()
        }
        for var node in try reader.tableArray("nodes") {
            guard let id = try node.int("id"), id > 0 else { throw ConfigError.invalid("\(node.path) needs an id >= 1") }
            guard let raft = try node.string("raft_addr"), let http = try node.string("http_addr") else {
                throw ConfigError.invalid("\(node.path) needs raft_addr and http_addr")
            }
            config.nodes.append(Node(id: UInt64(id), raftAddress: try HostPort(parsing: raft), httpAddress: try HostPort(parsing: http)))
            try node.finish()
        }
        if var bench = try reader.table("bench") {
            config.bench = try bench.scalars()
        }
        if var tls = try reader.table("tls") {
            guard let ca = try tls.string("ca_file"), let cert = try tls.string("cert_file"), let key = try tls.string("key_file") else {
                throw ConfigError.invalid("[tls] needs ca_file, cert_file and key_file (`{id}` in a path stands for the node id)")
            }
            config.tls = TLS(caFile: ca, certificateFile: cert, keyFile: key, https: try tls.bool("https") ?? true)
            try tls.finish()
        }
        try reader.finish()
        return config
    }
}

/// Reads keys out of a TOML table and remembers which were read, so `finish()`
/// can reject the ones nobody asked for.
private struct TableReader {
    let table: TOMLTable
    let path: String
    private var seen: Set<String> = []

    init(_ table: TOMLTable, path: String) {
        self.table = table
        self.path = path
    }

    var remainingKeys: [String] { table.keys.filter { !seen.contains($0) }.sorted() }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func value(_ key: String) -> TOMLValueConvertible? {
        seen.insert(key)
        return table[key]
    }

    private func wrongType(_ key: String, _ expected: String) -> ConfigError {
        .invalid("\(name(key)) must be \(expected)")
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw wrongType(key, "a string") }
        return string
    }

    mutating func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let int = value.int else { throw wrongType(key, "an integer") }
        return int
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw wrongType(key, "true or false") }
        return bool
    }

    mutating func table(_ key: String) throws -> TableReader? {
        guard let value = value(key) else { return nil }
        guard let table = value.table else { throw wrongType(key, "a table [\(name(key))]") }
        return TableReader(table, path: name(key))
    }

    mutating func tableArray(_ key: String) throws -> [TableReader] {
        guard let value = value(key) else { return [] }
        guard let array = value.array else { throw wrongType(key, "an array of tables [[\(name(key))]]") }
        var readers: [TableReader] = []
        for (i, element) in array.enumerated() {
            guard let table = element.table else { throw wrongType(key, "an array of tables [[\(name(key))]]") }
            readers.append(TableReader(table, path: "\(name(key))[\(i)]"))
        }
        return readers
    }

    /// Every remaining key as a scalar (or list of scalars).
    mutating func scalars() throws -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for key in remainingKeys {
            guard let value = value(key) else { continue }
            result[key] = try scalar(value, key)
        }
        return result
    }

    private func scalar(_ value: TOMLValueConvertible, _ key: String) throws -> ConfigValue {
        if let b = value.bool { return .bool(b) }
        if let i = value.int { return .int(i) }
        if let d = value.double { return .double(d) }
        if let s = value.string { return .string(s) }
        if let array = value.array { return .list(try array.map { try scalar($0, key) }) }
        throw wrongType(key, "a string, number, boolean or list")
    }

    func finish() throws {
        let unknown = remainingKeys
        guard unknown.isEmpty else {
            throw ConfigError.invalid("unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { name($0) }.joined(separator: ", "))")
        }
    }
}
