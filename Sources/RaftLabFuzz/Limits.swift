/// The documented limits the generator probes at, just below and just past.
public enum FuzzLimits {
    public static let partitionKeyBytes = 2048
    public static let sortKeyBytes = 1024
    public static let itemBytes = 409_600
    public static let nestingDepth = 32
    public static let numberDigits = 38
    public static let tableNameMin = 3
    public static let tableNameMax = 255
    public static let expressionBytes = 4096
    public static let attributeNameBytes = 65_535
    public static let placeholderNameBytes = 255
    public static let batchWriteItems = 25
    public static let transactItems = 100
    public static let clientRequestTokenMax = 36
    public static let idempotencyKeyMax = 255
}

/// A table the generator has asked for: the generator never sees answers,
/// so this is what it sent, not what the cluster holds.
public struct FuzzTable: Sendable, Hashable {
    public var name: String
    public var api: FuzzAPI
    public var partitionKey: String
    /// "S", "N" or "B"; native tables take S or N.
    public var partitionType: String
    public var sortKey: String?
    public var sortType: String?

    public init(name: String, api: FuzzAPI, partitionKey: String, partitionType: String, sortKey: String? = nil, sortType: String? = nil) {
        self.name = name
        self.api = api
        self.partitionKey = partitionKey
        self.partitionType = partitionType
        self.sortKey = sortKey
        self.sortType = sortType
    }
}
