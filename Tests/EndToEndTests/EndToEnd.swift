import Testing

/// The end-to-end tests: the built `raftlab` binary against real `raftlab
/// server` processes. `swift test --filter EndToEnd` selects them.
///
/// Serialized: one cluster runs at a time, so the run stays bounded on a
/// two-core machine and leaves CPU to the timing-sensitive in-process tests
/// that `swift test` runs alongside.
@Suite("EndToEnd", .serialized)
enum EndToEnd {}
