import Foundation
import NoSQL
import RaftLabBackends
import StorageCore
import Testing

/// A seeded random command log, with conflicts, errors, stale indexes and
/// garbage entries, applied on every backend: the state must be the same
/// bytes everywhere and the results the same list.
@Suite("Determinism across backends")
struct DeterminismTests {
    struct Entry {
        var index: UInt64
        var data: Bytes
    }

    /// Builds the log. Expected versions are guesses from the indexes of
    /// earlier writes to the same key, so some match and many conflict.
    struct LogGenerator {
        var random: SplitMix64
        var index: UInt64 = 0
        var writes: [String: [UInt64]] = [:]

        let schemas = [
            TableSchema(name: "Music", partitionKey: "Artist", sortKey: "SongTitle"),
            TableSchema(name: "Users", partitionKey: "id"),
            TableSchema(name: "Events", partitionKey: "Stream", sortKey: "Seq"),
        ]
        let artists = ["Queen", "Journey", "ABBA", "Beyoncé"]
        let titles = ["Don't Stop Believin'", "Don't Stop Me Now", "Separate Ways", "Waterloo", "Halo", "\u{0}nul", "日本"]
        let numbers = ["0", "-1", "1.5", "10", "1e3", "-0.25", "7"]

        init(seed: UInt64) { random = SplitMix64(seed: seed) }

        mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &random)! }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

        mutating func key(for schema: TableSchema) -> (ItemKey, [String: String]) {
            switch schema.name {
            case "Music":
                let (artist, title) = (pick(artists), pick(titles))
                return (ItemKey(artist, title), ["Artist": jsonString(artist), "SongTitle": jsonString(title)])
            case "Users":
                if chance(50) {
                    let id = pick(numbers)
                    return (ItemKey(partition: .number(JSONNumber(id)!)), ["id": id])
                }
                let id = "user-\(Int.random(in: 0..<5, using: &random))"
                return (ItemKey(id), ["id": jsonString(id)])
            default:
                let (stream, seq) = (pick(["a", "b"]), pick(numbers))
                return (ItemKey(partition: .string(stream), sort: .number(JSONNumber(seq)!)), ["Stream": jsonString(stream), "Seq": seq])
            }
        }

        func jsonString(_ s: String) -> String {
            JSONValue.string(s).canonicalText
        }

        /// Item text in a random member order and spacing, so canonicalization matters.
        mutating func itemText(_ keyMembers: [String: String]) -> String {
            var members = keyMembers.map { "\(jsonString($0.key)) : \($0.value)" }
            members.append("\"n\": \(pick(["1", "1.0", "2.50", "-3e2", "0.1", "12345678901234567890.5"]))")
            members.append("\"v\": \(pick(["true", "false", "null", "\"x\\u00e9\"", "[1, [2, {\"z\": 1, \"a\": 2}]]", "{}"]))")
            if chance(30) { members.append("\"index\": \(index)") }
            members.shuffle(using: &random)
            return "{ " + members.joined(separator: ",\n ") + " }"
        }

        mutating func expectedVersion(_ key: String, allowZero: Bool) -> UInt64? {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<55: return nil
            case 55..<65: return allowZero ? 0 : nil
            default:
                let history = writes[key] ?? []
                return history.isEmpty ? UInt64.random(in: 1...index + 1, using: &random) : (chance(60) ? history.last! : pick(history))
            }
        }

        mutating func next() throws -> Entry {
            // Mostly consecutive indexes, sometimes gaps (no-op entries), sometimes stale.
            if index > 5 && chance(3) {
                return Entry(index: index - UInt64.random(in: 0...3, using: &random), data: try command().encoded())
            }
            index += chance(10) ? 2 : 1
            if chance(3) {
                return Entry(index: index, data: (0..<Int.random(in: 0...12, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
            }
            return Entry(index: index, data: try command().encoded())
        }

        mutating func command() throws -> NoSQLCommand {
            let schema = pick(schemas)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<6:
                return .createTable(schema)
            case 6..<8:
                return .deleteTable(name: schema.name)
            case 8..<62:
                let (key, members) = key(for: schema)
                var item = try JSONValue.parse(itemText(members))
                if chance(4) { item = ["Artist": true, "id": [1], "Stream": nil] }  // invalid keys
                if chance(2) { item = [1, 2] }  // not an object
                let expected = expectedVersion("\(schema.name)/\(key)", allowZero: true)
                writes["\(schema.name)/\(key)", default: []].append(index)
                return .putItem(table: schema.name, item: item, expectedVersion: expected)
            case 62..<72:
                return .transactWrite(try (0..<Int.random(in: 1...4, using: &random)).map { _ in try itemWrite() })
            case 72..<80:
                let (key, _) = key(for: schema)
                return .deleteItem(table: schema.name, key: key, expectedVersion: expectedVersion("\(schema.name)/\(key)", allowZero: false))
            default:
                let (key, _) = key(for: schema)
                writes["\(schema.name)/\(key)", default: []].append(index)
                return .rollbackItem(table: schema.name, key: key, expectedVersion: expectedVersion("\(schema.name)/\(key)", allowZero: false))
            }
        }

        /// A random write of a DynamoDB transaction: conditions that hold or
        /// not, updates that apply or fail (wrong types), sets, lists, arithmetic.
        mutating func itemWrite() throws -> ItemWrite {
            let schema = pick(schemas)
            let (key, members) = key(for: schema)
            let values: [String: AttributeValue] = [
                ":one": 1, ":half": .number(JSONNumber("0.5")!), ":tags": AttributeValue.set(strings: ["a", "b"])!,
                ":list": ["x"], ":s": "text",
            ]
            let conditions: [String?] = [
                nil, "attribute_exists(v)", "attribute_not_exists(v)", "n > :one", "begins_with(s, :s)", "contains(t, :s)",
                "size(l) < :one OR n = :half",
            ]
            let updates = [
                "SET n = if_not_exists(n, :one) + :half", "ADD t :tags", "SET l = list_append(if_not_exists(l, :list), :list)",
                "REMOVE v, l[0]", "SET s = :s, n = n - :one", "SET v = s + :one", "DELETE t :tags",
            ]
            let action: ItemWrite.Action
            switch Int.random(in: 0..<4, using: &random) {
            case 0: action = .put(Item(json: try JSONValue.parse(itemText(members))))
            case 1: action = .update(key: key, expression: pick(updates))
            case 2: action = .delete(key: key)
            default: action = .conditionCheck(key: key)
            }
            var condition = pick(conditions)
            if case .conditionCheck = action, condition == nil { condition = "attribute_exists(n)" }
            return ItemWrite(
                table: schema.name, action: action, condition: condition, attributes: ExpressionAttributes(values: values),
                returnItemOnConditionFailure: chance(50))
        }
    }

    /// Applies `log` to `store` in batches of the given sizes; returns the results.
    func run(_ log: [Entry], batchSizes: [Int], on store: any StateStore) throws -> [CommandResult] {
        let machine = NoSQLStateMachine()
        var results: [CommandResult] = []
        var offset = 0
        var sizes = batchSizes.makeIterator()
        while offset < log.count {
            let size = min(sizes.next() ?? 1, log.count - offset)
            var pending = PendingWrites(store: store)
            for entry in log[offset..<offset + size] {
                results.append(try machine.apply(entry: entry.data, at: entry.index, to: &pending))
            }
            let highest = log[offset..<offset + size].map(\.index).max()!
            try store.apply(pending.writeBatch, through: max(try store.appliedPosition(), AppliedPosition(index: highest, term: 1)))
            offset += size
        }
        return results
    }

    @Test("a seeded random log gives byte-identical state and identical results on every backend, whatever the batching")
    func acrossBackends() throws {
        var generator = LogGenerator(seed: 0x5EED_2025)
        let log = try (0..<600).map { _ in try generator.next() }
        var batchRandom = SplitMix64(seed: 17)
        let batchSizes = (0..<log.count).map { _ in Int.random(in: 1...8, using: &batchRandom) }

        // Reference: memory, one entry per batch.
        let reference = try freshMemoryStore()
        let referenceResults = try run(log, batchSizes: [], on: reference)
        let referenceState = try reference.scan(.all)

        // The log really exercises successes, conflicts and errors.
        var codes: [String: Int] = [:]
        for result in referenceResults {
            switch result {
            case .success: codes["ok", default: 0] += 1
            case .failure(let error): codes[error.code.rawValue, default: 0] += 1
            }
        }
        for code in ["ok", "version_conflict", "item_not_found", "no_previous_version", "table_exists", "stale_write", "invalid_command", "invalid_key_type", "invalid_item", "transaction_canceled"] {
            #expect(codes[code, default: 0] > 0, "the log produced no \(code): \(codes)")
        }
        #expect(try NoSQLStateMachine().listTables(in: reference).count > 0)
        #expect(referenceState.count > 10)

        let root = NSTemporaryDirectory() + "raftlab-nosql-determinism-\(UUID().uuidString)"
        defer { try? FileSystem.removeTree(root) }
        var compared: [String] = []
        let stateBackends = BackendRegistry.standard.names(providing: .state)
        for name in stateBackends {
            let store = try BackendRegistry.standard.openStateStore(
                backend: name, StoreOptions(directory: root + "/" + name, sync: false))
            defer { try? store.close() }
            let results = try run(log, batchSizes: batchSizes, on: store)
            #expect(results == referenceResults, "results differ on \(name)")
            #expect(try store.scan(.all) == referenceState, "state differs on \(name)")
            #expect(try store.appliedPosition().index == log.map(\.index).max()!)
            compared.append(name)
        }
        #expect(compared.sorted() == stateBackends.sorted(), "every backend that can be a state store must be compared")
        print("NoSQL determinism compared backends: \(compared.joined(separator: ", ")) of \(stateBackends.joined(separator: ", "))")
    }

    @Test("the same seed gives the same log and the same final state twice")
    func replay() throws {
        var first = LogGenerator(seed: 1)
        var second = LogGenerator(seed: 1)
        let logA = try (0..<200).map { _ in try first.next() }
        let logB = try (0..<200).map { _ in try second.next() }
        #expect(logA.map(\.data) == logB.map(\.data))
        let (a, b) = (try freshMemoryStore(), try freshMemoryStore())
        #expect(try run(logA, batchSizes: [3, 1, 4, 1, 5, 9, 2, 6], on: a) == run(logB, batchSizes: [], on: b))
        #expect(try a.scan(.all) == b.scan(.all))
    }
}
