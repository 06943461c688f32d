import Dispatch
import Logging
import Raft
import StorageCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Applies committed entries to the state machine in the background, in
/// order, and answers the clients waiting for them.
///
/// Why a stage of its own: a committed entry is already durable on a quorum,
/// so nothing about it has to wait for the node's next log write, and the
/// next log write need not wait for it. The loop hands each Ready's committed
/// entries over and goes on persisting; batch N applies while batch N+1
/// reaches the disk (etcd's pipelining of apply and append). Applies go to the
/// state store without a sync in checkpoint mode: the log is the durability
/// point, and a restart replays it after the state store's position.
final class ApplyStage: Sendable {
    /// A client waiting for the entry it proposed at some index, in `term`.
    struct Proposal: Sendable {
        var term: UInt64
        var continuation: CheckedContinuation<ProposalResult, any Error>
    }

    private struct ReadWait {
        var index: UInt64
        var continuation: CheckedContinuation<UInt64, any Error>
    }

    private struct State {
        /// Highest index applied to the state store (or installed by a snapshot).
        var applied: UInt64
        /// Payload bytes handed over and not yet applied: the loop's budget.
        var pendingBytes = 0
        var reads: [ReadWait] = []
        var failure: RaftError?
        var idle: [CheckedContinuation<Void, Never>] = []
        var queued = 0
        /// Set while a batch waits for the store to take it.
        var stall: NodeStall?
        /// Set by `stopRetrying`: a stalled batch is given up (the node stops).
        var stopping = false
    }

    private let queue: DispatchQueue
    private let machine: any StateMachine
    private let store: any StateStore
    private let state: Mutex<State>
    /// Told after each batch (the loop's mailbox nudge): reads may be served,
    /// the budget grew, compaction may be due, or the stage failed.
    private let onProgress: @Sendable () -> Void
    private let onApplied: (@Sendable (ClosedRange<UInt64>, ContinuousClock.Instant) -> Void)?
    private let logger: Logger

    init(
        label: String, machine: any StateMachine, store: any StateStore, applied: UInt64,
        logger: Logger,
        onApplied: (@Sendable (ClosedRange<UInt64>, ContinuousClock.Instant) -> Void)?,
        onProgress: @escaping @Sendable () -> Void
    ) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
        self.machine = machine
        self.store = store
        self.logger = logger
        self.onApplied = onApplied
        self.onProgress = onProgress
        state = Mutex(State(applied: applied))
    }

    var applied: UInt64 { state.withLock { $0.applied } }
    var pendingBytes: Int { state.withLock { $0.pendingBytes } }
    var failure: RaftError? { state.withLock { $0.failure } }
    /// Why applying waits, while it does.
    var stall: NodeStall? { state.withLock { $0.stall } }

    /// Queues `entries` (contiguous, right after what was handed over before)
    /// with the proposals waiting for them.
    func submit(_ entries: [LogEntry], proposals: [UInt64: Proposal]) {
        let bytes = entries.reduce(0) { $0 + $1.data.count }
        let refused: RaftError? = state.withLock { state in
            if let failure = state.failure { return failure }
            state.pendingBytes += bytes
            state.queued += 1
            return nil
        }
        if let refused {
            for proposal in proposals.values { proposal.continuation.resume(throwing: RaftError.outcomeUnknown("\(refused)")) }
            return
        }
        queue.async { self.apply(entries, bytes: bytes, proposals: proposals) }
    }

    private func apply(_ entries: [LogEntry], bytes: Int, proposals: [UInt64: Proposal]) {
        let outcome = applyRetrying(entries)
        let now = ContinuousClock.now
        if case .success = outcome, let first = entries.first, let last = entries.last {
            onApplied?(first.index...last.index, now)
        }
        // Answer the proposers: the result of their entry, or why it was not theirs.
        for entry in entries {
            guard let proposal = proposals[entry.index] else { continue }
            switch outcome {
            case .success(let results) where proposal.term == entry.term:
                proposal.continuation.resume(returning: ProposalResult(
                    index: entry.index, term: entry.term, result: results[entry.index] ?? []))
            case .success:
                proposal.continuation.resume(throwing: RaftError.proposalDropped)
            case .failure(let error):
                // Committed, so applied wherever the stores are healthy.
                proposal.continuation.resume(throwing: RaftError.outcomeUnknown("\(error)"))
            }
        }
        let (reads, idle) = state.withLock { state -> ([ReadWait], [CheckedContinuation<Void, Never>]) in
            state.pendingBytes -= bytes
            state.queued -= 1
            if case .success = outcome {
                state.applied = max(state.applied, entries.last?.index ?? state.applied)
            }
            return (takeReads(&state), takeIdle(&state))
        }
        resume(reads)
        if case .failure(let error) = outcome { fail(error) }
        for waiter in idle { waiter.resume() }
        onProgress()
    }

    /// Applies `entries`, retrying while the store fails (see the type's
    /// documentation); fails only once the stage was failed or told to stop.
    private func applyRetrying(_ entries: [LogEntry]) -> Result<[UInt64: [UInt8]], RaftError> {
        var attempts = 0
        while true {
            let (failure, stopping) = state.withLock { ($0.failure, $0.stopping) }
            if let failure { return .failure(failure) }
            do {
                let results = try CommittedEntryApplier.apply(entries, machine: machine, store: store)
                if attempts > 0 {
                    state.withLock { $0.stall = nil }
                    logger.notice(
                        "applying resumed", metadata: ["index": "\(entries.first?.index ?? 0)", "attempts": "\(attempts + 1)"])
                }
                return .success(results)
            } catch {
                if stopping { return .failure(RaftError(error)) }
                attempts += 1
                let stall = NodeStall(
                    stage: .apply, index: entries.first?.index ?? 0, error: "\(error)", attempts: attempts)
                state.withLock { $0.stall = stall }
                if attempts == 1 {
                    logger.error(
                        "cannot apply committed entries; the node keeps its log, takes no writes, and retries until the store takes them",
                        metadata: ["index": "\(stall.index)", "error": "\(error)"])
                    onProgress()
                }
                Self.pause(attempt: attempts) { self.state.withLock { $0.failure != nil || $0.stopping } }
            }
        }
    }

    /// Sleeps the backoff for `attempt` (10 ms doubling to 1 s) in short
    /// slices, returning early once `interrupted` says so.
    static func pause(attempt: Int, interrupted: () -> Bool) {
        let total = min(1_000, 10 << min(attempt - 1, 7))
        var slept = 0
        while slept < total, !interrupted() {
            usleep(10_000)
            slept += 10
        }
    }

    /// A stalled batch is given up instead of retried (the node is stopping;
    /// its log still holds the entries, and a restart applies them).
    func stopRetrying() {
        state.withLock { $0.stopping = true }
    }

    /// Serves a linearizable read once `index` is applied (at once if it is).
    func whenApplied(_ index: UInt64, _ continuation: CheckedContinuation<UInt64, any Error>) {
        let (ready, failure) = state.withLock { state -> ([ReadWait], RaftError?) in
            if let failure = state.failure { return ([], failure) }
            state.reads.append(ReadWait(index: index, continuation: continuation))
            return (takeReads(&state), nil)
        }
        if let failure { return continuation.resume(throwing: failure) }
        resume(ready)
    }

    /// Waits until everything submitted so far is applied.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.queued == 0 { return true }
                state.idle.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// A snapshot replaced the state: everything through `index` is applied.
    /// Call only while drained.
    func installed(through index: UInt64) {
        let ready = state.withLock { state in
            state.applied = max(state.applied, index)
            return takeReads(&state)
        }
        resume(ready)
    }

    /// Fails every waiting read and refuses further work.
    func fail(_ error: RaftError) {
        let reads = state.withLock { state in
            if state.failure == nil { state.failure = error }
            defer { state.reads = [] }
            return state.reads
        }
        for read in reads { read.continuation.resume(throwing: error) }
    }

    /// Reads whose index is applied, removed from the waiting list.
    private func takeReads(_ state: inout State) -> [ReadWait] {
        let applied = state.applied
        let ready = state.reads.filter { $0.index <= applied }
        state.reads.removeAll { $0.index <= applied }
        return ready
    }

    private func takeIdle(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        guard state.queued == 0 else { return [] }
        defer { state.idle = [] }
        return state.idle
    }

    private func resume(_ reads: [ReadWait]) {
        for read in reads { read.continuation.resume(returning: read.index) }
    }
}

extension RaftError {
    /// Any error as the engine reports it.
    init(_ error: any Error) {
        if let error = error as? RaftError {
            self = error
        } else if let error = error as? StorageError {
            self = .storage(error)
        } else {
            self = .protocolViolation("\(error)")
        }
    }
}
