import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NoSQL
import RaftLabAPI
import RaftLabHTTPClient
import RaftLabNode
import StorageCore

/// Operating a cluster over HTTP: membership, leadership, backups.
///
/// | Method | Path | Body | Success |
/// |---|---|---|---|
/// | GET | /cluster/members | | 200 membership |
/// | POST | /cluster/members | `{"node_id","raft_addr","http_addr","voter"?}` | 200 membership |
/// | POST | /cluster/members/{id}/promote | | 200 membership |
/// | DELETE | /cluster/members/{id} | | 200 membership |
/// | PUT | /cluster/members/{id} | `{"raft_addr","http_addr","log_backend","state_backend"}` | 200 (a member correcting its own record) |
/// | POST | /cluster/leader | `{"to"?}` | 200 `{"leader_id"}` |
/// | GET | /cluster/backup | | 200 `application/octet-stream`: a backup file (see `BackupFormat`) |
///
/// Changes go to the leader: a follower forwards them and relays the answer
/// (a request forwarded once is not forwarded again: 307 instead). Before
/// adding a node, the leader asks the node's own `/status` which id and
/// backends it has: a node that does not answer, or answers with another id
/// or belongs to another cluster, is refused.
struct ClusterRoutes: Sendable {
    let admin: any ClusterAdministration
    let service: any NoSQLService
    let forwarder: LeaderForwarder
    let probe: SimpleHTTPClient

    init(admin: any ClusterAdministration, service: any NoSQLService, proof: MemberProof) {
        self.admin = admin
        self.service = service
        // Adding a voter waits for it to catch up: give forwarded changes time.
        forwarder = LeaderForwarder(client: SimpleHTTPClient(userAgent: "raftlab-forwarder"), timeout: .seconds(180), proof: proof)
        probe = SimpleHTTPClient(userAgent: "raftlab-probe")
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/cluster/members") { request, _ in try await list(request) }
        router.post("/cluster/members") { request, _ in try await add(request) }
        router.post("/cluster/members/{id}/promote") { request, context in
            try await promote(request, try memberID(context))
        }
        router.delete("/cluster/members/{id}") { request, context in try await remove(request, try memberID(context)) }
        router.put("/cluster/members/{id}") { request, context in try await updateRecord(request, try memberID(context)) }
        router.post("/cluster/leader") { request, _ in try await transfer(request) }
        router.get("/cluster/backup") { request, _ in try await backup(request) }
    }

    private func memberID(_ context: BasicRequestContext) throws -> UInt64 {
        guard let text = context.parameters.get("id"), let id = UInt64(text), id > 0 else {
            throw APIError.invalidArgument("a member id is a positive integer")
        }
        return id
    }

    // MARK: Handlers

    func list(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let view = await admin.membership()
        let backends = await liveBackends(view)
        return jsonResponse(Self.document(view, backends: backends))
    }

    func add(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let body = try await readBody(request)
        return try await onLeader(request, body: body) {
            let fields = try JSONFields(body)
            let id = try fields.unsigned("node_id")
            let raft = try fields.address("raft_addr")
            let http = try fields.address("http_addr")
            let voter = try fields.bool("voter") ?? false
            let replaces = try fields.optionalUnsigned("replaces") ?? 0
            let view = await admin.membership()
            guard view.leaderID == admin.id else {
                // Probe the new node from the leader, not here: forward first.
                if view.leaderID != 0, let address = view.member(view.leaderID)?.httpAddress {
                    throw NodeError.notLeader(leaderID: view.leaderID, leaderHTTPAddress: address)
                }
                throw NodeError.noLeader
            }
            var record = MemberRecord(id: id, raftAddress: raft, httpAddress: http, logBackend: "", stateBackend: "", replaces: replaces)
            if let known = view.member(id)?.record, known.raftAddress == raft, known.httpAddress == http {
                record = MemberRecord(
                    id: id, raftAddress: raft, httpAddress: http, logBackend: known.logBackend, stateBackend: known.stateBackend,
                    replaces: known.replaces)
            } else {
                let status = try await status(of: id, at: http, clusterID: view.clusterID)
                record.logBackend = status.logBackend
                record.stateBackend = status.stateBackend
            }
            // Members of the first configuration get records too, from their own /status.
            var others: [MemberRecord] = []
            for member in view.members where member.record == nil && member.id != id {
                if member.id == admin.id, let mine = admin.ownRecord(replaces: 0) {
                    others.append(mine)
                } else if let address = member.httpAddress, let raftAddress = member.raftAddress,
                    let status = try? await status(of: member.id, at: address, clusterID: view.clusterID)
                {
                    others.append(MemberRecord(
                        id: member.id, raftAddress: raftAddress, httpAddress: address, logBackend: status.logBackend,
                        stateBackend: status.stateBackend))
                }
            }
            let after = try await admin.addMember(record, asVoter: voter, others: others)
            return jsonResponse(Self.document(after, backends: [:]))
        }
    }

    func promote(_ request: Request, _ id: UInt64) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        return try await onLeader(request, body: []) {
            jsonResponse(Self.document(try await admin.promoteMember(id, catchUpTimeout: .seconds(120)), backends: [:]))
        }
    }

    func remove(_ request: Request, _ id: UInt64) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        return try await onLeader(request, body: []) {
            jsonResponse(Self.document(try await admin.removeMember(id), backends: [:]))
        }
    }

    func updateRecord(_ request: Request, _ id: UInt64) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let body = try await readBody(request)
        return try await onLeader(request, body: body) {
            let fields = try JSONFields(body)
            let record = MemberRecord(
                id: id, raftAddress: try fields.address("raft_addr"), httpAddress: try fields.address("http_addr"),
                logBackend: try fields.string("log_backend"), stateBackend: try fields.string("state_backend"))
            try await admin.updateRecord(record)
            return jsonResponse(.object(from: [("node_id", .unsigned(id)), ("updated", .bool(true))]))
        }
    }

    func transfer(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let body = try await readBody(request)
        return try await onLeader(request, body: body) {
            let target = body.isEmpty ? nil : try JSONFields(body).optionalUnsigned("to")
            let leader = try await admin.transferLeadership(to: target)
            return jsonResponse(.object(from: [("leader_id", .unsigned(leader))]))
        }
    }

    func backup(_ request: Request) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let (header, snapshot) = try await admin.backupSnapshot()
        let box = SnapshotBox(snapshot)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/octet-stream",
                HTTPField.Name("X-RaftLab-Backup-Index")!: String(header.index),
                HTTPField.Name("X-RaftLab-Backup-Term")!: String(header.term),
            ],
            body: ResponseBody { writer in
                defer { box.snapshot.close() }
                var encoder = BackupEncoder(key: admin.backupKey)
                try await writer.write(ByteBuffer(bytes: try encoder.start(header)))
                var source = box.source
                while true {
                    let chunk = try encoder.encode(from: &source, maxBytes: 1 << 20)
                    if chunk.isEmpty { break }
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.write(ByteBuffer(bytes: try encoder.finish()))
                try await writer.finish(nil)
            })
    }

    // MARK: Plumbing

    /// Runs `body` here if this node leads, else forwards the request to the leader.
    private func onLeader(_ request: Request, body bytes: [UInt8], _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch NodeError.notLeader(let leaderID, let address) {
            guard !forwarder.isForwarded(request, body: bytes) else {
                throw NodeError.notLeader(leaderID: leaderID, leaderHTTPAddress: address)
            }
            return try await forwarder.forward(request, body: bytes, to: address, leaderID: leaderID)
        }
    }

    /// A node's own `/status`, checked: it must be node `id`, and new or of this cluster.
    private func status(of id: UInt64, at address: HostPort, clusterID: UInt64) async throws -> NodeStatus {
        let answer: SimpleHTTPResponse
        do {
            answer = try await probe.execute(SimpleHTTPRequest(method: "GET", path: "/status"), to: address, timeout: .seconds(3))
        } catch {
            throw MembershipError.unreachable(
                "node \(id) does not answer at \(address) (\(error)); start it first: raftlab server --node-id \(id) --config FILE --join <a member's address>")
        }
        guard answer.status == 200, let status = try? JSONDecoder().decode(NodeStatus.self, from: Data(answer.body)) else {
            throw MembershipError.unreachable("\(address) answered /status with HTTP \(answer.status), not a RaftLab node's status")
        }
        guard status.nodeID == id else {
            throw MembershipError.invalid("\(address) is node \(status.nodeID), not node \(id)")
        }
        let ours = String(clusterID, radix: 16)
        guard status.clusterID.isEmpty || status.clusterID == ours else {
            throw MembershipError.invalid(
                "node \(id) at \(address) belongs to cluster \(status.clusterID), not this cluster (\(ours)); start it with empty data and --join")
        }
        return status
    }

    /// Backends of members without a record, asked of each (1 s each, concurrently).
    private func liveBackends(_ view: MembershipView) async -> [UInt64: (String, String)] {
        await withTaskGroup(of: (UInt64, (String, String)?).self) { group in
            for member in view.members where member.record == nil {
                if member.id == admin.id {
                    let mine = admin.ownRecord(replaces: 0)
                    group.addTask { (member.id, mine.map { ($0.logBackend, $0.stateBackend) }) }
                    continue
                }
                guard let address = member.httpAddress else { continue }
                let probe = self.probe
                group.addTask {
                    let answer = try? await probe.execute(SimpleHTTPRequest(method: "GET", path: "/status"), to: address, timeout: .seconds(1))
                    guard let answer, answer.status == 200,
                        let status = try? JSONDecoder().decode(NodeStatus.self, from: Data(answer.body)), status.nodeID == member.id
                    else { return (member.id, nil) }
                    return (member.id, (status.logBackend, status.stateBackend))
                }
            }
            var found: [UInt64: (String, String)] = [:]
            for await (id, backends) in group { if let backends { found[id] = backends } }
            return found
        }
    }

    private func readBody(_ request: Request) async throws -> [UInt8] {
        var buffer = try await request.body.collect(upTo: 64 * 1024)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// The membership as JSON; `backends` fills in members without a record.
    static func document(_ view: MembershipView, backends: [UInt64: (String, String)]) -> JSONValue {
        let members: [JSONValue] = view.members.map { member in
            let known = member.record.map { ($0.logBackend, $0.stateBackend) } ?? backends[member.id]
            var fields: [(String, JSONValue)] = [
                ("node_id", .unsigned(member.id)),
                ("role", .string(member.isVoter ? "voter" : "learner")),
                ("leader", .bool(member.isLeader)),
                ("raft_addr", member.raftAddress.map { .string($0.description) } ?? .null),
                ("http_addr", member.httpAddress.map { .string($0.description) } ?? .null),
                ("log_backend", known.map { .string($0.0) } ?? .null),
                ("state_backend", known.map { .string($0.1) } ?? .null),
                ("registered", .bool(member.record != nil)),
            ]
            if let replaces = member.record?.replaces, replaces != 0 { fields.append(("replaces", .unsigned(replaces))) }
            if let match = member.match { fields.append(("match_index", .unsigned(match))) }
            if let since = member.sinceLastHeard {
                fields.append(("last_heard_ms", .unsigned(UInt64(since.components.seconds * 1000 + since.components.attoseconds / 1_000_000_000_000_000))))
            }
            return .object(from: fields)
        }
        return .object(from: [
            ("node_id", .unsigned(view.nodeID)),
            ("cluster_id", .string(view.clusterID == 0 ? "" : String(view.clusterID, radix: 16))),
            ("leader_id", .unsigned(view.leaderID)),
            ("term", .unsigned(view.term)),
            ("commit_index", .unsigned(view.commitIndex)),
            ("last_index", .unsigned(view.lastIndex)),
            ("members", .array(members)),
        ])
    }
}

/// Carries a snapshot into the response body's writer.
private final class SnapshotBox: @unchecked Sendable {
    let snapshot: any StateSnapshot
    init(_ snapshot: any StateSnapshot) { self.snapshot = snapshot }
    var source: Source { Source(snapshot: snapshot) }

    struct Source: KeyValueSource {
        let snapshot: any StateSnapshot
        mutating func next() throws -> KeyValue? { try snapshot.next() }
    }
}

/// The members of a small JSON request body, typed.
struct JSONFields {
    let object: JSONValue

    init(_ body: [UInt8]) throws {
        let value = try JSONValue.parse(body, maxDepth: 4)
        guard case .object = value else { throw APIError.invalidArgument("the request body must be a JSON object") }
        object = value
    }

    func string(_ name: String) throws -> String {
        guard let value = object[name]?.stringValue, !value.isEmpty else {
            throw APIError.invalidArgument("the body needs \"\(name)\", a non-empty string")
        }
        return value
    }

    func address(_ name: String) throws -> HostPort {
        let text = try string(name)
        do { return try HostPort(parsing: text) } catch {
            throw APIError.invalidArgument("\"\(name)\" must be host:port, got \"\(text)\"")
        }
    }

    func optionalUnsigned(_ name: String) throws -> UInt64? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let number = value.numberValue, let int = number.int64Value, int >= 0 else {
            throw APIError.invalidArgument("\"\(name)\" must be a non-negative integer")
        }
        return UInt64(int)
    }

    func unsigned(_ name: String) throws -> UInt64 {
        guard let value = try optionalUnsigned(name), value > 0 else {
            throw APIError.invalidArgument("the body needs \"\(name)\", a positive integer")
        }
        return value
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = object[name], !value.isNull else { return nil }
        guard case .bool(let flag) = value else { throw APIError.invalidArgument("\"\(name)\" must be true or false") }
        return flag
    }
}
