import Raft
import StorageCore

/// How traces print messages, entries and ids: etcd's message names, one
/// line per message, only the fields that kind of message uses.
enum TraceFormat {
    static let kindNames: [Message.Kind: String] = [
        .preVote: "MsgPreVote", .preVoteResponse: "MsgPreVoteResp",
        .vote: "MsgVote", .voteResponse: "MsgVoteResp",
        .append: "MsgApp", .appendResponse: "MsgAppResp",
        .heartbeat: "MsgHeartbeat", .heartbeatResponse: "MsgHeartbeatResp",
        .snapshot: "MsgSnap", .snapshotResponse: "MsgSnapResp",
        .timeoutNow: "MsgTimeoutNow",
        .readIndex: "MsgReadIndex", .readIndexResponse: "MsgReadIndexResp",
        .snapshotAck: "MsgSnapAck", .snapshotRequest: "MsgSnapRequest",
    ]

    static func kind(named name: String) -> Message.Kind? {
        kindNames.first { $0.value == name }?.key
    }

    static func message(_ m: Message) -> String {
        var s = "\(m.from)->\(m.to) \(kindNames[m.kind] ?? "Msg\(m.kind.rawValue)") term=\(m.term)"
        switch m.kind {
        case .preVote, .vote:
            s += " last=\(m.logIndex)/\(m.logTerm)"
        case .preVoteResponse, .voteResponse:
            if m.reject { s += " rejected" }
        case .append:
            s += " prev=\(m.logIndex)/\(m.logTerm) commit=\(m.commit)"
            if !m.entries.isEmpty { s += " entries=[" + m.entries.map(entry).joined(separator: ", ") + "]" }
        case .appendResponse, .snapshotResponse:
            if m.reject {
                s += " rejected index=\(m.logIndex) hint=\(m.rejectHint)/\(m.logTerm)"
            } else {
                s += " index=\(m.logIndex)"
            }
        case .heartbeat:
            s += " commit=\(m.commit)"
        case .snapshot:
            if let snap = m.snapshot {
                s += " snapshot=\(snap.index)/\(snap.term) voters=\(ids(snap.configuration.voters))"
                if !snap.configuration.learners.isEmpty { s += " learners=\(ids(snap.configuration.learners))" }
                if !snap.isLast { s += " offset=\(snap.offset) (more follows)" }
            }
        case .readIndexResponse:
            s += " index=\(m.logIndex)"
        case .timeoutNow, .readIndex, .heartbeatResponse, .snapshotAck, .snapshotRequest:
            break
        }
        if !m.context.isEmpty { s += " ctx=\(data(m.context))" }
        return s
    }

    /// `index/term kind payload`, e.g. `3/2 cmd "x"`, `1/1 noop`, `4/2 conf voters=(1,2,3)`.
    static func entry(_ e: LogEntry) -> String {
        switch e.kind {
        case .noop:
            return "\(e.index)/\(e.term) noop"
        case .command:
            return "\(e.index)/\(e.term) cmd \(data(e.data))"
        case .configuration:
            guard let c = try? ClusterConfiguration(encoded: e.data) else { return "\(e.index)/\(e.term) conf (undecodable)" }
            var s = "\(e.index)/\(e.term) conf voters=\(ids(c.voters))"
            if !c.learners.isEmpty { s += " learners=\(ids(c.learners))" }
            return s
        }
    }

    /// Printable ASCII in quotes, anything else in hex.
    static func data(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func ids(_ set: Set<NodeID>) -> String {
        "(" + set.sorted().map(String.init).joined(separator: ",") + ")"
    }
}
