/// One column of the result tables: how to read it from a result, how to
/// print it, and which direction is better. The Markdown report and the run
/// comparison share this list, so both always show the same metrics the same way.
struct Metric: Sendable {
    let header: String
    let direction: BestValue.Direction
    let value: @Sendable (BenchResult, Floor) -> Double?
    let format: @Sendable (Double?) -> String

    func text(_ result: BenchResult, _ floor: Floor) -> String { format(value(result, floor)) }

    static let throughput = Metric(header: "ops/s", direction: .higher, value: { r, _ in r.throughputOpsS },
                                   format: Format.throughput)
    static let p50 = latency("p50 µs") { $0.writeLatencyUs.p50 }
    static let p90 = latency("p90 µs") { $0.writeLatencyUs.p90 }
    static let p99 = latency("p99 µs") { $0.writeLatencyUs.p99 }
    static let p999 = latency("p99.9 µs") { $0.writeLatencyUs.p999 }
    static let max = latency("max µs") { $0.writeLatencyUs.max }
    /// The durable write latency in units of the machine's fdatasync floor:
    /// comparable across machines where raw microseconds are not.
    static let p50Floor = floorMultiple("p50 × fdatasync") { $0.writeLatencyUs.p50 }
    static let p99Floor = floorMultiple("p99 × fdatasync") { $0.writeLatencyUs.p99 }
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

    /// Every column of a report table, in order.
    static let all: [Metric] = [
        throughput, p50, p90, p99, p999, max, p50Floor, p99Floor, lagP50, lagP99, lagMax,
        restart, catchUp, snapshotInstall, failover, disk, writeAmplification, syncsPerWrite,
    ]

    private static func latency(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Double?) -> Metric {
        Metric(header: header, direction: .lower, value: { r, _ in read(r) }, format: Format.micros)
    }

    private static func floorMultiple(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Double) -> Metric {
        Metric(header: header, direction: .lower, value: { r, floor in
            floor.fdatasyncUs > 0 ? read(r) / floor.fdatasyncUs : nil
        }, format: Format.multiple)
    }

    private static func recovery(_ header: String, _ read: @escaping @Sendable (BenchResult) -> Double?) -> Metric {
        Metric(header: header, direction: .lower, value: { r, _ in read(r) }, format: { Format.duration(us: $0) })
    }
}
