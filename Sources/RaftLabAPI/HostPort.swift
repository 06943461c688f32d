/// `host:port`.
///
/// Parsing one from text (`HostPort(parsing:)`) belongs to the config and
/// lives in RaftLabNode; this target holds only the value.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
