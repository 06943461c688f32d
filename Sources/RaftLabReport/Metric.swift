/// One column of the result tables: how to read it from a result, how to
/// print it, and which direction is better. The Markdown report and the run
/// comparison share these lists, so both always show the same metrics the same way.
struct Metric: Sendable {
    let header: String
    let direction: BestValue.Direction
    let value: @Sendable (BenchResult, Floor) -> Double?
    let format: @Sendable (Double?) -> String

    func text(_ result: BenchResult, _ floor: Floor) -> String { format(value(result, floor)) }

    static let throughput = Metric(header: "ops/s", direction: .higher, value: { r, _ in r.throughputOpsS },
                                   format: Format.throughput)
    static let p50 = latency("p50 µs") { $0.writeLatencyUs?.p50 }
    static let p90 = latency("p90 µs") { $0.writeLatencyUs?.p90 }
    static let p99 = latency("p99 µs") { $0.writeLatencyUs?.p99 }
    static let p999 = latency("p99.9 µs") { $0.writeLatencyUs?.p999 }
    static let max = latency("max µs") { $0.writeLatencyUs?.max }
    static let readP50 = latency("read p50 µs") { $0.readLatencyUs?.p50 }
    static let readP99 = latency("read p99 µs") { $0.readLatencyUs?.p99 }
    static let readMax = latency("read max µs") { $0.readLatencyUs?.max }
    static let scanP50 = latency("scan p50 µs") { $0.scanLatencyUs?.p50 }
    static let scanP99 = latency("scan p99 µs") { $0.scanLatencyUs?.p99 }
    static let scanMax = latency("scan max µs") { $0.scanLatencyUs?.max }
    /// The durable write latency in units of the machine's floors: comparable
    /// across machines where raw microseconds are not. One fdatasync is what a
    /// single node pays; the quorum floor is what three nodes on one disk pay.
    static let p50Floor = floorMultiple("p50 × fdatasync", floor: \.fdatasyncUs) { $0.writeLatencyUs?.p50 }
    static let p99Floor = floorMultiple("p99 × fdatasync", floor: \.fdatasyncUs) { $0.writeLatencyUs?.p99 }
    static let p50Quorum = floorMultiple("p50 × quorum", floor: \.quorumFdatasyncUs) { $0.writeLatencyUs?.p50 }
    static let p99Quorum = floorMultiple("p99 × quorum", floor: \.quorumFdatasyncUs) { $0.writeLatencyUs?.p99 }
    static let errors = count("errors") { $0.errors }
    static let timeouts = count("timeouts") { $0.timeouts }
    static let lagP50 = latency("lag p50 µs") { $0.replicationLagUs.p50 }
    static let lagP99 = latency("lag p99 µs") { $0.replicationLagUs.p99 }
    static let lagMax = latency("lag max µs") { $0.replicationLagUs.max }
    static let restart = recovery("restart") { $0.recovery.restartUs }
    static let catchUp = recovery("catch-up") { $0.recovery.catchUpUs }
    static let snapshotInstall = recovery("snapshot install") { $0.recovery.snapshotInstallUs }
    static let failover = recovery("failover") { $0.recovery.failoverUs }
    static let disk = Metric(header: "disk", direction: .lower, value: { r, _ in r.diskBytes.map { Double($0) } },
                             format: { $0.map { Format.bytes(UInt64($0)) } ?? Format.missing })
    static let writeAmplification = Metric(header: "write amp", direction: .lower,
                                           value: { r, _ in r.writeAmplification }, format: Format.ratio)
    static let syncsPerWrite = Metric(header: "syncs/write", direction: .lower,
                                      value: { r, _ in r.syncsPerWrite }, format: Format.ratio)
    static let syncsPerWriteReported = Metric(header: "stores' syncs/write", direction: .lower,
                                              value: { r, _ in r.syncsPerWriteReported }, format: Format.ratio)
    static let compactions = Metric(header: "log compactions", direction: .none,
                                    value: { r, _ in r.logCompactions.map(Double.init) },
                                    format: { $0.map { String(Int($0)) } ?? Format.missing })

    /// Every column a result can have, in order: what `raftlab report` compares.
    static let all: [Metric] = [
        throughput, p50, p90, p99, p999, max, readP50, readP99, readMax, scanP50, scanP99, scanMax,
        p50Floor, p99Floor, p50Quorum, p99Quorum, errors, timeouts, lagP50, lagP99, lagMax,
        restart, catchUp, snapshotInstall, failover, disk, writeAmplification, syncsPerWrite, syncsPerWriteReported,
    ]

    /// The first table of a scenario: what clients saw. Read and scan
    /// columns appear only when some result has them.
    static func clientColumns(for results: [BenchResult]) -> [Metric] {
        var columns = [throughput]
        let writes = results.contains { $0.writeLatencyUs != nil }
        if writes { columns += [p50, p90, p99, p999, max] }
        if results.contains(where: { $0.readLatencyUs != nil }) { columns += [readP50, readP99, readMax] }
        if results.contains(where: { $0.scanLatencyUs != nil }) { columns += [scanP50, scanP99, scanMax] }
        if writes { columns += [p50Floor, p50Quorum, p99Quorum] }
        return columns + [errors, timeouts]
    }

    /// The second table: what replication and the disks did.
    static func systemColumns(for results: [BenchResult]) -> [Metric] {
        var columns: [Metric] = []
        if results.contains(where: { $0.writeLatencyUs != nil }) {
            columns += [lagP50, lagP99, lagMax, syncsPerWrite, syncsPerWriteReported]
        }
        return columns + [disk, writeAmplification, compactions]
    }

    private static func latency(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Double?) -> Metric {
        Metric(header: header, direction: .lower, value: { r, _ in read(r) }, format: Format.micros)
    }

    private static func count(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Int) -> Metric {
        Metric(header: header, direction: .lower, value: { r, _ in Double(read(r)) },
               format: { $0.map { String(Int($0)) } ?? Format.missing })
    }

    private static func floorMultiple(
        _ header: String, floor: KeyPath<Floor, Double?> & Sendable, _ read: @escaping @Sendable (BenchResult) -> Double?
    ) -> Metric {
        Metric(header: header, direction: .lower, value: { r, measured in
            guard let base = measured[keyPath: floor], base > 0, let value = read(r) else { return nil }
            return value / base
        }, format: Format.multiple)
    }

    private static func floorMultiple(
        _ header: String, floor: KeyPath<Floor, Double> & Sendable, _ read: @escaping @Sendable (BenchResult) -> Double?
    ) -> Metric {
        Metric(header: header, direction: .lower, value: { r, measured in
            let base = measured[keyPath: floor]
            guard base > 0, let value = read(r) else { return nil }
            return value / base
        }, format: Format.multiple)
    }

    private static func recovery(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Double?) -> Metric {
        Metric(header: header, direction: .lower, value: { r, _ in read(r) }, format: { Format.duration(us: $0) })
    }
}
