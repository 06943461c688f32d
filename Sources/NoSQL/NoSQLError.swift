/// Every failure a client can cause, with a stable machine code and a sentence
/// for humans.
///
/// The `code` (its `rawValue`, e.g. `"version_conflict"`) is the contract: the
/// HTTP layer puts it in responses and clients switch on it. Messages may be
/// reworded. Storage failures (a disk error, a corrupted record) are not
/// `NoSQLError`s: they surface as `StorageError` and mean the node, not the
/// client, has a problem.
public struct NoSQLError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The text is not one strict RFC 8259 JSON value.
        case invalidJSON = "invalid_json"
        /// The JSON is fine but is not an acceptable item (not an object, nested too deep).
        case invalidItem = "invalid_item"
        /// The item lacks the table's partition or sort key attribute.
        case missingKeyAttribute = "missing_key_attribute"
        /// A key attribute is neither a string nor a number.
        case invalidKeyType = "invalid_key_type"
        /// A key attribute value exceeds its size limit.
        case keyTooLarge = "key_too_large"
        case tableNotFound = "table_not_found"
        case tableExists = "table_exists"
        /// The item's canonical JSON exceeds `NoSQLLimits.maxItemBytes`.
        case itemTooLarge = "item_too_large"
        /// The expected version does not match ("update out of sequence").
        case versionConflict = "version_conflict"
        case itemNotFound = "item_not_found"
        /// Rollback of an item that has no previous version.
        case noPreviousVersion = "no_previous_version"
        /// A command stamped with a log index at or below one already applied.
        case staleWrite = "stale_write"
        /// A malformed argument: table name, limit, continuation token...
        case invalidArgument = "invalid_argument"
        /// Log entry bytes that are not a valid encoded `NoSQLCommand`.
        case invalidCommand = "invalid_command"

        /// The HTTP status a server should answer with.
        public var httpStatus: Int {
            switch self {
            case .invalidJSON, .invalidItem, .missingKeyAttribute, .invalidKeyType, .keyTooLarge,
                .invalidArgument, .invalidCommand:
                400
            case .tableNotFound, .itemNotFound:
                404
            case .tableExists, .versionConflict, .noPreviousVersion, .staleWrite:
                409
            case .itemTooLarge:
                413
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var httpStatus: Int { code.httpStatus }

    public var description: String { "\(code.rawValue): \(message)" }
}
