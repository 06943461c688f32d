import Hummingbird
import HummingbirdTesting
import NoSQL
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import RaftTCPTransport
import Synchronization
import Testing

@Suite("HTTP API: fault injection and state digests")
struct ChaosRoutesTests {
    @Test("a node started without --allow-fault-injection refuses fault rules with 403")
    func refusedByDefault() async throws {
        try await withAPI(try InMemoryService()) { client in
            try await client.expectError(.get, "/admin/faults", status: 403, code: "fault_injection_disabled")
            try await client.expectError(
                .put, "/admin/faults", #"{"drop_outbound":[2]}"#, status: 403, code: "fault_injection_disabled")
            try await client.expectError(.delete, "/admin/faults", status: 403, code: "fault_injection_disabled")
        }
    }

    @Test("with fault injection allowed, rules are set, read back and healed")
    func setAndHeal() async throws {
        let faults = NetworkFaults()
        try await withAPI(try InMemoryService(), options: HTTPAPIOptions(networkFaults: faults)) { client in
            let set = try await client.expect(.put, "/admin/faults", #"{"drop_outbound":[3,2],"drop_inbound":[2]}"#, status: 200)
            #expect(set["drop_outbound"]?.arrayValue?.compactMap(\.int) == [2, 3])
            #expect(faults.current == NetworkFaults.Rules(dropOutbound: [2, 3], dropInbound: [2]))
            try await client.expectError(.put, "/admin/faults", #"{"drop_everything":true}"#, status: 400, code: "invalid_argument")
            try await client.expectError(.put, "/admin/faults", #"{"drop_inbound":[0]}"#, status: 400, code: "invalid_argument")
            let healed = try await client.expect(.delete, "/admin/faults", status: 200)
            #expect(healed["drop_outbound"]?.arrayValue?.isEmpty == true)
            #expect(faults.current == .none)
        }
    }

    @Test("the state digest changes with the state and is the same for the same contents")
    func digest() async throws {
        let first = try InMemoryService()
        let second = try InMemoryService()
        let collected = Collected()
        for service in [first, second] {
            try await withAPI(service) { client in
                let empty = try await client.expect(.get, "/admin/state-digest", status: 200)
                try await client.expect(.post, "/tables", #"{"table_name":"TTT","partition_key_name":"k"}"#, status: 201)
                try await client.expect(.put, "/tables/TTT/items", #"{"k":"a","v":"1"}"#, status: 200)
                let full = try await client.expect(.get, "/admin/state-digest", status: 200)
                #expect(empty["digest"] != full["digest"])
                #expect((full["entries"]?.int ?? 0) > (empty["entries"]?.int ?? 0))
                collected.append(full["digest"]?.stringValue ?? "")
            }
        }
        let digests = collected.values
        #expect(digests.count == 2 && digests[0] == digests[1] && digests[0].count == 32)
    }

    @Test("the deliberately broken switch serves strong reads without ReadIndex; without it a leaderless node refuses them")
    func brokenStrongReads() async throws {
        let service = try InMemoryService()
        try await withAPI(service) { client in
            try await client.expect(.post, "/tables", #"{"table_name":"TTT","partition_key_name":"k"}"#, status: 201)
            try await client.expect(.put, "/tables/TTT/items", #"{"k":"a"}"#, status: 200)
        }
        service.mode = .leaderless
        try await withAPI(service) { client in
            try await client.expectError(.get, "/tables/TTT/items?partition_key=a&consistency=strong", status: 503, code: "no_leader")
        }
        var broken = HTTPAPIOptions()
        broken.unsafeStrongReadsWithoutReadIndex = true
        try await withAPI(service, options: broken) { client in
            try await client.expect(.get, "/tables/TTT/items?partition_key=a&consistency=strong", status: 200)
        }
    }
}

/// Digests gathered inside the test client's (concurrent) closures.
private final class Collected: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}
