/// The Wing–Gong search for a linearization of one key's operations, with
/// the memoization Lowe, Knossos and Porcupine add: a configuration (the set
/// of operations linearized so far, and the register's state) that was
/// already explored is never explored again. Without it the search is
/// exponential in the concurrency of a history; with it, histories of
/// thousands of operations check in milliseconds when they are linearizable.
///
/// The history becomes a list of call and return events in time order. The
/// search walks the list: at a call it tries to linearize that operation now
/// (the model must accept it in the current state); at a return it has met an
/// operation that completed before anything remaining could be placed, so it
/// undoes its last choice and tries the next call instead. Operations whose
/// outcome is unknown return at +infinity, so they may be linearized
/// anywhere after their call; and since they may also never have taken
/// effect, the search succeeds as soon as every operation with a known
/// outcome is linearized.
struct WingGongSearch {
    enum Outcome: Sendable, Equatable {
        case linearizable
        case notLinearizable
        /// The time limit ran out first.
        case unknown
    }

    private struct Event {
        var operation: Int32
        var isCall: Bool
        var partner: Int32
    }

    private struct Configuration: Hashable {
        var linearized: [UInt64]
        var state: Int32
    }

    private let model: RegisterModel
    private var events: [Event] = []
    /// Doubly linked list over `events`; `head` is a sentinel at index `events.count`.
    private var next: [Int32] = []
    private var previous: [Int32] = []
    private var head: Int32 = 0
    /// Deepest point the search reached: how many operations it had linearized.
    private(set) var deepest = 0
    /// The state at the deepest point, and the operations linearized to reach it, in order.
    private(set) var deepestState = RegisterModel.absent
    private(set) var deepestOrder: [Int] = []

    init(model: RegisterModel) {
        self.model = model
        let operations = model.operations
        var timed: [(time: UInt64, isCall: Bool, operation: Int)] = []
        timed.reserveCapacity(operations.count * 2)
        for (index, operation) in operations.enumerated() {
            timed.append((operation.invokedAt, true, index))
            timed.append((operation.completedAt ?? .max, false, index))
        }
        // At equal times calls come first: such operations count as concurrent.
        timed.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isCall != b.isCall { return a.isCall }
            return a.operation < b.operation
        }
        var callEvent = Array(repeating: Int32(-1), count: operations.count)
        events = timed.map { Event(operation: Int32($0.operation), isCall: $0.isCall, partner: -1) }
        for (position, event) in events.enumerated() where event.isCall {
            callEvent[Int(event.operation)] = Int32(position)
        }
        for position in events.indices where !events[position].isCall {
            let call = callEvent[Int(events[position].operation)]
            events[position].partner = call
            events[Int(call)].partner = Int32(position)
        }
        let count = events.count
        head = Int32(count)
        next = (0...count).map { $0 == count ? (count == 0 ? -1 : 0) : ($0 + 1 < count ? Int32($0 + 1) : -1) }
        previous = (0...count).map { $0 == count ? -1 : ($0 == 0 ? Int32(count) : Int32($0 - 1)) }
    }

    /// Runs the search until it decides or `deadline` passes.
    mutating func run(until deadline: ContinuousClock.Instant) -> Outcome {
        let operations = model.operations
        var remaining = operations.reduce(0) { $0 + ($1.isIndeterminate ? 0 : 1) }
        let words = (operations.count + 63) / 64
        var linearized = [UInt64](repeating: 0, count: words)
        var explored = Set<Configuration>()
        var stack: [(event: Int32, state: Int32)] = []
        var state = RegisterModel.absent
        var cursor = next[Int(head)]
        var steps = 0

        while true {
            if remaining == 0 { return .linearizable }
            steps += 1
            if steps & 0xFFF == 0, ContinuousClock.now >= deadline { return .unknown }
            if cursor >= 0, events[Int(cursor)].isCall {
                let event = events[Int(cursor)]
                let operation = Int(event.operation)
                if let after = model.step(state, operation) {
                    linearized[operation >> 6] |= 1 << UInt64(operation & 63)
                    if explored.insert(Configuration(linearized: linearized, state: after)).inserted {
                        stack.append((cursor, state))
                        state = after
                        if !operations[operation].isIndeterminate { remaining -= 1 }
                        lift(cursor)
                        if stack.count > deepest {
                            deepest = stack.count
                            deepestState = state
                            deepestOrder = stack.map { Int(events[Int($0.event)].operation) }
                        }
                        cursor = next[Int(head)]
                        continue
                    }
                    linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
                }
                cursor = next[Int(cursor)]
            } else {
                // A return (or the end): what is left cannot be ordered from here.
                guard let (event, before) = stack.popLast() else { return .notLinearizable }
                let operation = Int(events[Int(event)].operation)
                linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
                if !operations[operation].isIndeterminate { remaining += 1 }
                state = before
                unlift(event)
                cursor = next[Int(event)]
            }
        }
    }

    /// Takes a call event and its return out of the list.
    private mutating func lift(_ call: Int32) {
        remove(call)
        remove(events[Int(call)].partner)
    }

    /// Puts them back, in the reverse order.
    private mutating func unlift(_ call: Int32) {
        restore(events[Int(call)].partner)
        restore(call)
    }

    private mutating func remove(_ event: Int32) {
        let before = previous[Int(event)]
        let after = next[Int(event)]
        next[Int(before)] = after
        if after >= 0 { previous[Int(after)] = before }
    }

    private mutating func restore(_ event: Int32) {
        let before = previous[Int(event)]
        let after = next[Int(event)]
        next[Int(before)] = event
        if after >= 0 { previous[Int(after)] = event }
    }
}
