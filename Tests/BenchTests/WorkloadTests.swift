import RaftLabBackends
import RaftLabBench
import RaftLabHarness
import RaftLabNode
import StorageCore
import Testing

@Suite("Bench workloads and options")
struct WorkloadTests {
    func operations(_ workload: BenchWorkload, _ distribution: KeyDistribution? = nil, records: UInt64 = 1000, seed: UInt64 = 99, count: Int = 500) -> [Operation] {
        var generator = Workload(workload: workload, distribution: distribution, records: records, seed: seed)
        return (0..<count).map { _ in generator.next() }
    }

    @Test("the same seed gives the same operations", arguments: BenchWorkload.allCases)
    func seededWorkloadsReplay(workload: BenchWorkload) {
        let first = operations(workload)
        #expect(first == operations(workload))
        #expect(first != operations(workload, seed: 100))
    }

    @Test("each YCSB workload has its mix of operations")
    func mixes() {
        func shares(_ workload: BenchWorkload) -> [String: Double] {
            var counts: [String: Int] = [:]
            for operation in operations(workload, count: 20_000) {
                let kind = switch operation {
                case .read: "read"
                case .update: "update"
                case .insert: "insert"
                case .scan: "scan"
                case .readModifyWrite: "rmw"
                }
                counts[kind, default: 0] += 1
            }
            return counts.mapValues { Double($0) / 20_000 }
        }
        func near(_ value: Double?, _ expected: Double) -> Bool { abs((value ?? 0) - expected) < 0.02 }
        let a = shares(.a), b = shares(.b), c = shares(.c), d = shares(.d), e = shares(.e), f = shares(.f)
        #expect(near(a["read"], 0.5) && near(a["update"], 0.5))
        #expect(near(b["read"], 0.95) && near(b["update"], 0.05))
        #expect(c == ["read": 1])
        #expect(near(d["read"], 0.95) && near(d["insert"], 0.05))
        #expect(near(e["scan"], 0.95) && near(e["insert"], 0.05))
        #expect(near(f["read"], 0.5) && near(f["rmw"], 0.5))
        #expect(shares(.write) == ["update": 1])
    }

    @Test("keys stay among the loaded items; inserts take new keys; scans are 1 to 100 long")
    func keyRanges() {
        for operation in operations(.a, .uniform, records: 50) + operations(.a, .zipfian, records: 50) {
            switch operation {
            case .read(let key), .update(let key): #expect(key < 50)
            default: Issue.record("workload A made \(operation)")
            }
        }
        let inserted = operations(.e, records: 50, count: 2_000).compactMap { operation -> UInt64? in
            if case .scan(let key, let length) = operation { #expect(key < 50 && (1...100).contains(length)) }
            if case .insert(let key) = operation { return key }
            return nil
        }
        #expect(inserted == Array(50..<UInt64(50 + inserted.count)))
    }

    @Test("zipfian concentrates on hot keys, uniform does not; latest favours the newest items")
    func skew() {
        func topTenShare(_ distribution: KeyDistribution) -> Double {
            var counts: [UInt64: Int] = [:]
            for operation in operations(.c, distribution, records: 10_000, count: 50_000) {
                if case .read(let key) = operation { counts[key, default: 0] += 1 }
            }
            return Double(counts.values.sorted(by: >).prefix(10).reduce(0, +)) / 50_000
        }
        // YCSB's scrambled zipfian draws ranks over 10 billion items and hashes them
        // onto the key space: the ten hottest keys take ~11%, a hundred times uniform's share.
        #expect(topTenShare(.zipfian) > 0.08)
        #expect(topTenShare(.uniform) < 0.01)
        var newest = 0
        let reads = operations(.d, records: 10_000, count: 20_000).compactMap { operation -> UInt64? in
            if case .read(let key) = operation { return key }
            return nil
        }
        for key in reads where key >= 9_000 { newest += 1 }
        #expect(Double(newest) / Double(reads.count) > 0.5, "latest should favour the last 10% of keys")
    }

    @Test("options: backend lists, workloads, state sync modes, recovery entries and [bench] tables")
    func optionParsing() throws {
        let all = ["memory", "flatfile", "lmdb", "leveldb", "rocksdb", "sqlite", "wal/lmdb"]
        #expect(try BenchOptions.backends(parsing: "all", registry: .standard).map(\.description) == all)
        #expect(BenchOptions().backends.map(\.description) == all, "the default compares every backend")
        #expect(try BenchOptions.backends(parsing: "lmdb, leveldb", registry: .standard).map(\.log) == ["lmdb", "leveldb"])
        #expect(try BenchOptions.backends(parsing: "all,wal/rocksdb,lmdb", registry: .standard).map(\.description) == all + ["wal/rocksdb"])
        #expect(throws: BenchError.self) { try BenchOptions.backends(parsing: "wal/", registry: .standard) }
        #expect(throws: BenchError.self) { try BenchOptions.backends(parsing: "a/b/c", registry: .standard) }
        #expect(try BenchOptions.backends(parsing: "lmdb,leveldb/memory", registry: .standard)
            == [BackendPair("lmdb"), BackendPair(log: "leveldb", state: "memory")])
        #expect(try BenchOptions.concurrency(parsing: "1,8,64") == [1, 8, 64])
        #expect(throws: BenchError.self) { try BenchOptions.concurrency(parsing: "1,lots") }
        #expect(try BenchOptions.workloads(parsing: "write, A,c") == [.write, .a, .c])
        #expect(try BenchOptions.workloads(parsing: "all") == BenchWorkload.allCases)
        #expect(throws: BenchError.self) { try BenchOptions.workloads(parsing: "g") }
        #expect(try BenchOptions.stateSync(parsing: "checkpoint,always") == [.checkpoint, .always])
        #expect(throws: BenchError.self) { try BenchOptions.stateSync(parsing: "sometimes") }
        let recovery = try BenchOptions.recoveryEntries(parsing: "5000,leveldb=1_000_000")
        #expect(recovery.default == 5000 && recovery.byBackend == ["leveldb": 1_000_000])
        #expect(throws: BenchError.self) { try BenchOptions.recoveryEntries(parsing: "lots") }

        var options = BenchOptions()
        try options.validate(registry: .standard)
        options.recoveryEntriesByBackend = ["leveldb": 1_000_000]
        #expect(options.recoveryEntries(for: BackendPair("leveldb")) == 1_000_000)
        #expect(options.recoveryEntries(for: BackendPair("lmdb")) == 5_000)
        let config = try ClusterConfig.parse("""
            [storage]
            log = "lmdb"
            state = "memory"
            sync = false
            state_sync = "always"
            [[nodes]]
            id = 1
            raft_addr = "127.0.0.1:9300"
            http_addr = "127.0.0.1:8300"
            [bench]
            ops = 1000
            concurrency = [2, 4]
            workload = ["a", "c"]
            distribution = "uniform"
            records = 500
            rate = 300
            read_consistency = "strong"
            state_sync = "checkpoint,always"
            recovery_entries = "100,lmdb/memory=200"
            """)
        try options.apply(config: config)
        try options.validate(registry: .standard)
        #expect(options.backends == [BackendPair(log: "lmdb", state: "memory")])
        #expect(options.ops == 1000 && options.concurrency == [2, 4] && options.workloads == [.a, .c])
        #expect(options.distribution == .uniform && options.records == 500 && options.rate == 300)
        #expect(options.readConsistency == .strong && options.stateSync == [.checkpoint, .always])
        #expect(options.recoveryEntries(for: BackendPair(log: "lmdb", state: "memory")) == 200)
        #expect(!options.sync && options.nodes == 1)

        var bad = BenchOptions()
        bad.nodes = 4
        #expect(throws: BenchError.invalidOption("--nodes must be 1, 3, 5 or 7 (got 4)")) { try bad.validate(registry: .standard) }
        bad = BenchOptions()
        bad.backends = [BackendPair("berkeleydb")]
        #expect(throws: BenchError.self) { try bad.validate(registry: .standard) }
        bad = BenchOptions()
        bad.recoveryEntriesByBackend = ["rocks": 10]
        #expect(throws: BenchError.self) { try bad.validate(registry: .standard) }
        bad = BenchOptions()
        // wal provides a log store only: as a state store it is refused, naming the backends that can.
        let stateBackends = BackendRegistry.standard.names(providing: .state).joined(separator: ", ")
        bad.backends = [BackendPair(log: "lmdb", state: "wal")]
        #expect(throws: BenchError.invalidOption(
            "--state-backend wal: backend 'wal' cannot be a state store; backends that can: \(stateBackends)")) {
            try bad.validate(registry: .standard)
        }
        bad.backends = [BackendPair("wal")]
        #expect(throws: BenchError.invalidOption(
            "--backend wal: backend 'wal' cannot be a state store; backends that can: \(stateBackends) "
                + "(compare it as a log with --log-backend wal --state-backend NAME, or --backend wal/NAME)")) {
            try bad.validate(registry: .standard)
        }
        var paired = BenchOptions()
        paired.backends = [BackendPair(log: "wal", state: "lmdb")]
        try paired.validate(registry: .standard)
        var typo = config
        typo.bench = ["opps": .int(1)]
        #expect(throws: BenchError.invalidOption("[bench] has no option 'opps'")) { try options.apply(config: typo) }
    }
}
