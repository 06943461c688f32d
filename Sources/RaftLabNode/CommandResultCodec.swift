import NoSQL
import RaftLabAPI
import StorageCore

/// Carries a NoSQL command's result from the apply loop back to the client
/// that proposed it, in the state machine's own byte form
/// (`CommandResultCoding`). A result that does not decode is a bug in this
/// process, reported as an internal node error.
enum CommandResultCodec {
    static func encode(_ result: CommandResult) -> Bytes {
        CommandResultCoding.encode(result)
    }

    static func decode(_ bytes: Bytes) throws -> CommandResult {
        do {
            return try CommandResultCoding.decode(bytes)
        } catch {
            throw NodeError.internal(error.description)
        }
    }
}
