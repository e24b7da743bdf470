import ArgumentParser
import Foundation
import RegistryClient

/// How to reach one registry: TLS verification, extra certificates and credentials, as the flags (or their
/// environment variables) gave them.
struct RegistryAccess: Equatable {
    var tlsVerify: Bool?
    var credentials: Credentials?
    var certDirectory: String?
    var authFile: String?
    var registryToken: String?

    /// Copies these settings into client options (unset ones leave the defaults: verify TLS, credentials from the
    /// auth files and their helpers).
    func apply(to options: inout ClientOptions) {
        options.tlsVerify = tlsVerify ?? true
        options.certDirectory = certDirectory
        options.credentials = credentials
        options.authFile = authFile
        options.registryToken = registryToken
    }

    /// Resolves the flags of one side. Each flag has exactly one variable (`$SWCOPY_` + the flag's name), and there is
    /// no fallback between sides: a source's credentials must never be sent to the destination.
    /// - Parameters:
    ///   - flagPrefix: `""`, `"src-"` or `"dest-"`, for messages and variable names.
    /// - Throws: `ValidationError` naming the flag or variable whose value is malformed, and for credentials given
    ///   together with a registry token.
    static func resolve(flagPrefix: String, tlsVerify: Bool?, credentials: String?, certDirectory: String?,
                        authFile: String?, registryToken: String?,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RegistryAccess {
        func variable(_ flag: String) -> String {
            "SWCOPY_" + (flagPrefix + flag).uppercased().replacingOccurrences(of: "-", with: "_")
        }
        func value(_ flag: String, _ given: String?) -> (text: String, source: String)? {
            if let given { return (given, "--\(flagPrefix)\(flag)") }
            let name = variable(flag)
            if let text = environment[name], !text.isEmpty { return (text, "$\(name)") }
            return nil
        }
        var access = RegistryAccess()
        if let tlsVerify {
            access.tlsVerify = tlsVerify
        } else if let found = value("tls-verify", nil) {
            switch found.text.lowercased() {
            case "true", "1", "yes": access.tlsVerify = true
            case "false", "0", "no": access.tlsVerify = false
            default: throw ValidationError("\(found.source): \"\(found.text)\" is not true or false")
            }
        }
        if let found = value("creds", credentials) {
            guard let parsed = Credentials(parsing: found.text) else {
                throw ValidationError("\(found.source): credentials must be USERNAME[:PASSWORD]")
            }
            access.credentials = parsed
        }
        access.certDirectory = value("cert-dir", certDirectory)?.text
        access.registryToken = value("registry-token", registryToken)?.text
        access.authFile = authFile
        if access.credentials != nil && access.registryToken != nil {
            throw ValidationError("--\(flagPrefix)creds and --\(flagPrefix)registry-token (or their $SWCOPY_ variables) "
                                  + "cannot be used together")
        }
        return access
    }
}

/// TLS and credentials for a command that talks to one registry (inspect, list-tags, delete, prepare, login, logout):
/// skopeo's single-sided flags.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("tls-verify"),
            help: "Require HTTPS and verify certificates (default true; false: plain HTTP or unverified TLS) ($SWCOPY_TLS_VERIFY).")
    var tlsVerify: Bool?

    @Option(name: .customLong("creds"), help: "Credentials USERNAME[:PASSWORD] for the registry ($SWCOPY_CREDS).")
    var credentials: String?

    @Option(name: .customLong("cert-dir"),
            help: "Directory of *.crt CA files and a *.cert/*.key client certificate pair (certs.d style) ($SWCOPY_CERT_DIR).")
    var certDirectory: String?

    @Option(name: .customLong("authfile"),
            help: "Auth file read first, and written by login (default: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json).")
    var authFile: String?

    @Option(name: .customLong("registry-token"),
            help: "Bearer token sent as it is with every request; no token is fetched ($SWCOPY_REGISTRY_TOKEN).")
    var registryToken: String?

    func validate() throws { _ = try access() }

    /// The resolved settings.
    func access() throws -> RegistryAccess {
        try RegistryAccess.resolve(flagPrefix: "", tlsVerify: tlsVerify, credentials: credentials,
                                   certDirectory: certDirectory, authFile: authFile, registryToken: registryToken)
    }
}

/// TLS and credentials for a command with a source and a destination (copy, sync, append): skopeo's `--src-…` and
/// `--dest-…` flags.
struct SourceDestinationOptions: ParsableArguments {
    @Option(name: .customLong("src-tls-verify"),
            help: "Require HTTPS and verify the source registry's certificates (default true) ($SWCOPY_SRC_TLS_VERIFY).")
    var sourceTLSVerify: Bool?
    @Option(name: .customLong("dest-tls-verify"),
            help: "Require HTTPS and verify the destination registry's certificates (default true) ($SWCOPY_DEST_TLS_VERIFY).")
    var destinationTLSVerify: Bool?

    @Option(name: .customLong("src-creds"), help: "Source registry credentials USERNAME[:PASSWORD] ($SWCOPY_SRC_CREDS).")
    var sourceCredentials: String?
    @Option(name: .customLong("dest-creds"), help: "Destination registry credentials USERNAME[:PASSWORD] ($SWCOPY_DEST_CREDS).")
    var destinationCredentials: String?

    @Option(name: .customLong("src-cert-dir"),
            help: "Source registry's *.crt CA files and *.cert/*.key client certificate ($SWCOPY_SRC_CERT_DIR).")
    var sourceCertDirectory: String?
    @Option(name: .customLong("dest-cert-dir"),
            help: "Destination registry's *.crt CA files and *.cert/*.key client certificate ($SWCOPY_DEST_CERT_DIR).")
    var destinationCertDirectory: String?

    @Option(name: .customLong("authfile"),
            help: "Auth file read first for both registries (default: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json).")
    var authFile: String?
    @Option(name: .customLong("src-authfile"), help: "Auth file for the source registry (instead of --authfile).")
    var sourceAuthFile: String?
    @Option(name: .customLong("dest-authfile"), help: "Auth file for the destination registry (instead of --authfile).")
    var destinationAuthFile: String?

    @Option(name: .customLong("src-registry-token"),
            help: "Bearer token for the source registry, sent as it is ($SWCOPY_SRC_REGISTRY_TOKEN).")
    var sourceRegistryToken: String?
    @Option(name: .customLong("dest-registry-token"),
            help: "Bearer token for the destination registry, sent as it is ($SWCOPY_DEST_REGISTRY_TOKEN).")
    var destinationRegistryToken: String?

    func validate() throws {
        _ = try source()
        _ = try destination()
    }

    func source() throws -> RegistryAccess {
        try RegistryAccess.resolve(flagPrefix: "src-", tlsVerify: sourceTLSVerify, credentials: sourceCredentials,
                                   certDirectory: sourceCertDirectory, authFile: sourceAuthFile ?? authFile,
                                   registryToken: sourceRegistryToken)
    }

    func destination() throws -> RegistryAccess {
        try RegistryAccess.resolve(flagPrefix: "dest-", tlsVerify: destinationTLSVerify,
                                   credentials: destinationCredentials, certDirectory: destinationCertDirectory,
                                   authFile: destinationAuthFile ?? authFile, registryToken: destinationRegistryToken)
    }
}
