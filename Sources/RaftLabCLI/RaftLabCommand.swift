import ArgumentParser

/// `raftlab`: run a cluster, talk to it, and benchmark storage engines under it.
@main
struct RaftLabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftlab",
        abstract: "A storage-engine lab for replicated state: one Raft engine and one NoSQL state machine on \(BackendNames.bothStores) or (for the log) \(BackendNames.logOnly).",
        discussion: """
            Start a cluster with `raftlab server` (three nodes on localhost:8100-8102, memory backend) \
            or `raftlab server --config examples/cluster.toml`, then use the table and item commands \
            against any node with --target-addr. `raftlab bench` compares the storage engines.
            """,
        version: RaftLabVersion.current,
        subcommands: RaftLabCommand.all
    )
}

enum RaftLabVersion {
    static let current = "0.1.0"
}
