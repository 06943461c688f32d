import Foundation
import NoSQL
import Testing

/// The original simulator's demo ("簡単な動作デモシナリオ"), run with the
/// built `raftlab` binary against real `raftlab server` processes: create the
/// Music table, put items, read them from the leader and (once replicated)
/// from the followers, query by partition key and by sort key prefix, delete
/// an item, delete the table. Every step checks the exit code and the output.
///
/// Each backend runs in both modes: three nodes in one process
/// (examples/cluster.toml) and one node per process over TCP
/// (examples/cluster-3proc.toml), each from a copy of the example with its
/// storage keys, data directory and ports rewritten.
extension EndToEnd {
    @Suite("demo scenario")
    struct DemoScenario {
        static let backends = ["memory", "flatfile", "lmdb", "leveldb"]

        enum Music {
            static let letItBe = #"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}"#
            static let bohemian = #"{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}"#
            /// A second Beatles song, so the sort key prefix query has something to leave out.
            static let yesterday = #"{"Artist":"The Beatles","SongTitle":"Yesterday","Album":"Help!","Year":1965}"#
        }

        @Test("demo scenario through the CLI", .timeLimit(.minutes(2)), arguments: backends, Mode.allCases)
        func demoScenario(backend: String, mode: Mode) async throws {
            let workspace = try Workspace("demo-\(backend)-\(mode.rawValue)")
            defer { workspace.remove() }
            let cluster = try Cluster(workspace: workspace, backend: backend, mode: mode)
            try cluster.start()
            let (node1, node2, node3) = (cluster.address(1), cluster.address(2), cluster.address(3))
            func raftlab(_ command: String, at node: String, _ arguments: String...) async throws -> CLIResult {
                try await workspace.cli([command, "--target-addr", node] + arguments)
            }

            // 1. Server up: every node answers status with the documented keys and names one leader.
            var leader = try await cluster.waitForLeader()
            try await expectStatusDocuments(cluster)

            // 2. Create the table, through node 1 as in the original (it follows a redirect when node 1 is a follower).
            let created = try requireSuccess(
                await raftlab(
                    "create-table", at: node1, "--table-name", "Music", "--partition-key-name", "Artist", "--sort-key-name",
                    "SongTitle"))
            let createdText = "created table Music (partition key: Artist, sort key: SongTitle) at log index "
            #expect(created.output.hasPrefix(createdText), "\(created)")

            // 3. Put the two items of the original, and a third for the prefix query.
            var versions: [String: UInt64] = [:]
            for (title, item) in [("Let It Be", Music.letItBe), ("Bohemian Rhapsody", Music.bohemian), ("Yesterday", Music.yesterday)] {
                let put = try requireSuccess(await raftlab("put-item", at: node1, "--table-name", "Music", "--item-data", item))
                #expect(put.output.hasPrefix("put item in Music: version ") && put.output.hasSuffix("(previous version: none)"), "\(put)")
                let version = try #require(putVersion(put), "no version in \(put)")
                versions[title] = version
            }
            #expect(Set(versions.values).count == 3, "three writes, three distinct versions: \(versions)")

            // 4. Get "Let It Be" from the leader (found again, in case an election moved it: then retry briefly).
            leader = try await cluster.waitForLeader()
            let leaderAddress = cluster.address(leader.nodeID)
            let fromLeader = expectSuccess(
                try await retry(
                    for: .seconds(5),
                    {
                        try await raftlab(
                            "get-item", at: leaderAddress, "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key",
                            "Let It Be")
                    }, until: { $0.status == 0 }))
            let letItBeVersion = versions["Let It Be"] ?? 0
            #expect(
                fromLeader.output == """
                    {
                      "Album": "Let It Be",
                      "Artist": "The Beatles",
                      "SongTitle": "Let It Be",
                      "Year": 1970
                    }
                    version: \(letItBeVersion)  previous_version: none
                    """, "\(fromLeader)")
            let leaderJSON = try await raftlab(
                "get-item", at: leaderAddress, "--json", "--table-name", "Music", "--partition-key", "The Beatles",
                "--sort-key", "Let It Be")
            let answer = try requireSuccess(leaderJSON).json()
            #expect(answer["item"] == (try JSONValue.parse(Music.letItBe)), "\(leaderJSON)")
            #expect(answer["version"] == .number(JSONNumber(Int(letItBeVersion))) && answer["previous_version"] == .null, "\(leaderJSON)")

            // 5. Get "Bohemian Rhapsody" from each follower, retrying briefly until it has been replicated there.
            for follower in cluster.nodes.map(\.id) where follower != leader.nodeID {
                let read = try await retry(
                    for: .seconds(5),
                    {
                        try await raftlab(
                            "get-item", at: cluster.address(follower), "--table-name", "Music", "--partition-key", "Queen",
                            "--sort-key", "Bohemian Rhapsody")
                    }, until: { $0.status == 0 })
                expectSuccess(read)
                #expect(read.output.contains(#""Album": "A Night at the Opera""#), "\(read)")
                #expect(read.output.hasSuffix("version: \(versions["Bohemian Rhapsody"] ?? 0)  previous_version: none"), "\(read)")
            }

            // 6. Query the Beatles' partition through node 1 (a local read: once node 1 has applied both
            //    songs): both, in sort key order, one JSON item per line, the count on stderr.
            let beatles = [try JSONValue.parse(Music.letItBe), try JSONValue.parse(Music.yesterday)]
            let query = expectSuccess(
                try await retry(
                    for: .seconds(5),
                    { try await raftlab("query-items", at: node1, "--table-name", "Music", "--partition-key", "The Beatles") },
                    until: { $0.lines.count == 2 }))
            #expect(try query.lines.map { try JSONValue.parse($0) } == beatles, "\(query)")
            #expect(query.stderr.contains("2 items"), "\(query)")

            // 7. Query by sort key prefix: only "Yesterday".
            let prefixed = expectSuccess(
                try await raftlab(
                    "query-items", at: node1, "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key-prefix", "Yes"))
            #expect(try prefixed.lines.map { try JSONValue.parse($0) } == [beatles[1]], "\(prefixed)")
            #expect(prefixed.stderr.contains("1 item"), "\(prefixed)")

            // 8. A missing item exits 2 (not found) with a message, on the leader and on a follower.
            for node in [node2, node3] {
                let missing = try await raftlab(
                    "get-item", at: node, "--table-name", "Music", "--partition-key", "Queen", "--sort-key", "We Will Rock You")
                expectFailure(missing, status: 2, message: "no item")
            }

            // 9. Delete "Let It Be" (the original's step 7): gone everywhere, by a strong read through any node.
            let deleted = expectSuccess(
                try await raftlab(
                    "delete-item", at: node1, "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key", "Let It Be"))
            #expect(deleted.output.hasPrefix("deleted item from Music (it was at version \(letItBeVersion)) at log index "), "\(deleted)")
            for node in [node1, node2, node3] {
                let gone = try await raftlab(
                    "get-item", at: node, "--consistent", "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key",
                    "Let It Be")
                expectFailure(gone, status: 2, message: "no item")
            }

            // 10. On a disk backend everything survives a clean restart of the whole cluster.
            if backend != "memory" {
                await cluster.stop()
                try cluster.start()
                leader = try await cluster.waitForLeader()
                for node in [node1, node2, node3] {
                    let kept = try await retry(
                        for: .seconds(5),
                        {
                            try await raftlab(
                                "get-item", at: node, "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key", "Yesterday")
                        }, until: { $0.status == 0 })
                    expectSuccess(kept)
                    #expect(kept.output.hasSuffix("version: \(versions["Yesterday"] ?? 0)  previous_version: none"), "\(kept)")
                    let stillGone = try await raftlab(
                        "get-item", at: node, "--consistent", "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key",
                        "Let It Be")
                    expectFailure(stillGone, status: 2, message: "no item")
                }
            }

            // 11. Delete the table: its two remaining items go with it.
            let dropped = expectSuccess(try await raftlab("delete-table", at: node1, "--table-name", "Music"))
            #expect(dropped.output.hasPrefix("deleted table Music and its 2 items at log index "), "\(dropped)")
            for node in [node1, node2, node3] {
                let tables = try await retry(
                    for: .seconds(5), { try await raftlab("list-tables", at: node) }, until: { $0.output == "(no tables)" })
                #expect(tables.status == 0 && tables.output == "(no tables)", "\(tables)")
                let noTable = try await raftlab(
                    "get-item", at: node, "--consistent", "--table-name", "Music", "--partition-key", "Queen", "--sort-key",
                    "Bohemian Rhapsody")
                expectFailure(noTable, status: 2, message: "table Music does not exist")
            }

            // 12. Every node applies everything, then the server stops cleanly on SIGTERM.
            let tableDeletedAt = try #require(UInt64(dropped.output.split(separator: " ").last ?? ""), "\(dropped)")
            let commit = try await cluster.waitForConvergence(timeout: .seconds(10))
            #expect(commit >= tableDeletedAt)
            await cluster.stop()
        }

        /// `status --json` on every node has node_id, role, term, leader_id,
        /// commit_index and applied_index (that all nodes agree on a leader is
        /// `Cluster.waitForLeader`'s check, which decodes the same document).
        func expectStatusDocuments(_ cluster: Cluster) async throws {
            for node in cluster.nodes {
                let result = try requireSuccess(await cluster.workspace.cli(["status", "--json", "--target-addr", node.http]))
                let status = try result.json()
                for key in ["node_id", "role", "term", "leader_id", "commit_index", "applied_index"] {
                    #expect(status[key] != nil, "status --json of node \(node.id) has no \(key): \(result)")
                }
                #expect(status["node_id"] == .number(JSONNumber(Int(node.id))), "\(result)")
                #expect(["leader", "follower", "candidate"].contains(status["role"]?.stringValue ?? ""), "\(result)")
                for key in ["term", "leader_id", "commit_index", "applied_index"] {
                    #expect(status[key]?.numberValue?.int64Value != nil, "\(key) is not a whole number: \(result)")
                }
                #expect(status["applied_index"]?.numberValue ?? .zero <= status["commit_index"]?.numberValue ?? .zero, "\(result)")
                let text = try requireSuccess(await cluster.workspace.cli(["status", "--target-addr", node.http]))
                #expect(text.lines.first == "node_id:          \(node.id)", "\(text)")
                #expect(text.lines.dropFirst().first?.hasPrefix("role:             ") == true, "\(text)")
            }
        }
    }
}
