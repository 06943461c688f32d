import HTTPTypes
import Hummingbird
import NIOCore
import RaftLabNode

/// What a node measures about itself, for the benchmark running it in
/// another process (`raftlab bench --transport tcp`). Read-only, and cheap
/// enough to poll during a run.
///
/// | Method | Path | Query | Success |
/// |---|---|---|---|
/// | GET | /admin/syncs | | 200 `{"observed": {"fsync","fdatasync","msync","sync_file_range","sync_writes"} or null, "reported": N}` |
/// | GET | /admin/timeline | after | 200 `{"next": N, "missed": N, "commits": [[index, ns], ...], "applies": [[index, ns], ...]}` |
/// | POST | /admin/learners/{id} | | 200 `{"added_learner": id}` once the change committed (leader only) |
/// | DELETE | /admin/members/{id} | | 200 `{"removed": id}` once the change committed (leader only) |
///
/// `observed` counts sync system calls on the node's data directory since it
/// opened its stores (null when the process cannot see calls inside shared
/// libraries); `reported` is the stores' own count. Timeline times are
/// CLOCK_MONOTONIC nanoseconds, comparable between processes of one
/// machine; `after` is the `next` of the previous page (0 at first).
///
/// The membership endpoints exist for the benchmark's snapshot install (a
/// new, empty node joins and is removed); on a follower they answer like a
/// write does (307 to the leader, 503 without one).
struct AdminRoutes: Sendable {
    let instruments: (any NodeInstrumentation)?
    let membership: (any NodeMembership)?

    func register(on router: Router<BasicRequestContext>) {
        if instruments != nil {
            router.get("/admin/syncs") { request, _ in try syncs(request) }
            router.get("/admin/timeline") { request, _ in try timeline(request) }
        }
        if let membership {
            router.post("/admin/learners/{id}") { request, context in
                _ = try QueryParameters(request.uri.query, allowed: [])
                let id = try nodeID(context)
                try await membership.addLearner(id)
                return json("{\"added_learner\":\(id)}")
            }
            router.delete("/admin/members/{id}") { request, context in
                _ = try QueryParameters(request.uri.query, allowed: [])
                let id = try nodeID(context)
                try await membership.removeNode(id)
                return json("{\"removed\":\(id)}")
            }
        }
    }

    private func nodeID(_ context: BasicRequestContext) throws -> UInt64 {
        let text = context.parameters.get("id") ?? ""
        guard let id = UInt64(text), id > 0 else { throw APIError.invalidArgument("a node id is a positive integer, got \"\(text)\"") }
        return id
    }

    func syncs(_ request: Request) throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        guard let report = instruments?.syncReport() else { throw APIError.invalidArgument("not a node") }
        let observed = report.observed.map {
            "{\"fsync\":\($0.fsync),\"fdatasync\":\($0.fdatasync),\"msync\":\($0.msync),"
                + "\"sync_file_range\":\($0.syncFileRange),\"sync_writes\":\($0.syncWrites)}"
        } ?? "null"
        return json("{\"observed\":\(observed),\"reported\":\(report.reported)}")
    }

    func timeline(_ request: Request) throws -> Response {
        let parameters = try QueryParameters(request.uri.query, allowed: ["after"])
        guard let instruments else { throw APIError.invalidArgument("not a node") }
        let page = instruments.timeline(after: try parameters.unsigned("after") ?? 0)
        var commits: [String] = []
        var applies: [String] = []
        for event in page.events {
            let pair = "[\(event.index),\(event.nanoseconds)]"
            switch event.kind {
            case .commit: commits.append(pair)
            case .apply: applies.append(pair)
            }
        }
        return json(
            "{\"next\":\(page.next),\"missed\":\(page.missed),\"commits\":[\(commits.joined(separator: ","))],"
                + "\"applies\":[\(applies.joined(separator: ","))]}")
    }

    private func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
