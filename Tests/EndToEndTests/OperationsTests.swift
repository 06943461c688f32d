import Foundation
import NoSQL
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Operating a cluster through the binary: membership from the CLI with a
/// node on another backend, leadership transfer, backup and restore on other
/// backends, and a live engine swap under continuous writes.
extension EndToEnd {
    @Suite("operating a cluster")
    struct Operations {
        /// A config for one more node beside `cluster`'s three: the same file
        /// with `[storage]` on `backend` in a data directory of its own, and
        /// the extra `[[nodes]]` appended.
        static func joinerConfig(_ cluster: Cluster, backend: String, extra: [NodeAddress], name: String) throws -> String {
            let example = try RaftLabPaths.example("cluster-3proc.toml")
            var text = try Cluster.rewrite(
                example, backend: backend, dataDirectory: cluster.workspace.root + "/data-\(name)", nodes: cluster.nodes,
                engine: [:])
            for node in extra {
                text += "\n[[nodes]]\nid = \(node.id)\nraft_addr = \"\(node.raft)\"\nhttp_addr = \"\(node.http)\"\n"
            }
            let path = cluster.workspace.root + "/\(name).toml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        static func newNodes(_ ids: [UInt64]) throws -> [NodeAddress] {
            let ports = try Ports.allocate(2 * ids.count)
            return ids.enumerated().map { i, id in
                NodeAddress(id: id, http: "127.0.0.1:\(ports[2 * i])", raft: "127.0.0.1:\(ports[2 * i + 1])")
            }
        }

        @Test(
            "an lmdb cluster grows by a leveldb learner, promotes it, loses a member, moves leadership; a backup restores on other backends",
            .timeLimit(.minutes(3)))
        func membershipAndBackup() async throws {
            let workspace = try Workspace("ops-members")
            defer { workspace.remove() }
            let cluster = try Cluster(workspace: workspace, backend: "lmdb", mode: .threeProcesses)
            try cluster.start()
            _ = try await cluster.waitForLeader()
            let at = { (id: UInt64) in ["--target-addr", cluster.address(id)] }
            try requireSuccess(await workspace.cli(["create-table", "--table-name", "Ops", "--partition-key-name", "pk", "--sort-key-name", "sk"] + at(1)))
            for j in 1...12 {
                try requireSuccess(await workspace.cli(["put-item", "--table-name", "Ops", "--item-data", #"{"pk":"p","sk":"k\#(j)","v":\#(j)}"#] + at(2)))
            }

            // Node 4, on leveldb, joins: started empty with --join, then added from the CLI through a follower.
            let four = try Self.newNodes([4])[0]
            let config4 = try Self.joinerConfig(cluster, backend: "leveldb", extra: [four], name: "node4")
            let node4 = try workspace.spawn("node4", ["server", "--node-id", "4", "--config", config4, "--join", cluster.address(1)])
            defer { node4.stopBlocking() }
            let leader = try await cluster.waitForLeader()
            let follower = cluster.nodes.map(\.id).first { $0 != leader.nodeID }!
            let added = try requireSuccess(await workspace.cli(
                ["member", "add-learner", "--node-id", "4", "--raft-addr", four.raft, "--http-addr", four.http] + at(follower), timeout: 30))
            #expect(added.output.contains("node 4 is a learner (log=leveldb state=leveldb)"), "\(added)")

            // It catches up and serves the data from its own (leveldb) state.
            let caughtUp = try await retry(for: .seconds(30)) {
                try await workspace.cli(["get-item", "--table-name", "Ops", "--partition-key", "p", "--sort-key", "k12", "--target-addr", four.http], timeout: 2)
            } until: { $0.status == 0 }
            try requireSuccess(caughtUp)

            // Refusals say why: an unknown member, a node nobody runs.
            let unknown = try await workspace.cli(["member", "promote", "--node-id", "9"] + at(1))
            #expect(unknown.status == 1 && unknown.stderr.contains("node 9 is not a member"), "\(unknown)")
            let ghost = try await workspace.cli(
                ["member", "add-learner", "--node-id", "8", "--raft-addr", "127.0.0.1:1", "--http-addr", "127.0.0.1:2"] + at(1), timeout: 2)
            #expect(ghost.status == 4 && ghost.stderr.contains("node 8 does not answer at 127.0.0.1:2"), "\(ghost)")

            try requireSuccess(await workspace.cli(["member", "promote", "--node-id", "4"] + at(1), timeout: 60))
            try requireSuccess(await workspace.cli(["transfer-leader", "--to", "4"] + at(2), timeout: 20))
            let led = try await retry(for: .seconds(20)) {
                try await workspace.cli(["status", "--json", "--target-addr", four.http], timeout: 2)
            } until: { $0.status == 0 && $0.stdout.contains("\"role\":\"leader\"") }
            #expect(led.stdout.contains("\"role\":\"leader\""), "node 4 does not lead: \(led)")

            try requireSuccess(await workspace.cli(["member", "remove", "--node-id", "1", "--target-addr", four.http], timeout: 20))
            let list = try requireSuccess(await workspace.cli(["member", "list", "--target-addr", four.http]))
            let rows = list.lines.filter { $0.first?.isNumber == true }
            #expect(rows.count == 3 && !rows.contains { $0.hasPrefix("1 ") }, "\(list)")
            #expect(rows.contains { $0.hasPrefix("4 ") && $0.contains("leader") && $0.contains("leveldb") }, "\(list)")
            #expect(rows.contains { $0.hasPrefix("2 ") && $0.contains("lmdb") }, "\(list)")
            let status = try requireSuccess(await workspace.cli(["status"] + at(3)))
            #expect(status.output.contains("leveldb") && status.output.contains("lmdb"), "status shows every member's backends: \(status)")
            try requireSuccess(await workspace.cli(["put-item", "--table-name", "Ops", "--item-data", #"{"pk":"p","sk":"after","v":0}"#] + at(3)))

            // Backup from a follower of the live cluster; a truncated copy is refused.
            let backupPath = workspace.root + "/backup.rlb"
            let backup = try requireSuccess(await workspace.cli(["backup", "--out", backupPath] + at(3)))
            #expect(backup.output.contains("voters [2, 3, 4]"), "\(backup)")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: backupPath))
            try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: workspace.root + "/truncated.rlb"))

            // Restore on leveldb (log) and flatfile (state), three nodes in one process.
            let restoredNodes = try Self.newNodes([1, 2, 3])
            var restored = try Cluster.rewrite(
                try RaftLabPaths.example("cluster.toml"), backend: "leveldb", dataDirectory: workspace.root + "/restored",
                nodes: restoredNodes, engine: [:])
            restored = restored.replacingOccurrences(of: "state = \"leveldb\"", with: "state = \"flatfile\"")
            let restoredPath = workspace.root + "/restored.toml"
            try restored.write(toFile: restoredPath, atomically: true, encoding: .utf8)
            let truncated = try await workspace.cli(["restore", workspace.root + "/truncated.rlb", "--config", restoredPath], passTimeout: false)
            #expect(truncated.status == 65 && truncated.stderr.contains("truncated"), "\(truncated)")
            #expect(!FileManager.default.fileExists(atPath: workspace.root + "/restored/node-1"))
            let restore = try requireSuccess(await workspace.cli(["restore", backupPath, "--config", restoredPath], passTimeout: false))
            #expect(restore.output.contains("restored into a new cluster"), "\(restore)")
            let server = try workspace.spawn("restored", ["server", "--config", restoredPath])
            defer { server.stopBlocking() }
            let query = ["query-items", "--table-name", "Ops", "--partition-key", "p", "--all", "--consistent"]
            let original = try requireSuccess(await workspace.cli(query + at(3)))
            let copy = try requireSuccess(await retry(for: .seconds(30)) {
                try await workspace.cli(query + ["--target-addr", restoredNodes[0].http], timeout: 3)
            } until: { $0.status == 0 })
            #expect(original.lines.count == 13)
            #expect(copy.lines.sorted() == original.lines.sorted())
            let restoredStatus = try requireSuccess(await workspace.cli(["status", "--json", "--target-addr", restoredNodes[0].http]))
            let liveStatus = try requireSuccess(await workspace.cli(["status", "--json"] + at(3)))
            #expect(try restoredStatus.json()["cluster_id"] != liveStatus.json()["cluster_id"], "a restored cluster gets an ID of its own")
            #expect(await server.stop() == 0)
            #expect(await node4.stop() == 0)
            await cluster.stop()
        }

        @Test("a live swap from lmdb to leveldb under continuous writes loses no acknowledged write", .timeLimit(.minutes(4)))
        func liveMigration() async throws {
            let workspace = try Workspace("ops-migrate")
            defer { workspace.remove() }
            // Elections of 200-400 ms (tick 10 ms, election_ticks 20).
            let engine = ["election_ticks": 20, "snapshot_entries": 200, "snapshot_keep_entries": 50]
            let cluster = try Cluster(workspace: workspace, backend: "lmdb", mode: .threeProcesses, engine: engine)
            try cluster.start()
            _ = try await cluster.waitForLeader()
            try requireSuccess(await workspace.cli(["create-table", "--table-name", "Swap", "--partition-key-name", "k", "--sort-key-name", "s", "--target-addr", cluster.address(1)]))

            // The replacements: nodes 4, 5, 6 on leveldb, listed in a config of their own.
            let replacements = try Self.newNodes([4, 5, 6])
            var text = try Cluster.rewrite(
                try RaftLabPaths.example("cluster-3proc.toml"), backend: "leveldb", dataDirectory: workspace.root + "/data-new",
                nodes: replacements, engine: engine)
            text = text.replacingOccurrences(of: "id = 1\n", with: "id = 4\n").replacingOccurrences(of: "id = 2\n", with: "id = 5\n")
                .replacingOccurrences(of: "id = 3\n", with: "id = 6\n")
            let newConfig = workspace.root + "/new.toml"
            try text.write(toFile: newConfig, atomically: true, encoding: .utf8)

            // Writers: plain HTTP PUTs on threads of their own, following redirects, each key once.
            let everyone = cluster.nodes.map(\.http) + replacements.map(\.http)
            let load = WriteLoad(addresses: everyone, table: "Swap")
            load.start(writers: 2)
            defer { load.stop() }
            try await load.waitForAcknowledgments(50, timeout: .seconds(20))

            // Interrupted after two steps, then resumed: the same command goes on.
            let partial = try requireSuccess(await workspace.cli(
                ["migrate-cluster", "--to-log", "leveldb", "--to-state", "leveldb", "--config", newConfig, "--start-nodes", "--steps", "2",
                 "--target-addr", cluster.address(1)], timeout: 120))
            #expect(partial.output.contains("stopped after 2 steps"), "\(partial)")
            let finished = try requireSuccess(await workspace.cli(
                ["migrate-cluster", "--to-log", "leveldb", "--to-state", "leveldb", "--config", newConfig, "--start-nodes",
                 "--target-addr", cluster.address(2)], timeout: 180))
            let pids = (partial.lines + finished.lines).compactMap { line -> Int32? in
                guard let range = line.range(of: "(pid ") else { return nil }
                return Int32(line[range.upperBound...].prefix { $0.isNumber })
            }
            defer { for pid in pids { kill(pid, SIGTERM) } }
            #expect(pids.count == 3, "\(partial)\n\(finished)")
            #expect(finished.output.contains("done in"), "\(finished)")
            try await load.waitForAcknowledgments(load.acknowledgedCount + 30, timeout: .seconds(20))
            load.stop()

            let report = load.report()
            let list = try requireSuccess(await workspace.cli(["member", "list", "--target-addr", replacements[0].http]))
            let rows = list.lines.filter { $0.first?.isNumber == true }
            #expect(rows.count == 3 && rows.allSatisfy { $0.contains("leveldb") && !$0.contains("lmdb") }, "\(list)")
            #expect(rows.map { $0.prefix(2) }.sorted() == ["4 ", "5 ", "6 "], "\(list)")

            // Every acknowledged write is on the new members.
            let keys = try requireSuccess(await workspace.cli(
                ["query-items", "--table-name", "Swap", "--partition-key", "w", "--all", "--consistent", "--target-addr", replacements[1].http],
                timeout: 20))
            let stored = Set(keys.lines.compactMap { try? JSONValue.parse($0)["s"]?.stringValue })
            let lost = report.acknowledged.filter { !stored.contains($0) }
            #expect(report.acknowledged.count > 100 && lost.isEmpty, "\(lost.count) acknowledged writes lost of \(report.acknowledged.count): \(lost.prefix(5))")
            // Never unwritable for longer than one election (at most 400 ms here) plus a margin for a loaded 2-core machine.
            #expect(report.longestGap < .milliseconds(1_500), "longest write gap \(report.longestGap); \(report.failures) failed attempts")
            print("live swap: \(report.acknowledged.count) writes acknowledged, longest gap \(report.longestGap), \(report.failures) failed attempts")
            for pid in pids { kill(pid, SIGTERM) }
            await cluster.stop()
        }
    }
}

/// Writers that PUT items with unique keys over plain HTTP on threads of
/// their own, following 307 redirects and retrying refused writes, and
/// record when each write was acknowledged.
final class WriteLoad: Sendable {
    let addresses: [String]
    let table: String
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex((acknowledged: [String](), times: [ContinuousClock.Instant](), failures: 0, threads: 0))

    init(addresses: [String], table: String) {
        self.addresses = addresses
        self.table = table
    }

    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }

    func start(writers: Int) {
        for writer in 0..<writers {
            state.withLock { $0.threads += 1 }
            let thread = Thread { [self] in
                var sequence = 0
                var target = addresses[writer % addresses.count]
                while !stopped.load(ordering: .relaxed) {
                    sequence += 1
                    let key = "w\(writer)-\(sequence)"
                    // A unique key per write: retried until acknowledged, so an unknown outcome is retried too.
                    while !stopped.load(ordering: .relaxed) {
                        switch MiniHTTP.put(to: target, path: "/tables/\(table)/items", body: #"{"k":"w","s":"\#(key)"}"#, key: key) {
                        case .ok:
                            let now = ContinuousClock.now
                            state.withLock {
                                $0.acknowledged.append(key)
                                $0.times.append(now)
                            }
                        case .redirect(let leader):
                            target = leader
                            continue
                        case .failed:
                            state.withLock { $0.failures += 1 }
                            target = addresses[Int.random(in: 0..<addresses.count)]
                            usleep(2_000)
                            continue
                        }
                        break
                    }
                }
                state.withLock { $0.threads -= 1 }
            }
            thread.start()
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(30)
        while state.withLock({ $0.threads }) > 0, ContinuousClock.now < deadline { usleep(5_000) }
    }

    func waitForAcknowledgments(_ count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while acknowledgedCount < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("only \(acknowledgedCount) of \(count) writes acknowledged within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    struct Report {
        var acknowledged: [String]
        var longestGap: Duration
        var failures: Int
    }

    func report() -> Report {
        state.withLock { state in
            let times = state.times.sorted()
            let gap = zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
            return Report(acknowledged: state.acknowledged, longestGap: gap, failures: state.failures)
        }
    }
}

/// A blocking HTTP/1.1 PUT over a plain socket: enough for a load that must
/// not depend on the code under test.
enum MiniHTTP {
    enum Outcome {
        case ok
        case redirect(String)
        case failed
    }

    static func put(to address: String, path: String, body: String, key: String) -> Outcome {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return .failed }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failed }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(String(address[..<colon]))
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failed }
        let request = "PUT \(path) HTTP/1.1\r\nHost: \(address)\r\nContent-Type: application/json\r\nIdempotency-Key: \(key)\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return .failed }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first, statusLine.split(separator: " ").count >= 2 else { return .failed }
        let status = statusLine.split(separator: " ")[1]
        if status == "200" { return .ok }
        if status == "307", let location = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("location:") }) {
            let url = location.dropFirst("location:".count).trimmingCharacters(in: .whitespaces)
            let hostPort = url.replacingOccurrences(of: "http://", with: "").split(separator: "/").first.map(String.init)
            return hostPort.map { .redirect($0) } ?? .failed
        }
        return .failed
    }
}
