/// The oldest TLS version a server accepts.
public enum TLSVersion: String, Sendable, Equatable, CaseIterable {
    case tls12 = "tls1.2"
    case tls13 = "tls1.3"
}

/// TLS for a listening port: files read at start-up and on `HTTPServer.reloadTLS()`.
public struct TLSSettings: Sendable, Equatable {
    /// PEM certificate chain, the server's certificate first, then the intermediates.
    public var certificatePath: String
    /// PEM private key of the first certificate in `certificatePath`.
    public var keyPath: String
    /// PEM files of the CAs that sign client certificates. Not empty: every client must present a certificate
    /// that one of them verifies (mutual TLS); empty: no client certificate is asked for.
    public var clientCAPaths: [String]
    public var minimumVersion: TLSVersion

    public init(certificatePath: String, keyPath: String, clientCAPaths: [String] = [],
                minimumVersion: TLSVersion = .tls12) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPaths = clientCAPaths
        self.minimumVersion = minimumVersion
    }
}

/// A TLS set-up that failed: which file and OpenSSL's reason.
public struct TLSError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TLSSettings {
    /// Reads and checks the files as the server would at start-up, without serving (`swregistry config check`).
    /// - Throws: `TLSError` naming the file and OpenSSL's reason.
    public func check() throws {
        _ = try TLSContext(settings: self)
    }
}
