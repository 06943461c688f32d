import ArgumentParser

extension RaftLabCommand {
    /// Every subcommand, in the order `--help` lists them.
    static let all: [any ParsableCommand.Type] = [
        ServerCommand.self, BenchCommand.self, ReportCommand.self, ChaosCommand.self, FuzzCommand.self,
    ] + clientCommands + operationCommands + securityCommands

    /// Certificates and key rotation (issue 15).
    static let securityCommands: [any ParsableCommand.Type] = [CertsCommand.self, RotateKeyCommand.self]
}
