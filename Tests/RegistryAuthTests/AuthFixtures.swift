import Foundation
@testable import RegistryAuth
import TestSupport

/// Keys and certificates made with the `openssl` CLI in a scratch directory, as an operator would make them: an RSA
/// root with a leaf signed by it (x5c), a second, untrusted root with its own leaf, an EC P-256 key and an Ed25519
/// key published in a JWKS file.
final class AuthFixtures: Sendable {
    static let shared = try! AuthFixtures()

    let directory: String
    let rootKey: SigningKey
    let leafKey: SigningKey
    let leafChain: [String]
    let strangerLeafKey: SigningKey
    /// An EC leaf signed by an intermediate that the root signed: its x5c is [leaf, intermediate].
    let intermediateLeafKey: SigningKey
    let intermediateChain: [String]
    let strangerChain: [String]
    let ecKey: SigningKey
    let edKey: SigningKey
    let trust: TokenTrust
    let rootBundlePath: String
    let jwksPath: String

    init() throws {
        directory = makeTemporaryDirectory(prefix: "authfixtures")
        let d = directory
        try shell("""
            set -e; cd \(d)
            for ca in root stranger; do
              openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.pem -subj /CN=$ca -days 2 2>/dev/null
              openssl req -newkey rsa:2048 -nodes -keyout $ca-leaf.key -out $ca-leaf.csr -subj /CN=$ca-signer 2>/dev/null
              openssl x509 -req -in $ca-leaf.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -out $ca-leaf.pem -days 1 2>/dev/null
              openssl x509 -in $ca-leaf.pem -outform DER -out $ca-leaf.der
            done
            printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > ca.ext
            openssl req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj /CN=intermediate 2>/dev/null
            openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -extfile ca.ext -out inter.pem -days 1 2>/dev/null
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out inter-leaf.key 2>/dev/null
            openssl req -new -key inter-leaf.key -out inter-leaf.csr -subj /CN=inter-signer 2>/dev/null
            openssl x509 -req -in inter-leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -out inter-leaf.pem -days 1 2>/dev/null
            openssl x509 -in inter.pem -outform DER -out inter.der
            openssl x509 -in inter-leaf.pem -outform DER -out inter-leaf.der
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>/dev/null
            openssl genpkey -algorithm ed25519 -out ed.key 2>/dev/null
            """)
        func key(_ name: String) throws -> SigningKey {
            try SigningKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: "\(d)/\(name)"))))
        }
        func der(_ name: String) throws -> String {
            try Data(contentsOf: URL(fileURLWithPath: "\(d)/\(name)")).base64EncodedString()
        }
        rootKey = try key("root.key")
        leafKey = try key("root-leaf.key")
        leafChain = [try der("root-leaf.der")]
        strangerLeafKey = try key("stranger-leaf.key")
        intermediateLeafKey = try key("inter-leaf.key")
        intermediateChain = [try der("inter-leaf.der"), try der("inter.der")]
        strangerChain = [try der("stranger-leaf.der")]
        ecKey = try key("ec.key")
        edKey = try key("ed.key")
        var ecJWK = ecKey.publicKey.jwkMembers
        ecJWK["kid"] = .string("ec-1")
        ecJWK["alg"] = .string("ES256")
        let jwks = JSON.object(["keys": .array([.object(ecJWK), .object(edKey.publicKey.jwkMembers)])])
        jwksPath = "\(d)/jwks.json"
        try Data(jwks.serialized.utf8).write(to: URL(fileURLWithPath: jwksPath))
        rootBundlePath = "\(d)/root.pem"
        trust = try TokenTrust(rootCertBundlePath: rootBundlePath, jwksPath: jwksPath)
    }

    static let issuer = "auth.test"
    static let service = "registry.test"

    func authenticator() -> TokenAuthenticator {
        TokenAuthenticator(realm: "https://auth.test/token", service: Self.service, issuer: Self.issuer, trust: trust)
    }

    /// Claims of a valid token for alice, with `changes` applied (`.null` removes a claim).
    static func claims(_ changes: [String: JSON] = [:], now: Int64 = Int64(Date().timeIntervalSince1970)) -> [String: JSON] {
        var claims: [String: JSON] = [
            "iss": .string(issuer), "aud": .string(service), "sub": .string("alice"),
            "exp": .number(Double(now + 300)), "nbf": .number(Double(now - 10)), "iat": .number(Double(now - 10)),
            "access": .array([.object(["type": .string("repository"), "name": .string("team/app"),
                                       "actions": .array([.string("pull"), .string("push")])])]),
        ]
        for (name, value) in changes { claims[name] = value == .null ? nil : value }
        return claims
    }

    /// A compact JWS with an arbitrary header (`alg` included) and signature bytes.
    static func assemble(header: [String: JSON], claims: [String: JSON], sign: ([UInt8]) throws -> [UInt8]) rethrows -> String {
        let input = Base64.encodeURL(Array(JSON.object(header).serialized.utf8)) + "."
            + Base64.encodeURL(Array(JSON.object(claims).serialized.utf8))
        return input + "." + Base64.encodeURL(try sign(Array(input.utf8)))
    }
}
