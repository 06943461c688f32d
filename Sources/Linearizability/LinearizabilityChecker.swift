import Synchronization

/// Checks a history of register operations for linearizability, key by key.
///
/// Linearizability is compositional (Herlihy & Wing): a history is
/// linearizable exactly when each key's sub-history is, so every key is
/// searched on its own (`WingGongSearch`), concurrently. Each key's search
/// is bounded by the time left; a key that runs out of time is "unknown",
/// never a hang and never a false verdict. A key that is not linearizable is
/// then shrunk (`CounterexampleShrinker`) to a small sub-history that is
/// still not linearizable: what a reader needs to see the violation.
public struct LinearizabilityChecker: Sendable {
    public enum Verdict: String, Sendable, Codable, Comparable {
        case linearizable
        case notLinearizable = "not_linearizable"
        case unknown

        /// Orders verdicts by how bad they are: a violation outranks "unknown".
        private var severity: Int {
            switch self {
            case .linearizable: 0
            case .unknown: 1
            case .notLinearizable: 2
            }
        }

        public static func < (a: Verdict, b: Verdict) -> Bool { a.severity < b.severity }
    }

    /// The verdict on one key.
    public struct KeyResult: Sendable {
        public var key: String
        public var verdict: Verdict
        /// Operations of this key the search considered (known and unknown outcomes).
        public var operations: Int
        public var indeterminate: Int
        public var seconds: Double
        /// For a violation: a sub-history of this key that is not linearizable either.
        public var counterexample: [RegisterOperation]?
        /// Whether no single operation can be removed from `counterexample`
        /// without it becoming linearizable (false if shrinking ran out of time).
        public var counterexampleIsMinimal = false
        /// For a violation: how far the search got, in words.
        public var explanation: String?
    }

    public struct Result: Sendable {
        public var verdict: Verdict
        public var keys: [KeyResult]
        public var seconds: Double

        public init(verdict: Verdict, keys: [KeyResult], seconds: Double) {
            self.verdict = verdict
            self.keys = keys
            self.seconds = seconds
        }
    }

    /// The whole check, shrinking included, ends within this.
    public var timeLimit: Duration
    /// Of which shrinking a counterexample may take at most this.
    public var shrinkLimit: Duration

    public init(timeLimit: Duration = .seconds(120), shrinkLimit: Duration = .seconds(30)) {
        self.timeLimit = timeLimit
        self.shrinkLimit = shrinkLimit
    }

    /// Checks `history` (operations of any keys; failed operations left out).
    public func check(_ history: [RegisterOperation]) async throws(HistoryError) -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + timeLimit
        var byKey: [String: [RegisterOperation]] = [:]
        for operation in history { byKey[operation.key, default: []].append(operation) }
        // Validate every key first, so a malformed history is an error, not a verdict.
        var models: [(String, RegisterModel)] = []
        for (key, operations) in byKey.sorted(by: { $0.key < $1.key }) {
            models.append((key, try RegisterModel(operations.sorted { $0.invokedAt < $1.invokedAt })))
        }
        let shrinkLimit = self.shrinkLimit
        let keys = await withTaskGroup(of: KeyResult.self) { group in
            for (key, model) in models {
                group.addTask { Self.check(key: key, model: model, deadline: deadline, shrinkLimit: shrinkLimit) }
            }
            var results: [KeyResult] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.key < $1.key }
        }
        let verdict = keys.map(\.verdict).max() ?? .linearizable
        return Result(verdict: verdict, keys: keys, seconds: (clock.now - started).seconds)
    }

    /// Searches one key; on a violation, shrinks it within `shrinkLimit` (and the deadline).
    static func check(
        key: String, model: RegisterModel, deadline: ContinuousClock.Instant, shrinkLimit: Duration
    ) -> KeyResult {
        let clock = ContinuousClock()
        let started = clock.now
        var search = WingGongSearch(model: model)
        let outcome = search.run(until: deadline)
        var result = KeyResult(
            key: key, verdict: .linearizable, operations: model.operations.count,
            indeterminate: model.operations.filter(\.isIndeterminate).count, seconds: 0)
        switch outcome {
        case .linearizable:
            result.verdict = .linearizable
        case .unknown:
            result.verdict = .unknown
            result.explanation = "the search did not finish within the time limit (it had linearized \(search.deepest) of \(model.operations.count) operations at its deepest)"
        case .notLinearizable:
            result.verdict = .notLinearizable
            let placed = Set(search.deepestOrder)
            let stuck = model.operations.indices.filter { !placed.contains($0) && !model.operations[$0].isIndeterminate }
                .min { (model.operations[$0].completedAt ?? .max) < (model.operations[$1].completedAt ?? .max) }
            var text = "at most \(search.deepest) of \(model.operations.count) operations can be linearized; the register then holds \(model.describe(search.deepestState))"
            if let stuck { text += ", and operation \(model.operations[stuck].id) cannot follow" }
            result.explanation = text
            let shrinkDeadline = min(deadline, clock.now + shrinkLimit)
            let shrunk = CounterexampleShrinker.shrink(model.operations, until: shrinkDeadline)
            result.counterexample = shrunk.operations
            result.counterexampleIsMinimal = shrunk.isMinimal
        }
        result.seconds = (clock.now - started).seconds
        return result
    }

    /// Whether `operations` (one key) are linearizable, within `deadline`.
    static func verdict(_ operations: [RegisterOperation], until deadline: ContinuousClock.Instant) -> WingGongSearch.Outcome {
        guard let model = try? RegisterModel(operations) else { return .unknown }
        var search = WingGongSearch(model: model)
        return search.run(until: deadline)
    }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
