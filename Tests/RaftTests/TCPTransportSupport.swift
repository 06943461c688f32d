#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Raft
import RaftRuntime
import RaftTCPTransport
import Synchronization
import TestUtilities

/// Collects what a transport delivers, from any thread.
final class Inbox: Sendable {
    private let messages = Mutex<[Message]>([])

    var all: [Message] { messages.withLock { $0 } }
    var count: Int { messages.withLock { $0.count } }

    func receive(_ message: Message) {
        messages.withLock { $0.append(message) }
    }

    var handler: @Sendable (Message) -> Void {
        { [self] in receive($0) }
    }
}

let loopback = "127.0.0.1"

/// A port that was free a moment ago, below Linux's ephemeral range
/// (32768-60999): a port the OS hands out for port 0 may be handed out again
/// at once as the local port of some other test's outgoing connection, and
/// the transport's bind would then fail with EADDRINUSE. Candidates are drawn
/// at random from 20000-32767 and kept only if a bind succeeds. The
/// transports set SO_REUSEADDR, so the port can be bound again at once.
func pickFreePort() throws -> Int {
    var lastErrno: Int32 = 0
    for _ in 0..<200 {
        let candidate = UInt16.random(in: 20000...32767)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocket.Failure(operation: "socket", errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = candidate.bigEndian
        address.sin_addr.s_addr = inet_addr(loopback)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return Int(candidate) }
        lastErrno = errno
    }
    throw RawSocket.Failure(operation: "bind", errno: lastErrno)
}

/// A plain blocking TCP client, to talk to a transport the way a buggy or
/// hostile peer would.
final class RawSocket {
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var errno: Int32
        var description: String { "\(operation) failed: errno \(errno)" }
    }

    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(operation: "socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(loopback)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw Failure(operation: "connect", errno: error)
        }
        // Bound every blocking read: a test must never hang on a socket.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(operation: "send", errno: errno) }
            offset += written
        }
    }

    /// True once the other side closed the connection (EOF or reset) within
    /// the 10 s receive timeout; false if it stayed open.
    func waitForClose() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received == 0 { return true }
            if received < 0 { return errno == ECONNRESET }
        }
    }
}

/// A loopback port where connection attempts hang: a listener with a
/// backlog of 0 that never accepts, its queue filled by non-blocking
/// connections, so the kernel drops further SYNs.
final class Blackhole {
    let port: Int
    private var descriptors: [Int32] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw RawSocket.Failure(operation: "socket", errno: errno) }
        descriptors.append(listener)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(loopback)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 0) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ok else { throw RawSocket.Failure(operation: "bind/listen", errno: errno) }
        port = Int(UInt16(bigEndian: address.sin_port))
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard filler >= 0 else { throw RawSocket.Failure(operation: "socket", errno: errno) }
            descriptors.append(filler)
            _ = fcntl(filler, F_SETFL, fcntl(filler, F_GETFL) | O_NONBLOCK)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        usleep(100_000)  // let the handshakes of the fillers complete
    }

    deinit {
        for fd in descriptors { close(fd) }
    }
}

/// A started transport listening on an OS-picked loopback port.
func startedTransport(
    _ id: NodeID, inbox: Inbox, port: Int = 0,
    configuration: TCPTransportConfiguration = TCPTransportConfiguration(),
    logger: Logger = quietLogger()
) async throws -> TCPTransport {
    let transport = TCPTransport(
        nodeID: id, listenAddress: PeerAddress(host: loopback, port: port),
        configuration: configuration, logger: logger
    )
    try await transport.start(receive: inbox.handler)
    return transport
}

/// Points every transport's address book at every other one.
func connectAll(_ transports: [TCPTransport]) {
    let book = Dictionary(uniqueKeysWithValues: transports.map { ($0.nodeID, $0.localAddress!) })
    for transport in transports { transport.updatePeers(book) }
}
