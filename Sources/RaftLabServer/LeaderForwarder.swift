import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import RaftLabAPI
import RaftLabHTTPClient
import RaftLabNode

/// Relays a write a follower received to the leader and the leader's answer
/// back, for `HTTPAPIOptions.forwardWritesToLeader` and for every DynamoDB
/// API request that needs the leader. The forwarded request carries
/// `X-RaftLab-Forwarded` and a `MemberProof`; a node never forwards such a
/// request again (it redirects or answers "unavailable" instead), so two
/// nodes that disagree on the leader cannot bounce a request between them.
/// The header counts only with a valid proof: a client cannot claim it.
struct LeaderForwarder: Sendable {
    static let header = HTTPField.Name("X-RaftLab-Forwarded")!
    /// The client's key for an exactly-once write (the IETF draft's header
    /// name); forwarded with the write so the leader deduplicates it too.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// When the client first sent its `Idempotency-Key`, in ms since the Unix epoch.
    static let idempotencyKeyTime = HTTPField.Name("Idempotency-Key-Time")!

    let client: SimpleHTTPClient
    let timeout: Duration
    /// Vouches for the member-only headers of what this node relays.
    let proof: MemberProof

    /// Headers of the leader's answer that the client needs.
    private static let relayedHeaders = ["content-type", "location", "retry-after"]

    /// Whether `request` was forwarded by a member (it says so and proves it).
    func isForwarded(_ request: Request, body: [UInt8], logger: Logger? = nil) -> Bool {
        proof.isMemberRelay(request, body: body, signedHost: nil, logger: logger)
    }

    /// Sends `request` (method, path and query, `headers` and `body`) to the
    /// leader, marked as forwarded with this member's proof (covering
    /// `signedHost`, sent by the caller as `X-RaftLab-Signed-Host`), and
    /// returns its answer whatever the status.
    func relay(
        _ request: Request, headers: [(String, String)], body: [UInt8], signedHost: String? = nil, to address: HostPort
    ) async throws -> SimpleHTTPResponse {
        let target = request.uri.string
        let proofValue = proof.proof(method: request.method.rawValue, target: target, signedHost: signedHost, body: body)
        let relayed = SimpleHTTPRequest(
            method: request.method.rawValue, path: target,
            headers: [(Self.header.rawName, "1"), (MemberProof.header.rawName, proofValue)] + headers, body: body)
        return try await client.execute(relayed, to: address, timeout: timeout)
    }

    func forward(_ request: Request, body: [UInt8], to address: HostPort, leaderID: UInt64) async throws -> Response {
        var headers: [(String, String)] = []
        if let contentType = request.headers[.contentType] { headers.append(("Content-Type", contentType)) }
        if let key = request.headers[Self.idempotencyKey] { headers.append((Self.idempotencyKey.rawName, key)) }
        if let time = request.headers[Self.idempotencyKeyTime] { headers.append((Self.idempotencyKeyTime.rawName, time)) }
        // The leader checks the client's token itself.
        if let authorization = request.headers[.authorization] { headers.append(("Authorization", authorization)) }
        let answer: SimpleHTTPResponse
        do {
            answer = try await relay(request, headers: headers, body: body, to: address)
        } catch let error as SimpleHTTPClientError {
            if error.requestMayHaveBeenSent {
                throw APIError(
                    status: 504, code: APIError.Code.outcomeUnknown,
                    message: "forwarding the write to the leader (node \(leaderID) at \(address)) failed: \(error); it may or may not have been applied: retry with the same Idempotency-Key")
            }
            throw APIError(
                status: 502, code: APIError.Code.leaderUnreachable,
                message: "cannot forward the write to the leader (node \(leaderID) at \(address)): \(error)",
                headers: [(.retryAfter, "1")])
        }
        var fields = HTTPFields()
        for (name, value) in answer.headers where Self.relayedHeaders.contains(name.lowercased()) {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
