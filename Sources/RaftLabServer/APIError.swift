import HTTPTypes
import Hummingbird
import NIOCore
import NoSQL
import RaftLabAPI
import RaftLabNode
import StorageCore

/// An error answer of the HTTP API: a status, a stable machine `code`, a
/// sentence for humans, and for some codes extra JSON members and headers.
///
/// Every error response has the body `{"error": CODE, "message": TEXT}`;
/// `not_leader` adds `leader_id` and `leader_addr`. The codes are those of
/// `NoSQLError.Code` plus the ones below, and are the contract clients switch
/// on (`raftlab` maps them to exit codes).
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    /// Extra members of the JSON body (e.g. `leader_id`).
    public var extra: [(String, JSONValue)]
    /// Extra response headers (e.g. `Retry-After`, `Location`).
    public var headers: [(HTTPField.Name, String)]

    public init(
        status: Int, code: String, message: String, extra: [(String, JSONValue)] = [],
        headers: [(HTTPField.Name, String)] = []
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// Codes the HTTP layer adds to `NoSQLError.Code`.
    public enum Code {
        /// 307: this node is a follower; the body and `Location` name the leader.
        public static let notLeader = "not_leader"
        /// 503 with `Retry-After: 1`: an election is running.
        public static let noLeader = "no_leader"
        /// 503: the node is stopping.
        public static let shuttingDown = "shutting_down"
        /// 503: this node cannot take requests now (its disk is full, a store fails); it retries by itself.
        public static let nodeUnavailable = "node_unavailable"
        /// 504: a read took too long (nothing changed).
        public static let timeout = "timeout"
        /// 504: a write reached the log but its fate is unknown: it may or may
        /// not have been applied. Retry only with the same `Idempotency-Key`.
        public static let outcomeUnknown = "outcome_unknown"
        /// 500: a storage or engine failure on the node, not the client's fault.
        public static let internalError = "internal"
        /// 413: the request body is over the size limit.
        public static let requestTooLarge = "request_too_large"
        /// 404: no such route.
        public static let notFound = "not_found"
        /// 405: the route exists, not with this method.
        public static let methodNotAllowed = "method_not_allowed"
        /// 502: forwarding a write to the leader failed.
        public static let leaderUnreachable = "leader_unreachable"
        /// 401 with `WWW-Authenticate: Bearer`: no token, or one this node does not know.
        public static let unauthorized = "unauthorized"
        /// 403: the token's role does not cover the request.
        public static let forbidden = "forbidden"
        /// 400: a membership change that makes no sense (not a member, address in use).
        public static let invalidMembershipChange = "invalid_membership_change"
        /// 409: another membership change is in progress, or the member already is so.
        public static let membershipConflict = "membership_conflict"
        /// 409: the change would leave the voters without a reachable quorum.
        public static let wouldLoseQuorum = "would_lose_quorum"
        /// 409: the learner to promote has not caught up with the leader's log.
        public static let notCaughtUp = "not_caught_up"
        /// 502: the node to add does not answer its /status.
        public static let memberUnreachable = "member_unreachable"
    }

    static func invalidArgument(_ message: String) -> APIError {
        APIError(status: 400, code: NoSQLError.Code.invalidArgument.rawValue, message: message)
    }

    /// The JSON body of this error.
    var body: JSONValue {
        .object(from: [("error", .string(code)), ("message", .string(message))] + extra)
    }

    /// The answer for `error`, whatever was thrown while serving `request`.
    ///
    /// - `APIError` as is; `NoSQLError` with its own status and code.
    /// - `NodeError.notLeader`: 307 to the same path and query on the leader.
    /// - `NodeError.noLeader` / `.shuttingDown`: 503 (`Retry-After: 1` for no leader).
    /// - `NodeError.timeout`, `.outcomeUnknown`: 504. `NodeError.internal`, `StorageError`, anything else: 500.
    /// - Hummingbird's own errors (an unknown route, a body over the limit) keep their status.
    static func from(_ error: any Error, request: Request, scheme: String = "http") -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as NoSQLError:
            return APIError(status: error.httpStatus, code: error.code.rawValue, message: error.message)
        case let error as NodeError:
            return from(error, request: request, scheme: scheme)
        case let error as MembershipError:
            return from(error)
        case let error as StorageError:
            return APIError(status: 500, code: Code.internalError, message: "storage error: \(error.description)")
        case is NIOTooManyBytesError:
            return APIError(status: 413, code: Code.requestTooLarge, message: "the request body is over the size limit")
        case let error as HTTPError:
            let status = Int(error.status.code)
            switch status {
            case 404:
                return APIError(
                    status: 404, code: Code.notFound,
                    message: "no such endpoint: \(request.method) \(request.uri.path)")
            case 405:
                return APIError(
                    status: 405, code: Code.methodNotAllowed,
                    message: "\(request.method) is not allowed on \(request.uri.path)")
            case 413:
                return APIError(status: 413, code: Code.requestTooLarge, message: error.body ?? "the request body is too large")
            default:
                return APIError(
                    status: status, code: status >= 500 ? Code.internalError : NoSQLError.Code.invalidArgument.rawValue,
                    message: error.body ?? error.status.reasonPhrase)
            }
        case is CancellationError:
            return APIError(status: 503, code: Code.shuttingDown, message: "the request was cancelled; the node may be stopping")
        default:
            return APIError(status: 500, code: Code.internalError, message: "internal error: \(error)")
        }
    }

    static func from(_ error: NodeError, request: Request, scheme: String = "http") -> APIError {
        switch error {
        case let .notLeader(leaderID, address):
            return notLeader(leaderID: leaderID, address: address, request: request, scheme: scheme)
        case .noLeader:
            return APIError(
                status: 503, code: Code.noLeader, message: error.description, headers: [(.retryAfter, "1")])
        case .timeout:
            return APIError(status: 504, code: Code.timeout, message: error.description)
        case .outcomeUnknown:
            return APIError(status: 504, code: Code.outcomeUnknown, message: error.description)
        case .shuttingDown:
            return APIError(
                status: 503, code: Code.shuttingDown, message: error.description, headers: [(.retryAfter, "1")])
        case .unavailable:
            return APIError(
                status: 503, code: Code.nodeUnavailable, message: error.description, headers: [(.retryAfter, "1")])
        case .internal:
            return APIError(status: 500, code: Code.internalError, message: error.description)
        }
    }

    /// A refused membership change: 400 nonsense, 409 conflicts (another
    /// change, or one that would lose quorum), 502 a node that does not
    /// answer, 504 an outcome not known in time.
    static func from(_ error: MembershipError) -> APIError {
        switch error {
        case .invalid(let why): APIError(status: 400, code: Code.invalidMembershipChange, message: why)
        case .conflict(let why): APIError(status: 409, code: Code.membershipConflict, message: why)
        case .wouldLoseQuorum(let why): APIError(status: 409, code: Code.wouldLoseQuorum, message: why)
        case .notCaughtUp(let why): APIError(status: 409, code: Code.notCaughtUp, message: why)
        case .unreachable(let why): APIError(status: 502, code: Code.memberUnreachable, message: why)
        case .outcomeUnknown(let why): APIError(status: 504, code: Code.outcomeUnknown, message: why)
        }
    }

    /// 307 Temporary Redirect to the same path and query on the leader: a
    /// client that follows it repeats the request, method and body, there.
    static func notLeader(leaderID: UInt64, address: HostPort, request: Request, scheme: String = "http") -> APIError {
        APIError(
            status: 307, code: Code.notLeader,
            message: "this node is not the leader; send writes to node \(leaderID) at \(address)",
            extra: [("leader_id", .unsigned(leaderID)), ("leader_addr", .string(address.description))],
            headers: [(.location, "\(scheme)://\(address)\(request.uri.string.hasPrefix("/") ? "" : "/")\(request.uri.string)")])
    }

    /// The HTTP response carrying this error.
    var response: Response {
        var response = jsonResponse(body, status: status)
        for (name, value) in headers { response.headers[name] = value }
        return response
    }
}

extension JSONValue {
    /// A JSON number holding `value` exactly.
    static func unsigned(_ value: UInt64) -> JSONValue {
        // A decimal integer is always a valid JSON number.
        .number(JSONNumber(String(value)) ?? .zero)
    }

    static func unsigned(_ value: UInt64?) -> JSONValue {
        value.map { .unsigned($0) } ?? .null
    }

    static func int(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }

    /// An object from members built in code; a repeated key keeps its last value.
    static func object(from members: [(String, JSONValue)]) -> JSONValue {
        var kept: [(String, JSONValue)] = []
        for (key, value) in members {
            kept.removeAll { $0.0 == key }
            kept.append((key, value))
        }
        // Keys are unique now, so building the object cannot fail.
        return (try? JSONObject(kept)).map { .object($0) } ?? .object(JSONObject())
    }
}

/// A response whose body is the canonical JSON text of `value`.
func jsonResponse(_ value: JSONValue, status: Int = 200) -> Response {
    var bytes = value.canonicalBytes
    bytes.append(UInt8(ascii: "\n"))
    return Response(
        status: HTTPResponse.Status(code: status),
        headers: [.contentType: "application/json; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
}
