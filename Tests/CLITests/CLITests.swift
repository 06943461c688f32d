import ArgumentParser
import Foundation
import NoSQL
import RaftLabAPI
import RaftLabNode
import RaftLabHTTPClient
import RaftLabServer
import RaftLabTestSupport
import Testing

@testable import RaftLabCLI

@Suite("CLI: argument parsing")
struct ParsingTests {
    @Test("every client command parses the original simulator's flags")
    func originalFlags() throws {
        let create = try #require(
            try RaftLabCommand.parseAsRoot(Demo.createMusic + ["--target-addr", "localhost:8101"]) as? CreateTableCommand)
        #expect(create.tableName == "Music")
        #expect(create.partitionKeyName == "Artist")
        #expect(create.sortKeyName == "SongTitle")
        #expect(try create.connection.target() == HostPort(host: "localhost", port: 8101))

        let put = try #require(
            try RaftLabCommand.parseAsRoot(["put-item", "--table-name", "Music", "--item-data", Demo.letItBe]) as? PutItemCommand)
        #expect(put.itemData == Demo.letItBe)
        #expect(put.expectedVersion == nil)
        #expect(try put.connection.target() == HostPort(host: "localhost", port: 8100))
        #expect(put.connection.timeout == 10)

        let get = try #require(
            try RaftLabCommand.parseAsRoot([
                "get-item", "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key", "Let It Be",
            ]) as? GetItemCommand)
        #expect(get.key.partitionKey == "The Beatles")
        #expect(get.key.sortKey == "Let It Be")
        #expect(get.key.partitionKeyType == .string)
        #expect(get.consistent == false)

        let delete = try #require(
            try RaftLabCommand.parseAsRoot([
                "delete-item", "--table-name", "Music", "--partition-key", "Queen", "--sort-key", "Bohemian Rhapsody",
                "--expected-version", "4",
            ]) as? DeleteItemCommand)
        #expect(delete.expectedVersion == 4)

        let query = try #require(
            try RaftLabCommand.parseAsRoot([
                "query-items", "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key-prefix", "Yes",
            ]) as? QueryItemsCommand)
        #expect(query.sortKeyPrefix == "Yes")
        #expect(query.limit == 100)
        #expect(query.all == false)

        #expect(try RaftLabCommand.parseAsRoot(["delete-table", "--table-name", "Music"]) is DeleteTableCommand)
        #expect(try RaftLabCommand.parseAsRoot(["status", "--target-addr", "localhost:8102"]) is StatusCommand)
        #expect(try RaftLabCommand.parseAsRoot(["list-tables"]) is ListTablesCommand)
        #expect(try RaftLabCommand.parseAsRoot(["describe-table", "--table-name", "Music"]) is DescribeTableCommand)
        #expect(
            try RaftLabCommand.parseAsRoot([
                "rollback-item", "--table-name", "Music", "--partition-key", "a", "--sort-key", "b",
            ]) is RollbackItemCommand)
    }

    @Test("the added flags: versions, consistency, JSON, pages, key types, timeout")
    func addedFlags() throws {
        let put = try #require(
            try RaftLabCommand.parseAsRoot([
                "put-item", "--table-name", "T01", "--item-data", "{}", "--expected-version", "0", "--json", "--timeout", "2.5",
                "--verbose",
            ]) as? PutItemCommand)
        #expect(put.expectedVersion == 0)
        #expect(put.connection.json)
        #expect(put.connection.verbose)
        #expect(put.connection.timeout == 2.5)

        let get = try #require(
            try RaftLabCommand.parseAsRoot([
                "get-item", "--table-name", "T01", "--partition-key", "7", "--partition-key-type", "number", "--sort-key",
                "-2.5e3", "--sort-key-type", "number", "--consistent",
            ]) as? GetItemCommand)
        #expect(get.consistent)
        #expect(get.key.queryItems.map { "\($0.0)=\($0.1)" } == [
            "partition_key=7", "partition_key_type=number", "sort_key=-2.5e3", "sort_key_type=number",
        ])

        let query = try #require(
            try RaftLabCommand.parseAsRoot([
                "query-items", "--table-name", "T01", "--partition-key", "1", "--partition-key-type", "number", "--limit", "5",
                "--continuation-token", "AQ", "--all", "--consistent",
            ]) as? QueryItemsCommand)
        #expect(query.limit == 5)
        #expect(query.continuationToken == "AQ")
        #expect(query.all && query.consistent)
        #expect(query.partitionKeyType == .number)

        let tolerant = try #require(try RaftLabCommand.parseAsRoot(["status", "--target-addr", "http://127.0.0.1:9000/"]) as? StatusCommand)
        #expect(try tolerant.connection.target() == HostPort(host: "127.0.0.1", port: 9000))
    }

    @Test(
        "usage errors exit 64",
        arguments: [
            ["create-table", "--table-name", "Music"],
            ["put-item", "--table-name", "Music"],
            ["put-item", "--table-name", "Music", "--item-data", #"{"Artist": broken"#],
            ["put-item", "--table-name", "Music", "--item-data", "[1,2]"],
            ["put-item", "--table-name", "Music", "--item-data", "{}", "--expected-version", "-1"],
            ["get-item", "--table-name", "Music"],
            ["get-item", "--table-name", "Music", "--partition-key", "x", "--partition-key-type", "number"],
            ["get-item", "--table-name", "Music", "--partition-key", "1", "--sort-key", "y", "--sort-key-type", "number"],
            ["get-item", "--table-name", "Music", "--partition-key", "1", "--partition-key-type", "boolean"],
            ["delete-item", "--table-name", "Music", "--partition-key", "a", "--expected-version", "0"],
            ["rollback-item", "--table-name", "Music", "--partition-key", "a", "--expected-version", "0"],
            ["query-items", "--table-name", "Music"],
            ["query-items", "--table-name", "Music", "--partition-key", "a", "--limit", "0"],
            ["status", "--target-addr", "localhost"],
            ["status", "--target-addr", "localhost:99999"],
            ["status", "--timeout", "0"],
            ["status", "--timeout", "nan"],
            ["status", "--bogus"],
        ])
    func usageErrors(arguments: [String]) {
        do {
            _ = try RaftLabCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(RaftLabCommand.exitCode(for: error).rawValue == ClientFailure.Exit.usage, "\(arguments): \(error)")
            #expect(!RaftLabCommand.message(for: error).isEmpty)
        }
    }

    @Test("every client command's help has an abstract, an example and the exit codes")
    func help() {
        for command in RaftLabCommand.clientCommands {
            let configuration = command.configuration
            #expect(!configuration.abstract.isEmpty, "\(command)")
            #expect(configuration.discussion.contains("Example:\n  raftlab \(configuration.commandName ?? "")"), "\(command)")
            #expect(configuration.discussion.contains("64  usage error"), "\(command)")
            let help = RaftLabCommand.helpMessage(for: command)
            #expect(help.contains("--target-addr"), "\(command)")
            #expect(help.contains("--timeout"), "\(command)")
        }
        let names = RaftLabCommand.clientCommands.compactMap { $0.configuration.commandName }
        for name in [
            "create-table", "delete-table", "put-item", "get-item", "delete-item", "query-items", "status", "list-tables",
            "rollback-item",
        ] {
            #expect(names.contains(name))
        }
    }
}

@Suite("CLI: helpers")
struct HelperTests {
    @Test("query strings encode everything but unreserved characters")
    func encoding() {
        #expect(APIClient.percentEncode("The Beatles") == "The%20Beatles")
        #expect(APIClient.percentEncode("AC/DC & Friends+=?#%é") == "AC%2FDC%20%26%20Friends%2B%3D%3F%23%25%C3%A9")
        #expect(APIClient.percentEncode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(APIClient.queryString([]) == "")
        #expect(APIClient.queryString([("partition_key", "a b"), ("limit", "2")]) == "?partition_key=a%20b&limit=2")
        #expect(tablePath("Music", "/items") == "/tables/Music/items")
    }

    @Test("redirect targets: absolute Location, relative Location, leader_addr in the body")
    func redirects() {
        let here = HostPort(host: "localhost", port: 8100)
        func response(_ location: String?) -> SimpleHTTPResponse {
            SimpleHTTPResponse(status: 307, headers: location.map { [("location", $0)] } ?? [], body: [])
        }
        let absolute = APIClient.redirectTarget(
            response("http://127.0.0.1:8101/tables/Music/items?expected_version=0"), json: nil, from: here, path: "/x")
        #expect(absolute?.node == HostPort(host: "127.0.0.1", port: 8101))
        #expect(absolute?.path == "/tables/Music/items?expected_version=0")
        let relative = APIClient.redirectTarget(response("/tables"), json: nil, from: here, path: "/x")
        #expect(relative?.node == here)
        #expect(relative?.path == "/tables")
        let body = APIClient.redirectTarget(response(nil), json: ["leader_addr": "10.0.0.2:8102"], from: here, path: "/x")
        #expect(body?.node == HostPort(host: "10.0.0.2", port: 8102))
        #expect(body?.path == "/x")
        #expect(APIClient.redirectTarget(response("ftp://nowhere"), json: nil, from: here, path: "/x") == nil)
    }

    @Test("exit codes by class of failure")
    func exitCodes() {
        func code(_ status: Int) -> Int32 { ClientFailure.rejected(status: status, code: "x", message: "m").exitCode }
        #expect(code(400) == 1)
        #expect(code(413) == 1)
        #expect(code(404) == 2)
        #expect(code(409) == 3)
        #expect(code(503) == 4)
        #expect(code(504) == 4)
        #expect(code(502) == 4)
        #expect(code(500) == 5)
        #expect(ClientFailure.unavailable("gone").exitCode == 4)
        #expect(ClientFailure.badResponse("junk").exitCode == 5)
    }

    @Test("pretty JSON keeps the canonical scalars and member order")
    func pretty() throws {
        let value = try JSONValue.parse(#"{"b":[1,{"x":null}],"a":"\"q\"","c":{},"d":[],"e":1.50}"#)
        #expect(ClientOutput.pretty(value) == """
            {
              "a": "\\"q\\"",
              "b": [
                1,
                {
                  "x": null
                }
              ],
              "c": {},
              "d": [],
              "e": 1.5
            }
            """)
        #expect(try JSONValue.parse(ClientOutput.pretty(value)) == value)
    }
}

@Suite("CLI against live servers", .timeLimit(.minutes(2)))
struct LiveTests {
    @Test("the demo through the commands; the follower redirects writes and strong reads to the leader")
    func demoThroughFollower() async throws {
        let leader = try InMemoryService(nodeID: 1)
        try await withLiveServer(leader) { leaderAddress in
            let follower = try InMemoryService(nodeID: 2, mode: .follower(leaderID: 1, leaderHTTPAddress: leaderAddress))
            try await withLiveServer(follower) { followerAddress in
                let created = try await run(Demo.createMusic, at: followerAddress)
                #expect(created.stdout.contains("created table Music (partition key: Artist, sort key: SongTitle)"))
                for item in [Demo.letItBe, Demo.bohemian, Demo.yesterday] {
                    let put = try await run(["put-item", "--table-name", "Music", "--item-data", item], at: followerAddress)
                    #expect(put.stdout.hasPrefix("put item in Music: version"))
                }
                #expect(follower.writes == 0)
                #expect(leader.writes == 4)

                // The follower holds nothing locally (no replication here): a strong read goes to the leader.
                let key = ["--table-name", "Music", "--partition-key", "The Beatles", "--sort-key", "Let It Be"]
                let strong = try await run(["get-item"] + key + ["--consistent"], at: followerAddress)
                #expect(strong.stdout.contains(#""Year": 1970"#))
                #expect(strong.stdout.contains("version: 2  previous_version: none"))
                let local = try await failure(["get-item"] + key, at: followerAddress)
                #expect(local?.exitCode == 2)

                let fromLeader = try await run(["get-item"] + key + ["--json"], at: leaderAddress)
                let json = try JSONValue.parse(fromLeader.stdout)
                #expect(json["item"]?["Album"] == "Let It Be")
                #expect(json["version"] == 2)

                let query = try await run(
                    ["query-items", "--table-name", "Music", "--partition-key", "The Beatles"], at: leaderAddress)
                #expect(query.stdout.split(separator: "\n").count == 2)
                #expect(query.stdout.contains("Let It Be") && query.stdout.contains("Yesterday"))
                #expect(query.stderr == "2 items")
                let prefixed = try await run(
                    ["query-items", "--table-name", "Music", "--partition-key", "The Beatles", "--sort-key-prefix", "Yes"],
                    at: leaderAddress)
                #expect(prefixed.stdout.contains("Yesterday") && !prefixed.stdout.contains("Let It Be"))

                let deleted = try await run(
                    ["delete-item", "--table-name", "Music", "--partition-key", "Queen", "--sort-key", "Bohemian Rhapsody"],
                    at: followerAddress)
                #expect(deleted.stdout.contains("deleted item from Music (it was at version 3)"))
                let gone = try await failure(
                    ["get-item", "--table-name", "Music", "--partition-key", "Queen", "--sort-key", "Bohemian Rhapsody"],
                    at: leaderAddress)
                #expect(gone?.exitCode == 2)
                #expect(gone?.description.contains("item_not_found") == true)

                let tables = try await run(["list-tables"], at: leaderAddress)
                #expect(tables.stdout.contains("Music  Artist         SongTitle"))
                let dropped = try await run(["delete-table", "--table-name", "Music"], at: followerAddress)
                #expect(dropped.stdout.contains("deleted table Music and its 2 items"))
            }
        }
    }

    @Test("bad input exits non-zero with the server's message, one exit code per class")
    func errorClasses() async throws {
        let service = try InMemoryService()
        try await withLiveServer(service) { node in
            _ = try await run(Demo.createMusic, at: node)
            let duplicate = try await failure(Demo.createMusic, at: node)
            #expect(duplicate?.exitCode == 3)
            #expect(duplicate?.description.contains("already exists") == true)

            let noKeys = try await failure(["put-item", "--table-name", "Music", "--item-data", #"{"Album":"no keys"}"#], at: node)
            #expect(noKeys?.exitCode == 1)
            #expect(noKeys?.description.contains("missing_key_attribute") == true)

            let noTable = try await failure(
                ["get-item", "--table-name", "NoSuchTable", "--partition-key", "x", "--sort-key", "y"], at: node)
            #expect(noTable?.exitCode == 2)
            #expect(noTable?.description.contains("table_not_found") == true)

            _ = try await run(["put-item", "--table-name", "Music", "--item-data", Demo.letItBe], at: node)
            let conflict = try await failure(
                ["put-item", "--table-name", "Music", "--item-data", Demo.letItBe, "--expected-version", "0"], at: node)
            #expect(conflict?.exitCode == 3)
            #expect(conflict?.description.contains("version_conflict") == true)

            service.mode = .broken
            let broken = try await failure(["status"], at: node)
            #expect(broken?.exitCode == 5)
            service.mode = .timingOut
            let slow = try await failure(["put-item", "--table-name", "Music", "--item-data", Demo.bohemian], at: node)
            #expect(slow?.exitCode == 4)
            service.mode = .leader

            // `run` itself prints the message and throws the exit code.
            var command = try #require(
                try RaftLabCommand.parseAsRoot([
                    "get-item", "--target-addr", node.description, "--table-name", "Music", "--partition-key", "Nobody",
                    "--sort-key", "x",
                ]) as? GetItemCommand)
            do {
                try await command.run()
                Issue.record("get-item of a missing item succeeded")
            } catch let exit as ExitCode {
                #expect(exit.rawValue == 2)
            }
        }
    }

    @Test("while no leader is elected the command retries, and succeeds once one is")
    func retriesUntilLeader() async throws {
        let service = try InMemoryService(mode: .leaderless)
        try await withLiveServer(service) { node in
            let start = ContinuousClock.now
            let elect = Task {
                try await Task.sleep(for: .milliseconds(400))
                service.mode = .leader
            }
            let created = try await run(Demo.createMusic, at: node, timeout: 10)
            #expect(created.stdout.contains("created table Music"))
            #expect(ContinuousClock.now - start >= .milliseconds(400))
            try await elect.value

            service.mode = .leaderless
            let start2 = ContinuousClock.now
            let never = try await failure(["put-item", "--table-name", "Music", "--item-data", Demo.letItBe], at: node, timeout: 2)
            #expect(never?.exitCode == 4)
            #expect(never?.description.contains("no leader") == true)
            #expect(ContinuousClock.now - start2 < .seconds(8))
        }
    }

    @Test("an unreachable node is retried until --timeout, then exit 4")
    func unreachable() async throws {
        let dead = try DeadPort()
        let nowhere = dead.address
        let start = ContinuousClock.now
        // 2 s, not less: with the whole test run starting at once on two cores, a first
        // connect has been seen to take most of a second, and the message then says
        // "no response" because no attempt was ever refused.
        let gone = try await failure(["status"], at: nowhere, timeout: 2)
        let elapsed = ContinuousClock.now - start
        #expect(gone?.exitCode == 4)
        #expect(gone?.description.contains("connection refused") == true, "\(gone?.description ?? "no failure")")
        #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(12))
        withExtendedLifetime(dead) {}
    }

    @Test("a node that comes up late is reached within the timeout")
    func lateServer() async throws {
        let dead = try DeadPort()
        let port = dead.port
        let service = try InMemoryService()
        async let answer = run(["status"], at: HostPort(host: "127.0.0.1", port: port), timeout: 10)
        try await Task.sleep(for: .milliseconds(300))
        dead.release()
        let app = makeApplication(
            service: service, address: HostPort(host: "127.0.0.1", port: port), registry: nil, logger: quietLogger)
        let server = Task { try await app.run() }
        let output = try await answer
        server.cancel()
        _ = await server.result
        #expect(output.stdout.contains("role:"))
    }

    @Test("a redirect to a dead leader falls back to the named node and gives up at the timeout")
    func deadLeader() async throws {
        let dead = try DeadPort()
        let nowhere = dead.address
        let follower = try InMemoryService(mode: .follower(leaderID: 3, leaderHTTPAddress: nowhere))
        try await withLiveServer(follower) { node in
            let start = ContinuousClock.now
            let stuck = try await failure(Demo.createMusic, at: node, timeout: 1)
            #expect(stuck?.exitCode == 4)
            #expect(ContinuousClock.now - start < .seconds(4))
        }
        withExtendedLifetime(dead) {}
    }

    @Test("a forwarding follower answers for the leader; the CLI sees no redirect")
    func forwardingFollower() async throws {
        let leader = try InMemoryService(nodeID: 1)
        try await withLiveServer(leader) { leaderAddress in
            let follower = try InMemoryService(nodeID: 2, mode: .follower(leaderID: 1, leaderHTTPAddress: leaderAddress))
            try await withLiveServer(follower, options: HTTPAPIOptions(forwardWritesToLeader: true)) { followerAddress in
                _ = try await run(Demo.createMusic, at: followerAddress)
                let put = try await run(["put-item", "--table-name", "Music", "--item-data", Demo.letItBe, "--json"], at: followerAddress)
                #expect(try JSONValue.parse(put.stdout)["version"] == 2)
            }
        }
        #expect(leader.writes == 2)
    }

    @Test("status, numeric keys, rollback, pages and JSON output")
    func features() async throws {
        let service = try InMemoryService(nodeID: 3)
        try await withLiveServer(service) { node in
            let status = try await run(["status"], at: node)
            #expect(status.stdout.contains("node_id:"))
            #expect(status.stdout.contains("role:             leader"))
            #expect(status.stdout.contains("learners:         -"))
            let statusJSON = try JSONValue.parse(try await run(["status", "--json"], at: node).stdout)
            for key in ["node_id", "role", "term", "leader_id", "commit_index", "applied_index"] {
                #expect(statusJSON[key] != nil, "status --json lacks \(key)")
            }
            #expect(statusJSON["node_id"] == 3)

            _ = try await run(
                ["create-table", "--table-name", "Readings", "--partition-key-name", "sensor", "--sort-key-name", "t"], at: node)
            for t in 1...5 {
                _ = try await run(
                    ["put-item", "--table-name", "Readings", "--item-data", #"{"sensor":7,"t":\#(t),"v":\#(t * 10)}"#], at: node)
            }
            let numeric = ["--table-name", "Readings", "--partition-key", "7", "--partition-key-type", "number"]
            let one = try await run(["get-item"] + numeric + ["--sort-key", "3.0", "--sort-key-type", "number", "--json"], at: node)
            #expect(try JSONValue.parse(one.stdout)["item"]?["v"] == 30)
            let asString = try await failure(["get-item", "--table-name", "Readings", "--partition-key", "7", "--sort-key", "3"], at: node)
            #expect(asString?.exitCode == 2)

            let page = try await run(["query-items"] + numeric + ["--limit", "2"], at: node)
            #expect(page.stdout.split(separator: "\n").count == 2)
            #expect(page.stderr.contains("more with --continuation-token "))
            let token = try #require(page.stderr.split(separator: " ").last.map(String.init))
            let next = try await run(["query-items"] + numeric + ["--limit", "2", "--continuation-token", token], at: node)
            #expect(next.stdout.contains(#""t":3"#) && next.stdout.contains(#""t":4"#))
            let everything = try await run(["query-items"] + numeric + ["--limit", "2", "--all", "--json"], at: node)
            let merged = try JSONValue.parse(everything.stdout)
            #expect(merged["count"] == 5)
            #expect(merged["items"]?.arrayValue?.compactMap { $0["item"]?["t"] } == [1, 2, 3, 4, 5])

            let key = numeric + ["--sort-key", "1", "--sort-key-type", "number"]
            _ = try await run(["put-item", "--table-name", "Readings", "--item-data", #"{"sensor":7,"t":1,"v":"changed"}"#], at: node)
            let nothing = try await failure(["rollback-item"] + key + ["--expected-version", "1"], at: node)
            #expect(nothing?.exitCode == 3)
            let rolled = try await run(["rollback-item"] + key, at: node)
            #expect(rolled.stdout.contains(#""v": 10"#))
            let restored = try await run(["get-item"] + key + ["--json"], at: node)
            #expect(try JSONValue.parse(restored.stdout)["item"]?["v"] == 10)

            let described = try await run(["describe-table", "--table-name", "Readings"], at: node)
            #expect(described.stdout.contains("sort_key_name:      t"))
        }
    }
}
