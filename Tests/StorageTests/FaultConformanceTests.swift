import Foundation
import RaftLabBackends
import StorageCore
import Testing

/// Faults and bad input: every one is a typed error naming what went wrong.
@Suite("Fault conformance")
struct FaultConformanceTests {
    @Test("a store directory written by another backend is refused, naming both, and nothing is written into it", arguments: BackendUnderTest.persistent)
    func foreignDirectoryIsRefused(backend: BackendUnderTest) throws {
        let dir = TestDirectory("foreign-\(backend)")
        defer { dir.remove() }
        for kind in StoreKind.allCases where backend.provides(kind) {
            let path = dir.sub("\(kind)")
            switch kind {
            case .log:
                let log = try backend.openLog(path)
                try log.append(entries(1...2, term: 1))
                try log.close()
            case .state:
                let state = try backend.openState(path)
                try state.apply(WriteBatch([.put(key: bytes("k"), value: bytes("v"))]), through: AppliedPosition(index: 1, term: 1))
                try state.close()
            }
            let files = try FileSystem.listDirectory(path).sorted()
            for other in BackendUnderTest.persistent where other.name != backend.name && other.provides(kind) {
                do {
                    switch kind {
                    case .log: try other.openLog(path).close()
                    case .state: try other.openState(path).close()
                    }
                    Issue.record("\(other) opened a \(backend) \(kind) directory")
                } catch let error as StorageError {
                    guard case .backendMismatch = error else {
                        Issue.record("expected backendMismatch, got \(error)")
                        continue
                    }
                    #expect(error.description.contains("'\(backend.name)"))
                    #expect(error.description.contains("'\(other.name)"))
                }
                #expect(try FileSystem.listDirectory(path).sorted() == files, "\(other) wrote nothing into the \(kind) directory")
            }
        }
        guard backend.provides(.log) else { return }
        // A log directory is not a state directory either, even for the same backend.
        #expect(throws: StorageError.self) { _ = try backend.openState(dir.sub("log")) }
        // The original backend still opens it and finds its data.
        let reopened = try backend.openLog(dir.sub("log"))
        #expect(try reopened.lastIndex() == 2)
        try reopened.close()
    }

    @Test("a non-empty directory without a marker is refused", arguments: BackendUnderTest.persistent)
    func unmarkedDirectoryIsRefused(backend: BackendUnderTest) throws {
        let dir = TestDirectory("unmarked-\(backend)")
        defer { dir.remove() }
        try FileSystem.createDirectory(dir.path, sync: false)
        try FileSystem.writeFile(dir.sub("someone-elses-file"), bytes("precious"), sync: false)
        if backend.provides(.state) { #expect(throws: StorageError.self) { _ = try backend.openState(dir.path) } }
        if backend.provides(.log) { #expect(throws: StorageError.self) { _ = try backend.openLog(dir.path) } }
        #expect(try FileSystem.listDirectory(dir.path) == ["someone-elses-file"])
        #expect(try FileSystem.readFile(dir.sub("someone-elses-file")) == bytes("precious"))
    }

    @Test("a second open of a live store is refused with a lock error, not a crash or a second writer; it opens again once closed", arguments: BackendUnderTest.persistent.filter { $0.hooks.lockWord != nil })
    func secondOpenIsRefused(backend: BackendUnderTest) throws {
        let word = try #require(backend.hooks.lockWord)
        let dir = TestDirectory("second-open-\(backend)")
        defer { dir.remove() }
        /// Opens the store of `kind` and returns how to close it.
        func open(_ kind: StoreKind) throws -> () throws -> Void {
            switch kind {
            case .log:
                let log = try backend.openLog(dir.sub("log"))
                return { try log.close() }
            case .state:
                let state = try backend.openState(dir.sub("state"))
                return { try state.close() }
            }
        }
        for kind in StoreKind.allCases where backend.provides(kind) {
            let closeFirst = try open(kind)
            do {
                let closeSecond = try open(kind)
                try? closeSecond()
                Issue.record("\(kind): a second open of the same directory succeeded")
            } catch let StorageError.engine(name, message) {
                #expect(name == backend.name)
                #expect(message.contains(word), "\(kind): \(message)")
            }
            try closeFirst()
            try open(kind)()
        }
    }

    @Test("an unknown backend name lists the known ones")
    func unknownBackend() {
        do {
            _ = try BackendRegistry.standard.backend(named: "berkeleydb")
            Issue.record("berkeleydb should not exist")
        } catch let error as StorageError {
            let known = ["flatfile", "leveldb", "lmdb", "memory", "rocksdb", "sqlite", "wal"]
            #expect(error == .unknownBackend(name: "berkeleydb", known: known))
            #expect(error.description.contains("known backends: \(known.joined(separator: ", "))"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("an unknown backend setting is refused, not ignored", arguments: BackendUnderTest.all)
    func unknownSetting(backend: BackendUnderTest) {
        let dir = TestDirectory("setting-\(backend)")
        defer { dir.remove() }
        #expect(throws: StorageError.self) { _ = try backend.openLog(dir.path, settings: ["no_such_setting": "1"]) }
    }

    @Test("a bad value of a backend's own setting is refused with .invalidArgument naming it, and nothing is created", arguments: BackendUnderTest.all.filter { !$0.hooks.badSettings.isEmpty })
    func badSettingIsRefused(backend: BackendUnderTest) {
        let dir = TestDirectory("bad-setting-\(backend)")
        defer { dir.remove() }
        for settings in backend.hooks.badSettings {
            for kind in StoreKind.allCases where backend.provides(kind) {
                do {
                    switch kind {
                    case .log: try backend.openLog(dir.path, settings: settings).close()
                    case .state: try backend.openState(dir.path, settings: settings).close()
                    }
                    Issue.record("\(kind): \(settings) was accepted")
                } catch let StorageError.invalidArgument(message) {
                    for (key, value) in settings {
                        #expect(message.contains(key) && message.contains("'\(value)'"), "\(kind): \(message)")
                    }
                } catch {
                    Issue.record("\(kind): \(settings): \(error)")
                }
            }
        }
        #expect(!FileSystem.exists(dir.path), "nothing is created for a refused setting")
    }

    @Test("a backend is refused as a kind of store it does not provide, naming the backends that can")
    func unsupportedKindIsRefused() throws {
        let registry = BackendRegistry.standard
        let partial = BackendUnderTest.all.filter { !$0.provides(.log) || !$0.provides(.state) }
        #expect(partial.map(\.name).contains("wal"), "wal provides a log store only")
        for backend in partial {
            for kind in StoreKind.allCases where !backend.provides(kind) {
                let dir = TestDirectory("unsupported-\(backend)-\(kind)")
                defer { dir.remove() }
                let config = kind == .state
                    ? StorageConfig(logBackend: "memory", stateBackend: backend.name, dataDirectory: dir.path)
                    : StorageConfig(logBackend: backend.name, stateBackend: "memory", dataDirectory: dir.path)
                let providers = registry.names(providing: kind)
                do {
                    _ = try registry.openStores(config)
                    Issue.record("\(backend) was opened as a \(kind) store")
                } catch let error as StorageError {
                    #expect(error == .unsupportedStore(backend: backend.name, kind: kind, providers: providers))
                    #expect(error.description.contains("'\(backend.name)' cannot be a \(kind) store"))
                    #expect(error.description.contains(providers.joined(separator: ", ")))
                }
                #expect(!FileSystem.exists(dir.path), "nothing is created for a refused config")
                #expect(throws: StorageError.self) { try registry.validate(config) }
            }
        }
    }

    @Test("log and state may come from different backends", arguments: BackendUnderTest.logStores)
    func mixedBackends(backend: BackendUnderTest) throws {
        let dir = TestDirectory("mixed-\(backend)")
        defer { dir.remove() }
        for other in BackendUnderTest.stateStores {
            let config = StorageConfig(logBackend: backend.name, stateBackend: other.name, dataDirectory: dir.sub(other.name))
            let (log, state) = try BackendRegistry.standard.openStores(config)
            try log.append(entries(1...1, term: 1))
            var batch = WriteBatch()
            batch.put(bytes("k"), bytes("v"))
            try state.apply(batch, through: AppliedPosition(index: 1, term: 1))
            #expect(try state.get(bytes("k")) == bytes("v"))
            try log.close()
            try state.close()
        }
    }
}

/// A child process writes with sync on and is SIGKILLed right after
/// acknowledging: everything it acknowledged must be there on reopen.
@Suite("Crash durability conformance")
struct CrashDurabilityConformanceTests {
    static var probePath: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("StorageProbe").path
    }

    @Test("acknowledged synced writes survive SIGKILL", arguments: StorePairUnderTest.persistent)
    func acknowledgedWritesSurviveSIGKILL(store: StorePairUnderTest) throws {
        let dir = TestDirectory("crash-\(store.log)-\(store.state)-\(store.mode)")
        defer { dir.remove() }
        var lastAck: UInt64 = 0
        for round in 1...3 {
            let (acked, checkpointed) = try runProbeAndKill(
                backend: store.probeArgument, mode: store.mode, directory: dir.path, minimumAcks: 60)
            #expect(acked > lastAck, "round \(round) acknowledged nothing new")
            lastAck = acked

            let (log, state) = try BackendRegistry.standard.openStores(
                StorageConfig(logBackend: store.log, stateBackend: store.state, dataDirectory: dir.path, stateSync: store.mode))
            // The log is the durability point in both modes.
            #expect(try log.lastIndex() >= lastAck)
            #expect(try log.hardState().commit >= lastAck)
            let logged = try log.entries(1...lastAck, maxBytes: .max)
            #expect(logged.map(\.index) == Array(1...lastAck))
            for index in 1...lastAck {
                #expect(logged[Int(index - 1)].data == bytes("command-\(index)"))
            }
            // The state store: every acknowledged apply when each one syncs,
            // at least the last checkpoint otherwise; never a torn batch.
            let applied = try state.appliedPosition().index
            let durable = store.mode == .always ? lastAck : checkpointed
            #expect(applied >= durable, "state store reopened at \(applied), before \(durable)")
            for index in 1...max(applied, lastAck) {
                let value = try state.get(bytes("key-\(index)"))
                #expect(value == (index <= applied ? bytes("command-\(index)") : nil), "key-\(index) at applied \(applied)")
            }
            try log.close()
            try state.close()
        }
    }

    /// Starts the probe, waits for `minimumAcks` new acknowledgments, kills it
    /// with SIGKILL at once and returns the last index it acknowledged.
    private func runProbeAndKill(
        backend: String, mode: StateSyncMode, directory: String, minimumAcks: Int
    ) throws -> (acknowledged: UInt64, checkpointed: UInt64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.probePath)
        process.arguments = [backend, directory, mode.rawValue]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var lastAck: UInt64 = 0
        var lastCheckpoint: UInt64 = 0
        var acks = 0
        var pending = ""
        let deadline = Date().addingTimeInterval(60)
        while acks < minimumAcks, Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            pending += String(decoding: data, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                pending = String(pending[pending.index(after: newline)...])
                if line.hasPrefix("ack "), let index = UInt64(line.dropFirst(4)) {
                    lastAck = index
                    acks += 1
                } else if line.hasPrefix("checkpoint "), let index = UInt64(line.dropFirst(11)) {
                    lastCheckpoint = index
                }
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(acks >= minimumAcks, "probe for \(backend) stopped after \(acks) acknowledgments")
        return (lastAck, lastCheckpoint)
    }
}
