import Raft
import RaftRuntime
import RaftTCPTransport
import StorageCore
import Testing
import TestUtilities

@Suite("TCPTransport")
struct TCPTransportTests {
    func message(_ kind: Message.Kind = .append, from: NodeID, to: NodeID, seq: UInt64, data: [UInt8] = []) -> Message {
        Message(
            kind: kind, from: from, to: to, term: 1, logIndex: seq, commit: seq,
            entries: data.isEmpty ? [] : [LogEntry(index: seq, term: 1, data: data)]
        )
    }

    @Test("TCP: two transports exchange messages in order, including big ones")
    func twoTransportsExchange() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await startedTransport(1, inbox: inboxA)
        let b = try await startedTransport(2, inbox: inboxB)
        connectAll([a, b])

        let toB = (0..<200).map { message(from: 1, to: 2, seq: $0, data: [UInt8(truncatingIfNeeded: $0)]) }
        let toA = (0..<200).map { message(.appendResponse, from: 2, to: 1, seq: $0) }
        // Several batches, each a single send call (one flush each).
        for batch in stride(from: 0, to: 200, by: 50) {
            a.send(Array(toB[batch..<batch + 50]))
            b.send(Array(toA[batch..<batch + 50]))
        }
        var rng = SeededGenerator(seed: 3)
        let big = Message(
            kind: .snapshot, from: 1, to: 2, term: 1,
            snapshot: SnapshotChunk(
                index: 500, term: 1, configuration: ClusterConfiguration(voters: [1, 2]),
                data: rng.bytes(6 << 20), isLast: true
            )
        )
        a.send([big])

        #expect(await eventually { inboxB.count == 201 && inboxA.count == 200 })
        #expect(inboxB.all == toB + [big])
        #expect(inboxA.all == toA)

        let stats = a.stats
        #expect(stats.framesSent == 201)
        #expect(stats.framesReceived == 200)
        #expect(stats.bytesReceived == b.stats.bytesSent)
        #expect(b.stats.bytesReceived == stats.bytesSent)
        #expect(stats.dropped == 0 && stats.decodeErrors == 0 && stats.reconnects == 0)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: three transports exchange messages all to all")
    func threeTransports() async throws {
        let inboxes = [Inbox(), Inbox(), Inbox()]
        var transports: [TCPTransport] = []
        for id in 1...3 { transports.append(try await startedTransport(NodeID(id), inbox: inboxes[id - 1])) }
        connectAll(transports)

        for round in 0..<100 {
            for sender in transports {
                let others = transports.filter { $0 !== sender }
                sender.send(others.map { message(.heartbeat, from: sender.nodeID, to: $0.nodeID, seq: UInt64(round)) })
            }
        }
        #expect(await eventually { inboxes.allSatisfy { $0.count == 200 } })
        for (index, inbox) in inboxes.enumerated() {
            let me = NodeID(index + 1)
            #expect(inbox.all.allSatisfy { $0.to == me })
            for sender in transports where sender.nodeID != me {
                // One connection per peer keeps each sender's messages in order.
                #expect(inbox.all.filter { $0.from == sender.nodeID }.map(\.logIndex) == Array(0..<100))
            }
        }
        for transport in transports { await transport.shutdown() }
    }

    @Test("TCP: concurrent senders on many threads lose nothing while queues have room")
    func concurrentSenders() async throws {
        let inboxB = Inbox()
        let a = try await startedTransport(1, inbox: Inbox())
        let b = try await startedTransport(2, inbox: inboxB)
        connectAll([a, b])
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for seq in 0..<500 {
                        a.send([self.message(.heartbeat, from: 1, to: 2, seq: UInt64(sender * 1_000 + seq))])
                    }
                }
            }
        }
        #expect(await eventually { inboxB.count == 2_000 })
        #expect(a.stats.dropped == 0)
        // Each sender's own messages stay in order.
        for sender in 0..<4 {
            let mine = inboxB.all.map(\.commit).filter { $0 / 1_000 == UInt64(sender) }
            #expect(mine == (0..<500).map { UInt64(sender * 1_000 + $0) })
        }
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: a peer that is down, then comes up (and restarts), receives after reconnect")
    func reconnectAfterPeerComesUp() async throws {
        let port = try pickFreePort()
        let inboxA = Inbox(), inboxB = Inbox()
        var configuration = TCPTransportConfiguration()
        configuration.initialReconnectDelay = .milliseconds(5)
        configuration.maxReconnectDelay = .milliseconds(100)
        let a = try await startedTransport(1, inbox: inboxA, configuration: configuration)
        a.updatePeers([2: PeerAddress(host: loopback, port: port)])

        // B is down: sends queue up, connection attempts fail and back off.
        for seq in 0..<5 { a.send([message(from: 1, to: 2, seq: UInt64(seq))]) }
        #expect(await eventually { a.stats.connectFailures >= 2 })
        #expect(a.queuedMessageCount(for: 2) == 5)

        var b = try await startedTransport(2, inbox: inboxB, port: port)
        #expect(await eventually { inboxB.count == 5 })
        #expect(inboxB.all.map(\.logIndex) == Array(0..<5))
        #expect(a.stats.reconnects == 1)

        // B restarts on the same port: A notices the loss and reconnects.
        await b.shutdown()
        let inboxB2 = Inbox()
        b = try await startedTransport(2, inbox: inboxB2, port: port)
        var seq: UInt64 = 100
        let delivered = await eventually {
            // Raft keeps sending (heartbeats); so does this test, until one arrives.
            a.send([message(.heartbeat, from: 1, to: 2, seq: seq)])
            seq += 1
            return inboxB2.count > 0
        }
        #expect(delivered)
        #expect(a.stats.reconnects >= 2)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: a raw socket sending garbage is disconnected while good peers keep delivering")
    func garbageConnectionIsClosed() async throws {
        let capture = LogCapture()
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await startedTransport(1, inbox: inboxA)
        let b = try await startedTransport(2, inbox: inboxB, logger: capture.logger())
        connectAll([a, b])
        let port = b.localAddress!.port
        let codec = MessageCodec()

        var seq: UInt64 = 0
        func sendGood() async -> Bool {
            let expected = inboxB.count + 1
            a.send([message(from: 1, to: 2, seq: seq)])
            seq += 1
            return await eventually { inboxB.count == expected }
        }
        #expect(await sendGood())

        let valid = try codec.encode(message(from: 7, to: 2, seq: 1))
        var flipped = valid
        flipped[MessageCodec.headerSize + 5] ^= 0x04
        var newVersion = valid
        newVersion[2] = 9
        let hugeHeader: [UInt8] = [0x52, 0x4C, 1, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]
        let cases: [(name: String, bytes: [UInt8], expected: String)] = [
            ("HTTP request", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), "\(MessageCodecError.badMagic)"),
            ("unknown version", newVersion, "\(MessageCodecError.unsupportedVersion(9))"),
            ("bit flip", flipped, "\(MessageCodecError.checksumMismatch)"),
            ("oversized frame", hugeHeader, "exceeds the limit"),
            // A valid frame first: the log names the peer by the id it claimed.
            ("good frame, then garbage", valid + [0xDE, 0xAD, 0xBE, 0xEF], "node 7"),
        ]
        for (index, testCase) in cases.enumerated() {
            let socket = try RawSocket(port: port)
            try socket.write(testCase.bytes)
            #expect(socket.waitForClose(), "\(testCase.name): connection left open")
            #expect(await eventually { b.stats.decodeErrors == UInt64(index + 1) }, "\(testCase.name)")
            #expect(await eventually {
                capture.lines(atLeast: .error).contains { $0.contains(testCase.expected) && $0.contains("127.0.0.1") }
            }, "\(testCase.name): no error log naming the problem and the peer")
            // The node keeps running and its good peer keeps delivering.
            #expect(await sendGood(), "\(testCase.name): good peer stopped delivering")
        }
        #expect(inboxB.all.contains { $0.from == 7 })
        #expect(a.stats.reconnects == 0, "the good peer's connection was disturbed")
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: a full queue drops the oldest messages and counts them")
    func queueOverflowDropsOldest() async throws {
        let port = try pickFreePort()
        var configuration = TCPTransportConfiguration()
        configuration.maxQueuedMessagesPerPeer = 10
        configuration.initialReconnectDelay = .milliseconds(5)
        configuration.maxReconnectDelay = .milliseconds(50)
        let a = try await startedTransport(1, inbox: Inbox(), configuration: configuration)
        a.updatePeers([2: PeerAddress(host: loopback, port: port)])
        for seq in 0..<100 { a.send([message(from: 1, to: 2, seq: UInt64(seq))]) }
        #expect(a.stats.droppedQueueFull == 90)
        #expect(a.queuedMessageCount(for: 2) == 10)

        let inboxB = Inbox()
        let b = try await startedTransport(2, inbox: inboxB, port: port)
        #expect(await eventually { inboxB.count == 10 })
        #expect(inboxB.all.map(\.logIndex) == Array(90..<100))
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: dropNewest keeps the first messages")
    func queueOverflowDropsNewest() async throws {
        var configuration = TCPTransportConfiguration()
        configuration.maxQueuedMessagesPerPeer = 10
        configuration.overflowPolicy = .dropNewest
        let a = TCPTransport(
            nodeID: 1, listenAddress: PeerAddress(host: loopback, port: 0),
            peers: [2: PeerAddress(host: loopback, port: try pickFreePort())],
            configuration: configuration, logger: quietLogger()
        )
        a.send((0..<25).map { message(from: 1, to: 2, seq: UInt64($0)) })
        #expect(a.stats.droppedQueueFull == 15)
        #expect(a.queuedMessageCount(for: 2) == 10)
        await a.shutdown()
    }

    @Test("TCP: unroutable, oversized and misrouted messages are dropped and counted")
    func dropsAreCounted() async throws {
        var configuration = TCPTransportConfiguration()
        configuration.maxFrameSize = 1_000
        let inboxB = Inbox()
        let a = try await startedTransport(1, inbox: Inbox(), configuration: configuration)
        let b = try await startedTransport(2, inbox: inboxB)
        // Node 99 "lives" at B's address, as after a stale membership change.
        a.updatePeers([2: b.localAddress!, 99: b.localAddress!])

        a.send([
            message(from: 1, to: 3, seq: 1),  // not in the address book
            message(from: 1, to: 1, seq: 2),  // this node
            message(from: 1, to: 2, seq: 3, data: [UInt8](repeating: 0, count: 2_000)),  // too large
            message(from: 1, to: 99, seq: 4),  // B is not 99
            message(from: 1, to: 2, seq: 5),
        ])
        #expect(await eventually { inboxB.count == 1 && b.stats.droppedMisrouted == 1 })
        #expect(inboxB.all.map(\.logIndex) == [5])
        let stats = a.stats
        #expect(stats.droppedNoRoute == 2)
        #expect(stats.droppedTooLarge == 1)
        #expect(stats.dropped == 3)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: an address book update moves a peer's connection")
    func addressBookUpdate() async throws {
        let inboxB = Inbox()
        var configuration = TCPTransportConfiguration()
        configuration.initialReconnectDelay = .milliseconds(5)
        let a = try await startedTransport(1, inbox: Inbox(), configuration: configuration)
        let b = try await startedTransport(2, inbox: inboxB)
        a.setPeer(2, address: PeerAddress(host: loopback, port: try pickFreePort()))  // wrong address
        a.send([message(from: 1, to: 2, seq: 1)])
        #expect(await eventually { a.stats.connectFailures >= 1 })

        a.setPeer(2, address: b.localAddress!)
        #expect(a.peers == [2: b.localAddress!])
        a.send([message(from: 1, to: 2, seq: 2)])
        #expect(await eventually { inboxB.count == 1 })
        #expect(inboxB.all.map(\.logIndex) == [2])

        a.removePeer(2)
        a.send([message(from: 1, to: 2, seq: 3)])
        #expect(a.stats.droppedNoRoute == 1)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("TCP: shutdown closes every connection, frees the port, and is idempotent")
    func shutdownIsClean() async throws {
        let inboxA = Inbox(), inboxB = Inbox()
        let a = try await startedTransport(1, inbox: inboxA)
        let b = try await startedTransport(2, inbox: inboxB)
        connectAll([a, b])
        a.send([message(from: 1, to: 2, seq: 1)])
        b.send([message(from: 2, to: 1, seq: 1)])
        #expect(await eventually { inboxA.count == 1 && inboxB.count == 1 })
        await #expect(throws: TCPTransportError.alreadyStarted) { try await b.start { _ in } }

        let port = b.localAddress!.port
        let idle = try RawSocket(port: port)  // an inbound connection that never sends
        await b.shutdown()
        #expect(idle.waitForClose(), "inbound connection left open")
        await b.shutdown()  // second call: no crash, returns at once
        await #expect(throws: TCPTransportError.shutDown) { try await b.start { _ in } }
        b.send([message(from: 2, to: 1, seq: 2)])  // ignored after shutdown
        #expect(b.stats.framesSent == 1 && b.stats.dropped == 0)

        // The listening socket is gone: the port can be bound again.
        let inboxB2 = Inbox()
        let b2 = try await startedTransport(2, inbox: inboxB2, port: port)
        #expect(await eventually {
            a.send([message(.heartbeat, from: 1, to: 2, seq: 9)])
            return inboxB2.count > 0
        })
        await b2.shutdown()
        await a.shutdown()
        await a.shutdown()
    }

    @Test("TCP: shutdown while connecting and on a never-started transport")
    func shutdownEdgeCases() async throws {
        let never = TCPTransport(nodeID: 5, listenAddress: PeerAddress(host: loopback, port: 0), logger: quietLogger())
        await never.shutdown()
        await #expect(throws: TCPTransportError.shutDown) { try await never.start { _ in } }

        // A connection attempt that hangs: shutdown aborts it rather than
        // waiting out the connect timeout.
        let blackhole = try Blackhole()
        var configuration = TCPTransportConfiguration()
        configuration.connectTimeout = .seconds(60)
        let pending = TCPTransport(
            nodeID: 1, listenAddress: PeerAddress(host: loopback, port: 0),
            peers: [2: PeerAddress(host: loopback, port: blackhole.port)], configuration: configuration,
            logger: quietLogger()
        )
        try await pending.start { _ in }
        pending.send([message(from: 1, to: 2, seq: 1)])
        try await Task.sleep(for: .milliseconds(200))
        #expect(pending.stats.connectFailures == 0, "the attempt should still be pending")
        #expect(pending.queuedMessageCount(for: 2) == 1)
        let clock = ContinuousClock()
        let started = clock.now
        await pending.shutdown()
        // Generous for a loaded machine, far below the 60 s connect timeout.
        #expect(clock.now - started < .seconds(30))
        withExtendedLifetime(blackhole) {}
    }
}
