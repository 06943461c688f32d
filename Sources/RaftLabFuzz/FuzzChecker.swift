import DynamoDBAPI
import NoSQL

/// Something the campaign found: a bug until shown otherwise.
public struct FuzzFinding: Sendable, Codable, Hashable {
    /// `api-edge` (a 5xx or malformed answer for the client's input), `storage` (a 500
    /// naming a storage or backend limit: the apply path's class), `node-halted`,
    /// `unavailable` (no answer within the bound), `ordinary-write` (the cluster no
    /// longer takes a plain write), `divergence` (replica digests differ), `stuck`.
    public var category: String
    public var seed: UInt64
    public var batch: Int
    public var request: Int?
    public var kind: String?
    public var probe: String?
    public var node: UInt64?
    /// The request, truncated.
    public var excerpt: String?
    public var what: String

    public init(
        category: String, seed: UInt64, batch: Int, request: Int? = nil, kind: String? = nil, probe: String? = nil,
        node: UInt64? = nil, excerpt: String? = nil, what: String
    ) {
        self.category = category
        self.seed = seed
        self.batch = batch
        self.request = request
        self.kind = kind
        self.probe = probe
        self.node = node
        self.excerpt = excerpt
        self.what = what
    }

    public var description: String {
        var lines = ["FINDING [\(category)] seed \(seed), batch \(batch)" + (request.map { ", request \($0)" } ?? "")]
        if let kind { lines.append("  request kind: \(kind)" + (probe.map { " (probes: \($0))" } ?? "")) }
        if let node { lines.append("  node: \(node)") }
        if let excerpt { lines.append("  request: \(excerpt)") }
        lines.append("  what failed: \(what)")
        lines.append("  replay: raftlab fuzz --seed \(seed) (with the same --backend, --nodes and --requests-per-batch)")
        return lines.joined(separator: "\n")
    }
}

/// What an answer means for the campaign.
public enum AnswerVerdict: Sendable, Equatable {
    case ok
    /// The node, not the request, is the problem right now (an election, a restart): ask again.
    case retry(String)
    /// A bug: the answer is not a well-formed 2xx/4xx for this request.
    case finding(String)
}

/// One replica's state digest at its applied index.
public struct ReplicaDigest: Sendable, Hashable, Codable {
    public var node: UInt64
    public var appliedIndex: UInt64
    public var entries: Int
    public var digest: String

    public init(node: UInt64, appliedIndex: UInt64, entries: Int, digest: String) {
        self.node = node
        self.appliedIndex = appliedIndex
        self.entries = entries
        self.digest = digest
    }
}

/// The campaign's checks, as pure functions of what came back.
public enum FuzzChecker {
    /// Words of a 500 that mean "the node was busy restarting or electing", not "your input broke me".
    static let transientWords = ["timed out", "outcome", "may still take effect", "shutting down", "cancelled", "no leader", "leadership"]

    /// Judges one HTTP answer. `disturbed`: a node was stopped or started (or
    /// an election ran) recently, so a 500 that says the outcome is unknown is
    /// the cluster's trouble, not the request's.
    public static func classify(
        api: FuzzAPI, status: Int, headers: [(String, String)], body: [UInt8], disturbed: Bool
    ) -> AnswerVerdict {
        let parsed = try? JSONValue.parse(body, maxDepth: 1_000)
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        guard let parsed else {
            return .finding("HTTP \(status) with a body that is not JSON (\(body.count) bytes): \(text)")
        }
        if api == .dynamo, let crc = headers.first(where: { $0.0.lowercased() == "x-amz-crc32" })?.1,
            crc != String(CRC32.checksum(body))
        {
            return .finding("HTTP \(status): x-amz-crc32 \(crc) does not match the body (\(CRC32.checksum(body))): botocore would reject it")
        }
        let message = (parsed["message"] ?? parsed["Message"])?.stringValue ?? ""
        let code = (api == .dynamo ? parsed["__type"] : parsed["error"])?.stringValue
        switch status {
        case 200..<300:
            guard parsed.objectValue != nil else { return .finding("HTTP \(status) whose body is not a JSON object: \(text)") }
            return .ok
        case 307:
            return api == .native ? .retry("307 not_leader: leadership is moving") : .finding("HTTP 307 on the DynamoDB API: \(text)")
        case 400..<500:
            guard parsed.objectValue != nil, code != nil else {
                return .finding("HTTP \(status) without an error \(api == .dynamo ? "__type" : "code"): \(text)")
            }
            if api == .dynamo, let code, code.hasSuffix("InternalServerError") || code.hasSuffix("ServiceUnavailable") {
                return .finding("HTTP \(status) carrying a server error type \(code): \(text)")
            }
            return .ok
        case 502, 503, 504:
            return .retry("HTTP \(status) \(code ?? ""): \(message.prefix(200))")
        case 500:
            if disturbed, transientWords.contains(where: { message.lowercased().contains($0) }) {
                return .retry("HTTP 500 while the cluster was disturbed: \(message.prefix(200))")
            }
            return .finding("HTTP 500 \(code ?? "") for the client's request: \(message.prefix(300))")
        default:
            return .finding("HTTP \(status) (neither 2xx nor 4xx): \(text)")
        }
    }

    /// Nil when every replica at the common index has one digest; else what differs.
    /// Replicas at different indexes cannot be compared and are reported as such.
    public static func compareDigests(_ digests: [ReplicaDigest]) -> String? {
        guard let first = digests.first else { return nil }
        if Set(digests.map(\.appliedIndex)).count > 1 {
            return "replicas are at different applied indexes: "
                + digests.map { "node \($0.node) at \($0.appliedIndex)" }.joined(separator: ", ")
        }
        guard Set(digests.map(\.digest)).count > 1 else { return nil }
        return "state digests differ at applied index \(first.appliedIndex): "
            + digests.map { "node \($0.node) \($0.digest.prefix(16)) (\($0.entries) pairs)" }.joined(separator: ", ")
    }
}
