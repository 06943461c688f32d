import Logging
import NIOCore
import NIOPosix
import Raft
import RaftRuntime
import Synchronization

/// The outbound side of the transport towards one peer: a bounded queue of
/// encoded frames and at most one TCP connection, opened on the first send
/// and reopened with capped exponential backoff after it fails or drops.
///
/// Threading: `enqueue` runs on any thread and only touches `outbox` (behind
/// a mutex). Everything about the connection lives in `connection`, which
/// NIOLoopBoundBox confines to `loop`, the event loop the channel also runs
/// on; `enqueue` hops there with `loop.execute`, at most once per batch.
final class PeerLink: Sendable {
    let peerID: NodeID
    let address: PeerAddress
    let loop: any EventLoop
    private let configuration: TCPTransportConfiguration
    private let counters: TransportCounters
    private let logger: Logger
    private let outbox: Mutex<Outbox>
    private let connection: NIOLoopBoundBox<ConnectionState>
    /// Told when a connection attempt fails or an open connection drops.
    private let onUnreachable: @Sendable () -> Void

    init(
        peerID: NodeID, address: PeerAddress, loop: any EventLoop,
        configuration: TCPTransportConfiguration, counters: TransportCounters, logger: Logger,
        onUnreachable: @escaping @Sendable () -> Void = {}
    ) {
        self.onUnreachable = onUnreachable
        self.peerID = peerID
        self.address = address
        self.loop = loop
        self.configuration = configuration
        self.counters = counters
        var logger = logger
        logger[metadataKey: "raft.peer"] = "\(peerID)"
        logger[metadataKey: "raft.peer.address"] = "\(address)"
        self.logger = logger
        self.outbox = Mutex(Outbox())
        self.connection = .makeBoxSendingValue(ConnectionState(), eventLoop: loop)
    }

    // MARK: Any thread

    /// Queues frames for this peer and makes sure a drain is scheduled.
    func enqueue(_ frames: [ByteBuffer]) {
        let configuration = self.configuration
        let dropped = outbox.withLock { outbox -> Int in
            guard !outbox.closed else { return 0 }
            var dropped = 0
            for frame in frames { dropped += outbox.push(frame, configuration: configuration) }
            if !outbox.drainScheduled {
                outbox.drainScheduled = true
                // Scheduled under the lock: closeOnLoop sets `closed` under it
                // too, so no drain can be scheduled after the link closed and
                // its event loop group may have shut down. (execute only
                // appends to the loop's task queue; it never runs inline.)
                loop.execute { self.drain() }
            }
            return dropped
        }
        if dropped > 0 { counters.droppedQueueFull.add(dropped) }
    }

    /// Frames waiting in the queue.
    var queuedFrameCount: Int { outbox.withLock { $0.count } }

    /// Stops the link: drops the queue, cancels any pending reconnection and
    /// closes the connection. The future completes once the channel (if any)
    /// is closed. Safe to call more than once.
    func close() -> EventLoopFuture<Void> {
        loop.flatSubmit { self.closeOnLoop() }
    }

    // MARK: On `loop`

    private func drain() {
        switch connection.value.phase {
        case .closed, .connecting, .backingOff:
            // A new connection drains when it comes up; a closed link never sends.
            outbox.withLock { $0.drainScheduled = false }
        case .idle:
            outbox.withLock { $0.drainScheduled = false }
            connect()
        case let .connected(channel, _):
            // An unwritable channel calls `channelWritable()` once it drains.
            guard channel.isWritable else {
                outbox.withLock { $0.drainScheduled = false }
                return
            }
            let frames = outbox.withLock { outbox in
                outbox.drainScheduled = false
                return outbox.takeAll()
            }
            guard !frames.isEmpty else { return }
            var bytes = 0
            for frame in frames {
                bytes += frame.readableBytes
                channel.write(frame, promise: nil)
            }
            channel.flush()
            counters.framesSent.add(frames.count)
            counters.bytesSent.add(bytes)
        }
    }

    private func connect() {
        connection.value.generation &+= 1
        let generation = connection.value.generation
        let highWaterMark = max(configuration.writeBufferHighWaterMark, 2)
        let future = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: highWaterMark / 2, high: highWaterMark))
            .channelInitializer { channel in
                // Runs on `loop` before the connect: remember the channel, so
                // that close() can abort the attempt instead of waiting it out.
                self.connectionStarting(channel, generation: generation)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OutboundConnectionHandler(link: self))
                }
            }
            .connect(host: address.host, port: address.port)
        connection.value.phase = .connecting(future, channel: connection.value.pendingChannel)
        connection.value.pendingChannel = nil
        future.assumeIsolated().whenComplete { result in
            self.connectCompleted(result, generation: generation)
        }
    }

    private func connectionStarting(_ channel: any Channel, generation: UInt64) {
        guard connection.value.generation == generation else { return }
        switch connection.value.phase {
        case let .connecting(future, _):
            connection.value.phase = .connecting(future, channel: channel)
        case .idle:
            // The initializer ran before connect() recorded the attempt.
            connection.value.pendingChannel = channel
        case .closed:
            channel.close(promise: nil)
        case .connected, .backingOff:
            break
        }
    }

    private func connectCompleted(_ result: Result<any Channel, any Error>, generation: UInt64) {
        guard case .connecting = connection.value.phase, connection.value.generation == generation else {
            // Closed (or superseded) while connecting: nobody will use this channel.
            if case let .success(channel) = result { channel.close(promise: nil) }
            return
        }
        switch result {
        case let .success(channel) where !channel.isActive:
            // Connected and already closed again: its channelInactive found no
            // .connected phase to act on, so handle the loss here.
            connection.value.failures += 1
            scheduleReconnect()
        case let .success(channel):
            if connection.value.everConnected || connection.value.failures > 0 {
                counters.reconnects.add(1)
            }
            connection.value.everConnected = true
            connection.value.phase = .connected(channel, since: .now())
            logger.debug("connected to peer", metadata: ["attempts": "\(connection.value.failures + 1)"])
            drain()
        case let .failure(error):
            counters.connectFailures.add(1)
            connection.value.failures += 1
            // Say it once at .info when a peer becomes unreachable; the retries
            // that follow (every second at most) only at .debug.
            logger.log(
                level: connection.value.failures == 1 ? .info : .debug,
                "cannot connect to peer; retrying with backoff",
                metadata: ["error": "\(error)", "consecutive_failures": "\(connection.value.failures)"]
            )
            onUnreachable()
            scheduleReconnect()
        }
    }

    /// Called by the connection's handler when its channel goes inactive.
    func connectionLost(_ channel: any Channel) {
        guard case let .connected(current, since) = connection.value.phase, current === channel else { return }
        // A connection that stayed up for a while resets the backoff; one that
        // drops at once (a peer that accepts, then rejects us) keeps growing it.
        if NIODeadline.now() - since >= TimeAmount(configuration.maxReconnectDelay) {
            connection.value.failures = 1
        } else {
            connection.value.failures += 1
        }
        logger.info("lost connection to peer; reconnecting", metadata: [
            "queued": "\(queuedFrameCount)",
        ])
        onUnreachable()
        scheduleReconnect()
    }

    /// Called by the connection's handler when its channel can take writes again.
    func channelWritable(_ channel: any Channel) {
        guard case let .connected(current, _) = connection.value.phase, current === channel else { return }
        drain()
    }

    private func scheduleReconnect() {
        let delay = reconnectDelay(failures: connection.value.failures)
        let task = loop.assumeIsolated().scheduleTask(in: delay) {
            self.reconnectTimerFired()
        }
        connection.value.phase = .backingOff(task)
    }

    private func reconnectTimerFired() {
        guard case .backingOff = connection.value.phase else { return }
        connection.value.phase = .idle
        // Lazy like the first connection: only reconnect with something to send.
        if queuedFrameCount > 0 { connect() }
    }

    private func reconnectDelay(failures: Int) -> TimeAmount {
        let initial = TimeAmount(configuration.initialReconnectDelay).nanoseconds
        let cap = max(TimeAmount(configuration.maxReconnectDelay).nanoseconds, initial)
        let exponent = min(max(failures - 1, 0), 32)
        let (scaled, overflow) = initial.multipliedReportingOverflow(by: Int64(1) << exponent)
        let base = overflow ? cap : min(scaled, cap)
        return .nanoseconds(Int64(Double(base) * Double.random(in: 0.8...1.2)))
    }

    private func closeOnLoop() -> EventLoopFuture<Void> {
        outbox.withLock { outbox in
            outbox.closed = true
            _ = outbox.takeAll()
        }
        let phase = connection.value.phase
        connection.value.phase = .closed
        switch phase {
        case .idle, .closed:
            return loop.makeSucceededVoidFuture()
        case let .backingOff(task):
            task.cancel()
            return loop.makeSucceededVoidFuture()
        case let .connecting(future, channel):
            // Abort the attempt; connectCompleted (registered first) sees
            // .closed and closes the channel should the connect still succeed.
            channel?.close(promise: nil)
            return future.flatMap { $0.closeFuture }.recover { _ in }
        case let .connected(channel, _):
            channel.close(promise: nil)
            return channel.closeFuture
        }
    }
}

extension PeerLink {
    struct ConnectionState: Sendable {
        enum Phase: Sendable {
            /// No connection and no attempt under way; the next send connects.
            case idle
            /// `channel` is known once the bootstrap has created it.
            case connecting(EventLoopFuture<any Channel>, channel: (any Channel)?)
            case connected(any Channel, since: NIODeadline)
            /// Waiting out the reconnect delay.
            case backingOff(Scheduled<Void>)
            case closed
        }

        var phase = Phase.idle
        /// Consecutive failed attempts or short-lived connections.
        var failures = 0
        var everConnected = false
        /// Tells the current connection attempt from superseded ones.
        var generation: UInt64 = 0
        /// The channel of an attempt whose initializer ran before `connect()`
        /// could record the attempt (possible if the bootstrap runs it inline).
        var pendingChannel: (any Channel)?
    }

    /// Encoded frames waiting for the connection, oldest first.
    struct Outbox {
        private var frames: [ByteBuffer] = []
        private var head = 0
        private(set) var bytes = 0
        var drainScheduled = false
        var closed = false

        var count: Int { frames.count - head }

        /// Appends `frame` under the configured limits; returns how many
        /// frames were dropped to respect them (0 or more).
        mutating func push(_ frame: ByteBuffer, configuration: TCPTransportConfiguration) -> Int {
            let maxCount = max(configuration.maxQueuedMessagesPerPeer, 1)
            let maxBytes = configuration.maxQueuedBytesPerPeer
            switch configuration.overflowPolicy {
            case .dropNewest:
                if count >= maxCount || (count > 0 && bytes + frame.readableBytes > maxBytes) { return 1 }
                append(frame)
                return 0
            case .dropOldest:
                append(frame)
                var dropped = 0
                while count > maxCount || (count > 1 && bytes > maxBytes) {
                    removeFirst()
                    dropped += 1
                }
                return dropped
            }
        }

        mutating func takeAll() -> [ByteBuffer] {
            let taken = head == 0 ? frames : Array(frames[head...])
            frames = []
            head = 0
            bytes = 0
            return taken
        }

        private mutating func append(_ frame: ByteBuffer) {
            frames.append(frame)
            bytes += frame.readableBytes
        }

        private mutating func removeFirst() {
            bytes -= frames[head].readableBytes
            frames[head] = ByteBuffer()  // release the storage now
            head += 1
            if head >= 64, head * 2 >= frames.count {
                frames.removeFirst(head)
                head = 0
            }
        }
    }
}

/// The pipeline end of an outbound connection. Peers never write on a
/// connection we opened (each direction uses its own), so reads are dropped.
final class OutboundConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let link: PeerLink

    init(link: PeerLink) {
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { link.channelWritable(context.channel) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.connectionLost(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Write errors (peer gone) end up here; closing leads to channelInactive
        // and from there to a reconnection.
        context.close(promise: nil)
    }
}
