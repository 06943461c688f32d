import Foundation
import Testing

/// Runs every scenario in `Tests/RaftTests/testdata` (see its README.md):
/// each file is one test, so a protocol change shows up as a readable diff of
/// the message traces it alters. `RAFTLAB_REWRITE_TRACES=1` rewrites the
/// expected outputs instead of comparing them.
@Suite("Trace scenarios")
struct TraceTests {
    @Test("trace scenario", arguments: TraceRunner.scenarioFiles())
    func scenario(_ file: String) throws {
        let path = (TraceRunner.directory() as NSString).appendingPathComponent(file)
        let run = try TraceRunner.run(path: path, rewrite: TraceRunner.rewriteRequested)
        #expect(run.commandCount > 0, "\(file) has no commands")
        for mismatch in run.mismatches {
            Issue.record(Comment(rawValue: mismatch.description))
        }
    }

    @Test("the scenario directory holds the expected set of scenarios")
    func scenariosArePresent() {
        #expect(TraceRunner.scenarioFiles().count >= 32)
    }
}

/// The interpreter itself: a wrong expectation must be reported, and rewrite
/// mode must fix it.
@Suite("Trace interpreter")
struct TraceInterpreterTests {
    static let scenario = """
        # A one-node cluster elects itself.
        add-nodes 1 election=10 seed=1
        ----
        1: follower (voter) term=0 vote=none lead=none commit=0 applied=0 last=0

        campaign 1
        ----
        this output is wrong

        raft-state
        ----
        1: follower (voter) term=0 vote=none lead=none commit=0 applied=0 last=0
        """

    @Test("a wrong expected output is reported as a mismatch with the file, line and a diff")
    func mismatchIsReported() throws {
        let run = try TraceRunner.run(text: Self.scenario, name: "wrong.txt")
        #expect(run.mismatches.count == 2)
        let first = try #require(run.mismatches.first)
        #expect(first.file == "wrong.txt")
        #expect(first.line == 6)
        #expect(first.command == "campaign 1")
        #expect(first.expected == ["this output is wrong"])
        #expect(first.description.contains("- this output is wrong"))
        #expect(first.description.contains("+ 1 election timeout after"))
    }

    @Test("rewrite mode replaces the outputs in a temporary copy, after which it passes")
    func rewriteFixesTheCopy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("wrong.txt").path
        try Self.scenario.write(toFile: path, atomically: true, encoding: .utf8)

        #expect(try TraceRunner.run(path: path, rewrite: false).mismatches.count == 2)
        _ = try TraceRunner.run(path: path, rewrite: true)
        let rewritten = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!rewritten.contains("this output is wrong"))
        #expect(rewritten.hasPrefix("# A one-node cluster elects itself.\n"))
        #expect(rewritten.contains("1: candidate (voter) term=1 vote=1 lead=none"))
        #expect(try TraceRunner.run(path: path, rewrite: false).mismatches.isEmpty)
    }

    @Test("unknown commands and arguments are errors, not silently ignored")
    func badCommandsFail() {
        #expect(throws: TraceError.self) { try TraceRunner.run(text: "frobnicate 1\n----\nok\n", name: "bad.txt") }
        #expect(throws: TraceError.self) { try TraceRunner.run(text: "add-nodes 3 electoin=10\n----\nok\n", name: "bad.txt") }
        #expect(throws: TraceError.self) { try TraceRunner.run(text: "add-nodes 3\nok\n", name: "bad.txt") }
    }
}
