import Hummingbird
import NoSQL
import RaftLabNode
import RaftTCPTransport
import StorageCore

/// The endpoints a fault-injection run (`raftlab chaos`) drives a node with.
///
/// | Method | Path | Body | Success |
/// |---|---|---|---|
/// | GET | /admin/faults | | 200 the rules in force and messages dropped so far |
/// | PUT | /admin/faults | `{"drop_outbound": [ids], "drop_inbound": [ids]}` | 200 the new rules |
/// | DELETE | /admin/faults | | 200 no rules (healed) |
/// | GET | /admin/state-digest | | 200 `{"applied_index", "applied_term", "entries", "digest"}` |
/// | POST | /admin/power-cut | | no answer: the node saves what its stores made durable and exits |
///
/// `/admin/faults` works only on a node started with
/// `--allow-fault-injection`; any other node answers 403
/// `fault_injection_disabled`, so a production node can never be told to
/// drop messages. The state digest is read-only and always served: a hash
/// of every key and value of the state store at one applied index, read
/// from a consistent snapshot, so two nodes at the same index must agree.
/// `/admin/power-cut` works only on a node started with `--power-cut-model`
/// (the memory backend behind power-cut models); others answer 403
/// `power_cut_disabled`.
struct ChaosRoutes<Service: NoSQLService>: Sendable {
    let service: Service
    let faults: NetworkFaults?
    let powerCut: (@Sendable () throws -> Void)?

    static var disabledCode: String { "fault_injection_disabled" }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/admin/faults") { request, _ in
            _ = try QueryParameters(request.uri.query, allowed: [])
            return jsonResponse(Self.document(try enabled()))
        }
        router.put("/admin/faults") { request, _ in
            _ = try QueryParameters(request.uri.query, allowed: [])
            let faults = try enabled()
            var buffer = try await request.body.collect(upTo: 64 * 1024)
            let body = buffer.readBytes(length: buffer.readableBytes) ?? []
            faults.set(try Self.rules(parsing: body))
            return jsonResponse(Self.document(faults))
        }
        router.delete("/admin/faults") { request, _ in
            _ = try QueryParameters(request.uri.query, allowed: [])
            let faults = try enabled()
            faults.set(.none)
            return jsonResponse(Self.document(faults))
        }
        router.post("/admin/power-cut") { request, _ in
            _ = try QueryParameters(request.uri.query, allowed: [])
            guard let powerCut else {
                throw APIError(
                    status: 403, code: "power_cut_disabled",
                    message: "this node was not started with --power-cut-model; it cannot model a power cut")
            }
            try powerCut()
            // Unreachable on success: the process has ended.
            return jsonResponse(.object(from: [("power_cut", .bool(true))]))
        }
        router.get("/admin/state-digest") { request, _ in
            _ = try QueryParameters(request.uri.query, allowed: [])
            let digest = try await service.read(.local) { _, store in try StateDigest(of: store) }
            return jsonResponse(.object(from: [
                ("applied_index", .unsigned(digest.position.index)), ("applied_term", .unsigned(digest.position.term)),
                ("entries", .int(digest.entries)), ("digest", .string(digest.hex)),
            ]))
        }
    }

    private func enabled() throws -> NetworkFaults {
        guard let faults else {
            throw APIError(
                status: 403, code: Self.disabledCode,
                message: "this node was not started with --allow-fault-injection; it does not take network fault rules")
        }
        return faults
    }

    static func document(_ faults: NetworkFaults) -> JSONValue {
        let rules = faults.current
        let dropped = faults.dropped
        return .object(from: [
            ("drop_outbound", .array(rules.dropOutbound.sorted().map { .unsigned($0) })),
            ("drop_inbound", .array(rules.dropInbound.sorted().map { .unsigned($0) })),
            ("dropped_outbound", .unsigned(dropped.outbound)), ("dropped_inbound", .unsigned(dropped.inbound)),
        ])
    }

    /// `{"drop_outbound": [2, 3], "drop_inbound": [2, 3]}`; a missing list is empty.
    static func rules(parsing body: [UInt8]) throws -> NetworkFaults.Rules {
        guard case .object(let object) = try JSONValue.parse(body) else {
            throw APIError.invalidArgument("the fault rules are a JSON object: {\"drop_outbound\": [ids], \"drop_inbound\": [ids]}")
        }
        var rules = NetworkFaults.Rules()
        for member in object.members {
            let (name, value) = (member.key, member.value)
            guard name == "drop_outbound" || name == "drop_inbound" else {
                throw APIError.invalidArgument("unknown fault rule \"\(name)\"; the rules are drop_outbound and drop_inbound")
            }
            guard let list = value.arrayValue else { throw APIError.invalidArgument("\(name) is a list of node ids") }
            var ids: Set<UInt64> = []
            for element in list {
                guard let id = element.numberValue.flatMap({ UInt64($0.description) }), id > 0 else {
                    throw APIError.invalidArgument("\(name) is a list of positive node ids, got \(element.typeName)")
                }
                ids.insert(id)
            }
            if name == "drop_outbound" { rules.dropOutbound = ids } else { rules.dropInbound = ids }
        }
        return rules
    }
}

/// A 128-bit digest of a state store's contents at one applied position:
/// two FNV-1a hashes with different offsets over every key and value, each
/// length-prefixed. Enough to tell two replicas apart; not cryptographic.
struct StateDigest: Sendable {
    var position: AppliedPosition
    var entries: Int
    var hex: String

    init(of store: any StateStore) throws {
        let snapshot = try store.snapshot()
        defer { snapshot.close() }
        var first: UInt64 = 0xCBF2_9CE4_8422_2325
        var second: UInt64 = 0x8422_2325_CBF2_9CE4
        func mix(_ byte: UInt8) {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01B3
            second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 ^ (second >> 29)
        }
        func mix(_ bytes: [UInt8]) {
            var length = UInt32(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { for byte in $0 { mix(byte) } }
            for byte in bytes { mix(byte) }
        }
        var count = 0
        while let pair = try snapshot.next() {
            mix(pair.key)
            mix(pair.value)
            count += 1
        }
        position = snapshot.position
        entries = count
        hex = [first, second].map { word in
            let text = String(word, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }
}
