import ArgumentParser

/// Why a client command failed, and the exit code that says so.
enum ClientFailure: Error, Sendable, CustomStringConvertible {
    /// The server answered with an error (`{"error": code, "message": ...}`).
    case rejected(status: Int, code: String, message: String)
    /// No usable answer in time: unreachable, no leader, timed out.
    case unavailable(String)
    /// The server answered something that is not the API's JSON.
    case badResponse(String)

    /// Exit codes, one per class of failure; see `ClientHelp.exitCodes`.
    enum Exit {
        static let rejected: Int32 = 1
        static let notFound: Int32 = 2
        static let conflict: Int32 = 3
        static let unavailable: Int32 = 4
        static let serverError: Int32 = 5
        static let usage: Int32 = 64
    }

    var exitCode: Int32 {
        switch self {
        case .rejected(let status, _, _):
            switch status {
            case 404: Exit.notFound
            case 409: Exit.conflict
            case 502, 503, 504: Exit.unavailable
            case 500...: Exit.serverError
            default: Exit.rejected
            }
        case .unavailable: Exit.unavailable
        case .badResponse: Exit.serverError
        }
    }

    var description: String {
        switch self {
        case let .rejected(status, code, message): "\(message) (\(code), HTTP \(status))"
        case .unavailable(let message): message
        case .badResponse(let message): "unexpected answer from the server: \(message)"
        }
    }
}

/// Text shared by the client commands' `--help`.
enum ClientHelp {
    static let exitCodes = """
        Exit codes:
          0   success
          1   request rejected: bad input (HTTP 400, 413), no or unknown token (401), a role too low (403)
          2   not found: no such table or item (HTTP 404)
          3   conflict: table exists, version conflict, nothing to roll back (HTTP 409)
          4   unavailable: node unreachable, no leader elected or timed out within --timeout (HTTP 502, 503, 504)
          5   server error (HTTP 500)
          64  usage error: bad flags or arguments (--item-data that is not a JSON object included)
        """

    static let behaviour = """
        Writes go to the leader: a follower answers 307 with the leader's address and the command \
        follows it. While no leader is elected (503) or the node is unreachable, the command retries \
        with a short backoff until --timeout runs out.
        """

    static func discussion(_ text: String, example: String) -> String {
        "\(text)\n\nExample:\n  \(example)\n\n\(exitCodes)"
    }
}
