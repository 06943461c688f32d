/// The whole of one `raftlab bench` run, exactly the `report.json` schema:
/// everything a reader needs to judge a result (the machine, its floor, every
/// effective option) travels with the results, so a saved run can be compared
/// with a later one without re-running either.
///
/// Times are microseconds, sizes bytes. Keys are the schema's snake_case
/// names, spelled out in `CodingKeys` so renaming a Swift property can never
/// change the file format.
public struct BenchReport: Codable, Sendable, Equatable {
    public var raftlabVersion: String
    /// ISO 8601 UTC, e.g. "2025-06-01T09:30:00Z"; see `BenchReport.timestamp(_:)`.
    public var startedAt: String
    public var machine: MachineInfo
    public var floor: Floor
    /// Every effective option of the run, in the order the runner lists them.
    public var config: ReportConfig
    /// One result per backend, workload and concurrency.
    public var results: [BenchResult]
    /// The most memory the benchmark process held at once (its peak resident
    /// set, in process, every node included); nil where it cannot be read.
    public var peakRSSBytes: UInt64?

    public init(
        raftlabVersion: String, startedAt: String, machine: MachineInfo, floor: Floor,
        config: ReportConfig, results: [BenchResult], peakRSSBytes: UInt64? = nil
    ) {
        self.peakRSSBytes = peakRSSBytes
        self.raftlabVersion = raftlabVersion
        self.startedAt = startedAt
        self.machine = machine
        self.floor = floor
        self.config = config
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case raftlabVersion = "raftlab_version"
        case startedAt = "started_at"
        case machine
        case floor
        case config
        case results
        case peakRSSBytes = "peak_rss_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        raftlabVersion = try c.decode(String.self, forKey: .raftlabVersion)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        machine = try c.decode(MachineInfo.self, forKey: .machine)
        floor = try c.decode(Floor.self, forKey: .floor)
        config = try c.decode(ReportConfig.self, forKey: .config)
        results = try c.decode([BenchResult].self, forKey: .results)
        peakRSSBytes = try c.decodeIfPresent(UInt64.self, forKey: .peakRSSBytes)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(raftlabVersion, forKey: .raftlabVersion)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(machine, forKey: .machine)
        try c.encode(floor, forKey: .floor)
        try c.encode(config, forKey: .config)
        try c.encode(results, forKey: .results)
        try c.encode(peakRSSBytes, forKey: .peakRSSBytes)
    }
}

/// The machine's floor, measured in the same run as the results: the least a
/// durable write (one small append + fdatasync) and a network hop (one
/// loopback round trip) can cost here. Durable latencies are shown as
/// multiples of it, which makes runs on different disks comparable.
public struct Floor: Codable, Sendable, Equatable {
    /// Median of a 128-byte append + fdatasync on the data directories' filesystem.
    public var fdatasyncUs: Double
    /// Median loopback TCP round trip of 100 bytes with TCP_NODELAY.
    public var loopbackRttUs: Double
    /// Median time until the second of three concurrent appenders (one file
    /// each, 128 bytes + fdatasync) finished, on the same filesystem: the
    /// least a write of a 3-node cluster on this one disk waits for its quorum.
    /// Nil in reports written before it was measured.
    public var quorumFdatasyncUs: Double?

    public init(fdatasyncUs: Double, loopbackRttUs: Double, quorumFdatasyncUs: Double? = nil) {
        self.fdatasyncUs = fdatasyncUs
        self.loopbackRttUs = loopbackRttUs
        self.quorumFdatasyncUs = quorumFdatasyncUs
    }

    enum CodingKeys: String, CodingKey {
        case fdatasyncUs = "fdatasync_us"
        case loopbackRttUs = "loopback_rtt_us"
        case quorumFdatasyncUs = "quorum_fdatasync_us"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fdatasyncUs = try c.decode(Double.self, forKey: .fdatasyncUs)
        loopbackRttUs = try c.decode(Double.self, forKey: .loopbackRttUs)
        quorumFdatasyncUs = try c.decodeIfPresent(Double.self, forKey: .quorumFdatasyncUs)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fdatasyncUs, forKey: .fdatasyncUs)
        try c.encode(loopbackRttUs, forKey: .loopbackRttUs)
        try c.encode(quorumFdatasyncUs, forKey: .quorumFdatasyncUs)
    }
}
