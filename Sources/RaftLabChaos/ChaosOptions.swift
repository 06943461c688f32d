import Foundation
import RaftLabNode
import StorageCore

/// The faults the nemesis can inject.
public enum FaultKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// SIGKILL a node (the leader half of the time), restart it after the hold.
    case kill
    /// SIGSTOP a node (the leader half of the time) for the hold, then SIGCONT.
    case pause
    /// A network partition, its shape chosen in turn from `PartitionShape`.
    case partition
    /// A power cut of a node (the leader half of the time): it loses what it
    /// never synced and restarts from the rest. Memory backend only, whose
    /// nodes then run a model of the disk under their stores.
    case powerCut = "power-cut"
}

/// The shapes a `partition` fault takes, in turn.
public enum PartitionShape: String, Sendable, Hashable, CaseIterable, Codable {
    /// The leader alone on one side, everyone else on the other.
    case isolateLeader = "isolate-leader"
    /// A random minority against the majority.
    case majorityMinority = "majority-minority"
    /// Two halves that cannot see each other and one node that sees both.
    case bridge
    /// One node (the leader half of the time) whose messages to the others are lost; it still hears them.
    case oneWay = "one-way"
}

/// Everything a chaos run needs to know; `raftlab chaos` fills it from its flags.
public struct ChaosOptions: Sendable {
    public var logBackend = "leveldb"
    public var stateBackend = "leveldb"
    /// A cluster config whose [storage] and [engine] tables the run uses (its nodes are replaced).
    public var config: ClusterConfig?
    public var nodes = 3
    /// Seconds of client load, faults included.
    public var duration: Double = 60
    public var clients = 5
    public var keys = 3
    /// Operations per second over all clients; 0 for as fast as they go.
    public var rate: Double = 250
    /// Most operations in a run, whatever the duration.
    public var maxOperations = 200_000
    public var faults: [FaultKind] = [.kill, .pause, .partition]
    /// Seconds each fault holds, and seconds of calm between faults.
    public var faultInterval: Double = 3
    public var seed: UInt64 = 1
    public var outputDirectory: String?
    /// Time limit of one HTTP request of a client.
    public var requestTimeout: Duration = .seconds(3)
    /// A write whose outcome is unknown is retried with its idempotency key until this long after it was invoked.
    public var operationDeadline: Duration = .seconds(15)
    /// How long the cluster may take to converge once every fault is healed.
    public var recoveryTimeout: Duration = .seconds(90)
    /// Time limit of the linearizability check (counterexample shrinking included).
    public var checkerTimeout: Duration = .seconds(120)
    /// Start the nodes deliberately broken: strong reads served locally without ReadIndex.
    public var breakStrongReads = false
    /// Keep the nodes' data directories after the run (they are kept anyway on a violation).
    public var keepData = false
    /// The `raftlab` binary the nodes run; nil for this process's own.
    public var serverExecutable: String?
    /// Prints progress lines to standard error.
    public var verbose = true

    public init() {}

    /// The directory the report goes to.
    public var resolvedOutputDirectory: String {
        if let outputDirectory { return outputDirectory }
        let date = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withFullDate])
        let backend = logBackend == stateBackend ? logBackend : "\(logBackend)+\(stateBackend)"
        return "results/chaos/\(date)-\(backend)-seed\(seed)"
    }

    public func validate(registry: BackendRegistry) throws(ChaosError) {
        for name in [logBackend, stateBackend] where (try? registry.backend(named: name)) == nil {
            throw .invalidOption("unknown backend '\(name)'; known: \(registry.names.joined(separator: ", "))")
        }
        guard [3, 5].contains(nodes) else { throw .invalidOption("--nodes must be 3 or 5 (got \(nodes))") }
        guard duration > 0, duration <= 3_600 else { throw .invalidOption("--duration must be between 0 and 3600 seconds") }
        guard (1...64).contains(clients) else { throw .invalidOption("--clients must be between 1 and 64") }
        guard (1...1_000).contains(keys) else { throw .invalidOption("--keys must be between 1 and 1000") }
        guard rate >= 0 else { throw .invalidOption("--rate must not be negative") }
        guard faultInterval >= 0.5 else { throw .invalidOption("--fault-interval must be at least 0.5 seconds") }
        guard maxOperations > 0 else { throw .invalidOption("--max-ops must be positive") }
        if faults.contains(.powerCut), logBackend != "memory" || stateBackend != "memory" {
            throw .invalidOption(
                "the power-cut fault needs the memory backend for both stores (a model of the disk under them decides what a cut loses); a real engine's files keep the page cache through a process kill, and cutting a real disk's power needs a block-device fault layer this run does not have")
        }
    }

    /// Parses `kill,pause,partition` (or `none`).
    public static func faults(parsing text: String) throws(ChaosError) -> [FaultKind] {
        if text == "none" || text.isEmpty { return [] }
        var kinds: [FaultKind] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let kind = FaultKind(rawValue: name) else {
                throw .invalidOption("unknown fault '\(name)'; the faults are \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")) or none")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds
    }
}

public enum ChaosError: Error, Sendable, CustomStringConvertible {
    case invalidOption(String)
    case failed(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): why
        case .failed(let why): why
        }
    }
}
