import Foundation

/// What a campaign did and found; `--report FILE` writes it as JSON.
public struct FuzzSummary: Sendable, Codable {
    public var backend: String
    public var logBackend: String
    public var stateBackend: String
    public var seed: UInt64
    public var nodes: Int
    public var requestsPerBatch: Int
    public var secondsAsked: Double
    public var durationSeconds: Double = 0
    public var batches = 0
    public var requests = 0
    public var requestsByKind: [String: Int] = [:]
    /// Answers by status class (2xx, 4xx), after retries.
    public var answersByStatus: [String: Int] = [:]
    /// Requests that probed a limit or a malformation (the rest were ordinary).
    public var probingRequests = 0
    public var retries = 0
    public var restartsOfOneNode = 0
    public var restartsOfAllNodes = 0
    public var digestsCompared = 0
    public var ordinaryWrites = 0
    public var findings: [FuzzFinding] = []
    /// Set when the campaign could not be carried out (not a finding).
    public var error: String?

    public var passed: Bool { findings.isEmpty && error == nil }

    public init(options: FuzzOptions) {
        backend = options.backend
        logBackend = options.backend
        stateBackend = options.backend == "wal" ? "leveldb" : options.backend
        seed = options.seed
        nodes = options.nodes
        requestsPerBatch = options.requestsPerBatch
        secondsAsked = options.seconds
    }

    public var text: String {
        var lines: [String] = []
        lines.append("fuzz campaign: backend \(backend) (log \(logBackend), state \(stateBackend)), \(nodes) nodes, seed \(seed)")
        lines.append("  duration:          \(String(format: "%.1f", durationSeconds)) s (asked \(secondsAsked) s)")
        lines.append("  batches:           \(batches) of up to \(requestsPerBatch) requests")
        lines.append("  requests:          \(requests) (\(probingRequests) probing a limit or malformed), \(retries) retries")
        for (kind, count) in requestsByKind.sorted(by: { $0.key < $1.key }) {
            lines.append("    \(kind.padding(toLength: 22, withPad: " ", startingAt: 0)) \(count)")
        }
        lines.append("  answers:           " + answersByStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append("  restarts:          \(restartsOfOneNode) of one node, \(restartsOfAllNodes) of all nodes")
        lines.append("  ordinary writes:   \(ordinaryWrites)")
        lines.append("  digests compared:  \(digestsCompared)")
        lines.append("  findings:          \(findings.count)")
        if let error { lines.append("  error:             \(error)") }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}
