import Foundation
import NoSQL
import Testing

extension CLIResult {
    /// stdout parsed as JSON; throws (failing the test) when it is not JSON.
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        do {
            return try JSONValue.parse(output)
        } catch {
            throw TestFailure("stdout is not JSON: \(self)")
        }
    }

    /// The lines of stdout.
    var lines: [String] { output.isEmpty ? [] : output.split(separator: "\n").map(String.init) }
}

/// Expects exit 0; returns the result for further checks.
@discardableResult
func expectSuccess(_ result: CLIResult, sourceLocation: SourceLocation = #_sourceLocation) -> CLIResult {
    #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    return result
}

/// Requires exit 0 (ends the test otherwise: later steps depend on it).
@discardableResult
func requireSuccess(_ result: CLIResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> CLIResult {
    try #require(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    return result
}

/// Expects a failure with `status`, nothing on stdout and a `raftlab: error:`
/// message on stderr containing `message`.
func expectFailure(
    _ result: CLIResult, status: Int32, message: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == status, "\(result)", sourceLocation: sourceLocation)
    #expect(result.output.isEmpty, "an error printed to stdout: \(result)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains("raftlab: error: "), "no error message on stderr: \(result)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(message), "stderr does not say \"\(message)\": \(result)", sourceLocation: sourceLocation)
}

/// Reruns `attempt` every 100 ms until `done` holds for its result or
/// `timeout` passes; returns the last result.
func retry(
    for timeout: Duration, _ attempt: () async throws -> CLIResult, until done: (CLIResult) -> Bool
) async throws -> CLIResult {
    let deadline = ContinuousClock.now + timeout
    var result = try await attempt()
    while !done(result), ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(100))
        result = try await attempt()
    }
    return result
}

/// The version number in "put item in T: version N (previous version: ...)".
func putVersion(_ result: CLIResult) -> UInt64? {
    guard let range = result.output.range(of: ": version ") else { return nil }
    return UInt64(result.output[range.upperBound...].prefix { $0.isNumber })
}
