import HTTPServer
import RegistryAuth

/// The built-in token service as the registry uses it: the `/token` handler, and the authenticator that verifies
/// the tokens it signs, whose challenge names this server's own `/token` as the realm.
public struct BuiltInTokenService: Sendable {
    public let service: TokenService
    /// The realm announced in challenges; nil: `<scheme>://<Host of the request>/token`.
    public let realm: String?
    /// `https` when the server speaks TLS, for the realm taken from the request.
    public let scheme: String

    public init(service: TokenService, realm: String?, scheme: String) {
        self.service = service
        self.realm = realm
        self.scheme = scheme
    }

    /// Verifies the tokens this service signs.
    public var authenticator: Authenticator {
        Verifier(verifier: TokenAuthenticator(realm: realm ?? "", service: service.service,
                                              issuer: service.signer.issuer, trust: service.signer.trust),
                 realm: realm, scheme: scheme)
    }

    /// `GET`/`POST /token`: the form body (POST) is read up to the service's limit; a larger one is 400.
    public var handler: TokenHandler {
        let service = service
        return { request, body, work in
            var form: [UInt8]?
            if request.method == "POST" {
                do { form = try await body.collect(upTo: TokenService.maxFormBytes) } catch {
                    return TokenAnswer(.text(.badRequest, "the token request's form is larger than \(TokenService.maxFormBytes) bytes"),
                                       outcome: .anonymous)
                }
            }
            let query = request.queryItems, method = request.method, authorization = request.headers["Authorization"]
            let formBytes = form
            let answer = await work {
                service.respond(method: method, query: query, form: formBytes, authorization: authorization)
            }
            var headers = HTTPHeaders()
            for (name, value) in answer.headers { headers.add(name, value) }
            var response = Response(status: HTTPStatus(answer.status), headers: headers, bytes: answer.body)
            if case .authenticated(let identity) = answer.authentication { response.authenticatedUser = identity.user }
            return TokenAnswer(response, outcome: answer.authentication)
        }
    }

    struct Verifier: Authenticator {
        let verifier: TokenAuthenticator
        let realm: String?
        let scheme: String

        func authenticate(authorization: String?) -> AuthResult {
            verifier.authenticate(authorization: authorization)
        }

        func quickResult(authorization: String?) -> AuthResult? {
            verifier.quickResult(authorization: authorization)
        }

        func challenge(for scopes: [Scope], error: String?) -> String {
            challenge(for: scopes, error: error, host: nil)
        }

        func challenge(for scopes: [Scope], error: String?, host: String?) -> String {
            let realm = realm ?? "\(scheme)://\(host ?? "localhost")/token"
            return TokenAuthenticator.challenge(realm: realm, service: verifier.service, scopes: scopes, error: error)
        }
    }
}
