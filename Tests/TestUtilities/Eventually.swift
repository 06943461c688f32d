/// Polls `condition` every `interval` until it holds or `timeout` passes,
/// then answers it once more. Tests wait on conditions, never on fixed sleeps,
/// so a slow machine makes a test slower, not red.
public func eventually(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
