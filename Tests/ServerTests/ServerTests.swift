import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NoSQL
import Prometheus
import RaftLabAPI
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import Testing
import struct Raft.SplitMix64

@Suite("HTTP API: the original demo")
struct DemoScenarioTests {
    @Test("create Music, put, get, query by partition and prefix, delete item, delete table")
    func demo() async throws {
        let service = try InMemoryService()
        try await withAPI(service) { client in
            let created = try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
            #expect(created["table_name"] == "Music")
            #expect(created["partition_key_name"] == "Artist")
            #expect(created["sort_key_name"] == "SongTitle")
            #expect(created["index"]?.int == 1)
            #expect(created["created_at"]?.int == 1)

            let put1 = try await client.expect(.put, "/tables/Music/items", Demo.letItBe, status: 200)
            #expect(put1["table"] == "Music")
            #expect(put1["version"]?.int == 2)
            #expect(put1["index"]?.int == 2)
            #expect(put1["previous_version"] == .null)
            #expect(put1["item"] == (try JSONValue.parse(Demo.letItBe)))
            try await client.expect(.put, "/tables/Music/items", Demo.bohemian, status: 200)

            // The item comes back as the state machine's canonical JSON, types kept.
            let get = try await client.send(.get, "/tables/Music/items?partition_key=The%20Beatles&sort_key=Let%20It%20Be")
            #expect(get.status == .ok)
            #expect(get.text.contains(#""item":{"Album":"Let It Be","Artist":"The Beatles","SongTitle":"Let It Be","Year":1970}"#))
            let got = try get.json()
            #expect(got["version"]?.int == 2)
            #expect(got["item"]?["Year"] == 1970)

            let queen = try await client.expect(
                .get, "/tables/Music/items?partition_key=Queen&sort_key=Bohemian+Rhapsody&consistency=strong", status: 200)
            #expect(queen["item"]?["Album"] == "A Night at the Opera")

            try await client.expect(.put, "/tables/Music/items", Demo.yesterday, status: 200)
            let beatles = try await client.expect(.get, "/tables/Music/query?partition_key=The+Beatles", status: 200)
            #expect(beatles["count"]?.int == 2)
            #expect(beatles["items"]?.arrayValue?.compactMap { $0["item"]?["SongTitle"]?.stringValue } == ["Let It Be", "Yesterday"])
            #expect(beatles["continuation_token"] == .null)

            let prefixed = try await client.expect(
                .get, "/tables/Music/query?partition_key=The+Beatles&sort_key_prefix=Yes", status: 200)
            #expect(prefixed["items"]?.arrayValue?.compactMap { $0["item"]?["SongTitle"]?.stringValue } == ["Yesterday"])

            let deleted = try await client.expect(
                .delete, "/tables/Music/items?partition_key=Queen&sort_key=Bohemian%20Rhapsody", status: 200)
            #expect(deleted["deleted_version"]?.int == 3)
            #expect(deleted["deleted_item"]?["Year"] == 1975)
            try await client.expectError(
                .get, "/tables/Music/items?partition_key=Queen&sort_key=Bohemian%20Rhapsody", status: 404, code: "item_not_found")

            let tables = try await client.expect(.get, "/tables", status: 200)
            #expect(tables["tables"]?.arrayValue?.compactMap { $0["table_name"]?.stringValue } == ["Music"])
            let described = try await client.expect(.get, "/tables/Music", status: 200)
            #expect(described["sort_key_name"] == "SongTitle")

            let dropped = try await client.expect(.delete, "/tables/Music", status: 200)
            #expect(dropped["items_deleted"]?.int == 2)
            try await client.expectError(.get, "/tables/Music", status: 404, code: "table_not_found")
            let none = try await client.expect(.get, "/tables", status: 200)
            #expect(none["tables"] == [])
        }
    }

    @Test("a table without a sort key")
    func partitionOnly() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expect(.post, "/tables", #"{"table_name":"Users","partition_key_name":"id"}"#, status: 201)
            let described = try await client.expect(.get, "/tables/Users", status: 200)
            #expect(described["sort_key_name"] == .null)
            try await client.expect(.put, "/tables/Users/items", #"{"id":"u1","name":"Ada"}"#, status: 200)
            let got = try await client.expect(.get, "/tables/Users/items?partition_key=u1", status: 200)
            #expect(got["item"]?["name"] == "Ada")
            try await client.expectError(
                .get, "/tables/Users/items?partition_key=u1&sort_key=x", status: 400, code: "invalid_argument")
            try await client.expectError(
                .get, "/tables/Users/query?partition_key=u1&sort_key_prefix=x", status: 400, code: "invalid_argument")
        }
    }

    @Test("status has the node's snake_case keys, leader_http_addr null without a leader")
    func status() async throws {
        let service = try InMemoryService(nodeID: 2)
        try await withAPI(service) { client in
            let status = try await client.expect(.get, "/status", status: 200)
            for key in [
                "node_id", "role", "term", "leader_id", "commit_index", "applied_index", "first_index", "last_index",
                "log_backend", "state_backend", "sync", "leader_http_addr",
            ] {
                #expect(status[key] != nil, "missing \(key)")
            }
            #expect(status["node_id"]?.int == 2)
            #expect(status["role"] == "leader")
            #expect(status["sync"] == false)
            service.mode = .leaderless
            let leaderless = try await client.expect(.get, "/status", status: 200)
            #expect(leaderless["leader_http_addr"] == .null)
            #expect(leaderless["leader_id"]?.int == 0)
            try await client.expectError(.get, "/status?verbose=1", status: 400, code: "invalid_argument")
        }
    }
}

@Suite("HTTP API: error codes")
struct ErrorCodeTests {
    /// A service with Music already created and one item in it.
    func musicService(limits: NoSQLLimits = .default) async throws -> InMemoryService {
        let service = try InMemoryService(limits: limits)
        _ = try await service.write(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        _ = try await service.write(.putItem(table: "Music", item: try JSONValue.parse(Demo.letItBe), expectedVersion: nil))
        return service
    }

    @Test("bad items: invalid_json, invalid_item, missing_key_attribute, invalid_key_type, key_too_large")
    func badItems() async throws {
        try await withAPI(try await musicService()) { client in
            try await client.expectError(.put, "/tables/Music/items", #"{"Artist": broken"#, status: 400, code: "invalid_json")
            try await client.expectError(.put, "/tables/Music/items", "", status: 400, code: "invalid_json")
            try await client.expectError(.put, "/tables/Music/items", #"{"a":1,"a":2}"#, status: 400, code: "invalid_json")
            try await client.expectError(.put, "/tables/Music/items", "[1,2]", status: 400, code: "invalid_item")
            try await client.expectError(
                .put, "/tables/Music/items", #"{"Album":"no keys"}"#, status: 400, code: "missing_key_attribute")
            try await client.expectError(
                .put, "/tables/Music/items", #"{"Artist":true,"SongTitle":"x"}"#, status: 400, code: "invalid_key_type")
            let long = String(repeating: "x", count: 3000)
            try await client.expectError(
                .put, "/tables/Music/items", #"{"Artist":"\#(long)","SongTitle":"x"}"#, status: 400, code: "key_too_large")
            try await client.expectError(
                .get, "/tables/Music/items?partition_key=\(long)&sort_key=x", status: 400, code: "key_too_large")
            try await client.expectError(
                .get, "/tables/Music/items?partition_key=The+Beatles", status: 400, code: "missing_key_attribute")
        }
    }

    @Test("tables: table_not_found, table_exists, invalid names and bodies")
    func tables() async throws {
        try await withAPI(try await musicService()) { client in
            try await client.expectError(
                .get, "/tables/NoSuchTable/items?partition_key=x&sort_key=y", status: 404, code: "table_not_found")
            try await client.expectError(.put, "/tables/NoSuchTable/items", Demo.letItBe, status: 404, code: "table_not_found")
            try await client.expectError(.delete, "/tables/NoSuchTable", status: 404, code: "table_not_found")
            try await client.expectError(.post, "/tables", Demo.createMusic, status: 409, code: "table_exists")
            try await client.expectError(
                .post, "/tables", #"{"table_name":"ab","partition_key_name":"k"}"#, status: 400, code: "invalid_argument")
            try await client.expectError(
                .post, "/tables", #"{"table_name":"bad name!","partition_key_name":"k"}"#, status: 400, code: "invalid_argument")
            try await client.expectError(.post, "/tables", #"{"table_name":"Albums"}"#, status: 400, code: "invalid_argument")
            try await client.expectError(
                .post, "/tables", #"{"table_name":"Albums","partition_key_name":7}"#, status: 400, code: "invalid_argument")
            try await client.expectError(
                .post, "/tables", #"{"table_name":"Albums","partition_key_name":"k","sortkey":"s"}"#, status: 400,
                code: "invalid_argument")
            try await client.expectError(
                .post, "/tables", #"{"table_name":"Albums","partition_key_name":"k","sort_key_name":"k"}"#, status: 400,
                code: "invalid_argument")
            try await client.expectError(.post, "/tables", "[]", status: 400, code: "invalid_argument")
            try await client.expectError(.post, "/tables", "table_name=Albums", status: 400, code: "invalid_json")
            try await client.expectError(.get, "/tables/x", status: 400, code: "invalid_argument")
        }
    }

    @Test("query parameters: missing, malformed, unknown, repeated")
    func parameters() async throws {
        try await withAPI(try await musicService()) { client in
            let music = "/tables/Music/items"
            try await client.expectError(.get, music, status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(music)?sort_key=x", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(music)?partition_key=a&sortkey=b", status: 400, code: "invalid_argument")
            try await client.expectError(
                .get, "\(music)?partition_key=a&partition_key=b&sort_key=c", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(music)?partition_key=%zz&sort_key=c", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(music)?partition_key=%ff&sort_key=c", status: 400, code: "invalid_argument")
            try await client.expectError(
                .get, "\(music)?partition_key=a&sort_key=b&consistency=eventual", status: 400, code: "invalid_argument")
            try await client.expectError(
                .get, "\(music)?partition_key=a&sort_key=b&partition_key_type=bool", status: 400, code: "invalid_argument")
            try await client.expectError(
                .get, "\(music)?partition_key=12a&sort_key=b&partition_key_type=number", status: 400, code: "invalid_argument")
            try await client.expectError(.put, "\(music)?expected_version=abc", Demo.letItBe, status: 400, code: "invalid_argument")
            try await client.expectError(.put, "\(music)?expected_version=-1", Demo.letItBe, status: 400, code: "invalid_argument")
            try await client.expectError(.put, "\(music)?expected_version=+1", Demo.letItBe, status: 400, code: "invalid_argument")
            try await client.expectError(
                .delete, "\(music)?partition_key=The+Beatles&sort_key=Let+It+Be&expected_version=0", status: 400,
                code: "invalid_argument")
            let query = "/tables/Music/query?partition_key=The+Beatles"
            try await client.expectError(.get, "/tables/Music/query", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(query)&limit=0", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(query)&limit=1001", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(query)&limit=ten", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(query)&continuation_token=!!", status: 400, code: "invalid_argument")
            try await client.expectError(.get, "\(query)&continuation_token=AAAA", status: 400, code: "invalid_argument")
        }
    }

    @Test("versions: version_conflict 409, item_not_found 404, no_previous_version 409")
    func versions() async throws {
        try await withAPI(try await musicService()) { client in
            let music = "/tables/Music/items"
            let key = "partition_key=The+Beatles&sort_key=Let+It+Be"
            try await client.expectError(.put, "\(music)?expected_version=0", Demo.letItBe, status: 409, code: "version_conflict")
            try await client.expectError(.put, "\(music)?expected_version=7", Demo.letItBe, status: 409, code: "version_conflict")
            try await client.expectError(.delete, "\(music)?\(key)&expected_version=9", status: 409, code: "version_conflict")
            try await client.expectError(.post, "\(music)/rollback?\(key)", status: 409, code: "no_previous_version")
            try await client.expectError(
                .post, "\(music)/rollback?partition_key=Nobody&sort_key=x", status: 404, code: "item_not_found")
            try await client.expectError(.delete, "\(music)?partition_key=Nobody&sort_key=x", status: 404, code: "item_not_found")
            try await client.expectError(
                .put, "\(music)?expected_version=3", Demo.bohemian, status: 409, code: "version_conflict")
        }
    }

    @Test("sizes: item_too_large 413 from the state machine, request_too_large 413 past the body limit")
    func sizes() async throws {
        let service = try await musicService(limits: NoSQLLimits(maxItemBytes: 200))
        try await withAPI(service) { client in
            let big = #"{"Artist":"a","SongTitle":"b","Lyrics":"\#(String(repeating: "la ", count: 100))"}"#
            try await client.expectError(.put, "/tables/Music/items", big, status: 413, code: "item_too_large")
        }
        try await withAPI(service, options: HTTPAPIOptions(maxBodyBytes: 256)) { client in
            let huge = #"{"Artist":"a","SongTitle":"b","Lyrics":"\#(String(repeating: "la ", count: 1000))"}"#
            try await client.expectError(.put, "/tables/Music/items", huge, status: 413, code: "request_too_large")
            try await client.expectError(.post, "/tables", String(repeating: " ", count: 300) + "{}", status: 413, code: "request_too_large")
        }
        #expect(service.writes == 2)
    }

    @Test("unknown routes and methods answer JSON 404")
    func routes() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expectError(.get, "/nope", status: 404, code: "not_found")
            try await client.expectError(.patch, "/tables", status: 404, code: "not_found")
            try await client.expectError(.get, "/tables/Music/items/extra/deep", status: 404, code: "not_found")
        }
    }

    @Test("node failures: internal 500, storage errors 500, shutting_down 503, node_unavailable 503, outcome_unknown 504; the Idempotency-Key reaches the node")
    func nodeFailures() async throws {
        let service = try await musicService()
        try await withAPI(service) { client in
            let get = "/tables/Music/items?partition_key=The+Beatles&sort_key=Let+It+Be"
            service.mode = .broken
            try await client.expectError(.get, "/status", status: 500, code: "internal")
            try await client.expectError(.put, "/tables/Music/items", Demo.bohemian, status: 500, code: "internal")
            service.mode = .diskFailing
            let storage = try await client.expectError(.get, get, status: 500, code: "internal")
            #expect(try storage.json()["message"]?.stringValue?.contains("storage error") == true)
            service.mode = .shuttingDown
            try await client.expectError(.get, get, status: 503, code: "shutting_down")
            // A node whose disk is full takes no writes: 503 that names why, with Retry-After.
            service.mode = .stalled
            let stalled = try await client.expectError(.put, "/tables/Music/items", Demo.bohemian, status: 503, code: "node_unavailable")
            #expect(stalled.headers[.retryAfter] == "1")
            #expect(try stalled.json()["message"]?.stringValue?.contains("No space left on device") == true)
            service.mode = .timingOut
            let unknown = try await client.expectError(.put, "/tables/Music/items", Demo.bohemian, status: 504, code: "outcome_unknown")
            #expect(try unknown.json()["message"]?.stringValue?.contains("Idempotency-Key") == true)
            service.mode = .leader
            try await client.expect(.get, get, status: 200)
            // The client's Idempotency-Key reaches the node with the write.
            try await client.send(.put, "/tables/Music/items", Demo.bohemian, headers: [HTTPField.Name("Idempotency-Key")!: "key-42"])
            #expect(service.lastIdempotencyKey == "key-42")
        }
    }

    @Test("nothing a client sends crashes the server: random bodies and query strings get 4xx JSON")
    func garbage() async throws {
        let service = try await musicService()
        try await withAPI(service) { client in
            var generator = SplitMix64(seed: 0x5EED_4A77)
            let alphabet = Array(#"{}[]":,\ aZ09%&=+?-_.~é🎸\#u{0}"#.unicodeScalars)
            for round in 0..<150 {
                let length = Int.random(in: 0...40, using: &generator)
                let text = String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let body = round.isMultiple(of: 2) ? ByteBuffer(string: text) : ByteBuffer(bytes: bytes)
                let encoded = text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
                let uris = [
                    "/tables/Music/items?\(encoded)", "/tables/Music/items", "/tables", "/tables/Music/query?\(encoded)",
                    "/tables/\(encoded.isEmpty ? "x" : encoded)/items?partition_key=\(encoded)&sort_key=\(encoded)",
                ]
                for uri in uris {
                    for method in [HTTPRequest.Method.get, .put, .post, .delete] {
                        let response = try await client.execute(uri: uri, method: method, body: body)
                        let code = Int(response.status.code)
                        #expect((200..<500).contains(code), "\(method) \(uri): \(code) \(String(buffer: response.body))")
                        if code >= 400 {
                            #expect((try? response.json())?["error"]?.stringValue != nil, "\(method) \(uri)")
                        }
                    }
                }
            }
        }
    }
}

@Suite("HTTP API: leaders, followers, elections")
struct LeadershipTests {
    static let leader = HostPort(host: "127.0.0.1", port: 8101)

    @Test("a follower answers writes with 307 to the same path on the leader, and the leader in the body")
    func redirect() async throws {
        let service = try InMemoryService(nodeID: 1)
        _ = try await service.write(.createTable(TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle")))
        service.mode = .follower(leaderID: 2, leaderHTTPAddress: Self.leader)
        try await withAPI(service) { client in
            let put = try await client.expectError(
                .put, "/tables/Music/items?expected_version=0", Demo.letItBe, status: 307, code: "not_leader")
            #expect(put.headers[.location] == "http://127.0.0.1:8101/tables/Music/items?expected_version=0")
            let body = try put.json()
            #expect(body["leader_id"]?.int == 2)
            #expect(body["leader_addr"] == "127.0.0.1:8101")

            let create = try await client.expectError(.post, "/tables", Demo.createMusic, status: 307, code: "not_leader")
            #expect(create.headers[.location] == "http://127.0.0.1:8101/tables")
            let delete = try await client.expectError(
                .delete, "/tables/Music/items?partition_key=A&sort_key=B", status: 307, code: "not_leader")
            #expect(delete.headers[.location] == "http://127.0.0.1:8101/tables/Music/items?partition_key=A&sort_key=B")
            try await client.expectError(.delete, "/tables/Music", status: 307, code: "not_leader")
            try await client.expectError(
                .post, "/tables/Music/items/rollback?partition_key=A&sort_key=B", status: 307, code: "not_leader")

            // Local reads stay on the follower; strong ones go to the leader.
            try await client.expect(.get, "/tables", status: 200)
            let strong = try await client.expectError(.get, "/tables?consistency=strong", status: 307, code: "not_leader")
            #expect(strong.headers[.location] == "http://127.0.0.1:8101/tables?consistency=strong")
            // Bad requests are refused on the follower itself, without a round trip.
            try await client.expectError(.put, "/tables/Music/items", "{oops", status: 400, code: "invalid_json")
        }
        #expect(service.writes == 1)
    }

    @Test("without a leader: 503 no_leader with Retry-After: 1")
    func leaderless() async throws {
        let service = try InMemoryService()
        service.mode = .leaderless
        try await withAPI(service) { client in
            let put = try await client.expectError(.post, "/tables", Demo.createMusic, status: 503, code: "no_leader")
            #expect(put.headers[.retryAfter] == "1")
            let strong = try await client.expectError(.get, "/tables?consistency=strong", status: 503, code: "no_leader")
            #expect(strong.headers[.retryAfter] == "1")
            try await client.expect(.get, "/tables?consistency=local", status: 200)
        }
    }

    @Test("forwarding: a follower relays the write to a live leader and returns its answer")
    func forwarding() async throws {
        let leader = try InMemoryService(nodeID: 2)
        try await withLiveServer(leader) { address in
            let follower = try InMemoryService(nodeID: 1, mode: .follower(leaderID: 2, leaderHTTPAddress: address))
            try await withAPI(follower, options: HTTPAPIOptions(forwardWritesToLeader: true, forwardTimeout: .seconds(5))) { client in
                try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
                let put = try await client.expect(.put, "/tables/Music/items?expected_version=0", Demo.letItBe, status: 200)
                #expect(put["version"]?.int == 2)
                try await client.expectError(
                    .put, "/tables/Music/items?expected_version=0", Demo.letItBe, status: 409, code: "version_conflict")
                // A request a member already forwarded once is redirected, never forwarded again.
                let proof = HTTPAPIOptions().memberProof.proof(
                    method: "PUT", target: "/tables/Music/items", signedHost: nil, body: Array(Demo.letItBe.utf8))
                let again = try await client.send(
                    .put, "/tables/Music/items", Demo.letItBe,
                    headers: [HTTPField.Name("X-RaftLab-Forwarded")!: "1", HTTPField.Name("X-RaftLab-Member-Proof")!: proof])
                #expect(again.status == .temporaryRedirect)
                // A client cannot claim it: without the member's proof the header is ignored and the write forwarded.
                let claimed = try await client.send(
                    .put, "/tables/Music/items", Demo.letItBe, headers: [HTTPField.Name("X-RaftLab-Forwarded")!: "1"])
                #expect(claimed.status == .ok)
            }
            #expect(follower.writes == 0)
        }
        let stored = try await leader.read(.local) { machine, store in
            try machine.getItem(table: "Music", key: ItemKey("The Beatles", "Let It Be"), in: store)
        }
        #expect(stored.item["Year"] == 1970)
    }

    @Test("forwarding to a leader nobody listens for: 502 leader_unreachable")
    func forwardingUnreachable() async throws {
        let dead = try DeadPort()
        let nowhere = dead.address
        let follower = try InMemoryService(mode: .follower(leaderID: 3, leaderHTTPAddress: nowhere))
        try await withAPI(follower, options: HTTPAPIOptions(forwardWritesToLeader: true, forwardTimeout: .seconds(2))) { client in
            let response = try await client.expectError(.post, "/tables", Demo.createMusic, status: 502, code: "leader_unreachable")
            #expect(response.headers[.retryAfter] == "1")
        }
        withExtendedLifetime(dead) {}
    }
}

@Suite("HTTP API: keys, versions, pages, metrics")
struct FeatureTests {
    @Test("numeric keys: addressed with partition_key_type / sort_key_type = number, compared by value")
    func numericKeys() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expect(
                .post, "/tables", #"{"table_name":"Readings","partition_key_name":"sensor","sort_key_name":"t"}"#, status: 201)
            try await client.expect(.put, "/tables/Readings/items", #"{"sensor":7,"t":1.5,"v":-0.25}"#, status: 200)
            try await client.expect(.put, "/tables/Readings/items", #"{"sensor":7,"t":10,"v":1e400}"#, status: 200)
            try await client.expect(.put, "/tables/Readings/items", #"{"sensor":"7","t":"x","v":"string keys"}"#, status: 200)

            let typed = "partition_key=7&partition_key_type=number"
            let got = try await client.send(.get, "/tables/Readings/items?\(typed)&sort_key=1.50&sort_key_type=number")
            #expect(got.status == .ok)
            #expect(got.text.contains(#""item":{"sensor":7,"t":1.5,"v":-0.25}"#))
            let exact = try await client.send(.get, "/tables/Readings/items?\(typed)&sort_key=1e1&sort_key_type=number")
            #expect(exact.text.contains(#""v":1e+400"#))
            // The same digits as a string are another key.
            let stringKey = try await client.expect(
                .get, "/tables/Readings/items?partition_key=7&sort_key=x", status: 200)
            #expect(stringKey["item"]?["v"] == "string keys")
            try await client.expectError(
                .get, "/tables/Readings/items?partition_key=7&sort_key=1.5", status: 404, code: "item_not_found")

            let page = try await client.expect(.get, "/tables/Readings/query?\(typed)", status: 200)
            #expect(page["items"]?.arrayValue?.compactMap { $0["item"]?["t"] } == [.number(JSONNumber("1.5")!), 10])
            try await client.expect(
                .delete, "/tables/Readings/items?\(typed)&sort_key=10&sort_key_type=number", status: 200)
        }
    }

    @Test("keys with spaces, plus signs, ampersands and non-ASCII survive percent-encoding")
    func awkwardKeys() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
            try await client.expect(
                .put, "/tables/Music/items", #"{"Artist":"AC/DC & Friends+","SongTitle":"Café = 1?","Year":1}"#, status: 200)
            let got = try await client.expect(
                .get, "/tables/Music/items?partition_key=AC%2FDC+%26+Friends%2B&sort_key=Caf%C3%A9%20%3D%201%3F", status: 200)
            #expect(got["item"]?["Year"] == 1)
        }
    }

    @Test("optimistic locking and rollback over HTTP")
    func versionsAndRollback() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
            let v1 = try await client.expect(.put, "/tables/Music/items?expected_version=0", Demo.letItBe, status: 200)
            let first = try #require(v1["version"]?.int)
            let updated = #"{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be... Naked","Year":2003}"#
            let v2 = try await client.expect(.put, "/tables/Music/items?expected_version=\(first)", updated, status: 200)
            let second = try #require(v2["version"]?.int)
            #expect(v2["previous_version"]?.int == first)
            try await client.expectError(
                .put, "/tables/Music/items?expected_version=\(first)", updated, status: 409, code: "version_conflict")

            let key = "partition_key=The+Beatles&sort_key=Let+It+Be"
            try await client.expectError(
                .post, "/tables/Music/items/rollback?\(key)&expected_version=\(first)", status: 409, code: "version_conflict")
            let rolled = try await client.expect(
                .post, "/tables/Music/items/rollback?\(key)&expected_version=\(second)", status: 200)
            #expect(rolled["item"]?["Year"] == 1970)
            #expect(rolled["previous_version"]?.int == second)
            let third = try #require(rolled["version"]?.int)
            #expect(third > second)
            #expect(rolled["index"]?.int == third)

            let got = try await client.expect(.get, "/tables/Music/items?\(key)", status: 200)
            #expect(got["item"]?["Album"] == "Let It Be")
            // Rolling back again restores the update.
            let again = try await client.expect(.post, "/tables/Music/items/rollback?\(key)", status: 200)
            #expect(again["item"]?["Year"] == 2003)
            let gone = try await client.expect(.delete, "/tables/Music/items?\(key)&expected_version=\(again["version"]?.int ?? 0)", status: 200)
            #expect(gone["deleted_item"]?["Year"] == 2003)
        }
    }

    @Test("pagination: continuation tokens walk a partition without repeats or gaps")
    func pagination() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
            let titles = ["Anna", "Because", "Come Together", "Drive My Car", "Eleanor Rigby"]
            for title in titles {
                try await client.expect(.put, "/tables/Music/items", #"{"Artist":"The Beatles","SongTitle":"\#(title)"}"#, status: 200)
            }
            var seen: [String] = []
            var token: String?
            var pages = 0
            repeat {
                var uri = "/tables/Music/query?partition_key=The+Beatles&limit=2"
                if let token { uri += "&continuation_token=\(token)" }
                let page = try await client.expect(.get, uri, status: 200)
                let items = page["items"]?.arrayValue ?? []
                #expect(items.count <= 2)
                #expect(page["count"]?.int == items.count)
                seen += items.compactMap { $0["item"]?["SongTitle"]?.stringValue }
                token = page["continuation_token"]?.stringValue
                pages += 1
            } while token != nil && pages < 10
            #expect(seen == titles)
            #expect(pages == 3)

            let other = try await client.expect(.get, "/tables/Music/query?partition_key=The+Beatles&limit=2", status: 200)
            let foreignToken = try #require(other["continuation_token"]?.stringValue)
            try await client.expectError(
                .get, "/tables/Music/query?partition_key=Queen&continuation_token=\(foreignToken)", status: 400,
                code: "invalid_argument")
        }
    }

    @Test("metrics: Prometheus text with request counts per route and status")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        try await withAPI(try InMemoryService(), registry: registry) { client in
            try await client.expect(.post, "/tables", Demo.createMusic, status: 201)
            try await client.expect(.put, "/tables/Music/items", Demo.letItBe, status: 200)
            try await client.expect(.put, "/tables/Music/items", Demo.yesterday, status: 200)
            try await client.expectError(.get, "/tables/Nope/items?partition_key=a&sort_key=b", status: 404, code: "table_not_found")
            try await client.expectError(.get, "/no/such/route", status: 404, code: "not_found")
            let response = try await client.send(.get, "/metrics")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = response.text
            #expect(text.contains("# TYPE raftlab_http_requests_total counter"))
            #expect(text.contains(#"raftlab_http_requests_total{method="PUT",route="/tables/{table}/items",status="200"} 2"#))
            #expect(text.contains(#"raftlab_http_requests_total{method="POST",route="/tables",status="201"} 1"#))
            #expect(text.contains(#"raftlab_http_requests_total{method="GET",route="/tables/{table}/items",status="404"} 1"#))
            #expect(text.contains(#"route="NotFound",status="404""#))
            #expect(text.contains("raftlab_http_request_duration_seconds_bucket"))
        }
        try await withAPI(try InMemoryService(), registry: nil) { client in
            try await client.expectError(.get, "/metrics", status: 404, code: "not_found")
        }
    }
}

/// The project's one seeded generator (the Raft core's SplitMix64), under its
/// own name for every file of this target; only this declaration of Raft is imported.
typealias SplitMix64 = Raft.SplitMix64
