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

struct ServerDidNotStart: Error {}

/// Serves `service` on 127.0.0.1 with a port the system picks, runs `body`
/// with the bound address, then stops the server.
func withLiveServer<T: Sendable>(
    _ service: InMemoryService, options: HTTPAPIOptions = HTTPAPIOptions(),
    _ body: @Sendable (HostPort) async throws -> T
) async throws -> T {
    let (addresses, continuation) = AsyncStream.makeStream(of: HostPort.self)
    let app = makeApplication(
        service: service, address: HostPort(host: "127.0.0.1", port: 0), registry: nil, options: options,
        logger: quietLogger, onListening: { address in continuation.yield(address) })
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { continuation.finish() }
            try await app.run()
        }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next() else { throw ServerDidNotStart() }
        do {
            let result = try await body(address)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// A local port that refuses connections and that no other test can take
/// while this holds it: a TCP socket bound to 127.0.0.1 that never listens.
/// (A port merely released could be handed to a server another test starts
/// in parallel, and a "dead" address would then answer.)
final class DeadPort: Sendable {
    let port: Int
    private let descriptor: Mutex<Int32>

    struct Failure: Error { var call: String }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            close(fd)
            throw Failure(call: bound != 0 ? "bind" : "getsockname")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        descriptor = Mutex(fd)
    }

    var address: HostPort { HostPort(host: "127.0.0.1", port: port) }

    /// Frees the port (for a test that then starts a server on it).
    func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }
}
