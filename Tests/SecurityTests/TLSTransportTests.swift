import Foundation
import Logging
import Raft
import RaftLabTLS
import RaftRuntime
import RaftTCPTransport
import StorageCore
import Synchronization
import Testing
import TestUtilities

#if canImport(Glibc)
import Glibc
#endif

/// Two certificate authorities made once for the suite: the cluster's, with
/// nodes 1-4 and 9, and a foreign one with nodes 1-4.
final class TestCAs: Sendable {
    static let shared = try! TestCAs()
    let cluster: String
    let foreign: String

    init() throws {
        let root = NSTemporaryDirectory() + "raftlab-security-cas-\(UUID().uuidString)"
        cluster = root + "/cluster"
        foreign = root + "/foreign"
        _ = try CertificateFactory.initialize(directory: cluster, nodes: 4)
        _ = try CertificateFactory.issueNode(directory: cluster, id: 9)
        _ = try CertificateFactory.initialize(directory: foreign, nodes: 4)
    }

    func files(_ directory: String, node: UInt64) -> TLSFiles {
        TLSFiles(
            caFile: directory + "/ca.pem", certificateFile: directory + "/node-\(node).pem",
            keyFile: directory + "/node-\(node)-key.pem")
    }
}

/// Collects what a transport delivers.
final class Inbox: Sendable {
    private let messages = Mutex<[Message]>([])
    var all: [Message] { messages.withLock { $0 } }
    var count: Int { messages.withLock { $0.count } }
    var handler: @Sendable (Message) -> Void { { [self] m in messages.withLock { $0.append(m) } } }
}

@Suite("Mutual TLS between nodes", .serialized)
struct TLSTransportTests {
    let cas = TestCAs.shared

    func message(from: NodeID, to: NodeID, seq: UInt64, term: UInt64 = 1) -> Message {
        Message(kind: .append, from: from, to: to, term: term, logIndex: seq, commit: seq)
    }

    /// A started TLS transport for node `id` with `files`; its address book
    /// lists `members` (at unused addresses until `book` is set).
    func transport(
        _ id: NodeID, files: TLSFiles, members: [NodeID], inbox: Inbox, logger: Logger = quietLogger()
    ) async throws -> TCPTransport {
        var configuration = TCPTransportConfiguration()
        configuration.tls = TransportTLS(try TLSContexts(files: files, nodeID: id))
        configuration.tls?.handshakeTimeout = .seconds(2)
        var book: [NodeID: PeerAddress] = [:]
        for member in members where member != id { book[member] = PeerAddress(host: "127.0.0.1", port: 1) }
        let transport = TCPTransport(
            nodeID: id, listenAddress: PeerAddress(host: "127.0.0.1", port: 0), peers: book,
            configuration: configuration, logger: logger)
        try await transport.start(receive: inbox.handler)
        return transport
    }

    @Test("members with certificates from the cluster CA exchange messages both ways")
    func membersTalk() async throws {
        let inbox1 = Inbox(), inbox2 = Inbox()
        let a = try await transport(1, files: cas.files(cas.cluster, node: 1), members: [1, 2], inbox: inbox1)
        let b = try await transport(2, files: cas.files(cas.cluster, node: 2), members: [1, 2], inbox: inbox2)
        a.setPeer(2, address: b.localAddress!)
        b.setPeer(1, address: a.localAddress!)
        a.send((1...50).map { message(from: 1, to: 2, seq: $0) })
        b.send((1...50).map { message(from: 2, to: 1, seq: $0) })
        #expect(await eventually { inbox1.count == 50 && inbox2.count == 50 })
        #expect(inbox2.all.map(\.logIndex) == Array(1...50))
        #expect(a.stats.peersRefused == 0 && b.stats.peersRefused == 0)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("a peer with a certificate from another CA is refused and logged; nothing it sends is delivered")
    func foreignCARefused() async throws {
        let logs = LogCapture()
        let inbox = Inbox()
        let node1 = try await transport(
            1, files: cas.files(cas.cluster, node: 1), members: [1, 2, 3], inbox: inbox, logger: logs.logger())
        // Claims to be node 2, with node 2's name, signed by the wrong CA.
        let rogue = try await transport(2, files: cas.files(cas.foreign, node: 2), members: [1, 2], inbox: Inbox())
        rogue.setPeer(1, address: node1.localAddress!)
        rogue.send((1...20).map { message(from: 2, to: 1, seq: $0, term: 99) })
        #expect(await eventually { node1.stats.peersRefused >= 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(inbox.count == 0)
        #expect(node1.stats.framesReceived == 0)
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("refused a Raft connection") && $0.contains("TLS handshake failed") })
        await rogue.shutdown()
        await node1.shutdown()
    }

    @Test("a certificate from the cluster CA naming a non-member, or a message from another node, is refused")
    func identityChecked() async throws {
        let logs = LogCapture()
        let inbox = Inbox()
        let node1 = try await transport(
            1, files: cas.files(cas.cluster, node: 1), members: [1, 2, 3], inbox: inbox, logger: logs.logger())
        let stranger = try await transport(9, files: cas.files(cas.cluster, node: 9), members: [1, 9], inbox: Inbox())
        stranger.setPeer(1, address: node1.localAddress!)
        stranger.send([message(from: 9, to: 1, seq: 1)])
        #expect(await eventually { node1.stats.peersRefused >= 1 })
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("names node 9, which is not a member") })

        // Node 2's genuine certificate, sending a message that claims to come from node 3.
        let impostor = try await transport(2, files: cas.files(cas.cluster, node: 2), members: [1, 2], inbox: Inbox())
        impostor.setPeer(1, address: node1.localAddress!)
        impostor.send([message(from: 3, to: 1, seq: 1)])
        #expect(await eventually { node1.stats.peersRefused >= 2 })
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("node 2's certificate sent a message from node 3") })
        try await Task.sleep(for: .milliseconds(200))
        #expect(inbox.count == 0)
        await stranger.shutdown()
        await impostor.shutdown()
        await node1.shutdown()
    }

    @Test("a plaintext client of the Raft port is refused and logged; its well-formed frames never reach the engine")
    func plaintextRefused() async throws {
        let logs = LogCapture()
        let inbox = Inbox()
        let node1 = try await transport(
            1, files: cas.files(cas.cluster, node: 1), members: [1, 2], inbox: inbox, logger: logs.logger())
        let frame = try MessageCodec().encode(message(from: 2, to: 1, seq: 7, term: 50))
        let socket = try PlainSocket(port: node1.localAddress!.port)
        try socket.write(frame + frame)
        #expect(socket.waitForClose(), "the transport kept a plaintext connection open")
        #expect(await eventually { node1.stats.peersRefused >= 1 })
        #expect(inbox.count == 0)
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("refused a Raft connection") })

        // A client that connects and says nothing is dropped after the handshake timeout.
        let silent = try PlainSocket(port: node1.localAddress!.port)
        #expect(silent.waitForClose())
        #expect(logs.lines(atLeast: .warning).contains { $0.contains("no TLS handshake within") })
        await node1.shutdown()
    }

    @Test("reloaded certificates (what SIGHUP does) serve new connections without a restart")
    func reload() async throws {
        let directory = NSTemporaryDirectory() + "raftlab-security-reload-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(directory) }
        // Node 1's files start as the foreign CA's: node 2 (cluster CA) cannot talk to it.
        try FileSystem.createDirectory(directory, sync: false)
        for name in ["ca.pem", "node-1.pem", "node-1-key.pem"] {
            try FileManager.default.copyItem(atPath: cas.foreign + "/" + name, toPath: directory + "/" + name)
        }
        let inbox1 = Inbox()
        let files = TLSFiles(caFile: directory + "/ca.pem", certificateFile: directory + "/node-1.pem", keyFile: directory + "/node-1-key.pem")
        let contexts = try TLSContexts(files: files, nodeID: 1)
        var configuration = TCPTransportConfiguration()
        configuration.tls = TransportTLS(contexts)
        let node1 = TCPTransport(
            nodeID: 1, listenAddress: PeerAddress(host: "127.0.0.1", port: 0), peers: [2: PeerAddress(host: "127.0.0.1", port: 1)],
            configuration: configuration, logger: quietLogger())
        try await node1.start(receive: inbox1.handler)
        let node2 = try await transport(2, files: cas.files(cas.cluster, node: 2), members: [1, 2], inbox: Inbox())
        node2.setPeer(1, address: node1.localAddress!)
        node2.send([message(from: 2, to: 1, seq: 1)])
        #expect(await eventually { node1.stats.peersRefused >= 1 })
        #expect(inbox1.count == 0)

        // The operator installs the cluster CA's files and sends SIGHUP.
        for name in ["ca.pem", "node-1.pem", "node-1-key.pem"] {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
            try FileManager.default.copyItem(atPath: cas.cluster + "/" + name, toPath: directory + "/" + name)
        }
        try contexts.reload()
        #expect(await eventually {
            node2.send([message(from: 2, to: 1, seq: 2)])
            return inbox1.count > 0
        })
        // A broken file on a later reload keeps the working certificates.
        try FileSystem.writeFile(directory + "/node-1.pem", bytes("not a certificate"), sync: false)
        #expect(throws: TLSSetupError.self) { try contexts.reload() }
        #expect(contexts.contexts.nodeID == 1)
        await node2.shutdown()
        await node1.shutdown()
    }

    @Test("certificate checks at start: a certificate naming another node or from another CA is refused with a message")
    func startupChecks() throws {
        let wrongNode = TLSFiles(
            caFile: cas.cluster + "/ca.pem", certificateFile: cas.cluster + "/node-2.pem", keyFile: cas.cluster + "/node-2-key.pem")
        #expect(throws: TLSSetupError.self) { _ = try TLSContexts(files: wrongNode, nodeID: 1) }
        do { _ = try TLSContexts(files: wrongNode, nodeID: 1) } catch { #expect(error.description.contains("node 2's certificate, not node 1's")) }
        let wrongCA = TLSFiles(
            caFile: cas.cluster + "/ca.pem", certificateFile: cas.foreign + "/node-1.pem", keyFile: cas.foreign + "/node-1-key.pem")
        do { _ = try TLSContexts(files: wrongCA, nodeID: 1) } catch { #expect(error.description.contains("not by the CA")) }
        let mismatchedKey = TLSFiles(
            caFile: cas.cluster + "/ca.pem", certificateFile: cas.cluster + "/node-1.pem", keyFile: cas.cluster + "/node-2-key.pem")
        #expect(throws: TLSSetupError.self) { _ = try TLSContexts(files: mismatchedKey, nodeID: 1) }
    }
}

/// A blocking plaintext TCP client.
final class PlainSocket {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw CocoaError(.fileReadUnknown) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw CocoaError(.fileWriteUnknown) }
            offset += written
        }
    }

    /// True once the other side closed the connection within 10 s.
    func waitForClose() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received == 0 { return true }
            if received < 0 { return errno == ECONNRESET }
        }
    }
}
