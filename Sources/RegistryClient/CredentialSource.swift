import Foundation
import Synchronization

/// Where a client's credentials come from: `--creds`, else the auth files and their credential helpers, looked up
/// the first time the registry asks for authentication (a registry that never does never runs a helper) and then
/// remembered for the client's life.
final class CredentialSource: Sendable {
    private let registry: String
    private let options: ClientOptions
    private let found = Mutex<Result<Credentials?, RegistryClientError>?>(nil)

    init(registry: String, options: ClientOptions) {
        self.registry = registry
        self.options = options
        if let explicit = options.credentials { found.withLock { $0 = .success(explicit) } }
    }

    /// The credentials, or nil for anonymous access.
    /// - Throws: ``RegistryClientError`` (`.local`) for an unreadable auth file or a failing credential helper.
    func get() throws(RegistryClientError) -> Credentials? {
        // The lock is held across the look-up: concurrent requests wait for one helper run instead of each
        // starting their own (a helper may prompt, or be slow).
        let result = found.withLock { cached -> Result<Credentials?, RegistryClientError> in
            if let cached { return cached }
            let result = lookUp()
            cached = result
            return result
        }
        return try result.get()
    }

    private func lookUp() -> Result<Credentials?, RegistryClientError> {
        do {
            return .success(try AuthFile.lookup(registry: registry, authFile: options.authFile,
                                                environment: options.environment ?? ProcessInfo.processInfo.environment))
        } catch {
            return .failure(RegistryClientError(kind: .local, operation: "read credentials", registry: registry,
                                                message: "\(error)"))
        }
    }
}
