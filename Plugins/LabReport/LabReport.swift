import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory lab-report [bench flags...]`
///
/// Builds `raftlab` in release mode (debug builds run 3-4x slower and would
/// misstate every figure), runs the default comparison and writes the
/// reference report to results/reference/. Extra arguments go to `raftlab bench`.
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
        process.arguments = ["bench", "--out", output, "--label", "reference"] + arguments
        process.currentDirectoryURL = context.package.directoryURL
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            Diagnostics.error("raftlab bench exited with status \(process.terminationStatus)")
            return
        }
        print("reference report written to \(output)")
    }
}
