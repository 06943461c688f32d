import Logging
import NIOCore
import NIOSSL
import NIOTLS
import Raft
import RaftRuntime

/// Mutual TLS for `TCPTransport`: every connection, in both directions, is
/// TLS; both ends present a certificate, which the contexts check against the
/// cluster's CA (and nothing else), and the certificate must name the node
/// at the other end.
///
/// - Inbound: a connection is accepted once its handshake completes with a
///   certificate that names a node in the transport's address book (a
///   member). Every message on it must come from that node. Anything else —
///   a plaintext client, another CA, a certificate naming no member, a
///   message from another node — is logged at warning level and the
///   connection is closed; nothing it sent reaches the engine.
/// - Outbound: frames are held until the handshake completes and the peer's
///   certificate names the node we meant to reach.
///
/// The contexts are read for each new connection, so certificates reloaded
/// (SIGHUP) apply to the next connection without a restart.
public struct TransportTLS: Sendable {
    public var serverContext: @Sendable () -> NIOSSLContext
    public var clientContext: @Sendable () -> NIOSSLContext
    /// The node a peer certificate (already verified against the CA) names, or nil.
    public var identify: @Sendable (NIOSSLCertificate) -> NodeID?
    /// How long a new inbound connection may take to complete its handshake.
    public var handshakeTimeout: Duration = .seconds(10)

    public init(
        serverContext: @escaping @Sendable () -> NIOSSLContext,
        clientContext: @escaping @Sendable () -> NIOSSLContext,
        identify: @escaping @Sendable (NIOSSLCertificate) -> NodeID?
    ) {
        self.serverContext = serverContext
        self.clientContext = clientContext
        self.identify = identify
    }
}

/// Sits after the frame decoder of an inbound TLS connection: lets messages
/// through only from the member the peer's certificate names.
final class PeerAuthenticationHandler: ChannelInboundHandler {
    typealias InboundIn = Message
    typealias InboundOut = Message

    private let tls: TransportTLS
    private let isMember: @Sendable (NodeID) -> Bool
    private let counters: TransportCounters
    private let logger: Logger
    private var peer: NodeID?
    private var refused = false
    private var remote = "unknown address"
    private var timeout: Scheduled<Void>?

    init(tls: TransportTLS, isMember: @escaping @Sendable (NodeID) -> Bool, counters: TransportCounters, logger: Logger) {
        self.tls = tls
        self.isMember = isMember
        self.counters = counters
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { remote = "\(address)" }
        let limit = tls.handshakeTimeout
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limit)) { [self] in
            if peer == nil { refuse(context: context, "no TLS handshake within \(limit)") }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timeout?.cancel()
            let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            guard let certificate, let id = tls.identify(certificate) else {
                refuse(context: context, "its certificate (signed by the cluster CA) names no node")
                return
            }
            guard isMember(id) else {
                refuse(context: context, "its certificate names node \(id), which is not a member of this cluster")
                return
            }
            peer = id
            logger.debug("accepted a TLS connection", metadata: ["remote": "\(remote)", "raft.peer": "\(id)"])
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let peer, !refused else { return }
        let message = unwrapInboundIn(data)
        guard message.from == peer else {
            refuse(context: context, "node \(peer)'s certificate sent a message from node \(message.from)")
            return
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !refused else { return }
        if peer == nil, error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            refuse(context: context, "TLS handshake failed (\(error)): a plaintext client, or a certificate not signed by the cluster CA")
            return
        }
        context.fireErrorCaught(error)
    }

    private func refuse(context: ChannelHandlerContext, _ reason: String) {
        guard !refused else { return }
        refused = true
        counters.peersRefused.add(1)
        logger.warning("refused a Raft connection from \(remote): \(reason)", metadata: ["remote": "\(remote)"])
        context.close(promise: nil)
    }
}

/// Sits before an outbound TLS connection's own handler: holds writes until
/// the handshake completes and the server's certificate names `expected`.
final class OutboundPeerVerifier: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let expected: NodeID
    private let identify: @Sendable (NIOSSLCertificate) -> NodeID?
    private let counters: TransportCounters
    private let logger: Logger
    private var verified = false
    private var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushPending = false

    init(expected: NodeID, identify: @escaping @Sendable (NIOSSLCertificate) -> NodeID?, counters: TransportCounters, logger: Logger) {
        self.expected = expected
        self.identify = identify
        self.counters = counters
        self.logger = logger
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if verified {
            context.write(data, promise: promise)
        } else {
            pending.append((unwrapOutboundIn(data), promise))
        }
    }

    func flush(context: ChannelHandlerContext) {
        if verified { context.flush() } else { flushPending = true }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            let named = certificate.flatMap(identify)
            guard named == expected else {
                counters.peersRefused.add(1)
                logger.warning(
                    "refused the TLS connection to node \(expected): its certificate names \(named.map { "node \($0)" } ?? "no node")")
                failPending(ChannelError.ioOnClosedChannel)
                context.close(promise: nil)
                return
            }
            verified = true
            for (buffer, promise) in pending { context.write(wrapOutboundOut(buffer), promise: promise) }
            pending = []
            if flushPending { context.flush() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !verified, error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            logger.warning("TLS handshake with node \(expected) failed: \(error)")
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    private func failPending(_ error: any Error) {
        let failed = pending
        pending = []
        for (_, promise) in failed { promise?.fail(error) }
    }
}
