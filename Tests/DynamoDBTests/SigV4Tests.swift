import DynamoDBAPI
import Foundation
import Testing

@Suite("AWS Signature Version 4 verification")
struct SigV4Tests {
    /// AWS's SigV4 test suite, "post-vanilla": POST / to example.amazonaws.com
    /// at 2015-08-30 12:36:00 UTC, key AKIDEXAMPLE, region us-east-1, service "service".
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let signedAt = Date(timeIntervalSince1970: 1_440_938_160)
    static let authorization =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"

    static func request(authorization: String? = SigV4Tests.authorization, date: String = "20150830T123600Z", body: [UInt8] = [])
        -> SignedRequest
    {
        var headers: [(name: String, value: String)] = [("Host", "example.amazonaws.com"), ("X-Amz-Date", date)]
        if let authorization { headers.append(("Authorization", authorization)) }
        return SignedRequest(method: "POST", path: "/", query: "", headers: headers, body: body)
    }

    func failure(_ verifier: SigV4Verifier, _ request: SignedRequest, host: String? = nil, now: Date = SigV4Tests.signedAt) -> String {
        do {
            _ = try verifier.verify(request, host: host, now: now)
            return "verified"
        } catch {
            return error.name
        }
    }

    @Test("the test suite's signature verifies, and names its region")
    func vanilla() throws {
        let verifier = SigV4Verifier(accessKeys: [("AKIDEXAMPLE", Self.secret)])
        let credential = try verifier.verify(Self.request(), now: Self.signedAt)
        #expect(credential.accessKeyID == "AKIDEXAMPLE" && credential.region == "us-east-1")
        #expect(SigV4Verifier.region(of: Self.request()) == "us-east-1")
    }

    @Test("a wrong secret, an unknown key, a changed body or host, no signature, a stale date: each refused as DynamoDB does")
    func refusals() {
        let verifier = SigV4Verifier(accessKeys: [("AKIDEXAMPLE", Self.secret)])
        #expect(failure(SigV4Verifier(accessKeys: [("AKIDEXAMPLE", "other")]), Self.request()) == "InvalidSignatureException")
        #expect(failure(SigV4Verifier(accessKeys: [("SOMEONE", Self.secret)]), Self.request()) == "UnrecognizedClientException")
        #expect(failure(verifier, Self.request(body: [0x7B])) == "InvalidSignatureException")
        #expect(failure(verifier, Self.request(), host: "elsewhere.example.com") == "InvalidSignatureException")
        #expect(failure(verifier, Self.request(authorization: nil)) == "MissingAuthenticationTokenException")
        #expect(failure(verifier, Self.request(authorization: "Bearer abc")) == "IncompleteSignatureException")
        #expect(failure(verifier, Self.request(), now: Self.signedAt.addingTimeInterval(16 * 60)) == "InvalidSignatureException")
        #expect(failure(verifier, Self.request(date: "20150831T123600Z")) == "InvalidSignatureException")
        // The relayed host override verifies the signature the client made for its own host.
        #expect(failure(verifier, Self.request(), host: "example.amazonaws.com") == "verified")
    }
}
