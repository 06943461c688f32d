import ArgumentParser
import Foundation
import NIOSSL
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabTLS

/// Where to send a client command and how long to try: shared by every client command.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node to talk to, as host:port (any node: writes follow the leader).", valueName: "host:port"))
    var targetAddr = "localhost:8100"

    @Option(help: ArgumentHelp("Give up after this many seconds, retries and redirects included.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print the server's JSON answer as one document instead of readable text.")
    var json = false

    @Flag(help: "Report each request, redirect and retry on stderr.")
    var verbose = false

    @Option(help: ArgumentHelp(
        "Talk HTTPS, trusting the CA certificate in this PEM file (the ca.pem `raftlab certs init` writes). "
            + "A https:// --target-addr without --cacert trusts the system's roots.", valueName: "file"))
    var cacert: String?

    @Option(help: ArgumentHelp(
        "Send Authorization: Bearer TOKEN (a token of the config's [[auth.tokens]]); default: $RAFTLAB_TOKEN.",
        valueName: "token"))
    var token: String?

    func validate() throws {
        _ = try target()
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw ValidationError("--timeout must be a number of seconds above 0, got \(timeout)")
        }
    }

    /// `--target-addr` as an address; `http://` and a trailing `/` are tolerated.
    func target() throws -> HostPort {
        var text = targetAddr.trimmingCharacters(in: .whitespaces)
        if text.lowercased().hasPrefix("http://") { text.removeFirst("http://".count) }
        if text.lowercased().hasPrefix("https://") { text.removeFirst("https://".count) }
        while text.hasSuffix("/") { text.removeLast() }
        do {
            return try HostPort(parsing: text)
        } catch {
            throw ValidationError("--target-addr must be host:port (e.g. localhost:8100), got \"\(targetAddr)\"")
        }
    }

    func client() throws -> APIClient {
        var trace: (@Sendable (String) -> Void)?
        if verbose {
            trace = { @Sendable line in printError("raftlab: \(line)") }
        }
        var tls: NIOSSLContext?
        if cacert != nil || targetAddr.lowercased().hasPrefix("https://") {
            do { tls = try TLSContexts.httpsClient(caFile: cacert) } catch {
                throw ValidationError("--cacert: \(error.description)")
            }
        }
        let bearer = token ?? ProcessInfo.processInfo.environment["RAFTLAB_TOKEN"]
        return APIClient(
            target: try target(), timeout: .milliseconds(Int64((timeout * 1000).rounded())), trace: trace,
            tls: tls, token: bearer.flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// How a key value on the command line is typed.
enum KeyType: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Taken as is.
    case string
    /// A JSON number such as `1981` or `-2.5`, compared by value.
    case number
}

/// `--partition-key`, `--sort-key` and their types: one item's key.
struct ItemKeyOptions: ParsableArguments {
    // Unconditional: a key value may start with "-" (-2.5, -x).
    @Option(parsing: .unconditional, help: "The item's partition key value.")
    var partitionKey: String

    @Option(parsing: .unconditional, help: "The item's sort key value (tables with a sort key).")
    var sortKey: String?

    @Option(help: "How to read --partition-key: string, or number for numeric key attributes.")
    var partitionKeyType: KeyType = .string

    @Option(help: "How to read --sort-key: string, or number for numeric key attributes.")
    var sortKeyType: KeyType = .string

    func validate() throws {
        try checkNumber(partitionKey, partitionKeyType, "--partition-key")
        if let sortKey { try checkNumber(sortKey, sortKeyType, "--sort-key") }
    }

    /// The query parameters addressing the key.
    var queryItems: [(String, String)] {
        var items = [("partition_key", partitionKey)]
        if partitionKeyType == .number { items.append(("partition_key_type", "number")) }
        if let sortKey {
            items.append(("sort_key", sortKey))
            if sortKeyType == .number { items.append(("sort_key_type", "number")) }
        }
        return items
    }
}

func checkNumber(_ text: String, _ type: KeyType, _ flag: String) throws {
    if type == .number && JSONNumber(text) == nil {
        throw ValidationError("\(flag) \"\(text)\" is not a JSON number (typed number by \(flag)-type)")
    }
}

/// `/tables/<name>` with the name percent-encoded.
func tablePath(_ name: String, _ rest: String = "") -> String {
    "/tables/" + APIClient.percentEncode(name) + rest
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
