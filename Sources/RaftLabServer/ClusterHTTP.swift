import Foundation
import Logging
import NoSQL
import RaftLabAPI
import RaftLabHTTPClient
import RaftLabNode

/// How a node process talks to its cluster over HTTP outside of Raft:
/// learning the cluster it joins, and correcting its own member record.
public enum ClusterHTTP {
    /// The cluster at `address` (a member's HTTP address): its ID and where
    /// its members listen, from `GET /cluster/members`. Retries for `patience`.
    public static func joinTarget(at address: HostPort, patience: Duration = .seconds(30), logger: Logger) async throws
        -> ClusterNode.JoinTarget
    {
        let client = SimpleHTTPClient(userAgent: "raftlab-join")
        let deadline = ContinuousClock.now + patience
        var problem = ""
        while ContinuousClock.now < deadline {
            do {
                let answer = try await client.execute(SimpleHTTPRequest(method: "GET", path: "/cluster/members"), to: address, timeout: .seconds(3))
                guard answer.status == 200 else {
                    throw JoinError("\(address) answered GET /cluster/members with HTTP \(answer.status): \(answer.bodyText.prefix(300))")
                }
                let document = try JSONValue.parse(answer.body)
                guard let clusterText = document["cluster_id"]?.stringValue, let clusterID = UInt64(clusterText, radix: 16) else {
                    throw JoinError("\(address) does not know its cluster's ID yet")
                }
                var members: [MemberRecord] = []
                for member in document["members"]?.arrayValue ?? [] {
                    guard let id = member["node_id"]?.numberValue?.int64Value, id > 0,
                        let raft = member["raft_addr"]?.stringValue.flatMap({ try? HostPort(parsing: $0) }),
                        let http = member["http_addr"]?.stringValue.flatMap({ try? HostPort(parsing: $0) })
                    else { continue }
                    members.append(MemberRecord(
                        id: UInt64(id), raftAddress: raft, httpAddress: http,
                        logBackend: member["log_backend"]?.stringValue ?? "", stateBackend: member["state_backend"]?.stringValue ?? ""))
                }
                return ClusterNode.JoinTarget(clusterID: clusterID, members: members)
            } catch let error as JoinError {
                problem = error.message
            } catch {
                problem = "\(error)"
            }
            logger.info("waiting for the cluster to join", metadata: ["address": "\(address)", "problem": "\(problem)"])
            try await Task.sleep(for: .milliseconds(500))
        }
        throw JoinError("cannot learn the cluster at \(address) within \(patience): \(problem)")
    }

    public struct JoinError: Error, CustomStringConvertible {
        public var message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Sends a node's corrected record to the leader (`PUT /cluster/members/{id}`).
    public static func registrar() -> ClusterNode.Registrar {
        let client = SimpleHTTPClient(userAgent: "raftlab-registrar")
        return { record, _, leader in
            let body: JSONValue = [
                "raft_addr": .string(record.raftAddress.description), "http_addr": .string(record.httpAddress.description),
                "log_backend": .string(record.logBackend), "state_backend": .string(record.stateBackend),
            ]
            let answer = try await client.execute(
                SimpleHTTPRequest(
                    method: "PUT", path: "/cluster/members/\(record.id)", headers: [("Content-Type", "application/json")],
                    body: body.canonicalBytes),
                to: leader, timeout: .seconds(10))
            guard answer.status == 200 else {
                throw JoinError("the leader at \(leader) refused the record: HTTP \(answer.status) \(answer.bodyText.prefix(300))")
            }
        }
    }
}
