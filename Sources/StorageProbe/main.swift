// A child process for crash tests: writes synced log entries and state items
// through the registry, and prints "ack N" only after write N has returned, so
// everything it acknowledged must survive the SIGKILL the test sends it.
//
//     StorageProbe <backend>[/<state-backend>] <data-dir> [always|checkpoint] [count]
//
// `wal/lmdb` writes the log with wal and the state with lmdb; one name uses
// that backend for both.
// With `always` every state apply is durable, so "ack N" covers the state
// store too. With `checkpoint` (state applies are not synced) it checkpoints
// the state store every 7 writes and prints "checkpoint N" once that returned:
// the state store must then reopen at N or later, and never torn.
#if canImport(Glibc)
import Glibc
#endif
import RaftLabBackends
import StorageCore

/// Unbuffered write to a descriptor: the line is out of the process before the next write starts.
func say(_ text: String, to descriptor: Int32 = STDOUT_FILENO) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, arguments.count < 4 || StateSyncMode(rawValue: arguments[3]) != nil else {
    say("usage: StorageProbe <backend>[/<state-backend>] <data-dir> [always|checkpoint] [count]", to: STDERR_FILENO)
    exit(64)
}
let mode = arguments.count > 3 ? StateSyncMode(rawValue: arguments[3])! : .always
let count = arguments.count > 4 ? UInt64(arguments[4]) ?? 1_000_000 : 1_000_000

do {
    let names = arguments[1].split(separator: "/", maxSplits: 1).map(String.init)
    let config = StorageConfig(
        logBackend: names.first ?? "", stateBackend: names.last ?? "", dataDirectory: arguments[2], sync: true, stateSync: mode)
    let (log, state) = try BackendRegistry.standard.openStores(config)
    // Resume after the state store's position, re-appending the log from there
    // as Raft would replay it (a re-append replaces entries with identical ones).
    var index = try state.appliedPosition().index + 1
    while index <= count {
        let data = Array("command-\(index)".utf8)
        try log.append([LogEntry(index: index, term: 1, data: data)], hardState: HardState(term: 1, votedFor: 1, commit: index))
        var batch = WriteBatch()
        batch.put(Array("key-\(index)".utf8), data)
        try state.apply(batch, through: AppliedPosition(index: index, term: 1))
        say("ack \(index)")
        if mode == .checkpoint, index % 7 == 0 {
            say("checkpoint \(try state.checkpoint().index)")
        }
        index += 1
    }
    try log.close()
    try state.close()
} catch {
    say("StorageProbe: \(error)", to: STDERR_FILENO)
    exit(1)
}
