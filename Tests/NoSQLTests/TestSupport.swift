import Foundation
import NoSQL
import RaftLabBackends
import StorageCore
import Testing
import struct Raft.SplitMix64

/// A fresh memory state store; the unique directory keeps tests apart.
func freshMemoryStore() throws -> any StateStore {
    try BackendRegistry.standard.openStateStore(
        backend: "memory", StoreOptions(directory: "/nosql-tests/\(UUID().uuidString)", sync: false))
}

/// A state machine and a store, with commands applied one per committed
/// batch at increasing log indexes, as a single-node Raft would.
struct Node {
    let machine: NoSQLStateMachine
    let store: any StateStore
    var nextIndex: UInt64 = 1

    init(limits: NoSQLLimits = .default, store: (any StateStore)? = nil) throws {
        machine = NoSQLStateMachine(limits: limits)
        self.store = try store ?? freshMemoryStore()
    }

    /// Applies `command` at the next index (or at `index`) and commits it.
    @discardableResult
    mutating func apply(_ command: NoSQLCommand, at index: UInt64? = nil) throws -> CommandResult {
        let index = index ?? nextIndex
        nextIndex = max(nextIndex, index + 1)
        var pending = PendingWrites(store: store)
        let result = try machine.apply(command, at: index, to: &pending)
        let position = max(try store.appliedPosition(), AppliedPosition(index: index, term: 1))
        try store.apply(pending.writeBatch, through: position)
        return result
    }

    /// Applies `command` and returns its outcome, recording an issue on failure.
    @discardableResult
    mutating func expectSuccess(
        _ command: NoSQLCommand, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CommandOutcome? {
        switch try apply(command) {
        case .success(let outcome): return outcome
        case .failure(let error):
            Issue.record("expected \(command.name) to succeed, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    func get(_ table: String, _ key: ItemKey) throws -> StoredItem {
        try machine.getItem(table: table, key: key, in: store)
    }
}

/// Expects a failure result with `code`.
func expectFailure(_ result: CommandResult, _ code: NoSQLError.Code, sourceLocation: SourceLocation = #_sourceLocation) {
    switch result {
    case .success(let outcome):
        Issue.record("expected \(code.rawValue), got success \(outcome)", sourceLocation: sourceLocation)
    case .failure(let error):
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw a `NoSQLError` with `code`.
func expectError<T>(_ code: NoSQLError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) {
    do {
        let value = try body()
        Issue.record("expected \(code.rawValue), got \(value)", sourceLocation: sourceLocation)
    } catch let error as NoSQLError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected NoSQLError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

func json(_ text: String) throws -> JSONValue {
    try JSONValue.parse(text)
}

/// The project's one seeded generator (the Raft core's SplitMix64), under its
/// own name for every file of this target; only this declaration of Raft is imported.
typealias SplitMix64 = Raft.SplitMix64
