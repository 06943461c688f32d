import Raft
import RaftRuntime
import Synchronization

/// Where a node listens: a host name or IP literal and a TCP port.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Tuning knobs of `TCPTransport`. The defaults suit a cluster on one LAN.
public struct TCPTransportConfiguration: Sendable {
    /// What `send` does when a peer's queue is full. Raft tolerates loss either way.
    public enum OverflowPolicy: Sendable, Hashable {
        /// Drop the oldest queued message: the newest state (latest term,
        /// commit index) wins, which is usually what a lagging peer needs.
        case dropOldest
        /// Refuse the new message.
        case dropNewest
    }

    /// Largest message payload sent or accepted; larger outgoing messages are
    /// dropped (and counted), larger incoming frames close the connection.
    public var maxFrameSize = MessageCodec.defaultMaxFrameSize
    /// Messages queued per peer while it is unreachable or slow.
    public var maxQueuedMessagesPerPeer = 4_096
    /// Bytes of encoded frames queued per peer. A single frame larger than
    /// this is still queued when the queue is otherwise empty.
    public var maxQueuedBytesPerPeer = 128 << 20
    public var overflowPolicy = OverflowPolicy.dropOldest
    /// Give up on one connection attempt after this long.
    public var connectTimeout: Duration = .seconds(2)
    /// Wait before the first reconnection attempt; doubles per consecutive
    /// failure up to `maxReconnectDelay`, with ±20% jitter.
    public var initialReconnectDelay: Duration = .milliseconds(20)
    public var maxReconnectDelay: Duration = .seconds(1)
    /// Above this many bytes written but not yet sent, a connection stops
    /// taking frames from its queue until the socket drains.
    public var writeBufferHighWaterMark = 4 << 20
    /// Threads of the event loop group the transport creates when the caller
    /// passes none.
    public var eventLoopThreads = 1

    public init() {}
}

/// A snapshot of a transport's counters, all since it was created.
public struct TCPTransportStats: Sendable, Hashable {
    /// Frames and bytes handed to outbound connections.
    public var framesSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    /// Frames and bytes decoded from inbound connections.
    public var framesReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    /// Messages dropped because their peer's queue was full.
    public var droppedQueueFull: UInt64 = 0
    /// Messages dropped because the address book has no entry for their `to`.
    public var droppedNoRoute: UInt64 = 0
    /// Messages dropped because they encode to more than `maxFrameSize`.
    public var droppedTooLarge: UInt64 = 0
    /// Messages received whose `to` is not this node (stale address book).
    public var droppedMisrouted: UInt64 = 0
    /// Inbound connections closed because a frame failed to decode.
    public var decodeErrors: UInt64 = 0
    /// Inbound connections accepted.
    public var connectionsAccepted: UInt64 = 0
    /// Outbound connection attempts that failed.
    public var connectFailures: UInt64 = 0
    /// Outbound connections established after an earlier failure or loss.
    public var reconnects: UInt64 = 0

    public init() {}

    /// Every message `send` accepted but did not deliver to a connection.
    public var dropped: UInt64 { droppedQueueFull + droppedNoRoute + droppedTooLarge }
}

/// Errors `TCPTransport.start` throws besides the socket's own.
public enum TCPTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    case alreadyStarted
    case shutDown

    public var description: String {
        switch self {
        case .alreadyStarted: "the transport was already started"
        case .shutDown: "the transport was shut down"
        }
    }
}

/// The live counters behind `TCPTransportStats`, updated from any thread.
final class TransportCounters: Sendable {
    let framesSent = Atomic<UInt64>(0)
    let bytesSent = Atomic<UInt64>(0)
    let framesReceived = Atomic<UInt64>(0)
    let bytesReceived = Atomic<UInt64>(0)
    let droppedQueueFull = Atomic<UInt64>(0)
    let droppedNoRoute = Atomic<UInt64>(0)
    let droppedTooLarge = Atomic<UInt64>(0)
    let droppedMisrouted = Atomic<UInt64>(0)
    let decodeErrors = Atomic<UInt64>(0)
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectFailures = Atomic<UInt64>(0)
    let reconnects = Atomic<UInt64>(0)

    func snapshot() -> TCPTransportStats {
        var stats = TCPTransportStats()
        stats.framesSent = framesSent.load(ordering: .relaxed)
        stats.bytesSent = bytesSent.load(ordering: .relaxed)
        stats.framesReceived = framesReceived.load(ordering: .relaxed)
        stats.bytesReceived = bytesReceived.load(ordering: .relaxed)
        stats.droppedQueueFull = droppedQueueFull.load(ordering: .relaxed)
        stats.droppedNoRoute = droppedNoRoute.load(ordering: .relaxed)
        stats.droppedTooLarge = droppedTooLarge.load(ordering: .relaxed)
        stats.droppedMisrouted = droppedMisrouted.load(ordering: .relaxed)
        stats.decodeErrors = decodeErrors.load(ordering: .relaxed)
        stats.connectionsAccepted = connectionsAccepted.load(ordering: .relaxed)
        stats.connectFailures = connectFailures.load(ordering: .relaxed)
        stats.reconnects = reconnects.load(ordering: .relaxed)
        return stats
    }
}

extension Atomic<UInt64> {
    func add(_ value: Int) {
        wrappingAdd(UInt64(value), ordering: .relaxed)
    }
}
