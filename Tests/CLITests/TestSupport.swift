import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
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

/// A local port nothing listens on (bound, then released).
func closedPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress?.port ?? 1
    try channel.close().wait()
    return port
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
