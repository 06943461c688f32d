import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import RaftLabAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP/1.1 request: a method, an origin-form target (path and query,
/// already percent-encoded), headers and a body.
public struct SimpleHTTPRequest: Sendable {
    public var method: String
    /// `/tables/Music/items?partition_key=Queen`.
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }
}

/// A complete response: status, headers in arrival order, and the whole body.
public struct SimpleHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request got no response. `connectFailed` means nothing was sent, so
/// any request, a write included, can safely be retried; after the other
/// failures a write may or may not have reached the server.
public enum SimpleHTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection was made (refused, unreachable, DNS, connect timeout).
    case connectFailed(address: HostPort, reason: String)
    /// The connection broke before a complete response arrived.
    case connectionLost(address: HostPort, reason: String)
    /// No complete response within the time limit.
    case timedOut(address: HostPort)
    /// The response body exceeded `maxResponseBytes`.
    case responseTooLarge(address: HostPort, limit: Int)
    /// The TLS handshake failed (an untrusted or mismatched certificate, or a
    /// server that does not speak TLS); nothing was sent.
    case tlsFailed(address: HostPort, reason: String)

    /// False only when the server cannot have received the request.
    public var requestMayHaveBeenSent: Bool {
        switch self {
        case .connectFailed, .tlsFailed: return false
        default: return true
        }
    }

    public var description: String {
        switch self {
        case let .connectFailed(address, reason): "cannot connect to \(address): \(reason)"
        case let .connectionLost(address, reason): "connection to \(address) lost: \(reason)"
        case let .timedOut(address): "no response from \(address) in time"
        case let .responseTooLarge(address, limit): "the response from \(address) is larger than \(limit) bytes"
        case let .tlsFailed(address, reason): "TLS with \(address) failed: \(reason)"
        }
    }
}

/// A small HTTP/1.1 client on SwiftNIO: one request per connection
/// (`Connection: close`), the whole response collected in memory, one time
/// limit for connecting, sending and receiving. Enough for the `raftlab`
/// CLI and for a follower forwarding a write to its leader; HTTPS with a
/// `tlsContext` (the server's name or address is checked against its
/// certificate); no pooling.
public struct SimpleHTTPClient: Sendable {
    public var eventLoopGroup: any EventLoopGroup
    /// Larger response bodies fail with `.responseTooLarge`.
    public var maxResponseBytes: Int
    /// Sent as `User-Agent`.
    public var userAgent: String
    /// Speak HTTPS with this context (nil: plain HTTP).
    public var tlsContext: NIOSSLContext?

    public init(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxResponseBytes: Int = 64 << 20,
        userAgent: String = "raftlab",
        tlsContext: NIOSSLContext? = nil
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
        self.tlsContext = tlsContext
    }

    /// "https" or "http".
    public var scheme: String { tlsContext == nil ? "http" : "https" }

    /// Sends `request` to `address` and returns the response, whatever its
    /// status. Throws `SimpleHTTPClientError` (or `CancellationError`).
    public func execute(_ request: SimpleHTTPRequest, to address: HostPort, timeout: Duration) async throws
        -> SimpleHTTPResponse
    {
        let limit = TimeAmount(max(timeout, .milliseconds(1)))
        let deadline = NIODeadline.now() + limit
        let eventLoop = eventLoopGroup.next()
        let promise = eventLoop.makePromise(of: SimpleHTTPResponse.self)
        let head = Self.head(for: request, address: address, userAgent: userAgent)
        let body = request.body
        let maxBytes = maxResponseBytes
        let tls = tlsContext
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(limit)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // An IP literal cannot be a TLS server name; the certificate is then checked against the address.
                        let name = HostLiteral.isIPAddress(address.host) ? nil : address.host
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: name))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        ExchangeHandler(
                            head: head, body: body, promise: promise, maxBytes: maxBytes, address: address, overTLS: tls != nil))
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            let failure = SimpleHTTPClientError.connectFailed(address: address, reason: Self.describeConnectError(error))
            promise.fail(failure)
            if Task.isCancelled { throw CancellationError() }
            throw failure
        }

        let timeoutTask = channel.eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(SimpleHTTPClientError.timedOut(address: address))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in
            timeoutTask.cancel()
            channel.close(promise: nil)
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    static func head(for request: SimpleHTTPRequest, address: HostPort, userAgent: String) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.description)
        headers.add(name: "User-Agent", value: userAgent)
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Connection", value: "close")
        for (name, value) in request.headers where !["host", "connection", "content-length"].contains(name.lowercased()) {
            headers.replaceOrAdd(name: name, value: value)
        }
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method.uppercased()) {
            headers.add(name: "Content-Length", value: String(request.body.count))
        }
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method.uppercased()),
            uri: request.path.isEmpty ? "/" : request.path, headers: headers)
    }

    /// "connection refused" rather than a dump of every address tried.
    static func describeConnectError(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dns)" }
            if let first = error.connectionErrors.last { return describeConnectError(first.error) }
            return "no address to connect to for \(error.host)"
        }
        if let error = error as? IOError {
            if error.errnoCode == ECONNREFUSED { return "connection refused" }
            return String(describing: error)
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "connect timed out" }
        return String(describing: error)
    }
}

/// Writes the request once the channel is active and collects the response
/// into `promise`; any failure or an early close fails it. All on the channel's event loop.
private final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: [UInt8]
    private let promise: EventLoopPromise<SimpleHTTPResponse>
    private let maxBytes: Int
    private let address: HostPort
    private var sent = false
    /// True once any part of a response arrived.
    private var received = false
    private var status: Int?
    private var headers: [(String, String)] = []
    private var collected: [UInt8] = []

    /// False for plain HTTP: a server that closes without a word may be speaking TLS.
    private let overTLS: Bool

    init(
        head: HTTPRequestHead, body: [UInt8], promise: EventLoopPromise<SimpleHTTPResponse>, maxBytes: Int, address: HostPort,
        overTLS: Bool = false
    ) {
        self.overTLS = overTLS
        self.head = head
        self.body = body
        self.promise = promise
        self.maxBytes = maxBytes
        self.address = address
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { send(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context: context)
        context.fireChannelActive()
    }

    private func send(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received = true
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx heads are interim; the final head follows.
            guard head.status.code >= 200 else { return }
            status = Int(head.status.code)
            headers = head.headers.map { ($0.name, $0.value) }
        case .body(let buffer):
            guard collected.count + buffer.readableBytes <= maxBytes else {
                promise.fail(SimpleHTTPClientError.responseTooLarge(address: address, limit: maxBytes))
                context.close(promise: nil)
                return
            }
            collected.append(contentsOf: buffer.readableBytesView)
        case .end:
            if let status {
                promise.succeed(SimpleHTTPResponse(status: status, headers: headers, body: collected))
            } else {
                promise.fail(SimpleHTTPClientError.connectionLost(address: address, reason: "response ended without a status line"))
            }
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !received, error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            promise.fail(SimpleHTTPClientError.tlsFailed(address: address, reason: String(describing: error)))
        } else if !received, error is HTTPParserError {
            promise.fail(SimpleHTTPClientError.connectionLost(
                address: address, reason: "the server did not answer in HTTP (\(error)); does it serve HTTPS? (raftlab: --cacert)"))
        } else {
            promise.fail(SimpleHTTPClientError.connectionLost(address: address, reason: String(describing: error)))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let hint = !received && !overTLS ? " (if it serves HTTPS, use https:// or --cacert)" : ""
        promise.fail(
            SimpleHTTPClientError.connectionLost(
                address: address, reason: "the server closed the connection before a complete response" + hint))
        context.fireChannelInactive()
    }
}

/// Tells IP literals from host names (TLS server names must be host names).
enum HostLiteral {
    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
