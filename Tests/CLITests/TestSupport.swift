import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NoSQL
import RaftLabNode
import RaftLabServer
import Testing

@testable import RaftLabCLI

let quietLogger: Logger = {
    var logger = Logger(label: "cli-tests")
    logger.logLevel = .critical
    return logger
}()

struct ServerDidNotStart: Error {}

/// Serves `service` on 127.0.0.1 with a port the system picks, runs `body`
/// with the bound address, then stops the server.
func withLiveServer<T: Sendable>(
    _ service: InMemoryService, options: HTTPAPIOptions = HTTPAPIOptions(),
    _ body: @Sendable (HostPort) async throws -> T
) async throws -> T {
    let (addresses, continuation) = AsyncStream.makeStream(of: HostPort.self)
    let app = makeApplication(
        service: service, address: HostPort(host: "127.0.0.1", port: 0), registry: nil, options: options,
        logger: quietLogger, onListening: { address in continuation.yield(address) })
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
final class DeadPort: Sendable {
    let port: Int
    private let descriptor: Mutex<Int32>

    struct Failure: Error { var call: String }

    init() throws {
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

    var address: HostPort { HostPort(host: "127.0.0.1", port: port) }

    /// Frees the port (for a test that then starts a server on it).
    func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }
}

/// Parses `arguments` as `raftlab` would and returns the client command.
func parse(_ arguments: [String]) throws -> any ClientCommand {
    let command = try RaftLabCommand.parseAsRoot(arguments)
    guard let client = command as? any ClientCommand else {
        throw ValidationError("\(arguments.first ?? "") is not a client command")
    }
    return client
}

/// Runs a client command (parsed from `arguments`) against `node` and returns what it would print.
func run(_ arguments: [String], at node: HostPort, timeout: Double = 5) async throws -> CommandOutput {
    let command = try parse(
        [arguments[0], "--target-addr", node.description, "--timeout", String(timeout)] + arguments.dropFirst())
    return try await command.perform(try command.connection.client())
}

/// Runs a client command expected to fail and returns the failure.
func failure(
    _ arguments: [String], at node: HostPort, timeout: Double = 5, sourceLocation: SourceLocation = #_sourceLocation
) async throws -> ClientFailure? {
    do {
        let output = try await run(arguments, at: node, timeout: timeout)
        Issue.record("expected \(arguments[0]) to fail, it printed \(output.stdout)", sourceLocation: sourceLocation)
        return nil
    } catch let failure as ClientFailure {
        return failure
    }
}

enum Demo {
    static let letItBe = #"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}"#
    static let bohemian = #"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}"#
    static let yesterday = #"{"Artist":"The Beatles","SongTitle":"Yesterday","Album":"Help!","Year":1965}"#
    static let createMusic = [
        "create-table", "--table-name", "Music", "--partition-key-name", "Artist", "--sort-key-name", "SongTitle",
    ]
}
