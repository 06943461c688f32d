import Foundation
import RaftLabAPI
import RaftLabBackends
import RaftLabHarness
import RaftLabNode
import StorageCore

extension BenchOptions {
    /// The state backend a log-only backend (`wal`) is paired with in `all`:
    /// in the default checkpoint mode lmdb keeps applies in memory until a
    /// checkpoint, so the row measures the log backend, not its partner.
    /// (And a state-only backend would be paired with this as its log.)
    public static let partnerForPartialBackends = "lmdb"

    /// Order of `all`: the first-release backends, then the rest by name.
    static let preferredOrder = ["memory", "flatfile", "lmdb", "leveldb", "rocksdb", "sqlite"]

    /// `--backend all`: every backend that provides both stores, as log and
    /// state; then every backend that provides only one kind, paired with
    /// `partnerForPartialBackends` (or, if that is not registered, the first
    /// backend by name that provides the other kind), e.g. `wal/lmdb`.
    public static func all(in registry: BackendRegistry) -> [BackendPair] {
        let logs = registry.names(providing: .log)
        let states = registry.names(providing: .state)
        let both = logs.filter(states.contains)
        let ordered = preferredOrder.filter(both.contains) + both.filter { !preferredOrder.contains($0) }
        func partner(from candidates: [String]) -> String? {
            candidates.contains(partnerForPartialBackends) ? partnerForPartialBackends : candidates.first
        }
        let logOnly = logs.filter { !both.contains($0) }.compactMap { log in
            partner(from: states).map { BackendPair(log: log, state: $0) }
        }
        let stateOnly = states.filter { !both.contains($0) }.compactMap { state in
            partner(from: logs).map { BackendPair(log: $0, state: state) }
        }
        return ordered.map(BackendPair.init) + logOnly + stateOnly
    }

    /// Parses `--backend`: a comma-separated list of names (one backend for
    /// both stores), `log/state` pairs (`wal/rocksdb`) and `all`, in order,
    /// without repeats: `all,wal/rocksdb` is the standard comparison plus one pair.
    public static func backends(parsing text: String, registry: BackendRegistry) throws -> [BackendPair] {
        let trimmed = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !trimmed.isEmpty else { throw BenchError.invalidOption("--backend is empty") }
        var pairs: [BackendPair] = []
        for item in trimmed {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let expanded: [BackendPair]
            switch (item, parts.count) {
            case ("all", _): expanded = all(in: registry)
            case (_, 1): expanded = [BackendPair(item)]
            case (_, 2) where !parts[0].isEmpty && !parts[1].isEmpty: expanded = [BackendPair(log: parts[0], state: parts[1])]
            default: throw BenchError.invalidOption("--backend: '\(item)' is neither a backend name nor a log/state pair")
            }
            for pair in expanded where !pairs.contains(pair) { pairs.append(pair) }
        }
        return pairs
    }

    /// Parses a comma-separated list of client counts such as `1,64`.
    public static func concurrency(parsing text: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw BenchError.invalidOption("--concurrency takes a comma-separated list of integers, e.g. 1,64 (got '\(text)')")
        }
        return values
    }

    /// Parses `--workload`: YCSB letters and "write", comma-separated (`write,a,c`), or `all`.
    public static func workloads(parsing text: String) throws -> [BenchWorkload] {
        let parts = list(text)
        if parts == ["all"] { return BenchWorkload.allCases }
        let parsed = parts.compactMap { BenchWorkload(rawValue: $0.lowercased()) }
        guard !parts.isEmpty, parsed.count == parts.count else {
            throw BenchError.invalidOption("--workload takes write, a, b, c, d, e, f (comma-separated) or all (got '\(text)')")
        }
        return parsed
    }

    public static func distribution(parsing text: String) throws -> KeyDistribution {
        guard let distribution = KeyDistribution(rawValue: text.lowercased()) else {
            throw BenchError.invalidOption("--distribution must be uniform, zipfian, latest or sequential (got '\(text)')")
        }
        return distribution
    }

    /// Parses `--state-sync`: `checkpoint`, `always`, or both comma-separated.
    public static func stateSync(parsing text: String) throws -> [StateSyncMode] {
        let parts = list(text)
        let parsed = parts.compactMap(StateSyncMode.init(rawValue:))
        guard !parts.isEmpty, parsed.count == parts.count, Set(parsed).count == parsed.count else {
            throw BenchError.invalidOption("--state-sync takes checkpoint, always, or checkpoint,always (got '\(text)')")
        }
        return parsed
    }

    public static func readConsistency(parsing text: String) throws -> ReadConsistency {
        guard let consistency = ReadConsistency(rawValue: text.lowercased()) else {
            throw BenchError.invalidOption("--read-consistency must be local or strong (got '\(text)')")
        }
        return consistency
    }

    /// Parses `--recovery-entries`: a count for every backend, and optionally
    /// counts for some: `5000,leveldb=1000000` (a pair as `lmdb/leveldb=...`).
    public static func recoveryEntries(parsing text: String) throws -> (default: Int?, byBackend: [String: Int]) {
        var fallback: Int?
        var byBackend: [String: Int] = [:]
        let usage = "--recovery-entries takes a count and/or BACKEND=COUNT items, e.g. 5000 or 5000,leveldb=1000000 (got '\(text)')"
        for part in list(text) {
            let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pieces.count == 2, let count = Int(pieces[1].replacingOccurrences(of: "_", with: "")), !pieces[0].isEmpty {
                byBackend[pieces[0]] = count
            } else if pieces.count == 1, let count = Int(pieces[0].replacingOccurrences(of: "_", with: "")), fallback == nil {
                fallback = count
            } else {
                throw BenchError.invalidOption(usage)
            }
        }
        guard fallback != nil || !byBackend.isEmpty else { throw BenchError.invalidOption(usage) }
        return (fallback, byBackend)
    }

    private static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Applies a config file: its storage section picks the backend pair and
    /// sync, its engine and limits sections tune the cluster, and its `[bench]`
    /// table sets any option by its flag name (`ops = 5000`, `concurrency = [1, 64]`).
    public mutating func apply(config: ClusterConfig) throws {
        cluster = config
        backends = [BackendPair(log: config.storage.log, state: config.storage.state)]
        sync = config.storage.sync
        stateSync = [config.storage.stateSync]
        nodes = config.nodes.count
        for (key, value) in config.bench.sorted(by: { $0.key < $1.key }) {
            try set(key, value)
        }
    }

    private mutating func set(_ key: String, _ value: ConfigValue) throws {
        func int() throws -> Int {
            guard case .int(let i) = value else { throw BenchError.invalidOption("[bench] \(key) must be an integer") }
            return i
        }
        func double() throws -> Double {
            switch value {
            case .int(let i): return Double(i)
            case .double(let d): return d
            default: throw BenchError.invalidOption("[bench] \(key) must be a number")
            }
        }
        func string() throws -> String {
            guard case .string(let s) = value else { throw BenchError.invalidOption("[bench] \(key) must be a string") }
            return s
        }
        switch key {
        case "backend":
            backends = try Self.backends(parsing: try string(), registry: .standard)
        case "nodes": nodes = try int()
        case "ops": ops = try int()
        case "duration": duration = try double()
        case "concurrency":
            switch value {
            case .int(let i): concurrency = [i]
            case .list(let items):
                concurrency = try items.map {
                    guard case .int(let i) = $0 else { throw BenchError.invalidOption("[bench] concurrency must list integers") }
                    return i
                }
            case .string(let s): concurrency = try Self.concurrency(parsing: s)
            default: throw BenchError.invalidOption("[bench] concurrency must be a list of integers")
            }
        case "value_size", "value-size": valueSize = try int()
        case "max_duration", "max-duration": maxDuration = try double()
        case "workload", "workloads":
            workloadsNamed = true
            switch value {
            case .string(let text): workloads = try Self.workloads(parsing: text)
            case .list(let items):
                workloads = try items.flatMap { item -> [BenchWorkload] in
                    guard case .string(let text) = item else { throw BenchError.invalidOption("[bench] workload must list names") }
                    return try Self.workloads(parsing: text)
                }
            default: throw BenchError.invalidOption("[bench] workload must be a name or a list of names")
            }
        case "distribution", "keys": distribution = try Self.distribution(parsing: try string())
        case "records": records = try int()
        case "rate": rate = try double()
        case "read_consistency", "read-consistency": readConsistency = try Self.readConsistency(parsing: try string())
        case "state_sync", "state-sync":
            switch value {
            case .string(let text): stateSync = try Self.stateSync(parsing: text)
            case .list(let items):
                stateSync = try Self.stateSync(parsing: items.map { item -> String in
                    guard case .string(let text) = item else { throw BenchError.invalidOption("[bench] state_sync must list modes") }
                    return text
                }.joined(separator: ","))
            default: throw BenchError.invalidOption("[bench] state_sync must be checkpoint, always or a list of both")
            }
        case "read_ratio", "read-ratio": readRatio = try double()
        case "sync":
            guard case .bool(let b) = value else { throw BenchError.invalidOption("[bench] sync must be true or false") }
            sync = b
        case "warmup": warmup = try double()
        case "repetitions": repetitions = try int()
        case "seed": seed = UInt64(try int())
        case "recovery_entries", "recovery-entries":
            switch value {
            case .int(let count): recoveryEntries = count
            case .string(let text):
                let parsed = try Self.recoveryEntries(parsing: text)
                if let count = parsed.default { recoveryEntries = count }
                recoveryEntriesByBackend = parsed.byBackend
            default: throw BenchError.invalidOption("[bench] recovery_entries must be a count or a string like \"5000,leveldb=1000000\"")
            }
        case "migrate_to", "migrate-to": migrateTo = try BenchOptions.migrationTarget(parsing: try string())
        case "transport":
            guard let transport = BenchTransport(rawValue: try string()) else {
                throw BenchError.invalidOption("[bench] transport must be inprocess or tcp")
            }
            self.transport = transport
        case "tls":
            guard case .bool(let b) = value else { throw BenchError.invalidOption("[bench] tls must be true or false") }
            tls = b
        case "encryption":
            guard case .bool(let b) = value else { throw BenchError.invalidOption("[bench] encryption must be true or false") }
            encryption = b
        case "out": outputDirectory = try string()
        case "label": label = try string()
        default:
            throw BenchError.invalidOption("[bench] has no option '\(key)'")
        }
    }
}

import Foundation
