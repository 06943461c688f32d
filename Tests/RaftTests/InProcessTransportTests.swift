#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Raft
import RaftRuntime
import Synchronization
import Testing
import TestUtilities

@Suite("InProcessTransport")
struct InProcessTransportTests {
    func heartbeat(from: NodeID, to: NodeID, seq: UInt64) -> Message {
        Message(kind: .heartbeat, from: from, to: to, term: 1, commit: seq)
    }

    @Test("messages are delivered in order per receiver")
    func deliversInOrder() async throws {
        let hub = InProcessHub()
        let inboxes = [Inbox(), Inbox(), Inbox()]
        let transports = (1...3).map { hub.transport(for: NodeID($0)) }
        for (transport, inbox) in zip(transports, inboxes) { try await transport.start(receive: inbox.handler) }

        for seq in 0..<100 {
            transports[0].send([heartbeat(from: 1, to: 2, seq: UInt64(seq)), heartbeat(from: 1, to: 3, seq: UInt64(seq))])
        }
        #expect(await eventually { inboxes[1].count == 100 && inboxes[2].count == 100 })
        #expect(inboxes[1].all.map(\.commit) == Array(0..<100))
        #expect(hub.stats.delivered == 200)
        for transport in transports { await transport.shutdown() }
    }

    @Test("partitions, isolation and filters drop messages until healed")
    func faults() async throws {
        let hub = InProcessHub()
        let inboxes = [Inbox(), Inbox(), Inbox()]
        let transports = (1...3).map { hub.transport(for: NodeID($0)) }
        for (transport, inbox) in zip(transports, inboxes) { try await transport.start(receive: inbox.handler) }

        hub.partition([[1], [2, 3]])
        transports[0].send([heartbeat(from: 1, to: 2, seq: 1)])
        transports[1].send([heartbeat(from: 2, to: 3, seq: 2)])
        #expect(await eventually { inboxes[2].count == 1 })
        #expect(hub.stats.filtered == 1)

        hub.heal()
        hub.isolate(3)
        transports[0].send([heartbeat(from: 1, to: 2, seq: 3), heartbeat(from: 1, to: 3, seq: 4)])
        #expect(await eventually { inboxes[1].count == 1 })
        #expect(inboxes[1].all.map(\.commit) == [3])

        hub.heal()
        hub.setFilter { $0.commit % 2 == 0 }
        transports[0].send((10..<20).map { heartbeat(from: 1, to: 2, seq: UInt64($0)) })
        #expect(await eventually { inboxes[1].count == 6 })
        #expect(inboxes[1].all.map(\.commit) == [3, 10, 12, 14, 16, 18])
        #expect(hub.stats.filtered == 7)
        for transport in transports { await transport.shutdown() }
    }

    @Test("a stopped node is unreachable, and can start again")
    func restart() async throws {
        let hub = InProcessHub()
        let a = hub.transport(for: 1)
        var b = hub.transport(for: 2)
        try await a.start { _ in }
        try await b.start { _ in }
        await #expect(throws: InProcessTransportError.alreadyStarted(2)) {
            try await hub.transport(for: 2).start { _ in }
        }
        await b.shutdown()
        await b.shutdown()
        a.send([heartbeat(from: 1, to: 2, seq: 1)])
        #expect(hub.stats.unreachable == 1)

        let inbox = Inbox()
        b = hub.transport(for: 2)
        try await b.start(receive: inbox.handler)
        await hub.transport(for: 2).shutdown()  // a stale transport cannot stop the new one
        a.send([heartbeat(from: 1, to: 2, seq: 2)])
        #expect(await eventually { inbox.count == 1 })
        await a.shutdown()
        await b.shutdown()
    }

    @Test("a full inbox drops the oldest messages")
    func overflow() async throws {
        let hub = InProcessHub(inboxCapacity: 5)
        let gate = Gate()
        let inbox = Inbox()
        let b = hub.transport(for: 2)
        // The receiver blocks on its first message, so the rest pile up.
        try await b.start { message in
            gate.wait()
            inbox.receive(message)
        }
        hub.transport(for: 1).send((0..<20).map { heartbeat(from: 1, to: 2, seq: UInt64($0)) })
        gate.open()
        #expect(await eventually { UInt64(inbox.count) + hub.stats.overflowed == 20 })
        #expect(hub.stats.overflowed >= 14)
        #expect(inbox.all.last?.commit == 19)
        await b.shutdown()
    }
}

/// A one-shot latch for holding a receiver back (bounded: opens by itself after 10 s).
final class Gate: Sendable {
    private let isOpen = Mutex(false)

    func open() { isOpen.withLock { $0 = true } }

    func wait() {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while !isOpen.withLock({ $0 }), clock.now < deadline {
            usleep(1_000)
        }
    }
}
