import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NoSQL
import Prometheus
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import Testing

/// A logger that keeps test output quiet unless something is wrong.
let quietLogger: Logger = {
    var logger = Logger(label: "server-tests")
    logger.logLevel = .critical
    return logger
}()

/// Runs `body` against the API of `service` through HummingbirdTesting's
/// router framework (no sockets).
func withAPI(
    _ service: InMemoryService,
    registry: PrometheusCollectorRegistry? = PrometheusCollectorRegistry(),
    options: HTTPAPIOptions = HTTPAPIOptions(),
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let app = Application(router: makeRouter(service: service, metrics: registry, options: options), logger: quietLogger)
    try await app.test(.router) { client in try await body(client) }
}

extension TestClientProtocol {
    /// Sends one request with an optional text body.
    @discardableResult
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:]) async throws
        -> TestResponse
    {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    /// Sends a request and expects `status`; returns the parsed JSON body.
    @discardableResult
    func expect(
        _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, status: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue {
        let response = try await send(method, uri, body)
        #expect(Int(response.status.code) == status, "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation)
        return try response.json()
    }

    /// Sends a request and expects an error answer with `status` and `code`.
    @discardableResult
    func expectError(
        _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, status: Int, code: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        let response = try await send(method, uri, body)
        #expect(Int(response.status.code) == status, "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation)
        let json = try response.json()
        #expect(json["error"] == .string(code), "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation)
        #expect(json["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        return response
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json() throws -> JSONValue {
        try JSONValue.parse(Array(body.readableBytesView))
    }
}

extension JSONValue {
    /// The number as an Int (tests only use small ones).
    var int: Int? { numberValue?.int64Value.map { Int($0) } }
}

/// `{"Artist": ..., "SongTitle": ..., ...}` of the original simulator's demo.
enum Demo {
    static let createMusic = #"{"table_name":"Music","partition_key_name":"Artist","sort_key_name":"SongTitle"}"#
    static let letItBe = #"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}"#
    static let bohemian = #"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}"#
    static let yesterday = #"{"Artist":"The Beatles","SongTitle":"Yesterday","Album":"Help!","Year":1965}"#
}

