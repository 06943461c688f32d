import Raft
import RaftRuntime
import RaftTCPTransport
import Testing
import TestUtilities

@Suite("TCPTransport: injected network faults")
struct NetworkFaultsTests {
    func ping(from: NodeID, to: NodeID, _ seq: UInt64) -> Message {
        Message(kind: .heartbeat, from: from, to: to, term: 1, logIndex: seq, commit: seq)
    }

    func transport(_ id: NodeID, _ inbox: Inbox, faults: NetworkFaults) async throws -> TCPTransport {
        let transport = TCPTransport(
            nodeID: id, listenAddress: PeerAddress(host: loopback, port: 0), logger: quietLogger(), faults: faults)
        try await transport.start(receive: inbox.handler)
        return transport
    }

    @Test("one-way loss, a full cut, and healing, across three transports")
    func dropsAndHeals() async throws {
        let inboxes = [Inbox(), Inbox(), Inbox()]
        let faults = [NetworkFaults(), NetworkFaults(), NetworkFaults()]
        var transports: [TCPTransport] = []
        for id in 1...3 { transports.append(try await transport(NodeID(id), inboxes[id - 1], faults: faults[id - 1])) }
        connectAll(transports)
        let (a, b, c) = (transports[0], transports[1], transports[2])

        // One way: 1's messages to 2 are lost; 2 still reaches 1; 3 is unaffected.
        faults[0].set(NetworkFaults.Rules(dropOutbound: [2]))
        a.send([ping(from: 1, to: 2, 1), ping(from: 1, to: 3, 1)])
        b.send([ping(from: 2, to: 1, 1)])
        #expect(await eventually { inboxes[0].count == 1 && inboxes[2].count == 1 })
        // Give a lost message every chance to arrive before concluding it was dropped.
        c.send([ping(from: 3, to: 2, 1)])
        #expect(await eventually { inboxes[1].count == 1 })
        #expect(inboxes[1].all.map(\.from) == [3])
        #expect(faults[0].dropped.outbound == 1)

        // Inbound: 3 ignores 2 while 2 sends normally.
        faults[0].set(.none)
        faults[2].set(.isolate(from: [2]))
        b.send([ping(from: 2, to: 3, 2)])
        a.send([ping(from: 1, to: 3, 2), ping(from: 1, to: 2, 2)])
        #expect(await eventually { inboxes[2].count == 2 && inboxes[1].count == 2 })
        #expect(inboxes[2].all.map(\.from) == [1, 1])
        #expect(await eventually { faults[2].dropped.inbound == 1 })

        // Healed: everything flows again at once, over the same connections.
        faults[2].set(.none)
        b.send([ping(from: 2, to: 3, 3)])
        #expect(await eventually { inboxes[2].count == 3 })
        #expect(a.stats.reconnects == 0 && b.stats.reconnects == 0)
        for transport in transports { await transport.shutdown() }
    }

    @Test("a transport without a NetworkFaults drops nothing")
    func noFaultsByDefault() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await startedTransport(1, inbox: inboxA)
        let b = try await startedTransport(2, inbox: inboxB)
        connectAll([a, b])
        a.send((1...50).map { ping(from: 1, to: 2, $0) })
        #expect(await eventually { inboxB.count == 50 })
        #expect(a.stats.dropped == 0)
        await a.shutdown()
        await b.shutdown()
    }
}
