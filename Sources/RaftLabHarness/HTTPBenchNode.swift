import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode
import SyncObserver
import RaftLabHTTPClient

/// A node in another process, driven through its HTTP JSON API: writes are
/// the API's write endpoints, reads `GET /tables/{t}/items`, status
/// `GET /status`. Answers map back to the errors an in-process node throws,
/// so the load generator reacts the same way to both:
///
/// - 307 `not_leader` → `NodeError.notLeader` (the caller looks the leader up
///   again rather than following the redirect, as it does in process);
/// - 503 `no_leader`, or no connection at all → `NodeError.noLeader`
///   (nothing was sent; the node may be down or electing);
/// - 503 `shutting_down` → `NodeError.shuttingDown`;
/// - 504 `outcome_unknown` → `NodeError.outcomeUnknown`; any other 504, a
///   lost connection or no answer in time → `NodeError.timeout` (a write may
///   have taken effect);
/// - a NoSQL error code → that `NoSQLError`; any other 5xx → `NodeError.internal`.
///
/// A write's idempotency key travels as the `Idempotency-Key` header.
/// RaftLabBench makes it a `BenchNode`; `ProcessCluster` uses it to find
/// the leader and to wait for a node to come up.
public struct HTTPBenchNode: Sendable {
    public let id: UInt64
    public let address: HostPort
    public let client: SimpleHTTPClient
    /// Time limit of one request.
    public let timeout: Duration

    public init(id: UInt64, address: HostPort, client: SimpleHTTPClient, timeout: Duration = .seconds(15)) {
        self.id = id
        self.address = address
        self.client = client
        self.timeout = timeout
    }

    public func replicate(_ command: NoSQLCommand, idempotencyKey: String?) async throws -> UInt64 {
        var request: SimpleHTTPRequest
        switch command {
        case .createTable(let schema):
            var members: [(String, JSONValue)] = [
                ("table_name", .string(schema.name)), ("partition_key_name", .string(schema.partitionKey)),
            ]
            if let sort = schema.sortKey { members.append(("sort_key_name", .string(sort))) }
            request = Self.json("POST", "/tables", body: .object(try JSONObject(members)))
        case .deleteTable(let name):
            request = SimpleHTTPRequest(method: "DELETE", path: "/tables/\(Self.component(name))")
        case let .putItem(table, item, expectedVersion):
            let query = expectedVersion.map { [("expected_version", String($0))] } ?? []
            request = Self.json("PUT", "/tables/\(Self.component(table))/items" + Self.query(query), body: item.json)
        case let .deleteItem(table, key, expectedVersion):
            let query = Self.keyQuery(key) + (expectedVersion.map { [("expected_version", String($0))] } ?? [])
            request = SimpleHTTPRequest(method: "DELETE", path: "/tables/\(Self.component(table))/items" + Self.query(query))
        case let .rollbackItem(table, key, expectedVersion):
            let query = Self.keyQuery(key) + (expectedVersion.map { [("expected_version", String($0))] } ?? [])
            request = SimpleHTTPRequest(
                method: "POST", path: "/tables/\(Self.component(table))/items/rollback" + Self.query(query))
        case .transactWrite:
            throw NodeError.internal("the native HTTP API has no transactions; the benchmark does not send them")
        }
        if let idempotencyKey { request.headers.append(("Idempotency-Key", idempotencyKey)) }
        let answer = try await send(request)
        guard let index = answer["index"]?.numberValue.flatMap({ UInt64($0.description) }) else {
            throw NodeError.internal("node \(id) answered a write without a log index")
        }
        return index
    }

    public func getItem(table: String, key: ItemKey, consistency: ReadConsistency) async throws -> JSONValue? {
        let query = Self.keyQuery(key) + [("consistency", consistency.rawValue)]
        let request = SimpleHTTPRequest(method: "GET", path: "/tables/\(Self.component(table))/items" + Self.query(query))
        do {
            return try await send(request)["item"]
        } catch let error as NoSQLError where error.code == .itemNotFound || error.code == .tableNotFound {
            return nil
        }
    }

    public func query(table: String, partition: String, limit: Int, consistency: ReadConsistency) async throws -> Int {
        let query = [("partition_key", partition), ("limit", String(limit)), ("consistency", consistency.rawValue)]
        let request = SimpleHTTPRequest(method: "GET", path: "/tables/\(Self.component(table))/query" + Self.query(query))
        guard let count = try await send(request)["count"]?.numberValue.flatMap({ Int($0.description) }) else {
            throw NodeError.internal("node \(id) answered a query without a count")
        }
        return count
    }

    public func syncs() async throws -> NodeSyncReport {
        let body = try await send(SimpleHTTPRequest(method: "GET", path: "/admin/syncs"))
        func number(_ value: JSONValue?) -> UInt64? { value?.numberValue.flatMap { UInt64($0.description) } }
        guard let reported = number(body["reported"]) else {
            throw NodeError.internal("node \(id) sent an /admin/syncs this benchmark cannot read")
        }
        var observed: SyncCounts?
        if let counts = body["observed"], counts != .null {
            observed = SyncCounts(
                fsync: number(counts["fsync"]) ?? 0, fdatasync: number(counts["fdatasync"]) ?? 0,
                msync: number(counts["msync"]) ?? 0, syncFileRange: number(counts["sync_file_range"]) ?? 0,
                syncWrites: number(counts["sync_writes"]) ?? 0)
        }
        return NodeSyncReport(observed: observed, reported: reported)
    }

    public func timeline(after: UInt64) async throws -> ReplicationTimeline.Page {
        let response = try await exchange(SimpleHTTPRequest(method: "GET", path: "/admin/timeline?after=\(after)"))
        guard response.status == 200 else { throw Self.error(for: response, node: id) }
        do {
            let page = try JSONDecoder().decode(TimelineDocument.self, from: Data(response.body))
            let events =
                page.commits.map { ReplicationTimeline.Event(kind: .commit, index: $0[0], nanoseconds: $0[1]) }
                + page.applies.map { ReplicationTimeline.Event(kind: .apply, index: $0[0], nanoseconds: $0[1]) }
            return ReplicationTimeline.Page(events: events, next: page.next, missed: page.missed)
        } catch {
            throw NodeError.internal("node \(id) sent an /admin/timeline this benchmark cannot read: \(error)")
        }
    }

    /// `/admin/timeline`'s body.
    private struct TimelineDocument: Decodable {
        var next: UInt64
        var missed: UInt64
        var commits: [[UInt64]]
        var applies: [[UInt64]]
    }

    public func status() async throws -> NodeStatus {
        let response = try await exchange(SimpleHTTPRequest(method: "GET", path: "/status"))
        guard response.status == 200 else { throw Self.error(for: response, node: id) }
        do {
            return try JSONDecoder().decode(NodeStatus.self, from: Data(response.body))
        } catch {
            throw NodeError.internal("node \(id) sent a /status this benchmark cannot read: \(error)")
        }
    }

    // MARK: Plumbing

    /// The JSON body of a 2xx answer; any other answer as the error it stands for.
    private func send(_ request: SimpleHTTPRequest) async throws -> JSONValue {
        let response = try await exchange(request)
        guard (200..<300).contains(response.status) else { throw Self.error(for: response, node: id) }
        do {
            return try JSONValue.parse(response.body)
        } catch {
            throw NodeError.internal("node \(id) answered \(request.method) \(request.path) with a body that is not JSON")
        }
    }

    private func exchange(_ request: SimpleHTTPRequest) async throws -> SimpleHTTPResponse {
        do {
            return try await client.execute(request, to: address, timeout: timeout)
        } catch let error as SimpleHTTPClientError {
            // Unreachable: as an in-process node that is not there, look elsewhere.
            throw error.requestMayHaveBeenSent ? NodeError.timeout : NodeError.noLeader
        }
    }

    static func error(for response: SimpleHTTPResponse, node: UInt64) -> any Error {
        let body = try? JSONValue.parse(response.body)
        let code = body?["error"]?.stringValue ?? ""
        let message = body?["message"]?.stringValue ?? response.bodyText
        if let noSQL = NoSQLError.Code(rawValue: code) { return NoSQLError(noSQL, message) }
        switch (response.status, code) {
        case (307, _), (308, _):
            if let leader = body?["leader_id"]?.numberValue.flatMap({ UInt64($0.description) }),
                let text = body?["leader_addr"]?.stringValue, let address = try? HostPort(parsing: text)
            {
                return NodeError.notLeader(leaderID: leader, leaderHTTPAddress: address)
            }
            return NodeError.noLeader
        case (503, "shutting_down"): return NodeError.shuttingDown
        case (504, "outcome_unknown"): return NodeError.outcomeUnknown(message)
        case (503, _), (502, _): return NodeError.noLeader
        case (504, _): return NodeError.timeout
        default: return NodeError.internal("node \(node) answered \(response.status) \(code): \(message)")
        }
    }

    private static func json(_ method: String, _ path: String, body: JSONValue) -> SimpleHTTPRequest {
        SimpleHTTPRequest(
            method: method, path: path, headers: [("Content-Type", "application/json")], body: body.canonicalBytes)
    }

    private static func keyQuery(_ key: ItemKey) -> [(String, String)] {
        var query = attribute("partition_key", key.partition)
        if let sort = key.sort { query += attribute("sort_key", sort) }
        return query
    }

    private static func attribute(_ name: String, _ value: KeyAttributeValue) -> [(String, String)] {
        switch value {
        case .string(let text): [(name, text)]
        case .number(let number): [(name, number.description), (name + "_type", "number")]
        // Binary keys exist only in tables created through the DynamoDB API; the benchmark makes none.
        case .binary(let bytes): [(name, Base64.encode(bytes))]
        }
    }

    /// Unreserved characters stay; everything else is percent-encoded.
    private static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    private static func query(_ pairs: [(String, String)]) -> String {
        pairs.isEmpty ? "" : "?" + pairs.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }
}
