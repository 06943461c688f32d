import ArgumentParser

extension RaftLabCommand {
    /// Every subcommand, in the order `--help` lists them.
    static let all: [any ParsableCommand.Type] = [
        ServerCommand.self, BenchCommand.self, ReportCommand.self, ChaosCommand.self,
    ] + clientCommands + operationCommands
}
