/// Shrinks a non-linearizable history of one key to a small one that is
/// still not linearizable, in the manner of delta debugging: drop a prefix
/// and suffix of the history while the violation stays, then drop ever
/// smaller chunks, then single operations, until no single operation can go.
///
/// One rule keeps the result honest: a write whose value a remaining
/// operation observed is never dropped, so a stale read stays a stale read
/// instead of turning into a "read of a value never written".
enum CounterexampleShrinker {
    struct Shrunk {
        var operations: [RegisterOperation]
        /// No single operation could be removed (the shrinking finished in time).
        var isMinimal: Bool
    }

    static func shrink(_ history: [RegisterOperation], until deadline: ContinuousClock.Instant) -> Shrunk {
        var current = history.sorted { $0.invokedAt < $1.invokedAt }
        func stillFails(_ candidate: [RegisterOperation]) -> Bool {
            guard ContinuousClock.now < deadline else { return false }
            let budget = min(deadline, ContinuousClock.now + .seconds(2))
            return LinearizabilityChecker.verdict(candidate, until: budget) == .notLinearizable
        }

        // The shortest failing prefix (by invocation), by bisection: the
        // violation usually sits far from the end of a long run.
        var low = 1
        var high = current.count
        while low < high, ContinuousClock.now < deadline {
            let middle = (low + high) / 2
            let prefix = Array(current.prefix(middle))
            if removable(Array(current[middle...]), from: current), stillFails(prefix) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        if high < current.count, stillFails(Array(current.prefix(high))) { current = Array(current.prefix(high)) }

        // Then chunks, halving, down to single operations, until a pass removes nothing.
        var chunk = max(current.count / 2, 1)
        var isMinimal = false
        while ContinuousClock.now < deadline {
            var removedAny = false
            var start = 0
            while start < current.count, ContinuousClock.now < deadline {
                let end = min(start + chunk, current.count)
                let dropped = Array(current[start..<end])
                var candidate = current
                candidate.removeSubrange(start..<end)
                if !candidate.isEmpty, removable(dropped, from: current), stillFails(candidate) {
                    current = candidate
                    removedAny = true
                } else {
                    start = end
                }
            }
            if chunk == 1 {
                if !removedAny, ContinuousClock.now < deadline { isMinimal = true }
                if !removedAny { break }
            } else {
                chunk = max(chunk / 2, 1)
            }
        }
        return Shrunk(operations: current, isMinimal: isMinimal)
    }

    /// Whether `dropped` may leave `history`: no remaining operation depends
    /// on a write among them, by observing its value or by a compare-and-set
    /// that succeeded (or may have) on its version. Dropping such a write
    /// would leave a sub-history that fails for a reason of its own (a read
    /// of a value never written, a compare-and-set on a version that never
    /// existed) instead of the violation being shown.
    private static func removable(_ dropped: [RegisterOperation], from history: [RegisterOperation]) -> Bool {
        let droppedIDs = Set(dropped.map(\.id))
        let written = Set(dropped.compactMap(\.call.writtenValue))
        guard !written.isEmpty else { return true }
        var versions: Set<UInt64> = []
        for operation in dropped {
            if case .written(let version) = operation.result, operation.call.writtenValue != nil { versions.insert(version) }
        }
        for operation in history {
            if let (value, version) = operation.observedValue, written.contains(value) { versions.insert(version) }
        }
        return !history.contains { operation in
            guard !droppedIDs.contains(operation.id) else { return false }
            if operation.observedValue.map({ written.contains($0.value) }) == true { return true }
            if case .compareAndSet(let expected, _) = operation.call, expected != 0, operation.result != .conflict {
                return versions.contains(expected)
            }
            return false
        }
    }
}
