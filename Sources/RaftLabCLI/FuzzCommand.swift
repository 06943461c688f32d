import ArgumentParser
import Foundation
import RaftLabBackends
import RaftLabFuzz
import StorageCore

struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Send seeded, structure-aware random DynamoDB and native API requests to a live cluster and check it stays well.",
        discussion: """
            Starts --nodes nodes in this process on --backend (log and state; wal runs its log on wal and \
            its state on leveldb), each behind the real HTTP API on 127.0.0.1 (ports the system picks; \
            followers forward writes), sync on, data in a temporary directory removed at the end.

            Then, for --seconds, batches of --requests-per-batch requests: CreateTable, PutItem, GetItem, \
            UpdateItem, DeleteItem, Query, Scan, BatchWriteItem, BatchGetItem, TransactWriteItems (with and \
            without ClientRequestToken), TransactGetItems, DescribeTable, DeleteTable, ListTables, and the \
            native API's table, item and query routes (with and without Idempotency-Key, a key sometimes \
            reused with another body). Most are well-formed and probe one documented limit at, just below \
            or just past it (keys of 2048/1024 bytes as S, N and B, multi-byte UTF-8, items of 409,600 \
            bytes, nesting depth 32, 38-digit numbers and exponents at the edges, table names of 3-255 \
            characters, 4 KB expressions, empty and invalid values, wrong types); some are malformed.

            Every --restart-every batches one node stops before the batch and restarts on its data halfway \
            through it; every fourth time all nodes restart.

            Checks: every answer is well-formed JSON with a 2xx or 4xx (a 5xx for the client's input is a \
            finding; 502/503/504, and a 500 saying the outcome is unknown while a node restarts, are retried \
            for up to 45 s); no node stops by itself; after each batch the cluster takes an ordinary write, \
            and once every node has applied the leader's commit index, every replica's state digest is equal.

            On a finding the campaign stops and prints the seed, the batch, the request (truncated) and what \
            failed; the same options with --seed S replay it exactly. Exit status: 0 no finding, 1 a \
            finding, 2 the campaign could not run.

            Examples:
              raftlab fuzz --backend memory --seconds 60 --seed 1
              raftlab fuzz --backend lmdb --seconds 120 --seed 7 --report /tmp/fuzz-lmdb.json
              raftlab fuzz --backend wal --nodes 5 --requests-per-batch 50
            """)

    @Option(help: "Storage backend of every node: \(BackendRegistry.standard.names.joined(separator: ", ")) (default memory).")
    var backend: String = "memory"

    @Option(help: "Seconds of requests (default 60); the batch running at the deadline completes.")
    var seconds: Double = 60

    @Option(help: "Seed of every choice: requests, target nodes, restarts (default 1).")
    var seed: UInt64 = 1

    @Option(help: "Nodes in the cluster, 1 to 7 (default 3).")
    var nodes: Int = 3

    @Option(help: "Requests per batch; checks run after each batch (default 20).")
    var requestsPerBatch: Int = 20

    @Option(help: "Restart a node every N batches, 0 for never (default 3); every fourth restart restarts all nodes.")
    var restartEvery: Int = 3

    @Option(help: "Write the summary, findings included, as JSON to this file.")
    var report: String?

    @Flag(help: "Keep the nodes' data directory (printed) instead of removing it.")
    var keepData = false

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func options() throws(FuzzOptionsError) -> FuzzOptions {
        var options = FuzzOptions()
        options.backend = backend
        options.seconds = seconds
        options.seed = seed
        options.nodes = nodes
        options.requestsPerBatch = requestsPerBatch
        options.restartEvery = restartEvery
        options.reportPath = report
        options.keepData = keepData
        options.verbose = !quiet
        try options.validate()
        return options
    }

    func validate() throws {
        do { _ = try options() } catch { throw ValidationError(error.description) }
    }

    func run() async throws {
        bootstrapLogging(level: .error)
        let options = try options()
        let quiet = self.quiet
        let summary = await FuzzRunner(options: options, say: { line in
            if !quiet { FileHandle.standardError.write(Data("fuzz: \(line)\n".utf8)) }
        }).run()
        for finding in summary.findings { print(finding.description) }
        print(summary.text)
        if let report {
            do {
                try summary.json().write(to: URL(fileURLWithPath: report))
                print("report: \(report)")
            } catch {
                throw exitWithMessage("cannot write the report \(report): \(error)", code: 2)
            }
        }
        if let error = summary.error { throw exitWithMessage("the campaign could not run: \(error)", code: 2) }
        if !summary.findings.isEmpty { throw ExitCode(1) }
    }
}
