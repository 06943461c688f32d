import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory lab-report [bench flags...]`
///
/// Builds `raftlab` in release mode (debug builds run 3-4x slower and would
/// misstate every figure), runs the default comparison (every backend,
/// write-only runs and YCSB workloads A and C, 1 and 64 clients) plus a
/// leveldb/memory pair, with 1,000,000-entry recovery rows for leveldb and
/// leveldb/memory (a disk state store's restart by log tail replay beside a
/// memory state store's restore from a snapshot), and writes the reference
/// report to results/reference/. Extra arguments go to `raftlab bench`;
/// backends or recovery entries of their own replace these defaults.
@main
struct LabReport: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let build = try packageManager.build(
            .product("raftlab"),
            parameters: .init(configuration: .release, logging: .concise))
        guard build.succeeded else {
            Diagnostics.error("release build of raftlab failed:\n\(build.logText)")
            return
        }
        guard let executable = build.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "raftlab" }) else {
            Diagnostics.error("the release build produced no raftlab executable")
            return
        }
        let output = context.package.directoryURL.appending(path: "results/reference").path
        let process = Process()
        process.executableURL = executable.url
        // A disk log with a memory state store beside every backend (`all`), and a million entries
        // for recovery on both leveldb pairs: a disk state store's restart (log tail replay)
        // next to a memory state store's (restored from the leader's snapshot).
        var defaults: [String] = []
        if !arguments.contains(where: { $0.hasPrefix("--backend") || $0.hasPrefix("--log-backend") || $0.hasPrefix("--state-backend") }) {
            defaults += ["--backend", "all,leveldb/memory"]
            if !arguments.contains(where: { $0.hasPrefix("--recovery-entries") }) {
                defaults += ["--recovery-entries", "5000,leveldb=1000000,leveldb/memory=1000000"]
            }
        }
        process.arguments = ["bench", "--out", output, "--label", "reference"] + defaults + arguments
        process.currentDirectoryURL = context.package.directoryURL
        let started = Date()
        try process.run()
        process.waitUntilExit()
        print("raftlab bench took \(Int(Date().timeIntervalSince(started))) s")
        guard process.terminationStatus == 0 else {
            Diagnostics.error("raftlab bench exited with status \(process.terminationStatus)")
            return
        }
        print("reference report written to \(output)")
    }
}
