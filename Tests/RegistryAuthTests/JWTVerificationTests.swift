import Foundation
@testable import RegistryAuth
import Testing
import TestSupport

@Suite struct JWTVerificationTests {
    let fixtures = AuthFixtures.shared

    func bearer(_ token: String) -> String { "Bearer " + token }

    func expectRefused(_ token: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = fixtures.authenticator().authenticate(authorization: bearer(token))
        guard case .invalid(let why, _) = result else {
            Issue.record("accepted: \(result)", sourceLocation: sourceLocation)
            return
        }
        #expect(why.contains(reason), "\(why)", sourceLocation: sourceLocation)
    }

    func expectAlice(_ token: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = fixtures.authenticator().authenticate(authorization: bearer(token))
        #expect(result == .authenticated(Identity(user: "alice", grantedScopes: [.repository("team/app", [.pull, .push])])),
                sourceLocation: sourceLocation)
    }

    // MARK: accepted

    @Test func acceptsRS256WithAnX5cChainRootedInTheBundle() throws {
        let token = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.leafKey,
                                        extraHeader: ["x5c": .array(fixtures.leafChain.map(JSON.string))])
        expectAlice(token)
    }

    @Test func acceptsES256WithAnX5cChainThroughAnIntermediate() throws {
        let token = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.intermediateLeafKey,
                                        extraHeader: ["x5c": .array(fixtures.intermediateChain.map(JSON.string))])
        expectAlice(token)
        // Without the intermediate the leaf cannot be chained to the root.
        let partial = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.intermediateLeafKey,
                                          extraHeader: ["x5c": .array([.string(fixtures.intermediateChain[0])])])
        expectRefused(partial, "x5c chain not trusted")
    }

    @Test func acceptsRS256ByTheLibtrustKidOfARootKey() throws {
        let kid = fixtures.rootKey.publicKey.libtrustKeyID
        expectAlice(try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.rootKey, extraHeader: ["kid": .string(kid)]))
    }

    @Test func acceptsES256ByTheJWKSKid() throws {
        expectAlice(try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.ecKey, extraHeader: ["kid": .string("ec-1")]))
    }

    @Test func acceptsEdDSAByTheJWKThumbprint() throws {
        let kid = fixtures.edKey.publicKey.thumbprint
        expectAlice(try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.edKey, extraHeader: ["kid": .string(kid)]))
    }

    @Test func acceptsAnArrayAudienceAndExpiryWithinTheLeeway() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let claims = AuthFixtures.claims(["aud": .array([.string("other"), .string(AuthFixtures.service)]),
                                          "exp": .number(Double(now - 30))])
        expectAlice(try CompactJWS.sign(claims: claims, key: fixtures.ecKey, extraHeader: ["kid": .string("ec-1")]))
    }

    /// The key of `docker-registry/auth-jwt`'s example and the libtrust kid the spec gives for it. (The example's
    /// signature itself does not verify under that key, with this code or with `openssl dgst -verify`: it is
    /// illustrative, so signatures from the openssl command line stand in for a foreign signer below.)
    @Test func computesTheSpecExampleKid() throws {
        let jwk = JSON.object(["kty": .string("EC"), "crv": .string("P-256"),
                               "x": .string("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"),
                               "y": .string("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc")])
        let key = try PublicKey(jwk: jwk)
        #expect(key.libtrustKeyID == "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6")
        #expect(key.jwkMembers == ["kty": .string("EC"), "crv": .string("P-256"),
                                   "x": .string("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"),
                                   "y": .string("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc")])
    }

    /// Tokens signed by the openssl command line (a signer that shares no code with ours): RS256 and ES256 with
    /// `openssl dgst -sha256 -sign` (ES256's DER signature turned into JOSE r || s), EdDSA with `pkeyutl -rawin`.
    @Test func acceptsSignaturesMadeByTheOpenSSLCommandLine() throws {
        let d = fixtures.directory
        let cases: [(file: String, alg: String, kid: String, command: String)] = [
            ("root.key", "RS256", fixtures.rootKey.publicKey.libtrustKeyID, "openssl dgst -sha256 -sign {key} -out {out} {in}"),
            ("ec.key", "ES256", "ec-1", "openssl dgst -sha256 -sign {key} -out {out} {in}"),
            ("ed.key", "EdDSA", fixtures.edKey.publicKey.thumbprint, "openssl pkeyutl -sign -rawin -inkey {key} -in {in} -out {out}"),
        ]
        for c in cases {
            let token = try AuthFixtures.assemble(header: ["alg": .string(c.alg), "kid": .string(c.kid)],
                                                  claims: AuthFixtures.claims()) { input in
                try Data(input).write(to: URL(fileURLWithPath: "\(d)/cli-input"))
                try shell(c.command.replacingOccurrences(of: "{key}", with: "\(d)/\(c.file)")
                    .replacingOccurrences(of: "{out}", with: "\(d)/cli-sig").replacingOccurrences(of: "{in}", with: "\(d)/cli-input"))
                let signature = Array(try Data(contentsOf: URL(fileURLWithPath: "\(d)/cli-sig")))
                return c.alg == "ES256" ? try #require(DER.rawSignature(der: signature, size: 32)) : signature
            }
            expectAlice(token)
        }
    }

    /// The libtrust kid recomputed with the openssl and coreutils command-line tools.
    @Test func libtrustKidMatchesAnIndependentComputation() throws {
        let d = fixtures.directory
        let base32 = try shell("openssl pkey -in \(d)/ec.key -pubout -outform DER | openssl dgst -sha256 -binary"
            + " | head -c 30 | base32 -w0").trimmingCharacters(in: .whitespacesAndNewlines)
        let grouped = stride(from: 0, to: base32.count, by: 4).map { i in
            String(base32.dropFirst(i).prefix(4))
        }.joined(separator: ":")
        #expect(fixtures.ecKey.publicKey.libtrustKeyID == grouped)
    }

    @Test func verifiedTokensAreCached() throws {
        let authenticator = fixtures.authenticator()
        let token = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.leafKey,
                                        extraHeader: ["x5c": .array(fixtures.leafChain.map(JSON.string))])
        _ = authenticator.authenticate(authorization: bearer(token))
        #expect(authenticator.cache.hits == 0)
        let again = authenticator.authenticate(authorization: bearer(token))
        #expect(authenticator.cache.hits == 1)
        #expect(again == .authenticated(Identity(user: "alice", grantedScopes: [.repository("team/app", [.pull, .push])])))
        // A refused token is not remembered: the same bad token is refused again, by a full check.
        let bad = String(token.dropLast(2)) + (token.hasSuffix("AA") ? "BA" : "AA")
        for _ in 0..<2 {
            guard case .invalid = authenticator.authenticate(authorization: bearer(bad)) else {
                Issue.record("bad token accepted")
                return
            }
        }
        #expect(authenticator.cache.hits == 1)
    }

    /// Many threads checking the same and different tokens at once (the event loops share one authenticator).
    @Test func concurrentVerification() throws {
        let authenticator = fixtures.authenticator()
        let tokens = try (0..<8).map { i in
            try CompactJWS.sign(claims: AuthFixtures.claims(["jti": .string("t\(i)")]), key: i % 2 == 0 ? fixtures.ecKey : fixtures.leafKey,
                                extraHeader: i % 2 == 0 ? ["kid": .string("ec-1")] : ["x5c": .array(fixtures.leafChain.map(JSON.string))])
        }
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 400) { i in
            if case .authenticated = authenticator.authenticate(authorization: "Bearer " + tokens[i % tokens.count]) { return }
            failures.increment()
        }
        #expect(failures.value == 0)
        #expect(authenticator.cache.count == tokens.count)
    }

    // MARK: refused

    @Test func refusesAlgNone() throws {
        let header: [String: JSON] = ["alg": .string("none"), "typ": .string("JWT"), "kid": .string("ec-1")]
        let unsigned = AuthFixtures.assemble(header: header, claims: AuthFixtures.claims()) { _ in [] }
        expectRefused(unsigned, "unsigned")
        let withBytes = AuthFixtures.assemble(header: header, claims: AuthFixtures.claims()) { _ in [1, 2, 3] }
        expectRefused(withBytes, "algorithm \"none\" is not accepted")
    }

    /// HS256 with the public key's bytes as the HMAC secret (the classic algorithm-confusion forgery).
    @Test func refusesHS256SignedWithThePublicKey() throws {
        let d = fixtures.directory
        let pem = try shell("openssl pkey -in \(d)/ec.key -pubout")
        let hexKey = pem.utf8.map { String(format: "%02x", $0) }.joined()
        let token = try AuthFixtures.assemble(header: ["alg": .string("HS256"), "kid": .string("ec-1")],
                                              claims: AuthFixtures.claims()) { input in
            try Data(input).write(to: URL(fileURLWithPath: "\(d)/hmac-input"))
            let hex = try shell("openssl dgst -sha256 -mac HMAC -macopt hexkey:\(hexKey) -hex \(d)/hmac-input | sed 's/.*= //'")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return stride(from: 0, to: hex.count, by: 2).map { i in
                UInt8(hex.dropFirst(i).prefix(2), radix: 16)!
            }
        }
        expectRefused(token, "HS256")
    }

    @Test func refusesRS256HeaderOnAnECKey() throws {
        let token = try AuthFixtures.assemble(header: ["alg": .string("RS256"), "kid": .string("ec-1")],
                                              claims: AuthFixtures.claims()) { try fixtures.ecKey.sign($0) }
        expectRefused(token, "does not fit its EC P-256 key")
    }

    @Test func refusesUnknownKid() throws {
        expectRefused(try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.ecKey,
                                          extraHeader: ["kid": .string("nobody")]), "kid is not a trusted key")
        expectRefused(try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.ecKey), "names no key")
    }

    @Test func refusesExpiredAndNotYetValidTokens() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let sign = { (claims: [String: JSON]) in
            try CompactJWS.sign(claims: claims, key: self.fixtures.ecKey, extraHeader: ["kid": .string("ec-1")])
        }
        expectRefused(try sign(AuthFixtures.claims(["exp": .number(Double(now - 120))])), "expired")
        expectRefused(try sign(AuthFixtures.claims(["exp": .null])), "no numeric exp")
        expectRefused(try sign(AuthFixtures.claims(["nbf": .number(Double(now + 300))])), "not valid yet")
        expectRefused(try sign(AuthFixtures.claims(["iat": .number(Double(now + 300))])), "issued in the future")
    }

    @Test func refusesWrongAudienceAndIssuer() throws {
        let sign = { (claims: [String: JSON]) in
            try CompactJWS.sign(claims: claims, key: self.fixtures.ecKey, extraHeader: ["kid": .string("ec-1")])
        }
        expectRefused(try sign(AuthFixtures.claims(["aud": .string("other.registry")])), "audience")
        expectRefused(try sign(AuthFixtures.claims(["aud": .array([.string("other.registry")])])), "audience")
        expectRefused(try sign(AuthFixtures.claims(["iss": .string("evil.test")])), "issuer")
    }

    @Test func refusesASignatureWithOneBitFlipped() throws {
        for (key, kid) in [(fixtures.ecKey, "ec-1"), (fixtures.rootKey, fixtures.rootKey.publicKey.libtrustKeyID),
                           (fixtures.edKey, fixtures.edKey.publicKey.thumbprint)] {
            let token = try CompactJWS.sign(claims: AuthFixtures.claims(), key: key, extraHeader: ["kid": .string(kid)])
            let parts = token.split(separator: ".")
            var signature = try #require(Base64.decodeURL(parts[2]))
            signature[signature.count / 2] ^= 0x10
            expectRefused("\(parts[0]).\(parts[1]).\(Base64.encodeURL(signature))", "bad token signature")
        }
    }

    @Test func refusesMalformedTokens() throws {
        let good = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.ecKey, extraHeader: ["kid": .string("ec-1")])
        let parts = good.split(separator: ".").map(String.init)
        expectRefused(parts[0] + "." + parts[1], "2 segments")
        expectRefused(good + ".e30", "4 segments")
        expectRefused(parts[0] + "=." + parts[1] + "." + parts[2], "base64url")
        expectRefused(parts[0] + "." + parts[1] + "*." + parts[2], "base64url")
        expectRefused(parts[0].replacingOccurrences(of: "-", with: "+") + "x." + parts[1] + "." + parts[2], "base64url")
        let notJSON = Base64.encodeURL(Array(#"{"alg":"ES256","kid":"ec-1""#.utf8))
        expectRefused(notJSON + "." + parts[1] + "." + parts[2], "header is not a JSON object")
        let duplicate = Base64.encodeURL(Array(#"{"alg":"ES256","kid":"ec-1","alg":"none"}"#.utf8))
        expectRefused(duplicate + "." + parts[1] + "." + parts[2], "header is not a JSON object")
        let array = Base64.encodeURL(Array("[1]".utf8))
        expectRefused(parts[0] + "." + array + "." + parts[2], "claims are not a JSON object")
        #expect(fixtures.authenticator().authenticate(authorization: "Basic YWxpY2U6c2VjcmV0")
            == .invalid(reason: "basic credentials sent to a Bearer realm", user: nil))
        #expect(fixtures.authenticator().authenticate(authorization: nil) == .anonymous)
    }

    @Test func refusesAnX5cChainNotRootedInTheBundle() throws {
        let token = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.strangerLeafKey,
                                        extraHeader: ["x5c": .array(fixtures.strangerChain.map(JSON.string))])
        expectRefused(token, "x5c chain not trusted")
        // The trusted leaf's certificate does not vouch for another key.
        let forged = try CompactJWS.sign(claims: AuthFixtures.claims(), key: fixtures.strangerLeafKey,
                                         extraHeader: ["x5c": .array(fixtures.leafChain.map(JSON.string))])
        expectRefused(forged, "bad token signature")
    }

    @Test func weakOrUnsupportedKeysAreRefused() throws {
        let d = fixtures.directory
        try shell("""
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out \(d)/rsa1024.key 2>/dev/null
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out \(d)/p384.key 2>/dev/null
            """)
        let weak = Array(try Data(contentsOf: URL(fileURLWithPath: "\(d)/rsa1024.key")))
        #expect(throws: AuthError("RSA key of 1024 bits: at least 2048 are required")) { try SigningKey(pem: weak) }
        let p384 = Array(try Data(contentsOf: URL(fileURLWithPath: "\(d)/p384.key")))
        #expect(throws: AuthError("EC key on a curve other than P-256")) { try SigningKey(pem: p384) }
    }

    @Test func challengeNamesRealmServiceScopesAndError() {
        let challenge = fixtures.authenticator().challenge(
            for: [.repository("team/app", [.push, .pull]), .catalog], error: "insufficient_scope")
        #expect(challenge == #"Bearer realm="https://auth.test/token",service="registry.test","#
            + #"scope="repository:team/app:pull,push registry:catalog:*",error="insufficient_scope""#)
        #expect(TokenAuthenticator.challenge(realm: #"a"b"#, service: "s", scopes: [], error: nil)
            == #"Bearer realm="a\"b",service="s""#)
    }

    @Test func trustLoadingErrorsNameTheFile() throws {
        let d = fixtures.directory
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: "\(d)/bad.pem"))
        #expect(throws: AuthError("\(d)/bad.pem: no PEM certificate found")) {
            try TokenTrust(rootCertBundlePath: "\(d)/bad.pem", jwksPath: nil)
        }
        try Data(#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#.utf8).write(to: URL(fileURLWithPath: "\(d)/bad.jwks"))
        #expect(throws: AuthError.self) { try TokenTrust(rootCertBundlePath: nil, jwksPath: "\(d)/bad.jwks") }
        #expect(throws: AuthError.self) { try TokenTrust(rootCertBundlePath: nil, jwksPath: "\(d)/missing.jwks") }
    }
}

import Synchronization

final class ManagedAtomicCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
