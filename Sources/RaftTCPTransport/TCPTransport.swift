import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Raft
import RaftRuntime
import Synchronization

/// Raft messages over TCP, one process per node, on SwiftNIO.
///
/// Each node listens on one address. For every peer it sends to, it keeps
/// one outbound connection, opened on the first `send` and reopened with
/// capped exponential backoff when it fails; replies come back on the peer's
/// own outbound connection, so each connection carries one direction only.
/// Frames use `MessageCodec`; an inbound connection that sends a frame that
/// does not decode is logged and closed, and only that connection.
///
/// `send` never blocks: it encodes on the caller's thread and appends to a
/// bounded per-peer queue (overflow drops messages and counts them, which Raft
/// tolerates), then writes the batch with a single flush on the event loop.
///
/// Call `shutdown()` before releasing the transport; it closes every channel
/// and, if the transport created its event loop group, shuts that down too.
public final class TCPTransport: Transport {
    public let nodeID: NodeID
    public let configuration: TCPTransportConfiguration
    private let listenAddress: PeerAddress
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let codec: MessageCodec
    private let logger: Logger
    private let counters = TransportCounters()
    private let allocator = ByteBufferAllocator()
    private let state: Mutex<State>
    /// Injected network faults; nil (the default) outside fault-injection tests.
    private let faults: NetworkFaults?
    /// Told when a peer cannot be reached (see `start(receive:unreachable:)`).
    private let unreachable = Mutex<(@Sendable (NodeID) -> Void)?>(nil)

    private struct State: Sendable {
        enum Lifecycle: Sendable {
            case idle
            case starting
            case running(server: any Channel)
            case shutDown
        }

        var lifecycle = Lifecycle.idle
        var addressBook: [NodeID: PeerAddress]
        var links: [NodeID: PeerLink] = [:]
        /// Links replaced or removed by an address book change, still closing.
        var retiredLinks: [ObjectIdentifier: PeerLink] = [:]
        var inbound: [ObjectIdentifier: any Channel] = [:]
        var boundAddress: PeerAddress?
    }

    /// - Parameters:
    ///   - nodeID: this node; inbound messages addressed to another id are dropped.
    ///   - listenAddress: where `start` listens; port 0 picks a free port
    ///     (read it back from `localAddress`).
    ///   - peers: the address book. An entry for `nodeID` itself is ignored.
    ///   - eventLoopGroup: a group to run on; nil creates one with
    ///     `configuration.eventLoopThreads` threads, owned (and shut down) by
    ///     the transport.
    ///   - logger: decode errors are logged at `.error`, connection changes
    ///     at `.info` and `.debug`.
    ///   - faults: rules that drop messages to or from some peers, for
    ///     fault-injection tests only; nil in normal operation.
    public init(
        nodeID: NodeID,
        listenAddress: PeerAddress,
        peers: [NodeID: PeerAddress] = [:],
        configuration: TCPTransportConfiguration = TCPTransportConfiguration(),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "raft.transport.tcp"),
        faults: NetworkFaults? = nil
    ) {
        self.faults = faults
        self.nodeID = nodeID
        self.listenAddress = listenAddress
        self.configuration = configuration
        self.codec = MessageCodec(maxFrameSize: configuration.maxFrameSize)
        if let eventLoopGroup {
            self.group = eventLoopGroup
            self.ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.eventLoopThreads, 1))
            self.ownsGroup = true
        }
        var logger = logger
        logger[metadataKey: "raft.node"] = "\(nodeID)"
        self.logger = logger
        self.state = Mutex(State(addressBook: peers))
    }

    // MARK: Transport

    /// As `start(receive:)`; `unreachable` hears of every failed connection
    /// attempt and every lost connection to a peer.
    public func start(
        receive: @escaping @Sendable (Message) -> Void, unreachable: @escaping @Sendable (NodeID) -> Void
    ) async throws {
        self.unreachable.withLock { $0 = unreachable }
        try await start(receive: receive)
    }

    /// Binds the listening socket and delivers every inbound message
    /// addressed to this node to `receive`, on an event loop thread.
    /// - Throws: `TCPTransportError` if started twice or after `shutdown`;
    ///   NIO's `IOError` if the address cannot be bound.
    public func start(receive: @escaping @Sendable (Message) -> Void) async throws {
        try state.withLock { state throws(TCPTransportError) in
            switch state.lifecycle {
            case .idle: state.lifecycle = .starting
            case .starting, .running: throw .alreadyStarted
            case .shutDown: throw .shutDown
            }
        }
        let codec = self.codec
        let counters = self.counters
        let logger = self.logger
        let nodeID = self.nodeID
        let tls = configuration.tls
        let isMember: @Sendable (NodeID) -> Bool = { [weak self] id in self?.peers[id] != nil }
        let faults = self.faults
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [weak self] channel in
                guard let self, self.registerInbound(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls.serverContext())) }
                    try pipeline.addHandler(ByteToMessageHandler(MessageFrameByteDecoder(codec: codec, counters: counters)))
                    if let tls {
                        try pipeline.addHandler(PeerAuthenticationHandler(tls: tls, isMember: isMember, counters: counters, logger: logger))
                    }
                    try pipeline.addHandler(InboundMessageHandler(
                        localID: nodeID, receive: receive, counters: counters, logger: logger, faults: faults
                    ))
                }
            }
        let server: any Channel
        do {
            server = try await bootstrap.bind(host: listenAddress.host, port: listenAddress.port).get()
        } catch {
            state.withLock { state in
                if case .starting = state.lifecycle { state.lifecycle = .idle }
            }
            throw error
        }
        let bound = PeerAddress(host: listenAddress.host, port: server.localAddress?.port ?? listenAddress.port)
        let stillStarting = state.withLock { state in
            guard case .starting = state.lifecycle else { return false }
            state.lifecycle = .running(server: server)
            state.boundAddress = bound
            return true
        }
        guard stillStarting else {
            // shutdown() ran while we were binding.
            try? await server.close()
            throw TCPTransportError.shutDown
        }
        logger.info("listening", metadata: ["address": "\(bound)"])
    }

    /// Encodes each message and queues it for its `to`. Never blocks. Messages
    /// for unknown peers, larger than `maxFrameSize`, or pushed out of a full
    /// queue are dropped and counted in `stats`.
    /// After `shutdown` it does nothing.
    public func send(_ messages: [Message]) {
        guard !messages.isEmpty, !isShutDown else { return }
        var framesByPeer: [NodeID: [ByteBuffer]] = [:]
        for message in messages {
            if let faults, faults.dropsOutbound(to: message.to) { continue }
            let size = codec.frameSize(of: message)
            guard size - MessageCodec.headerSize <= codec.maxFrameSize else {
                counters.droppedTooLarge.add(1)
                logger.warning("dropping a message larger than the maximum frame size", metadata: [
                    "raft.peer": "\(message.to)", "kind": "\(message.kind)", "size": "\(size)",
                    "limit": "\(codec.maxFrameSize)",
                ])
                continue
            }
            var buffer = allocator.buffer(capacity: size)
            do {
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
                    try codec.encode(message, into: raw)
                }
            } catch {
                // Unreachable: the size was checked and the buffer is large enough.
                counters.droppedTooLarge.add(1)
                continue
            }
            framesByPeer[message.to, default: []].append(buffer)
        }
        for (peerID, frames) in framesByPeer {
            switch link(for: peerID) {
            case let .link(link): link.enqueue(frames)
            case .noRoute: counters.droppedNoRoute.add(frames.count)
            case .shutDown: return
            }
        }
    }

    /// Stops listening, closes every connection and, if the transport created
    /// its event loop group, shuts it down. Later calls return at once.
    public func shutdown() async {
        let taken = state.withLock { state -> (server: (any Channel)?, channels: [any Channel], links: [PeerLink])? in
            var server: (any Channel)?
            switch state.lifecycle {
            case .shutDown: return nil
            case let .running(channel): server = channel
            case .idle, .starting: server = nil
            }
            state.lifecycle = .shutDown
            let links = Array(state.links.values) + Array(state.retiredLinks.values)
            let channels = Array(state.inbound.values)
            state.links = [:]
            state.retiredLinks = [:]
            state.inbound = [:]
            return (server, channels, links)
        }
        guard let taken else { return }
        // Stop accepting first, so no new inbound connection slips in.
        if let server = taken.server { await close(server) }
        for channel in taken.channels { await close(channel) }
        for link in taken.links { try? await link.close().get() }
        if ownsGroup {
            do {
                try await group.shutdownGracefully()
            } catch {
                logger.warning("event loop group did not shut down cleanly", metadata: ["error": "\(error)"])
            }
        }
        logger.info("transport shut down")
    }

    // MARK: Address book

    /// The address book: where each peer listens.
    public var peers: [NodeID: PeerAddress] {
        state.withLock { $0.addressBook }
    }

    /// Replaces the address book (membership change). Connections to removed
    /// peers, or to peers whose address changed, are closed and their queued
    /// messages dropped; new peers are connected on the first send.
    public func updatePeers(_ peers: [NodeID: PeerAddress]) {
        let retired = state.withLock { state -> [PeerLink] in
            state.addressBook = peers
            var retired: [PeerLink] = []
            for (id, link) in state.links where peers[id] != link.address {
                state.links[id] = nil
                if case .shutDown = state.lifecycle {} else {
                    state.retiredLinks[ObjectIdentifier(link)] = link
                }
                retired.append(link)
            }
            return retired
        }
        for link in retired {
            logger.info("peer address changed or removed; closing its connection", metadata: [
                "raft.peer": "\(link.peerID)", "old_address": "\(link.address)",
                "new_address": "\(peers[link.peerID].map { "\($0)" } ?? "none")",
            ])
            link.close().whenComplete { _ in
                self.state.withLock { _ = $0.retiredLinks.removeValue(forKey: ObjectIdentifier(link)) }
            }
        }
    }

    /// Adds or changes one peer's address.
    public func setPeer(_ id: NodeID, address: PeerAddress) {
        var book = peers
        book[id] = address
        updatePeers(book)
    }

    /// Removes one peer from the address book.
    public func removePeer(_ id: NodeID) {
        var book = peers
        book[id] = nil
        updatePeers(book)
    }

    // MARK: Introspection

    /// Where the transport listens once started, with the port the OS picked
    /// if `listenAddress` asked for port 0.
    public var localAddress: PeerAddress? {
        state.withLock { $0.boundAddress }
    }

    /// A snapshot of the counters.
    public var stats: TCPTransportStats {
        counters.snapshot()
    }

    /// Messages queued for `peer` and not yet written to its connection.
    public func queuedMessageCount(for peer: NodeID) -> Int {
        state.withLock { $0.links[peer] }?.queuedFrameCount ?? 0
    }

    // MARK: Internals

    private var isShutDown: Bool {
        state.withLock { state in
            if case .shutDown = state.lifecycle { true } else { false }
        }
    }

    private enum Route {
        case link(PeerLink)
        case noRoute
        case shutDown
    }

    /// The link to `peerID`, created on first use; `.noRoute` if the address
    /// book does not know the peer or it is this node.
    private func link(for peerID: NodeID) -> Route {
        state.withLock { state -> Route in
            if case .shutDown = state.lifecycle { return .shutDown }
            if let link = state.links[peerID] { return .link(link) }
            guard peerID != nodeID, let address = state.addressBook[peerID] else { return .noRoute }
            let link = PeerLink(
                peerID: peerID, address: address, loop: group.next(),
                configuration: configuration, counters: counters, logger: logger,
                onUnreachable: { [weak self] in self?.unreachable.withLock { $0 }?(peerID) }
            )
            state.links[peerID] = link
            return .link(link)
        }
    }

    /// Tracks an accepted channel so `shutdown` can close it; false once the
    /// transport is shutting down.
    private func registerInbound(_ channel: any Channel) -> Bool {
        let key = ObjectIdentifier(channel)
        let accepted = state.withLock { state -> Bool in
            switch state.lifecycle {
            case .starting, .running:
                state.inbound[key] = channel
                return true
            case .idle, .shutDown:
                return false
            }
        }
        guard accepted else { return false }
        counters.connectionsAccepted.add(1)
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { _ = $0.inbound.removeValue(forKey: key) }
        }
        return true
    }

    private func close(_ channel: any Channel) async {
        channel.close(promise: nil)
        try? await channel.closeFuture.get()
    }
}
