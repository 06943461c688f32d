import RaftLabBackends
import RaftLabBench
import RaftLabNode
import StorageCore
import Testing

@Suite("Bench workload and options")
struct WorkloadTests {
    @Test("the same seed gives the same operations", arguments: KeyDistribution.allCases)
    func seededWorkloadsReplay(distribution: KeyDistribution) {
        var a = Workload(distribution: distribution, keySpace: 1000, readRatio: 0.3, seed: 99)
        var b = Workload(distribution: distribution, keySpace: 1000, readRatio: 0.3, seed: 99)
        var c = Workload(distribution: distribution, keySpace: 1000, readRatio: 0.3, seed: 100)
        let first = (0..<500).map { _ in a.next() }
        #expect(first == (0..<500).map { _ in b.next() })
        #expect(first != (0..<500).map { _ in c.next() })
        for operation in first {
            switch operation {
            case .read(let key), .write(let key): #expect(key < 1000 || distribution == .sequential)
            }
        }
    }

    @Test("read ratio is honoured and sequential writes never repeat a key")
    func readRatioAndSequential() {
        var workload = Workload(distribution: .sequential, keySpace: 10, readRatio: 0.25, seed: 1)
        var reads = 0
        var written: [UInt64] = []
        for _ in 0..<10_000 {
            switch workload.next() {
            case .read: reads += 1
            case .write(let key): written.append(key)
            }
        }
        #expect((2_200...2_800).contains(reads))
        #expect(written == Array(0..<UInt64(written.count)))
    }

    @Test("zipfian concentrates on hot keys, uniform does not")
    func zipfianSkew() {
        func topTenShare(_ distribution: KeyDistribution) -> Double {
            var workload = Workload(distribution: distribution, keySpace: 10_000, readRatio: 0, seed: 5)
            var counts: [UInt64: Int] = [:]
            for _ in 0..<50_000 {
                if case .write(let key) = workload.next() { counts[key, default: 0] += 1 }
            }
            return Double(counts.values.sorted(by: >).prefix(10).reduce(0, +)) / 50_000
        }
        #expect(topTenShare(.zipfian) > 0.2)
        #expect(topTenShare(.uniform) < 0.01)
    }

    @Test("options: backend lists, all, concurrency lists and [bench] tables")
    func optionParsing() throws {
        let all = ["memory", "flatfile", "lmdb", "leveldb", "rocksdb", "sqlite", "wal/lmdb"]
        #expect(try BenchOptions.backends(parsing: "all", registry: .standard).map(\.description) == all)
        #expect(BenchOptions().backends.map(\.description) == all, "the default compares every backend")
        #expect(try BenchOptions.backends(parsing: "lmdb, leveldb", registry: .standard).map(\.log) == ["lmdb", "leveldb"])
        #expect(try BenchOptions.backends(parsing: "all,wal/rocksdb,lmdb", registry: .standard).map(\.description) == all + ["wal/rocksdb"])
        #expect(throws: BenchError.self) { try BenchOptions.backends(parsing: "wal/", registry: .standard) }
        #expect(throws: BenchError.self) { try BenchOptions.backends(parsing: "a/b/c", registry: .standard) }
        #expect(try BenchOptions.concurrency(parsing: "1,8,64") == [1, 8, 64])
        #expect(throws: BenchError.self) { try BenchOptions.concurrency(parsing: "1,lots") }

        var options = BenchOptions()
        try options.validate(registry: .standard)
        let config = try ClusterConfig.parse("""
            [storage]
            log = "lmdb"
            state = "memory"
            sync = false
            [[nodes]]
            id = 1
            raft_addr = "127.0.0.1:9300"
            http_addr = "127.0.0.1:8300"
            [bench]
            ops = 1000
            concurrency = [2, 4]
            keys = "zipfian"
            read_ratio = 0.5
            """)
        try options.apply(config: config)
        try options.validate(registry: .standard)
        #expect(options.backends == [BackendPair(log: "lmdb", state: "memory")])
        #expect(options.ops == 1000 && options.concurrency == [2, 4] && options.keys == .zipfian)
        #expect(!options.sync && options.nodes == 1 && options.readRatio == 0.5)

        var bad = BenchOptions()
        bad.nodes = 4
        #expect(throws: BenchError.invalidOption("--nodes must be 1, 3, 5 or 7 (got 4)")) { try bad.validate(registry: .standard) }
        bad = BenchOptions()
        bad.backends = [BackendPair("berkeleydb")]
        #expect(throws: BenchError.self) { try bad.validate(registry: .standard) }
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
