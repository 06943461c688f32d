import Foundation

/// A trace scenario file (etcd's datadriven format, cut down): commands, each
/// followed by `----` and its expected output up to the next blank line.
/// Lines starting with `#` and blank lines between commands are kept as they
/// are, so rewriting a file changes only the expected outputs.
struct TraceScript {
    enum Item {
        case text(String)
        /// `line` is 1-based and names the command line.
        case command(line: Int, text: String, expected: [String])
    }

    var items: [Item]

    static func parse(_ text: String, name: String) throws -> TraceScript {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var items: [Item] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                items.append(.text(line))
                i += 1
                continue
            }
            guard i + 1 < lines.count, lines[i + 1] == "----" else {
                throw TraceError("\(name):\(i + 1): expected a `----` line after the command `\(trimmed)`")
            }
            var expected: [String] = []
            var j = i + 2
            while j < lines.count, !lines[j].isEmpty {
                expected.append(lines[j])
                j += 1
            }
            items.append(.command(line: i + 1, text: trimmed, expected: expected))
            i = j
        }
        return TraceScript(items: items)
    }

    /// The file's text with every command's output replaced by `outputs`
    /// (in command order).
    func rendered(outputs: [[String]]) -> String {
        var lines: [String] = []
        var next = 0
        for (position, item) in items.enumerated() {
            switch item {
            case .text(let line):
                lines.append(line)
            case .command(_, let text, _):
                lines.append(text)
                lines.append("----")
                lines.append(contentsOf: outputs[next])
                next += 1
                // A command's output ends at a blank line: make sure one follows.
                if position + 1 < items.count, case .command = items[position + 1] { lines.append("") }
                if position + 1 < items.count, case .text(let following) = items[position + 1], !following.isEmpty {
                    lines.append("")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

struct TraceError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One command whose output differs from the file.
struct TraceMismatch: CustomStringConvertible {
    var file: String
    var line: Int
    var command: String
    var expected: [String]
    var actual: [String]

    var description: String {
        var text = "\(file):\(line): output of `\(command)` differs (- expected, + actual):\n"
        text += TraceDiff.lines(expected, actual).joined(separator: "\n")
        text += "\n(rewrite with RAFTLAB_REWRITE_TRACES=1 once the new output is checked)"
        return text
    }
}

/// The result of running one scenario.
struct TraceRun {
    var mismatches: [TraceMismatch]
    /// The file's text with the actual outputs (what rewrite mode writes).
    var rewritten: String
    var commandCount: Int
}

enum TraceRunner {
    /// The environment variable that turns on rewrite mode.
    static let rewriteVariable = "RAFTLAB_REWRITE_TRACES"

    static var rewriteRequested: Bool {
        let value = ProcessInfo.processInfo.environment[rewriteVariable] ?? ""
        return !value.isEmpty && value != "0"
    }

    /// Runs a scenario's text on a fresh cluster; `name` labels the report.
    static func run(text: String, name: String) throws -> TraceRun {
        let script = try TraceScript.parse(text, name: name)
        let cluster = TraceCluster()
        var outputs: [[String]] = []
        var mismatches: [TraceMismatch] = []
        for item in script.items {
            guard case .command(let line, let commandText, let expected) = item else { continue }
            let command: TraceCommand
            do {
                command = try TraceCommand.parse(commandText)
            } catch let error as TraceError {
                throw TraceError("\(name):\(line): \(error.description)")
            }
            let actual: [String]
            do {
                actual = try cluster.execute(command)
            } catch let error as TraceError {
                throw TraceError("\(name):\(line): `\(commandText)`: \(error.description)")
            }
            outputs.append(actual)
            if actual != expected {
                mismatches.append(TraceMismatch(file: name, line: line, command: commandText, expected: expected, actual: actual))
            }
        }
        return TraceRun(mismatches: mismatches, rewritten: script.rendered(outputs: outputs), commandCount: outputs.count)
    }

    /// Runs a scenario file; in rewrite mode writes the actual outputs back
    /// into it (and reports no mismatch).
    static func run(path: String, rewrite: Bool) throws -> TraceRun {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var run = try run(text: text, name: (path as NSString).lastPathComponent)
        if rewrite {
            if run.rewritten != text { try run.rewritten.write(toFile: path, atomically: true, encoding: .utf8) }
            run.mismatches = []
        }
        return run
    }

    /// The scenario directory, found next to this source file so that rewrite
    /// mode edits the files in the checkout (a SwiftPM resource bundle would
    /// only hold a copy).
    static func directory(filePath: String = #filePath) -> String {
        let trace = (filePath as NSString).deletingLastPathComponent
        return ((trace as NSString).deletingLastPathComponent as NSString).appendingPathComponent("testdata")
    }

    /// The scenario file names, sorted.
    static func scenarioFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory())) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }
}

/// A small line diff (longest common subsequence), enough for command outputs.
enum TraceDiff {
    static func lines(_ a: [String], _ b: [String]) -> [String] {
        let n = a.count, m = b.count
        var lcs = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var out: [String] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                out.append("  " + a[i])
                i += 1
                j += 1
            } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
                out.append("+ " + b[j])
                j += 1
            } else {
                out.append("- " + a[i])
                i += 1
            }
        }
        return out
    }
}
