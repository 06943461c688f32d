import Testing

/// The dependency rules of docs/architecture.md ("Dependency rules"), checked
/// on Package.swift as it is: each test names the rule it checks and, when it
/// fails, what breaks it.
@Suite("Architecture: dependency rules")
struct DependencyRulesTests {
    let manifest: Manifest

    init() throws {
        manifest = try Manifest.load()
    }

    /// The storage engines: one target per backend, and the one that links them all.
    var backends: Set<String> {
        Set(manifest.targets.keys.filter { $0.hasSuffix("Backend") })
    }

    func engines(linkedBy target: String) -> [String] {
        manifest.closure(of: target).intersection(backends.union(["RaftLabBackends"])).sorted()
    }

    func requireTargets(_ names: [String]) {
        for name in names {
            #expect(manifest.targets[name] != nil, "Package.swift has no target \(name): update the rule with the layout")
        }
    }

    @Test("the parser reads Package.swift: targets, string dependencies, products left out")
    func parserReadsTheManifest() {
        #expect(manifest.targets.count >= 30)
        #expect(backends.count >= 7)
        let registered = Set(manifest.targets["RaftLabBackends"]?.dependencies ?? [])
        #expect(registered.isSuperset(of: backends))
        #expect(manifest.targets["RaftTCPTransport"]?.dependencies == ["Raft", "RaftRuntime"])
        #expect(manifest.targets["RaftLabCLI"]?.isExecutable == true)
        #expect(manifest.targets["TestUtilities"]?.isTest == true)
    }

    @Test("rule: the engine imports no backend")
    func engineImportsNoBackend() {
        requireTargets(["Raft", "RaftRuntime", "RaftTCPTransport"])
        for engine in ["Raft", "RaftRuntime", "RaftTCPTransport"] {
            let linked = engines(linkedBy: engine)
            #expect(linked.isEmpty, "rule broken: the engine imports no backend; \(engine) depends on \(linked)")
        }
    }

    @Test("rule: Raft depends only on StorageCore")
    func raftDependsOnlyOnStorageCore() {
        requireTargets(["Raft", "StorageCore"])
        let extra = manifest.closure(of: "Raft").subtracting(["StorageCore"]).sorted()
        #expect(extra.isEmpty, "rule broken: Raft depends only on StorageCore; it also depends on \(extra)")
    }

    @Test("rule: no HTTP client depends on RaftLabNode")
    func httpClientsDoNotDependOnTheNode() {
        let clients = manifest.targets.keys.filter { $0.contains("HTTPClient") }.sorted()
        #expect(!clients.isEmpty, "Package.swift has no HTTP client target: update the rule with the layout")
        for client in clients {
            #expect(
                !manifest.closure(of: client).contains("RaftLabNode"),
                "rule broken: no HTTP client depends on RaftLabNode; \(client) does")
        }
    }

    @Test("rule: RaftLabNode links no engine")
    func nodeLinksNoEngine() {
        requireTargets(["RaftLabNode", "RaftLabBackends"])
        let linked = engines(linkedBy: "RaftLabNode")
        #expect(linked.isEmpty, "rule broken: RaftLabNode links no engine; it depends on \(linked)")
    }

    @Test("rule: RaftLabChaos does not depend on RaftLabBench")
    func chaosDoesNotDependOnTheBench() {
        requireTargets(["RaftLabChaos", "RaftLabBench"])
        #expect(
            !manifest.closure(of: "RaftLabChaos").contains("RaftLabBench"),
            "rule broken: RaftLabChaos does not depend on RaftLabBench; it does")
    }

    @Test("rule: only RaftLabBackends, executables and tests depend on backend targets")
    func onlyTheRegistryExecutablesAndTestsNameBackends() {
        let offenders = manifest.targets.values
            .filter { $0.name != "RaftLabBackends" && !$0.isExecutable && !$0.isTest }
            .filter { !backends.isDisjoint(with: $0.dependencies) }
            .map { "\($0.name) -> \(backends.intersection($0.dependencies).sorted())" }
            .sorted()
        #expect(
            offenders.isEmpty,
            "rule broken: only RaftLabBackends, executables and tests depend on backend targets; \(offenders)")
    }
}
