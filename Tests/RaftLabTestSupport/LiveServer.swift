import Foundation
import Logging
import RaftLabAPI
import RaftLabNode
import RaftLabServer
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let quietServerLogger: Logger = {
    var logger = Logger(label: "raftlab-test-support")
    logger.logLevel = .critical
    return logger
}()

public struct ServerDidNotStart: Error {
    public init() {}
}

/// Serves `service` on 127.0.0.1 with a port the system picks, runs `body`
/// with the bound address, then stops the server.
public func withLiveServer<T: Sendable>(
    _ service: InMemoryService, options: HTTPAPIOptions = HTTPAPIOptions(),
    _ body: @Sendable (HostPort) async throws -> T
) async throws -> T {
    let (addresses, continuation) = AsyncStream.makeStream(of: HostPort.self)
    let app = makeApplication(
        service: service, address: HostPort(host: "127.0.0.1", port: 0), registry: nil, options: options,
        logger: quietServerLogger, onListening: { address in continuation.yield(address) })
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { continuation.finish() }
            try await app.run()
        }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next() else { throw ServerDidNotStart() }
        do {
            let result = try await body(address)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// A local port that refuses connections and that no other test can take
/// while this holds it: a TCP socket bound to 127.0.0.1 that never listens.
/// (A port merely released could be handed to a server another test starts
/// in parallel, and a "dead" address would then answer.)
public final class DeadPort: Sendable {
    public let port: Int
    private let descriptor: Mutex<Int32>

    public struct Failure: Error { public var call: String }

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            close(fd)
            throw Failure(call: bound != 0 ? "bind" : "getsockname")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        descriptor = Mutex(fd)
    }

    public var address: HostPort { HostPort(host: "127.0.0.1", port: port) }

    /// Frees the port (for a test that then starts a server on it).
    public func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }
}
