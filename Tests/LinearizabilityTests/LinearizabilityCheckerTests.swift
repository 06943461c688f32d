import Linearizability
import Testing

/// Builds histories of one key with times in milliseconds, for readability.
private struct HistoryBuilder {
    var operations: [RegisterOperation] = []

    mutating func add(
        _ client: Int, _ call: RegisterCall, _ result: RegisterResult, _ invoked: UInt64, _ completed: UInt64?,
        key: String = "k"
    ) {
        operations.append(RegisterOperation(
            id: operations.count, client: client, key: key, call: call, result: result,
            invokedAt: invoked * 1_000_000, completedAt: completed.map { $0 * 1_000_000 }))
    }
}

/// The limits are far above what these histories need (milliseconds on a
/// quiet machine): they only matter if a loaded CI machine starves the
/// search, and a verdict or a shrink cut short by them would make a test flaky.
private func verdict(_ history: HistoryBuilder, limit: Duration = .seconds(120)) async throws -> LinearizabilityChecker.Result {
    try await LinearizabilityChecker(timeLimit: limit, shrinkLimit: .seconds(60)).check(history.operations)
}

@Suite struct RejectsViolations {
    @Test func staleReadAfterACompletedWrite() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 3), 0, 10)
        h.add(1, .put(value: "b"), .written(version: 4), 20, 30)
        h.add(2, .read, .value("a", version: 3), 40, 50)  // b was acknowledged before this read began
        let result = try await verdict(h)
        #expect(result.verdict == .notLinearizable)
        let example = try #require(result.keys.first?.counterexample)
        #expect(Set(example.map(\.id)) == [0, 1, 2])
        #expect(result.keys.first?.counterexampleIsMinimal == true)
    }

    @Test func lostUpdateUnderCompareAndSet() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 5)
        h.add(1, .read, .value("a", version: 1), 10, 12)
        h.add(2, .read, .value("a", version: 1), 11, 13)
        // Both swap from version 1, one after the other: the second must have conflicted.
        h.add(1, .compareAndSet(expected: 1, value: "b"), .written(version: 7), 20, 25)
        h.add(2, .compareAndSet(expected: 1, value: "c"), .written(version: 8), 30, 35)
        let result = try await verdict(h)
        #expect(result.verdict == .notLinearizable)
        // The counterexample keeps the write both swaps expected: without it
        // either swap alone would "fail" on a version that never existed.
        let example = try #require(result.keys.first?.counterexample)
        #expect(Set(example.map(\.id)) == [0, 3, 4])
    }

    @Test func concurrentCompareAndSetsCannotBothWin() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 5)
        h.add(1, .compareAndSet(expected: 1, value: "b"), .written(version: 7), 20, 40)
        h.add(2, .compareAndSet(expected: 1, value: "c"), .written(version: 8), 21, 41)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func readOfAValueNeverWritten() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .read, .value("ghost", version: 2), 5, 15)
        let result = try await verdict(h)
        #expect(result.verdict == .notLinearizable)
        #expect(result.keys.first?.counterexample?.map(\.id) == [1])
    }

    @Test func readOfAWriteBeforeItWasInvoked() async throws {
        var h = HistoryBuilder()
        h.add(2, .read, .value("a", version: 1), 0, 5)
        h.add(1, .put(value: "a"), .unknown, 10, nil)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func readOfAbsentAfterAnAcknowledgedWrite() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .read, .absent, 20, 30)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func oneValueSeenAtTwoVersions() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .unknown, 0, nil)
        h.add(2, .read, .value("a", version: 4), 10, 20)
        h.add(3, .read, .value("a", version: 9), 30, 40)  // applied twice?
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func versionsGoingBackwards() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 9), 0, 10)
        h.add(1, .put(value: "b"), .written(version: 5), 20, 30)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func deleteThatFoundNothingAfterAnAcknowledgedWrite() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .delete, .notFound, 20, 30)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func conflictWhenTheExpectedVersionWasCurrent() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 2), 0, 10)
        h.add(2, .compareAndSet(expected: 2, value: "b"), .conflict, 20, 30)
        #expect(try await verdict(h).verdict == .notLinearizable)
    }

    @Test func shrinksALongHistoryToTheViolation() async throws {
        var h = HistoryBuilder()
        var version: UInt64 = 1
        var time: UInt64 = 0
        for i in 0..<300 {
            h.add(i % 3, .put(value: "v\(i)"), .written(version: version), time, time + 3)
            h.add((i + 1) % 3, .read, .value("v\(i)", version: version), time + 4, time + 6)
            version += 1
            time += 10
        }
        h.add(0, .put(value: "new"), .written(version: version), time, time + 2)
        h.add(1, .read, .value("v299", version: version - 1), time + 5, time + 8)  // stale
        for i in 0..<100 {
            time += 10
            h.add(i % 3, .read, .value("new", version: version), time, time + 3)
        }
        let result = try await verdict(h)
        #expect(result.verdict == .notLinearizable)
        let example = try #require(result.keys.first?.counterexample)
        #expect(example.count <= 4, "shrunk to \(example.map(\.id))")
        #expect(example.contains { $0.id == 601 })  // the stale read
    }
}

@Suite struct AcceptsLinearizableHistories {
    @Test func concurrentWritesAndReads() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 100)
        h.add(2, .put(value: "b"), .written(version: 2), 10, 90)
        h.add(3, .read, .value("a", version: 1), 20, 30)  // a took effect first (versions say so)...
        h.add(4, .read, .value("b", version: 2), 40, 110)  // ...then b
        h.add(3, .read, .value("b", version: 2), 120, 130)
        h.add(5, .read, .absent, 0, 5)  // before either
        #expect(try await verdict(h).verdict == .linearizable)
    }

    @Test func compareAndSetChains() async throws {
        var h = HistoryBuilder()
        h.add(1, .compareAndSet(expected: 0, value: "a"), .written(version: 1), 0, 10)
        h.add(2, .compareAndSet(expected: 0, value: "x"), .conflict, 5, 15)
        h.add(1, .compareAndSet(expected: 1, value: "b"), .written(version: 2), 20, 40)
        h.add(2, .compareAndSet(expected: 1, value: "c"), .conflict, 21, 41)
        h.add(3, .read, .value("b", version: 2), 50, 60)
        h.add(3, .delete, .deleted("b", version: 2), 70, 80)
        h.add(1, .delete, .notFound, 90, 100)
        h.add(2, .read, .absent, 110, 120)
        #expect(try await verdict(h).verdict == .linearizable)
    }

    @Test func unknownOutcomesMayHaveTakenEffect() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .put(value: "b"), .unknown, 20, nil)  // timed out...
        h.add(3, .read, .value("a", version: 1), 30, 40)  // ...not applied yet
        h.add(3, .read, .value("b", version: 5), 500, 510)  // ...applied much later
        h.add(1, .compareAndSet(expected: 5, value: "c"), .written(version: 6), 600, 610)
        #expect(try await verdict(h).verdict == .linearizable)
    }

    @Test func unknownOutcomesMayNeverHaveTakenEffect() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .put(value: "b"), .unknown, 20, nil)
        h.add(2, .delete, .unknown, 25, nil)
        h.add(2, .compareAndSet(expected: 1, value: "c"), .unknown, 26, nil)
        h.add(3, .read, .value("a", version: 1), 30, 40)
        h.add(3, .read, .value("a", version: 1), 1000, 1010)
        #expect(try await verdict(h).verdict == .linearizable)
    }

    @Test func anUnknownWriteCanExplainAConflict() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .put(value: "b"), .unknown, 20, nil)  // never seen, but it explains...
        h.add(1, .compareAndSet(expected: 1, value: "c"), .conflict, 30, 40)  // ...this conflict
        #expect(try await verdict(h).verdict == .linearizable)
    }

    @Test func manyConcurrentClientsOnSeveralKeys() async throws {
        // A sequential register executed with overlapping intervals: every
        // operation is linearizable at its own point in time.
        var h = HistoryBuilder()
        var state: [String: (String, UInt64)?] = [:]
        var version: UInt64 = 0
        var generator = SplitMix(seed: 7)
        for step in 0..<1_500 {
            let key = "k\(generator.next() % 3)"
            let client = Int(generator.next() % 8)
            let at = UInt64(step) * 10
            let invoked = at - min(at, generator.next() % 40)
            let completed = at + generator.next() % 40
            let current = state[key] ?? nil
            switch generator.next() % 5 {
            case 0, 1:
                h.add(client, .read, current.map { .value($0.0, version: $0.1) } ?? .absent, invoked, completed, key: key)
            case 2:
                version += 1
                state[key] = ("v\(step)", version)
                h.add(client, .put(value: "v\(step)"), .written(version: version), invoked, completed, key: key)
            case 3:
                let expected = generator.next() % 2 == 0 ? current?.1 ?? 0 : 999_999
                if expected == (current?.1 ?? 0) {
                    version += 1
                    state[key] = ("v\(step)", version)
                    h.add(client, .compareAndSet(expected: expected, value: "v\(step)"), .written(version: version), invoked, completed, key: key)
                } else {
                    h.add(client, .compareAndSet(expected: expected, value: "v\(step)"), .conflict, invoked, completed, key: key)
                }
            default:
                if generator.next() % 4 == 0 {
                    h.add(client, .put(value: "v\(step)"), .unknown, invoked, nil, key: key)  // never applied
                } else if let current {
                    version += 1
                    state[key] = .some(nil)
                    h.add(client, .delete, .deleted(current.0, version: current.1), invoked, completed, key: key)
                } else {
                    h.add(client, .delete, .notFound, invoked, completed, key: key)
                }
            }
        }
        let result = try await verdict(h)
        #expect(result.verdict == .linearizable)
        #expect(result.keys.count == 3)
    }
}

@Suite struct Bounds {
    @Test func aHugeSearchSaysUnknownInsteadOfHanging() async throws {
        var h = HistoryBuilder()
        for i in 0..<40 { h.add(i, .put(value: "v\(i)"), .unknown, 0, nil) }
        h.add(99, .read, .value("ghost", version: 1), 100, 110)
        h.add(99, .read, .absent, 120, 130)
        let started = ContinuousClock.now
        let result = try await LinearizabilityChecker(timeLimit: .milliseconds(300), shrinkLimit: .milliseconds(100))
            .check(h.operations)
        // Without the bound this search (2^40 orders of the unknown writes)
        // would not end; the margin is for loaded CI machines.
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(result.verdict != .linearizable)
    }

    @Test func duplicateValuesAreRefused() async throws {
        var h = HistoryBuilder()
        h.add(1, .put(value: "a"), .written(version: 1), 0, 10)
        h.add(2, .put(value: "a"), .written(version: 2), 20, 30)
        await #expect(throws: HistoryError.self) { try await verdict(h) }
    }
}

/// A small seeded generator, so the generated history is the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
