import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftLabAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NoSQL
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import Testing

@testable import RaftLabCLI

let quietLogger: Logger = {
    var logger = Logger(label: "cli-tests")
    logger.logLevel = .critical
    return logger
}()


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
