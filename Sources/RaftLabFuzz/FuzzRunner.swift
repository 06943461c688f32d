import Foundation
import Logging
import RaftLabHTTPClient
import RaftLabNode

/// Runs a campaign: batches of generated requests against a live cluster,
/// restarts between and inside batches, and the checks after each batch.
public struct FuzzRunner: Sendable {
    public let options: FuzzOptions
    let say: @Sendable (String) -> Void
    let client = SimpleHTTPClient(userAgent: "raftlab-fuzz")
    /// Time limit of one HTTP exchange, and of all tries of one request.
    let requestTimeout: Duration = .seconds(30)
    let retryWindow: Duration = .seconds(45)

    public init(options: FuzzOptions, say: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.say = say
    }

    /// State of one run.
    struct Run {
        var summary: FuzzSummary
        var lastDisturbance = ContinuousClock.now
        var recentWrites: [String] = []
        var batch = 0
    }

    /// Runs the campaign and returns its summary (findings included).
    public func run() async -> FuzzSummary {
        var run = Run(summary: FuzzSummary(options: options))
        let started = ContinuousClock.now
        let base = options.temporaryDirectory ?? FileManager.default.temporaryDirectory.path
        let directory = "\(base)/raftlab-fuzz-\(ProcessInfo.processInfo.processIdentifier)-\(options.backend)-seed\(options.seed)-\(UInt32.random(in: 0...UInt32.max))"
        var nodeLogger = Logger(label: "raftlab.fuzz.node")
        nodeLogger.logLevel = .error
        let cluster: FuzzCluster
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            cluster = try await FuzzCluster(nodes: options.nodes, backend: options.backend, directory: directory, seed: options.seed, nodeLogger: nodeLogger)
        } catch {
            run.summary.error = "cannot start the cluster: \(error)"
            try? FileManager.default.removeItem(atPath: directory)
            return run.summary
        }
        say("cluster up: \(options.nodes) nodes on \(options.backend), HTTP on " + cluster.nodeIDs.map { "\(cluster.address(of: $0))" }.joined(separator: ", ") + ", data in \(directory)")
        await campaign(cluster, &run, started: started)
        run.summary.durationSeconds = Self.seconds(ContinuousClock.now - started)
        await cluster.shutdown()
        if !options.keepData { try? FileManager.default.removeItem(atPath: directory) } else { say("data kept in \(directory)") }
        return run.summary
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func campaign(_ cluster: FuzzCluster, _ run: inout Run, started: ContinuousClock.Instant) async {
        var generator = RequestGenerator(seed: options.seed)
        // The runner's own choices (which node restarts, when) come from another stream of the same seed.
        var chaos = FuzzRandom(seed: options.seed ^ 0x5EED_F00D_CAFE_D00D)
        let end = started + .milliseconds(Int(options.seconds * 1000))

        // The table the ordinary-write check writes to.
        let create = FuzzRequest(
            api: .native, kind: "native.create_table", probe: "probe table", method: "POST", path: "/tables",
            headers: [("Content-Type", "application/json")], body: Array(#"{"table_name":"fz_probe","partition_key_name":"id"}"#.utf8))
        if let finding = await ordinaryWrite(create, cluster, &run) {
            run.summary.findings.append(finding)
            return
        }

        var restarts = 0
        while ContinuousClock.now < end, run.batch < options.maxBatches {
            let requests = generator.batch(run.batch, size: options.requestsPerBatch)
            // Restarts: every `restartEvery` batches one node stops before the
            // batch and comes back halfway through it; every fourth time, all
            // nodes stop and restart before the batch.
            var comeback: UInt64?
            if options.restartEvery > 0, run.batch > 0, run.batch % options.restartEvery == 0 {
                restarts += 1
                let ids = cluster.nodeIDs
                if restarts % 4 == 0 {
                    say("batch \(run.batch): restarting all nodes")
                    for id in ids { await cluster.stopNode(id) }
                    run.lastDisturbance = .now
                    for id in ids {
                        do { try await cluster.startNode(id) } catch {
                            run.summary.findings.append(finding(run, category: "restart", node: id, what: "node \(id) does not start again on its data: \(error)"))
                            return
                        }
                    }
                    run.lastDisturbance = .now
                    run.summary.restartsOfAllNodes += 1
                } else {
                    let id = ids[chaos.int(0...(ids.count - 1))]
                    say("batch \(run.batch): stopping node \(id), restarting it halfway through the batch")
                    await cluster.stopNode(id)
                    run.lastDisturbance = .now
                    comeback = id
                    run.summary.restartsOfOneNode += 1
                }
            }
            for (number, request) in requests.enumerated() {
                if let id = comeback, number >= requests.count / 2 {
                    comeback = nil
                    do { try await cluster.startNode(id) } catch {
                        run.summary.findings.append(finding(run, category: "restart", node: id, what: "node \(id) does not start again on its data: \(error)"))
                        return
                    }
                    run.lastDisturbance = .now
                }
                run.summary.requests += 1
                run.summary.requestsByKind[request.kind, default: 0] += 1
                if request.probe != "ok" { run.summary.probingRequests += 1 }
                if let found = await send(request, number: number, cluster, &run) {
                    run.summary.findings.append(found)
                    return
                }
                let halted = await cluster.haltedNodes()
                if !halted.isEmpty {
                    run.summary.findings.append(finding(
                        run, category: "node-halted", request: number, request,
                        what: "node(s) \(halted.map(String.init).joined(separator: ", ")) stopped by themselves (\"raft node failed; stopping\") after this request; the writes just before it: \(run.recentWrites.suffix(3).joined(separator: " | "))"))
                    return
                }
            }
            if let id = comeback {
                do { try await cluster.startNode(id) } catch {
                    run.summary.findings.append(finding(run, category: "restart", node: id, what: "node \(id) does not start again on its data: \(error)"))
                    return
                }
                run.lastDisturbance = .now
            }
            if let found = await checkBatch(cluster, &run) {
                run.summary.findings.append(found)
                return
            }
            run.batch += 1
            run.summary.batches = run.batch
            if run.batch % 10 == 0 {
                say("\(Int(Self.seconds(ContinuousClock.now - started))) s: \(run.batch) batches, \(run.summary.requests) requests, \(run.summary.digestsCompared) digests compared")
            }
        }
    }

    /// After a batch: no node halted, an ordinary write goes through, replicas agree.
    private func checkBatch(_ cluster: FuzzCluster, _ run: inout Run) async -> FuzzFinding? {
        let halted = await cluster.haltedNodes()
        if !halted.isEmpty {
            return finding(run, category: "node-halted", what: "node(s) \(halted.map(String.init).joined(separator: ", ")) stopped by themselves during the batch; recent writes: \(run.recentWrites.suffix(3).joined(separator: " | "))")
        }
        let probe = FuzzRequest(
            api: .native, kind: "native.put_item", probe: "ordinary write", method: "PUT", path: "/tables/fz_probe/items",
            headers: [("Content-Type", "application/json")], body: Array(#"{"id":"probe-\#(run.batch % 7)","batch":\#(run.batch)}"#.utf8),
            node: run.batch)
        if let found = await ordinaryWrite(probe, cluster, &run) { return found }
        let (digests, problem) = await cluster.convergedDigests(timeout: .seconds(30))
        if let problem {
            let halted = await cluster.haltedNodes()
            return finding(run, category: halted.isEmpty ? "stuck" : "node-halted", what: problem)
        }
        run.summary.digestsCompared += digests.count
        if let difference = FuzzChecker.compareDigests(digests) {
            return finding(run, category: "divergence", what: difference + "; recent writes: \(run.recentWrites.suffix(3).joined(separator: " | "))")
        }
        return nil
    }

    /// A write the cluster must accept with a 2xx.
    private func ordinaryWrite(_ request: FuzzRequest, _ cluster: FuzzCluster, _ run: inout Run) async -> FuzzFinding? {
        let answer = await exchange(request, cluster, &run)
        switch answer {
        case .answered(let status, _, _) where (200..<300).contains(status):
            run.summary.ordinaryWrites += 1
            return nil
        case .answered(let status, let body, let node):
            return finding(run, category: "ordinary-write", node: node, request,
                what: "the cluster refused an ordinary write: HTTP \(status) \(String(decoding: body.prefix(300), as: UTF8.self))")
        case .finding(let what, let node):
            return finding(run, category: "ordinary-write", node: node, request, what: "an ordinary write failed: \(what)")
        }
    }

    enum Exchange {
        /// A definitive answer (2xx or 4xx; `classify` said ok).
        case answered(status: Int, body: [UInt8], node: UInt64)
        case finding(String, node: UInt64?)
    }

    /// Sends `request` to its node (or the next running one), retrying what
    /// the cluster's own state explains (elections, restarts) within a bound.
    private func exchange(_ request: FuzzRequest, _ cluster: FuzzCluster, _ run: inout Run) async -> Exchange {
        let deadline = ContinuousClock.now + retryWindow
        var attempt = 0
        var transportFailures = 0
        var last = "no attempt"
        var lastNode: UInt64?
        while ContinuousClock.now < deadline {
            let running = cluster.runningIDs
            guard !running.isEmpty else { return .finding("no node is running", node: nil) }
            let node = running[(request.node + attempt) % running.count]
            lastNode = node
            if attempt > 0 {
                run.summary.retries += 1
                try? await Task.sleep(for: .milliseconds(min(1000, 50 * (1 << min(attempt, 5)))))
            }
            attempt += 1
            let http = SimpleHTTPRequest(method: request.method, path: request.path, headers: request.headers, body: request.body)
            let response: SimpleHTTPResponse
            do {
                response = try await client.execute(http, to: cluster.address(of: node), timeout: requestTimeout)
            } catch {
                // A node stopping under us closes connections; a running node
                // that keeps dropping this request without an answer is a finding.
                let stillRunning = cluster.runningIDs.contains(node)
                if stillRunning, !disturbed(run) { transportFailures += 1 }
                last = "no answer from node \(node): \(error)"
                if transportFailures >= 3 {
                    return .finding("no HTTP answer at all (\(transportFailures) tries on running nodes): \(error)", node: node)
                }
                continue
            }
            switch FuzzChecker.classify(
                api: request.api, status: response.status, headers: response.headers, body: response.body, disturbed: disturbed(run))
            {
            case .ok:
                return .answered(status: response.status, body: response.body, node: node)
            case .finding(let what):
                return .finding(what, node: node)
            case .retry(let why):
                last = "node \(node): \(why)"
            }
        }
        return .finding("no definitive answer within \(retryWindow) (\(attempt) tries); last: \(last)", node: lastNode)
    }

    private func disturbed(_ run: Run) -> Bool {
        ContinuousClock.now - run.lastDisturbance < .seconds(20)
    }

    /// One generated request through `exchange`; nil when its answer passed.
    private func send(_ request: FuzzRequest, number: Int, _ cluster: FuzzCluster, _ run: inout Run) async -> FuzzFinding? {
        let isWrite = request.method != "GET" && !["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "DescribeTable", "ListTables"].contains(request.kind)
        if isWrite {
            run.recentWrites.append("\(request.kind) [\(request.probe)]")
            if run.recentWrites.count > 10 { run.recentWrites.removeFirst() }
        }
        switch await exchange(request, cluster, &run) {
        case .answered(let status, _, _):
            run.summary.answersByStatus["\(status / 100)xx", default: 0] += 1
            return nil
        case .finding(let what, let node):
            let category =
                what.hasPrefix("no definitive answer") || what.hasPrefix("no node") ? "unavailable"
                : what.hasPrefix("HTTP 500") && (what.contains("storage error") || what.contains("backend allows")) ? "storage"
                : "api-edge"
            return finding(run, category: category, request: number, node: node, request, what: what)
        }
    }

    private func finding(
        _ run: Run, category: String, request number: Int? = nil, node: UInt64? = nil, _ request: FuzzRequest? = nil, what: String
    ) -> FuzzFinding {
        FuzzFinding(
            category: category, seed: options.seed, batch: run.batch, request: number, kind: request?.kind, probe: request?.probe,
            node: node, excerpt: request?.excerpt(), what: what)
    }
}
