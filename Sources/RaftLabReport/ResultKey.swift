/// What identifies a result apart from its concurrency: the backend pair and
/// the settings that change what is being measured. Charts draw one series
/// per `SeriesKey` (one colour per backend) across concurrencies.
public struct SeriesKey: Hashable, Comparable, Sendable {
    public var backend: ReportBackend
    public var sync: Bool
    public var nodes: Int
    public var valueSize: Int

    public init(backend: ReportBackend, sync: Bool, nodes: Int, valueSize: Int) {
        self.backend = backend
        self.sync = sync
        self.nodes = nodes
        self.valueSize = valueSize
    }

    public static func < (a: Self, b: Self) -> Bool {
        // Sync on first: the durable configuration is the one that matters.
        (a.backend.log, a.backend.state, a.backend.protection ?? "", a.sync ? 0 : 1, a.nodes, a.valueSize)
            < (b.backend.log, b.backend.state, b.backend.protection ?? "", b.sync ? 0 : 1, b.nodes, b.valueSize)
    }
}

/// One row of a report: a series at one concurrency. Runs are compared row by
/// row on this key, so a run that changed the value size or node count shows
/// n/a instead of a misleading before/after.
public struct ResultKey: Hashable, Comparable, Sendable {
    public var series: SeriesKey
    public var concurrency: Int

    public init(series: SeriesKey, concurrency: Int) {
        self.series = series
        self.concurrency = concurrency
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.concurrency, a.series) < (b.concurrency, b.series)
    }
}

extension BenchResult {
    public var seriesKey: SeriesKey {
        SeriesKey(backend: backend, sync: sync, nodes: nodes, valueSize: valueSize)
    }

    public var key: ResultKey { ResultKey(series: seriesKey, concurrency: concurrency) }
}

/// Names series as "log/state", adding only the settings that differ between
/// the series shown together ("lmdb/lmdb (sync off)"), so labels stay short
/// in the usual case where one run varies only the backend.
struct SeriesLabeler {
    private let syncVaries: Bool
    private let nodesVary: Bool
    private let valueSizeVaries: Bool

    init(_ keys: some Collection<SeriesKey>) {
        syncVaries = Set(keys.map(\.sync)).count > 1
        nodesVary = Set(keys.map(\.nodes)).count > 1
        valueSizeVaries = Set(keys.map(\.valueSize)).count > 1
    }

    func label(_ key: SeriesKey) -> String {
        var qualifiers: [String] = []
        if syncVaries { qualifiers.append(key.sync ? "sync on" : "sync off") }
        if nodesVary { qualifiers.append("\(key.nodes) nodes") }
        if valueSizeVaries { qualifiers.append("\(key.valueSize) B values") }
        return qualifiers.isEmpty ? key.backend.description
            : "\(key.backend) (\(qualifiers.joined(separator: ", ")))"
    }
}
