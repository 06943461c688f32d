import Raft
import Synchronization

/// Network faults injected into one node's transport, for fault-injection
/// tests (`raftlab chaos`): messages to or from the listed peers are dropped,
/// as a firewall rule would drop packets, and counted.
///
/// A transport has no faults unless it is created with a `NetworkFaults`,
/// which `raftlab server` does only with `--allow-fault-injection`; normal
/// operation never carries one. A partition is a set of rules on each side;
/// one-way loss is a rule on one side only (A drops what it sends to B, B
/// still reaches A). Dropping whole messages is what Raft must tolerate
/// anyway; the connections themselves stay up, so healing is immediate.
public final class NetworkFaults: Sendable {
    /// Which peers' messages are dropped.
    public struct Rules: Sendable, Hashable {
        /// Messages this node sends to these peers are dropped.
        public var dropOutbound: Set<NodeID>
        /// Messages from these peers are dropped on arrival.
        public var dropInbound: Set<NodeID>

        public init(dropOutbound: Set<NodeID> = [], dropInbound: Set<NodeID> = []) {
            self.dropOutbound = dropOutbound
            self.dropInbound = dropInbound
        }

        /// No faults: every message flows.
        public static let none = Rules()

        /// Both directions to and from `peers` cut.
        public static func isolate(from peers: Set<NodeID>) -> Rules {
            Rules(dropOutbound: peers, dropInbound: peers)
        }
    }

    private let rules = Mutex(Rules.none)
    private let droppedOutbound = Atomic<UInt64>(0)
    private let droppedInbound = Atomic<UInt64>(0)

    public init() {}

    /// The rules in force.
    public var current: Rules { rules.withLock { $0 } }

    /// Replaces the rules; `.none` heals.
    public func set(_ new: Rules) {
        rules.withLock { $0 = new }
    }

    /// Messages dropped so far, sent and received.
    public var dropped: (outbound: UInt64, inbound: UInt64) {
        (droppedOutbound.load(ordering: .relaxed), droppedInbound.load(ordering: .relaxed))
    }

    /// Whether a message to `peer` must be dropped (and counts it if so).
    func dropsOutbound(to peer: NodeID) -> Bool {
        guard rules.withLock({ $0.dropOutbound.contains(peer) }) else { return false }
        droppedOutbound.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    /// Whether a message from `peer` must be dropped (and counts it if so).
    func dropsInbound(from peer: NodeID) -> Bool {
        guard rules.withLock({ $0.dropInbound.contains(peer) }) else { return false }
        droppedInbound.wrappingAdd(1, ordering: .relaxed)
        return true
    }
}
