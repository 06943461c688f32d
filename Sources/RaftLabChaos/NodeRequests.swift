import Foundation
import Linearizability
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabHTTPClient

/// What one HTTP request of a client came to.
enum Attempt: Sendable {
    /// A definite answer: the operation happened (or, for a read, was served) with this result.
    case done(RegisterResult)
    /// Certainly not applied: 503, a redirect, a refused connection. `leader`
    /// is where a 307 pointed.
    case refused(String, leader: UInt64?)
    /// May or may not have been applied: a 504, a lost connection, no answer in time.
    case unknown(String)
}

/// The HTTP requests a chaos run makes to the nodes: item operations on the
/// `chaos` table, and the admin and status endpoints. Every request is one
/// connection with one time limit.
struct NodeRequests: Sendable {
    static let table = "chaos"

    let addresses: [UInt64: HostPort]
    let client: SimpleHTTPClient
    let timeout: Duration

    init(config: ClusterConfig, timeout: Duration) {
        var addresses: [UInt64: HostPort] = [:]
        for node in config.nodes { addresses[node.id] = node.httpAddress }
        self.addresses = addresses
        self.client = SimpleHTTPClient(userAgent: "raftlab-chaos")
        self.timeout = timeout
    }

    var nodeIDs: [UInt64] { addresses.keys.sorted() }

    // MARK: Items

    /// One attempt of `call` on `key` at `node`; writes carry `idempotencyKey`.
    func perform(_ call: RegisterCall, key: String, on node: UInt64, idempotencyKey: String) async -> Attempt {
        let itemPath = "/tables/\(Self.table)/items"
        let keyQuery = "partition_key=\(Self.encode(key))"
        let request: SimpleHTTPRequest
        switch call {
        case .read:
            request = SimpleHTTPRequest(method: "GET", path: "\(itemPath)?\(keyQuery)&consistency=strong")
        case .put(let value):
            request = write("PUT", itemPath, body: Self.item(key: key, value: value), key: idempotencyKey)
        case .compareAndSet(let expected, let value):
            request = write(
                "PUT", "\(itemPath)?expected_version=\(expected)", body: Self.item(key: key, value: value), key: idempotencyKey)
        case .delete:
            request = write("DELETE", "\(itemPath)?\(keyQuery)", body: [], key: idempotencyKey)
        }
        let response: SimpleHTTPResponse
        do {
            response = try await execute(request, on: node)
        } catch let error as SimpleHTTPClientError {
            return error.requestMayHaveBeenSent ? .unknown(Self.short(error)) : .refused(Self.short(error), leader: nil)
        } catch {
            return .unknown("\(error)")
        }
        return Self.interpret(response, call: call)
    }

    private func write(_ method: String, _ path: String, body: [UInt8], key: String) -> SimpleHTTPRequest {
        var headers = [("Idempotency-Key", key)]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return SimpleHTTPRequest(method: method, path: path, headers: headers, body: body)
    }

    static func item(key: String, value: String) -> [UInt8] {
        Array("{\"k\":\(quoted(key)),\"v\":\(quoted(value))}".utf8)
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Maps an answer to what it says about the operation.
    static func interpret(_ response: SimpleHTTPResponse, call: RegisterCall) -> Attempt {
        let body = try? JSONValue.parse(response.body)
        let code = body?["error"]?.stringValue ?? ""
        func version(_ name: String) -> UInt64? { body?[name]?.numberValue.flatMap { UInt64($0.description) } }
        switch response.status {
        case 200, 201:
            switch call {
            case .read:
                guard let value = body?["item"]?["v"]?.stringValue, let version = version("version") else {
                    return .unknown("a read answer without item.v and version")
                }
                return .done(.value(value, version: version))
            case .put, .compareAndSet:
                guard let version = version("version") else { return .unknown("a write answer without version") }
                return .done(.written(version: version))
            case .delete:
                guard let value = body?["deleted_item"]?["v"]?.stringValue, let version = version("deleted_version") else {
                    return .unknown("a delete answer without deleted_item.v and deleted_version")
                }
                return .done(.deleted(value, version: version))
            }
        case 404 where code == NoSQLError.Code.itemNotFound.rawValue:
            switch call {
            case .read: return .done(.absent)
            case .delete: return .done(.notFound)
            default: return .unknown("404 \(code) for a write")
            }
        case 409 where code == NoSQLError.Code.versionConflict.rawValue:
            if case .compareAndSet = call { return .done(.conflict) }
            return .unknown("409 \(code) for a call without an expected version")
        case 307, 308:
            let leader = body?["leader_id"]?.numberValue.flatMap { UInt64($0.description) }
            return .refused("\(response.status) \(code)", leader: leader)
        case 503:
            return .refused("503 \(code)", leader: nil)
        default:
            // 504 timeout / outcome_unknown, 500, 502 and anything unexpected: the write may have happened.
            return .unknown("\(response.status) \(code)")
        }
    }

    // MARK: Admin and status

    func status(of node: UInt64, timeout: Duration = .seconds(2)) async -> NodeStatus? {
        guard let response = try? await execute(SimpleHTTPRequest(method: "GET", path: "/status"), on: node, timeout: timeout),
            response.status == 200
        else { return nil }
        return try? JSONDecoder().decode(NodeStatus.self, from: Data(response.body))
    }

    /// Sets node `node`'s network fault rules; nil heals.
    func setFaults(on node: UInt64, dropOutbound: Set<UInt64>, dropInbound: Set<UInt64>) async throws {
        func list(_ ids: Set<UInt64>) -> String { "[" + ids.sorted().map(String.init).joined(separator: ",") + "]" }
        let body = Array("{\"drop_outbound\":\(list(dropOutbound)),\"drop_inbound\":\(list(dropInbound))}".utf8)
        let response = try await execute(
            SimpleHTTPRequest(method: "PUT", path: "/admin/faults", headers: [("Content-Type", "application/json")], body: body),
            on: node)
        guard response.status == 200 else {
            throw ChaosError.failed("node \(node) refused network faults: \(response.status) \(response.bodyText)")
        }
    }

    func heal(_ node: UInt64) async throws {
        let response = try await execute(SimpleHTTPRequest(method: "DELETE", path: "/admin/faults"), on: node)
        guard response.status == 200 else {
            throw ChaosError.failed("node \(node) refused to heal: \(response.status) \(response.bodyText)")
        }
    }

    /// Tells `node` to lose power: it saves what its stores made durable and
    /// exits, so no answer comes back. Throws if the node refuses.
    func powerCut(_ node: UInt64) async throws {
        let response: SimpleHTTPResponse
        do {
            response = try await execute(SimpleHTTPRequest(method: "POST", path: "/admin/power-cut"), on: node)
        } catch {
            return  // the connection ends with the process
        }
        throw ChaosError.failed("node \(node) refused a power cut: \(response.status) \(response.bodyText)")
    }

    struct Digest: Sendable, Hashable {
        var appliedIndex: UInt64
        var entries: Int
        var digest: String
    }

    func stateDigest(of node: UInt64) async -> Digest? {
        guard let response = try? await execute(SimpleHTTPRequest(method: "GET", path: "/admin/state-digest"), on: node),
            response.status == 200, let body = try? JSONValue.parse(response.body),
            let index = body["applied_index"]?.numberValue.flatMap({ UInt64($0.description) }),
            let entries = body["entries"]?.numberValue.flatMap({ Int($0.description) }),
            let digest = body["digest"]?.stringValue
        else { return nil }
        return Digest(appliedIndex: index, entries: entries, digest: digest)
    }

    /// A local (not strong) read of `key` on `node`: what that replica holds.
    func localRead(_ key: String, on node: UInt64) async -> RegisterResult? {
        let request = SimpleHTTPRequest(
            method: "GET", path: "/tables/\(Self.table)/items?partition_key=\(Self.encode(key))&consistency=local")
        guard let response = try? await execute(request, on: node) else { return nil }
        if case .done(let result) = Self.interpret(response, call: .read) { return result }
        return nil
    }

    /// Creates the `chaos` table (partition key `k`); true once it exists.
    func createTable(on node: UInt64) async -> Attempt {
        let body = Array("{\"table_name\":\(Self.quoted(Self.table)),\"partition_key_name\":\"k\"}".utf8)
        let request = SimpleHTTPRequest(
            method: "POST", path: "/tables", headers: [("Content-Type", "application/json")], body: body)
        do {
            let response = try await execute(request, on: node)
            let code = (try? JSONValue.parse(response.body))?["error"]?.stringValue ?? ""
            if response.status == 201 || code == NoSQLError.Code.tableExists.rawValue { return .done(.absent) }
            if response.status == 307 {
                let leader = (try? JSONValue.parse(response.body))?["leader_id"]?.numberValue.flatMap { UInt64($0.description) }
                return .refused("307", leader: leader)
            }
            return .refused("\(response.status) \(code)", leader: nil)
        } catch {
            return .refused("\(error)", leader: nil)
        }
    }

    // MARK: Plumbing

    private func execute(_ request: SimpleHTTPRequest, on node: UInt64, timeout: Duration? = nil) async throws
        -> SimpleHTTPResponse
    {
        guard let address = addresses[node] else { throw ChaosError.failed("no node \(node)") }
        return try await client.execute(request, to: address, timeout: timeout ?? self.timeout)
    }

    static func short(_ error: SimpleHTTPClientError) -> String {
        switch error {
        case .connectFailed: "connection refused"
        case .connectionLost: "connection lost"
        case .timedOut: "timeout"
        case .responseTooLarge: "response too large"
        case .tlsFailed: "TLS handshake failed"
        }
    }

    /// Keys are plain ASCII words (`k0`, `k1`...), but encode anyway.
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}
