import Foundation
import TestUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The security issue's demo, with the built binary: `raftlab certs init`,
/// then examples/cluster-3proc-tls.toml (mutual TLS between three node
/// processes, HTTPS, encryption at rest) with bearer tokens added, driven by
/// the CLI with --cacert and --token.
extension EndToEnd {
    @Suite("secure cluster")
    struct SecureCluster {
        static let admin = "e2e-admin-token-0123456789"
        static let reader = "e2e-read-token-0123456789"
        static let secret = "zq-distinctive-7731"

        @Test("certs init + the TLS example: the demo over HTTPS with tokens; plaintext Raft refused; SIGHUP reloads", .timeLimit(.minutes(3)))
        func tlsDemo() async throws {
            let workspace = try Workspace("secure")
            defer { workspace.remove() }
            let certs = workspace.root + "/certs"
            let initialize = try workspace.spawn("certs", ["certs", "init", "--out", certs, "--nodes", "3"])
            #expect(await initialize.waitForExit(timeout: .seconds(30)) == 0, "\(initialize.stderrTail())")
            for name in ["ca.pem", "ca-key.pem", "storage.key", "node-1.pem", "node-3-key.pem"] {
                #expect(FileManager.default.fileExists(atPath: certs + "/" + name), "certs init wrote no \(name)")
            }
            let keyMode = try FileManager.default.attributesOfItem(atPath: certs + "/node-1-key.pem")[.posixPermissions] as? Int
            #expect(keyMode == 0o600)

            let ports = try Ports.allocate(6)
            let nodes = (0..<3).map { i in
                NodeAddress(id: UInt64(i + 1), http: "127.0.0.1:\(ports[2 * i])", raft: "127.0.0.1:\(ports[2 * i + 1])")
            }
            let example = try RaftLabPaths.example("cluster-3proc-tls.toml").replacingOccurrences(of: "\"certs/", with: "\"\(certs)/")
            var config = try Cluster.rewrite(example, backend: "lmdb", dataDirectory: workspace.root + "/data", nodes: nodes, engine: [:])
            config += """

                [auth]
                open_status_and_metrics = true
                [[auth.tokens]]
                token = "\(Self.admin)"
                role = "admin"
                [[auth.tokens]]
                token = "\(Self.reader)"
                role = "read"

                """
            let configPath = workspace.root + "/cluster.toml"
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            var servers: [ChildProcess] = []
            for node in nodes {
                servers.append(try workspace.spawn("node\(node.id)", ["server", "--node-id", String(node.id), "--config", configPath]))
            }
            defer { for server in servers { server.stopBlocking() } }
            func raftlab(_ command: String, at node: NodeAddress, token: String? = Self.admin, tls: Bool = true, _ arguments: String...) async throws -> CLIResult {
                var full = [command, "--target-addr", node.http] + arguments
                if tls { full += ["--cacert", certs + "/ca.pem"] }
                if let token { full += ["--token", token] }
                return try await workspace.cli(full)
            }

            // Status is open to monitoring, over HTTPS only.
            let up = try await retry(for: .seconds(40), { try await raftlab("status", at: nodes[0], token: nil, "--json") }, until: {
                $0.status == 0 && $0.stdout.contains("\"leader_id\"") && !$0.stdout.contains("\"leader_id\":0")
            })
            try requireSuccess(up)
            expectFailure(try await raftlab("status", at: nodes[0], token: nil, tls: false, "--timeout", "2"), status: 4, message: "HTTPS")

            // The demo, through node 1 (redirects to an https:// leader are followed).
            let created = try requireSuccess(await raftlab(
                "create-table", at: nodes[0], "--table-name", "Music", "--partition-key-name", "Artist", "--sort-key-name", "SongTitle"))
            #expect(created.output.hasPrefix("created table Music"))
            let item = #"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"\#(Self.secret)","Year":1975}"#
            try requireSuccess(await raftlab("put-item", at: nodes[0], "--table-name", "Music", "--item-data", item))
            let read = try requireSuccess(await raftlab(
                "get-item", at: nodes[2], token: Self.reader, "--table-name", "Music", "--partition-key", "Queen", "--sort-key",
                "Bohemian Rhapsody", "--consistent"))
            #expect(read.output.contains(Self.secret))

            // Roles: a read token cannot write; no token is refused.
            expectFailure(
                try await raftlab("put-item", at: nodes[0], token: Self.reader, "--table-name", "Music", "--item-data", item),
                status: 1, message: "forbidden")
            expectFailure(try await raftlab("list-tables", at: nodes[1], token: nil), status: 1, message: "unauthorized")

            // Encryption at rest: the value is nowhere in the data directories while the cluster serves it.
            let grep = Process()
            grep.executableURL = URL(fileURLWithPath: "/usr/bin/grep")
            grep.arguments = ["-rqa", Self.secret, workspace.root + "/data"]
            try grep.run()
            grep.waitUntilExit()
            #expect(grep.terminationStatus == 1, "grep found the item's value in a data directory (or failed)")

            // A plaintext client of a Raft port: refused and logged.
            let raftPort = Int(nodes[0].raft.split(separator: ":").last!)!
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(raftPort).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            let probe = Array(repeating: UInt8(0), count: 64) + Array("raftlab plaintext probe".utf8)
            _ = probe.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 256)
            var closed = false
            for _ in 0..<10 where !closed {
                let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                closed = received <= 0
            }
            close(fd)
            #expect(closed, "the Raft port kept a plaintext connection open")
            #expect(await eventually(every: .milliseconds(100)) { workspace.serverLogLines(containing: "refused a Raft connection") > 0 })

            // SIGHUP reloads the certificates; the node keeps serving.
            servers[0].signal(SIGHUP)
            #expect(await eventually(every: .milliseconds(100)) { workspace.serverLogLines(containing: "reloaded TLS certificates") > 0 })
            #expect(servers[0].isRunning)
            try requireSuccess(await raftlab("get-item", at: nodes[0], token: Self.reader, "--table-name", "Music", "--partition-key", "Queen", "--sort-key", "Bohemian Rhapsody"))
            try requireSuccess(await raftlab("delete-table", at: nodes[0], "--table-name", "Music"))
            for server in servers { server.signal(SIGTERM) }
            for server in servers { #expect(await server.waitForExit(timeout: .seconds(15)) == 0, "\(server.stderrTail())") }
        }
    }
}

