/// Which API a request speaks.
public enum FuzzAPI: String, Sendable, Hashable, Codable {
    case dynamo
    case native
}

/// One generated HTTP request, with what it is and what it probes.
public struct FuzzRequest: Sendable {
    public var api: FuzzAPI
    /// The operation, e.g. `PutItem` or `native.put_item`.
    public var kind: String
    /// The one limit or malformation this request probes ("pk S 2048 bytes", "ok").
    public var probe: String
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Which node to send it to (an index into the running nodes, modulo their count).
    public var node: Int

    public init(
        api: FuzzAPI, kind: String, probe: String, method: String, path: String, headers: [(String, String)] = [],
        body: [UInt8] = [], node: Int = 0
    ) {
        self.api = api
        self.kind = kind
        self.probe = probe
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.node = node
    }

    /// Every byte that goes on the wire (and the node choice), for comparing runs.
    public var fingerprint: [UInt8] {
        var out = Array("\(node) \(method) \(path)\n".utf8)
        for (name, value) in headers { out += Array("\(name): \(value)\n".utf8) }
        out += [0] + body
        return out
    }

    /// The request for a report line: method, path, headers, the body cut to `limit` bytes.
    public func excerpt(limit: Int = 400) -> String {
        var text = "\(method) \(path)"
        for (name, value) in headers where name.lowercased() != "content-type" { text += " [\(name): \(value.prefix(80))]" }
        if !body.isEmpty {
            let shown = String(decoding: body.prefix(limit), as: UTF8.self)
            text += " body(\(body.count) bytes): \(shown)\(body.count > limit ? "…" : "")"
        }
        return text
    }
}
