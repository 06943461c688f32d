import DynamoDBAPI
import Foundation
import NoSQL
import RaftLabHTTPClient
import RaftLabNode
import RaftLabServer
import RaftLabTestSupport
import Testing

/// `X-RaftLab-Forwarded` and `X-RaftLab-Signed-Host` count only on requests
/// a member relayed (with a `MemberProof`); from a client they are ignored.
@Suite("HTTP API: member-only headers")
struct MemberHeaderTests {
    static let key = ClusterConfig.Auth.AccessKey(accessKeyID: "AKIDRAFTLAB", secretAccessKey: "raftlab-secret-key")
    static let writer = "write-token-0123456789abcdef"

    static var options: HTTPAPIOptions {
        var options = HTTPAPIOptions(forwardWritesToLeader: true, forwardTimeout: .seconds(5), accessKeys: [key])
        options.auth.tokens = [ClusterConfig.Token(token: writer, role: .write)]
        return options
    }

    /// A DynamoDB request signed with the access key for `host` (which is
    /// not sent: the client puts the address it connects to in Host).
    static func dynamoDB(_ operation: String, _ body: String, signedFor host: String) -> SimpleHTTPRequest {
        var signed = SignedRequest(
            method: "POST", path: "/", query: "",
            headers: [
                (name: "host", value: host), (name: "content-type", value: "application/x-amz-json-1.0"),
                (name: "x-amz-target", value: "DynamoDB_20120810.\(operation)"),
            ], body: Array(body.utf8))
        SigV4Verifier.sign(&signed, accessKeyID: key.accessKeyID, secret: key.secretAccessKey)
        return SimpleHTTPRequest(
            method: "POST", path: "/", headers: signed.headers.filter { $0.name != "host" }.map { ($0.name, $0.value) },
            body: signed.body)
    }

    static let createMusic = """
        {"TableName":"Music","KeySchema":[{"AttributeName":"Artist","KeyType":"HASH"}],\
        "AttributeDefinitions":[{"AttributeName":"Artist","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}
        """

    @Test("a client's X-RaftLab-Signed-Host does not choose the host its signature is checked against")
    func clientSignedHostRefused() async throws {
        try await withLiveServer(try InMemoryService(), options: Self.options) { address in
            let client = SimpleHTTPClient(userAgent: "member-header-test")
            // Signed for another host, claiming a member relayed it from there.
            var request = Self.dynamoDB("ListTables", "{}", signedFor: "elsewhere.example:8100")
            request.headers += [("X-RaftLab-Forwarded", "1"), ("X-RaftLab-Signed-Host", "elsewhere.example:8100")]
            let answer = try await client.execute(request, to: address, timeout: .seconds(5))
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(answer.status == 400, "a client chose the signed host: \(answer.status) \(text)")
            #expect(text.contains("InvalidSignatureException"), "\(text)")
            // The same request signed for the address it is sent to is accepted.
            let honest = try await client.execute(
                Self.dynamoDB("ListTables", "{}", signedFor: address.description), to: address, timeout: .seconds(5))
            #expect(honest.status == 200, "\(String(decoding: honest.body, as: UTF8.self))")
        }
    }

    @Test("genuine forwards through a follower work: DynamoDB signed for the follower, native writes with a token")
    func followerForwards() async throws {
        let leader = try InMemoryService(nodeID: 2)
        try await withLiveServer(leader, options: Self.options) { leaderAddress in
            let follower = try InMemoryService(nodeID: 1, mode: .follower(leaderID: 2, leaderHTTPAddress: leaderAddress))
            try await withLiveServer(follower, options: Self.options) { followerAddress in
                let client = SimpleHTTPClient(userAgent: "member-header-test")
                let created = try await client.execute(
                    Self.dynamoDB("CreateTable", Self.createMusic, signedFor: followerAddress.description), to: followerAddress,
                    timeout: .seconds(5))
                #expect(created.status == 200, "\(String(decoding: created.body, as: UTF8.self))")
                let put = try await client.execute(
                    Self.dynamoDB(
                        "PutItem", #"{"TableName":"Music","Item":{"Artist":{"S":"Queen"},"Year":{"N":"1975"}}}"#,
                        signedFor: followerAddress.description), to: followerAddress, timeout: .seconds(5))
                #expect(put.status == 200, "\(String(decoding: put.body, as: UTF8.self))")
                let native = try await client.execute(
                    SimpleHTTPRequest(
                        method: "PUT", path: "/tables/Music/items",
                        headers: [("Authorization", "Bearer \(Self.writer)"), ("Content-Type", "application/json")],
                        body: Array(#"{"Artist":"ABBA","Year":1976}"#.utf8)), to: followerAddress, timeout: .seconds(5))
                #expect(native.status == 200, "\(String(decoding: native.body, as: UTF8.self))")
            }
            #expect(follower.writes == 0)
        }
        for artist in ["Queen", "ABBA"] {
            let stored = try await leader.read(.local) { machine, store in
                try machine.getItem(table: "Music", key: ItemKey(artist), in: store)
            }
            #expect(stored.item["Artist"] == .string(artist))
        }
    }
}
