import ArgumentParser
import Foundation
import RaftLabBackends
import RaftLabChaos
import RaftLabNode
import StorageCore

struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Run a cluster of node processes under faults and check every client operation for linearizability.",
        discussion: """
            Starts --nodes `raftlab server --node-id N` processes on free 127.0.0.1 ports, on the chosen \
            backend, with fault injection allowed. Clients then run puts, strong reads (consistency=strong), \
            compare-and-sets (expected_version) and deletes on a few keys, while a nemesis injects one \
            fault at a time: `kill` (SIGKILL and restart, the leader half of the time), `pause` (SIGSTOP, \
            then SIGCONT, far longer than an election timeout) and `partition` (in turn: the leader \
            isolated, a minority cut from the majority, a bridge node that sees two halves which cannot \
            see each other, one-way loss from one node). Each fault holds --fault-interval seconds, with \
            as many seconds of calm between faults.

            Every operation is recorded with monotonic timestamps as ok, fail (certainly not applied: 503, \
            a redirect, a refused connection) or info (unknown outcome: 504 outcome_unknown, a lost \
            connection, a timeout). Writes carry an Idempotency-Key, and unknown outcomes are retried with \
            it until they resolve or 15 s pass. At the end every fault is healed, the cluster must converge, \
            and the history is checked: per key, a Wing-Gong search with memoization (as Knossos and \
            Porcupine do) for a linearization of a register with versions and compare-and-set; info \
            operations may have taken effect at any later time or never. End checks: every acknowledged \
            write is reflected in every node's final state, every node's state store has the same digest, \
            no node is stuck.

            Writes history.jsonl, report.json, report.md and timeline.svg to --out; on a violation also \
            counterexample.jsonl (the smallest non-linearizable sub-history found for the failing key). \
            Exit status: 0 linearizable and every end check passed, 1 a violation (or a failed end \
            check), 3 unknown (the checker ran out of time), 2 the run itself could not be carried out.

            With the memory backend a killed node restarts empty and must catch up from the leader (by \
            snapshot once the leader's log is compacted). Faults never overlap, so a quorum of nodes \
            always holds every committed entry. The memory backend also offers `power-cut`: its nodes run \
            a model of a disk under their stores (`raftlab server --power-cut-model`), and a cut node \
            restarts with exactly what it had synced: its log, and its state as of its last checkpoint. \
            On the disk engines a SIGKILL keeps the page cache, and cutting a real disk's power needs a \
            block-device fault layer, so `power-cut` is refused there.

            Examples:
              raftlab chaos --backend lmdb --duration 60 --faults kill,pause,partition
              raftlab chaos --backend memory --nodes 5 --clients 8 --seed 7 --out /tmp/chaos-memory
              raftlab chaos --backend memory --faults kill,pause,partition,power-cut
              raftlab chaos --log-backend flatfile --state-backend leveldb --duration 120
              raftlab chaos --backend leveldb --break-strong-reads     # a broken build the checker must catch
            """)

    @Option(help: "Backend for both stores: \(BackendRegistry.standard.names.joined(separator: ", ")) (default leveldb).")
    var backend: String?

    @Option(help: "Backend for the Raft log (overrides --backend).")
    var logBackend: String?

    @Option(help: "Backend for the state store (overrides --backend).")
    var stateBackend: String?

    @Option(help: "A cluster TOML config: its [storage] and [engine] tables are used; nodes and addresses are the run's own.")
    var config: String?

    @Option(help: "Nodes: 3 or 5 (default 3).")
    var nodes: Int = 3

    @Option(help: "Seconds of client load, faults included (default 60).")
    var duration: Double = 60

    @Option(help: "Concurrent clients (default 5).")
    var clients: Int = 5

    @Option(help: "Keys the clients contend on (default 3).")
    var keys: Int = 3

    @Option(help: "Operations per second over all clients, 0 for as fast as they go (default 250).")
    var rate: Double = 250

    @Option(name: .customLong("max-ops"), help: "Most operations in the run (default 200000).")
    var maxOps: Int = 200_000

    @Option(help: "Faults to inject, comma-separated: kill, pause, partition, power-cut (memory backend only), or none (default kill,pause,partition).")
    var faults: String = "kill,pause,partition"

    @Option(help: "Seconds each fault holds, and seconds of calm between faults (default 3).")
    var faultInterval: Double = 3

    @Option(help: "Seed of the clients' choices and the nemesis (default 1).")
    var seed: UInt64 = 1

    @Option(help: "Report directory (default results/chaos/<date>-<backend>-seed<seed>).")
    var out: String?

    @Option(help: "Time limit of the linearizability check in seconds; past it the verdict is unknown (default 120).")
    var checkerTimeout: Double = 120

    @Flag(help: "Keep the nodes' stores after a clean run (they are always kept after a failed one).")
    var keepData = false

    @Flag(help: "Deliberately broken nodes: strong reads served from local state without ReadIndex. The checker must catch it.")
    var breakStrongReads = false

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func run() async throws {
        bootstrapLogging(level: .warning)
        var options = ChaosOptions()
        do {
            if let config {
                let loaded = try ClusterConfig.load(path: config)
                options.config = loaded
                options.logBackend = loaded.storage.log
                options.stateBackend = loaded.storage.state
            }
            if let backend {
                options.logBackend = backend
                options.stateBackend = backend
            }
            if let logBackend { options.logBackend = logBackend }
            if let stateBackend { options.stateBackend = stateBackend }
            options.nodes = nodes
            options.duration = duration
            options.clients = clients
            options.keys = keys
            options.rate = rate
            options.maxOperations = maxOps
            options.faults = try ChaosOptions.faults(parsing: faults)
            options.faultInterval = faultInterval
            options.seed = seed
            options.outputDirectory = out
            options.checkerTimeout = .milliseconds(Int(checkerTimeout * 1000))
            options.keepData = keepData
            options.breakStrongReads = breakStrongReads
            options.verbose = !quiet
            try options.validate(registry: .standard)
        } catch let error as ChaosError {
            throw ValidationError(error.description)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
        let command = (["raftlab"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let result: ChaosResult
        do {
            result = try await ChaosRunner(options: options, registry: .standard, command: command).run()
        } catch let error as ChaosError {
            throw exitWithMessage(error.description, code: 2)
        } catch {
            throw exitWithMessage("the chaos run could not be carried out: \(error)", code: 2)
        }
        print(try String(contentsOfFile: result.directory + "/report.md", encoding: .utf8))
        print("report written to \(result.directory)")
        if result.passed { return }
        throw ExitCode(result.verdict == .unknown && result.endChecks.passed ? 3 : 1)
    }
}
