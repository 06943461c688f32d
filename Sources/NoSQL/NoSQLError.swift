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
        /// A condition, update, projection or key condition expression that
        /// does not parse, uses undefined placeholders, or misuses types.
        case invalidExpression = "invalid_expression"
        /// An update expression that cannot apply to the item as it is
        /// (wrong types, a missing parent, a number out of range).
        case invalidUpdate = "invalid_update"
        /// A write's condition expression is false.
        case conditionalCheckFailed = "conditional_check_failed"
        /// A transaction changed nothing because one of its writes could not
        /// apply; `cancellationReasons` says which and why.
        case transactionCanceled = "transaction_canceled"
        /// An idempotency key came back with another request than the one
        /// it was first used with (DynamoDB: `IdempotentParameterMismatchException`).
        case idempotencyKeyMismatch = "idempotency_key_mismatch"
        /// A keyed write first sent longer ago than the cluster remembers
        /// keys: it may have been applied already, so it is not applied again.
        case idempotencyKeyExpired = "idempotency_key_expired"

        /// The HTTP status a server should answer with.
        public var httpStatus: Int {
            switch self {
            case .invalidJSON, .invalidItem, .missingKeyAttribute, .invalidKeyType, .keyTooLarge,
                .invalidArgument, .invalidCommand, .invalidExpression, .invalidUpdate:
                400
            case .tableNotFound, .itemNotFound:
                404
            case .tableExists, .versionConflict, .noPreviousVersion, .staleWrite, .conditionalCheckFailed,
                .transactionCanceled, .idempotencyKeyMismatch, .idempotencyKeyExpired:
                409
            case .itemTooLarge:
                413
            }
        }
    }

    public let code: Code
    public let message: String
    /// For `transaction_canceled`: one reason per write of the transaction,
    /// in order (`.none` for the writes that were not the problem).
    public let cancellationReasons: [CancellationReason]

    public init(_ code: Code, _ message: String, cancellationReasons: [CancellationReason] = []) {
        self.code = code
        self.message = message
        self.cancellationReasons = cancellationReasons
    }

    public var httpStatus: Int { code.httpStatus }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Why one write of a cancelled transaction did not apply (DynamoDB's
/// `CancellationReason`).
public struct CancellationReason: Sendable, Hashable {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// This write was fine; another one cancelled the transaction.
        case none = "None"
        /// Its condition expression was false.
        case conditionalCheckFailed = "ConditionalCheckFailed"
        /// Its update could not apply to the item (see `message`).
        case validationError = "ValidationError"
    }

    public var code: Code
    public var message: String?
    /// The item as it was, when the write asked for it
    /// (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) and its condition failed.
    public var item: Item?

    public init(code: Code, message: String? = nil, item: Item? = nil) {
        self.code = code
        self.message = message
        self.item = item
    }
}
