import NoSQL

/// An error as DynamoDB sends it: an HTTP status and a JSON body
/// `{"__type": "<namespace>#<Name>", "message": ...}`, plus what some
/// errors carry (`CancellationReasons`, the old `Item`). AWS SDKs read the
/// name after `#` as the error code.
public struct DynamoDBError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var message: String
    public var status: Int
    /// Extra members of the body.
    public var extra: [String: JSONValue]
    var namespace: String

    static let dynamoDBNamespace = "com.amazonaws.dynamodb.v20120810"
    static let coralNamespace = "com.amazon.coral.service"

    init(_ name: String, _ message: String, status: Int = 400, namespace: String = dynamoDBNamespace, extra: [String: JSONValue] = [:]) {
        self.name = name
        self.message = message
        self.status = status
        self.namespace = namespace
        self.extra = extra
    }

    public var description: String { "\(name): \(message)" }

    /// The JSON body.
    public var body: JSONValue {
        var members: [(String, JSONValue)] = [("__type", .string("\(namespace)#\(name)")), ("message", .string(message))]
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { members.append((name, value)) }
        return .object((try? JSONObject(members)) ?? JSONObject())
    }

    // MARK: The errors

    static func validation(_ message: String) -> DynamoDBError {
        DynamoDBError("ValidationException", message)
    }

    static func serialization(_ message: String) -> DynamoDBError {
        DynamoDBError("SerializationException", message)
    }

    static func resourceNotFound(_ message: String = "Requested resource not found") -> DynamoDBError {
        DynamoDBError("ResourceNotFoundException", message)
    }

    static func tableNotFound(_ table: String) -> DynamoDBError {
        resourceNotFound("Requested resource not found: Table: \(table) not found")
    }

    static func resourceInUse(_ message: String) -> DynamoDBError {
        DynamoDBError("ResourceInUseException", message)
    }

    static func unknownOperation(_ message: String) -> DynamoDBError {
        DynamoDBError("UnknownOperationException", message)
    }

    static func conditionalCheckFailed(item: JSONValue? = nil) -> DynamoDBError {
        DynamoDBError(
            "ConditionalCheckFailedException", "The conditional request failed", extra: item.map { ["Item": $0] } ?? [:])
    }

    static func internalServerError(_ message: String) -> DynamoDBError {
        DynamoDBError("InternalServerError", message, status: 500)
    }

    /// 503: the cluster has no leader right now, or the node is stopping. SDKs retry.
    static func serviceUnavailable(_ message: String) -> DynamoDBError {
        DynamoDBError("ServiceUnavailable", message, status: 503)
    }

    // Authentication (the coral namespace, as DynamoDB answers them).
    static func unrecognizedClient() -> DynamoDBError {
        DynamoDBError(
            "UnrecognizedClientException", "The security token included in the request is invalid.",
            namespace: coralNamespace)
    }

    static func invalidSignature(_ message: String) -> DynamoDBError {
        DynamoDBError("InvalidSignatureException", message, namespace: coralNamespace)
    }

    static func missingAuthenticationToken() -> DynamoDBError {
        DynamoDBError("MissingAuthenticationTokenException", "Request is missing Authentication Token", namespace: coralNamespace)
    }

    static func incompleteSignature(_ message: String) -> DynamoDBError {
        DynamoDBError("IncompleteSignatureException", message, namespace: coralNamespace)
    }

    /// The DynamoDB error for a state machine error.
    static func from(_ error: NoSQLError) -> DynamoDBError {
        switch error.code {
        case .tableNotFound:
            return .resourceNotFound("Requested resource not found: \(error.message)")
        case .tableExists:
            return .resourceInUse(error.message)
        case .conditionalCheckFailed:
            return .conditionalCheckFailed()
        case .transactionCanceled:
            return DynamoDBError(
                "TransactionCanceledException", error.message,
                extra: ["CancellationReasons": .array(error.cancellationReasons.map(WireFormat.reason))])
        case .invalidJSON, .invalidItem, .missingKeyAttribute, .invalidKeyType, .keyTooLarge, .itemTooLarge,
            .invalidArgument, .invalidExpression, .invalidUpdate:
            return .validation(error.message)
        case .versionConflict, .itemNotFound, .noPreviousVersion:
            // Native-API errors; DynamoDB requests never cause them.
            return .validation(error.message)
        case .idempotencyKeyMismatch:
            // DynamoDB's answer to a ClientRequestToken reused with another request.
            return DynamoDBError(
                "IdempotentParameterMismatchException",
                "Request token is already in use with different request parameters: \(error.message)")
        case .idempotencyKeyExpired:
            return .validation(error.message)
        case .staleWrite, .invalidCommand:
            return .internalServerError(error.message)
        }
    }
}
