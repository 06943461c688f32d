import RaftLabBackends
import StorageCore

/// What `raftlab fuzz` was asked to do.
public struct FuzzOptions: Sendable {
    public var backend = "memory"
    public var seconds: Double = 60
    public var seed: UInt64 = 1
    public var nodes = 3
    public var requestsPerBatch = 20
    /// Restart a node every this many batches (0: never); every fourth restart restarts all nodes.
    public var restartEvery = 3
    /// Most batches (a bound besides time).
    public var maxBatches = 100_000
    /// Where the data directories go (a new directory under it, removed at the end).
    public var temporaryDirectory: String?
    public var keepData = false
    public var reportPath: String?
    public var verbose = true

    public init() {}

    /// Refuses what cannot run, with a sentence that says why.
    public func validate(registry: BackendRegistry = .standard) throws(FuzzOptionsError) {
        guard registry.names.contains(backend) else {
            throw FuzzOptionsError("unknown backend \"\(backend)\"; the backends are \(registry.names.joined(separator: ", "))")
        }
        guard seconds > 0, seconds <= 86_400 else { throw FuzzOptionsError("--seconds must be more than 0 and at most 86400, got \(seconds)") }
        guard (1...7).contains(nodes) else { throw FuzzOptionsError("--nodes must be 1 to 7, got \(nodes)") }
        guard (1...10_000).contains(requestsPerBatch) else {
            throw FuzzOptionsError("--requests-per-batch must be 1 to 10000, got \(requestsPerBatch)")
        }
        guard restartEvery >= 0 else { throw FuzzOptionsError("--restart-every must be 0 (never) or more, got \(restartEvery)") }
        guard maxBatches > 0 else { throw FuzzOptionsError("--max-batches must be positive, got \(maxBatches)") }
    }
}

public struct FuzzOptionsError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
