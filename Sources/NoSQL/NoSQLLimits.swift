/// Size and shape limits of the NoSQL state machine.
///
/// These limits decide whether a command succeeds when it is applied, so they
/// are part of the replicated state machine's definition: every node of a
/// cluster must use the same values, or the same log could give different
/// states. Keep the defaults unless the whole cluster changes together.
public struct NoSQLLimits: Sendable, Hashable {
    /// Largest item, measured as the byte length of its canonical JSON.
    /// 400 KB as in DynamoDB. The previous version kept for rollback does not count.
    public var maxItemBytes: Int
    /// Deepest nesting of arrays and objects in an item (`{}` is depth 1).
    /// 32 as in DynamoDB; it also bounds the parser's recursion. Values above
    /// `maxSupportedNestingDepth` act as that ceiling.
    public var maxNestingDepth: Int
    /// Largest partition key value: UTF-8 bytes of a string, characters of a
    /// number's canonical text. 2048 as in DynamoDB.
    public var maxPartitionKeyBytes: Int
    /// Largest sort key value, measured the same way. 1024 as in DynamoDB.
    public var maxSortKeyBytes: Int
    /// Largest page a query may ask for.
    public var maxQueryLimit: Int

    public init(
        maxItemBytes: Int = 400 * 1024,
        maxNestingDepth: Int = 32,
        maxPartitionKeyBytes: Int = 2048,
        maxSortKeyBytes: Int = 1024,
        maxQueryLimit: Int = 1000
    ) {
        self.maxItemBytes = maxItemBytes
        self.maxNestingDepth = maxNestingDepth
        self.maxPartitionKeyBytes = maxPartitionKeyBytes
        self.maxSortKeyBytes = maxSortKeyBytes
        self.maxQueryLimit = maxQueryLimit
    }

    public static let `default` = NoSQLLimits()

    /// The deepest nesting RaftLab ever parses from a log entry or a stored
    /// record. The parser recurses once per level, about 2.5 KB of stack in a
    /// debug build (250 B optimized), so 256 levels stay far inside even a
    /// 1 MB thread stack; and since no item deeper than this is ever
    /// accepted, every stored item can always be read back.
    public static let maxSupportedNestingDepth = 256

    /// `maxNestingDepth`, capped at `maxSupportedNestingDepth`.
    var effectiveNestingDepth: Int { min(maxNestingDepth, Self.maxSupportedNestingDepth) }
}
