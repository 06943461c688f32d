/// What identifies a result apart from its concurrency and workload: the
/// backend pair and the settings that change what is being measured. Charts
/// draw one series per `SeriesKey` (one colour per backend) across concurrencies.
public struct SeriesKey: Hashable, Comparable, Sendable {
    public var backend: ReportBackend
    public var sync: Bool
    public var nodes: Int
    public var valueSize: Int
    /// "checkpoint" or "always"; nil in reports that did not record it.
    public var stateSync: String?

    public init(backend: ReportBackend, sync: Bool, nodes: Int, valueSize: Int, stateSync: String? = nil) {
        self.backend = backend
        self.sync = sync
        self.nodes = nodes
        self.valueSize = valueSize
        self.stateSync = stateSync
    }

    public static func < (a: Self, b: Self) -> Bool {
        // Sync on first: the durable configuration is the one that matters.
        // (Swift compares tuples of up to six elements.)
        if a.backend != b.backend { return a.backend < b.backend }
        return (a.sync ? 0 : 1, a.nodes, a.valueSize, a.stateSync ?? "") < (b.sync ? 0 : 1, b.nodes, b.valueSize, b.stateSync ?? "")
    }
}

/// The load a result was measured under: which operations, which keys, how
/// requests were paced and how reads were served. Results of one scenario
/// form one section of the report.
public struct Scenario: Hashable, Comparable, Sendable {
    public var workload: String
    public var distribution: String
    public var load: String
    public var targetRate: Double?
    public var readConsistency: String?

    public init(workload: String, distribution: String, load: String, targetRate: Double? = nil, readConsistency: String? = nil) {
        self.workload = workload
        self.distribution = distribution
        self.load = load
        self.targetRate = targetRate
        self.readConsistency = readConsistency
    }

    public static func < (a: Self, b: Self) -> Bool {
        // "write" sorts before "a"..."f": the write-only runs come first.
        func rank(_ workload: String) -> String { workload == "write" ? "" : workload }
        return (rank(a.workload), a.distribution, a.load, a.targetRate ?? 0, a.readConsistency ?? "")
            < (rank(b.workload), b.distribution, b.load, b.targetRate ?? 0, b.readConsistency ?? "")
    }

    /// What the workload does, in words.
    public var workloadDescription: String {
        switch workload {
        case "write": "Write-only"
        case "a": "Workload A (50% reads, 50% updates)"
        case "b": "Workload B (95% reads, 5% updates)"
        case "c": "Workload C (reads only)"
        case "d": "Workload D (95% reads of recent items, 5% inserts)"
        case "e": "Workload E (95% short scans, 5% inserts)"
        case "f": "Workload F (50% reads, 50% read-modify-writes)"
        default: "Workload \(workload)"
        }
    }

    /// "Workload A (50% reads, 50% updates), zipfian keys, closed loop, local reads".
    public var title: String {
        var parts = [workloadDescription, "\(distribution) keys"]
        if load == "open", let targetRate {
            parts.append("open loop at \(Format.throughput(targetRate)) requests/s")
        } else {
            parts.append("closed loop")
        }
        if let readConsistency { parts.append("\(readConsistency) reads") }
        return parts.joined(separator: ", ")
    }
}

/// One row of a report: a series in one scenario at one concurrency. Runs
/// are compared row by row on this key, so a run that changed the value size
/// or node count shows n/a instead of a misleading before/after.
public struct ResultKey: Hashable, Comparable, Sendable {
    public var series: SeriesKey
    public var scenario: Scenario
    public var concurrency: Int

    public init(series: SeriesKey, scenario: Scenario, concurrency: Int) {
        self.series = series
        self.scenario = scenario
        self.concurrency = concurrency
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.scenario, a.concurrency, a.series) < (b.scenario, b.concurrency, b.series)
    }
}

extension BenchResult {
    public var seriesKey: SeriesKey {
        SeriesKey(backend: backend, sync: sync, nodes: nodes, valueSize: valueSize, stateSync: stateSync)
    }

    public var scenario: Scenario {
        Scenario(
            workload: workload, distribution: distribution, load: load, targetRate: targetRate,
            readConsistency: readConsistency)
    }

    public var key: ResultKey { ResultKey(series: seriesKey, scenario: scenario, concurrency: concurrency) }
}

/// Names series as "log/state", adding only the settings that differ between
/// the series shown together ("lmdb/lmdb (sync off)", "leveldb/leveldb
/// (state sync always)"), so labels stay short in the usual case where one
/// run varies only the backend.
struct SeriesLabeler {
    private let syncVaries: Bool
    private let nodesVary: Bool
    private let valueSizeVaries: Bool
    private let stateSyncVaries: Bool

    init(_ keys: some Collection<SeriesKey>) {
        syncVaries = Set(keys.map(\.sync)).count > 1
        nodesVary = Set(keys.map(\.nodes)).count > 1
        valueSizeVaries = Set(keys.map(\.valueSize)).count > 1
        stateSyncVaries = Set(keys.map(\.stateSync)).count > 1
    }

    func label(_ key: SeriesKey) -> String {
        var qualifiers: [String] = []
        if syncVaries { qualifiers.append(key.sync ? "sync on" : "sync off") }
        if stateSyncVaries { qualifiers.append("state sync \(key.stateSync ?? "n/a")") }
        if nodesVary { qualifiers.append("\(key.nodes) nodes") }
        if valueSizeVaries { qualifiers.append("\(key.valueSize) B values") }
        return qualifiers.isEmpty ? key.backend.description
            : "\(key.backend) (\(qualifiers.joined(separator: ", ")))"
    }
}
