import DynamoDBAPI
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import RaftLabHTTPClient
import RaftLabNode

/// DynamoDB's JSON protocol on the node's HTTP port: `POST /` with an
/// `X-Amz-Target` header. A thin layer: it collects the body and headers,
/// lets `DynamoDBHandler` do everything else, and relays to the leader the
/// requests the handler says need it (AWS clients do not follow redirects).
///
/// A relayed request carries every header the client sent, and
/// `X-RaftLab-Signed-Host` with the Host the client addressed, so the
/// leader checks the client's own signature. The leader honours that header
/// only from a member (`MemberProof`): a client that sends it is checked
/// against the Host it addressed, like any client.
struct DynamoDBRoutes<Service: NoSQLService>: Sendable {
    static var signedHostHeader: HTTPField.Name { HTTPField.Name("X-RaftLab-Signed-Host")! }

    let handler: DynamoDBHandler<Service>
    let forwarder: LeaderForwarder


    func register(on router: Router<BasicRequestContext>) {
        router.post("/") { request, context in await handle(request, logger: context.logger) }
    }

    func handle(_ request: Request, logger: Logger? = nil) async -> Response {
        let limit = DynamoDBHandler<Service>.maxRequestBytes
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: limit)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return Self.response(.error("SerializationException", "the request body is over the limit of \(limit) bytes", status: 413))
        }
        var headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let host = request.head.authority ?? ""
        headers.append((name: "host", value: host))
        let claimedHost = request.headers[Self.signedHostHeader]
        let isForwarded = forwarder.proof.isMemberRelay(request, body: body, signedHost: claimedHost, logger: logger)
        let signed = SignedRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body)
        let dynamoRequest = DynamoDBRequest(
            http: signed, signedHost: isForwarded ? claimedHost : nil, isForwarded: isForwarded)
        switch await handler.handle(dynamoRequest) {
        case .response(let response):
            return Self.response(response)
        case let .forward(leaderID, address):
            let memberOnly = [Self.signedHostHeader, LeaderForwarder.header, MemberProof.header].map(\.canonicalName)
            var relayed = headers.filter { !RelayedHeaders.hopByHop.contains($0.name) && !memberOnly.contains($0.name) }
                .map { ($0.name, $0.value) }
            relayed.append((Self.signedHostHeader.rawName, host))
            do {
                let answer = try await forwarder.relay(request, headers: relayed, body: body, signedHost: host, to: address)
                var fields = HTTPFields()
                for (name, value) in answer.headers where RelayedHeaders.answer.contains(name.lowercased()) {
                    if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
                }
                return Response(
                    status: HTTPResponse.Status(code: answer.status), headers: fields,
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
            } catch let error as SimpleHTTPClientError where !error.requestMayHaveBeenSent {
                return Self.response(
                    .error("ServiceUnavailable", "cannot reach the leader (node \(leaderID) at \(address)): \(error)", status: 503))
            } catch {
                return Self.response(
                    .error(
                        "InternalServerError",
                        "relaying the request to the leader (node \(leaderID) at \(address)) failed: \(error); a write may still take effect",
                        status: 500))
            }
        }
    }

    static func response(_ response: DynamoDBResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(
            status: HTTPResponse.Status(code: response.status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: response.body)))
    }
}

/// Which headers a relay copies.
enum RelayedHeaders {
    /// Headers of a request that belong to one connection, not to the request.
    static let hopByHop: Set<String> = ["host", "connection", "content-length", "transfer-encoding", "keep-alive", "expect"]
    /// Headers of the leader's answer that go back to the client.
    static let answer: Set<String> = ["content-type", "x-amzn-requestid", "x-amz-crc32", "retry-after"]
}
