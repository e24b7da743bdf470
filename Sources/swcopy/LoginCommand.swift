import ArgumentParser
import Foundation
import RegistryClient

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Check credentials against a registry and store them.",
        discussion: """
            The credentials are checked with GET /v2/, following the registry's challenge (Basic, or a token \
            fetched from its realm with them); refused ones are not stored. They go to the credential helper the \
            auth file names for the registry (credHelpers, else credsStore: docker-credential-NAME store), \
            otherwise into the auth file's "auths" (mode 0600).
            """)

    @Argument(help: "The registry, HOST[:PORT].") var registry: String
    @Option(name: [.customShort("u"), .customLong("username")], help: "User name (or give --creds USERNAME:PASSWORD).")
    var username: String?
    @Option(name: [.customShort("p"), .customLong("password")], help: "Password (visible to other users in the process list: prefer --password-stdin).")
    var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.")
    var passwordFromStdin = false

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        let access = try registryOptions.access()
        guard access.registryToken == nil else {
            throw ValidationError("login stores a user name and password; --registry-token cannot be stored")
        }
        if username == nil && password == nil && !passwordFromStdin {
            guard access.credentials != nil else {
                throw ValidationError("give --username with --password or --password-stdin, or --creds USERNAME:PASSWORD")
            }
            return
        }
        guard registryOptions.credentials == nil else {
            throw ValidationError("give either --creds or --username with --password/--password-stdin, not both")
        }
        guard username?.isEmpty == false else { throw ValidationError("--username is required") }
        guard (password != nil) != passwordFromStdin else {
            throw ValidationError("give exactly one of --password and --password-stdin")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            var access = try registryOptions.access()
            var credentials = access.credentials ?? Credentials(username: "", password: "")
            if let username {
                var secret = password ?? ""
                if passwordFromStdin { secret = readLine(strippingNewline: true) ?? "" }
                credentials = Credentials(username: username, password: secret)
            }
            access.credentials = nil
            let options = try transfer.clientOptions(access)
            let engine = TransferEngine(maxParallel: 1)
            defer { engine.shutdown() }
            let stored: AuthFile.Destination
            do {
                stored = try await AuthFile.login(registry: registry, credentials: credentials,
                                                  authFile: access.authFile, options: options, engine: engine)
            } catch let error as RegistryClientError where error.kind == .authentication {
                throw LoginFailure("login to \(registry) failed: the credentials of \(credentials.username) were refused "
                                   + "(\(error))")
            }
            if !transfer.quiet { print("Login Succeeded! (credentials stored in \(stored))") }
        }
    }
}

/// A login the registry refused.
struct LoginFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Remove a registry's credentials from the auth file (and its credential helper).",
        discussion: """
            The registry's credential helper (credHelpers, else credsStore) is asked to erase them, and the \
            auth file's "auths" entry is removed. The registry itself is not contacted: of the TLS and \
            credential options, only --authfile matters here.
            """)

    @Argument(help: "The registry, HOST[:PORT].") var registry: String

    @OptionGroup var registryOptions: RegistryOptions

    func run() async throws {
        try await runReportingErrors {
            if try AuthFile.logout(registry: registry, authFile: registryOptions.authFile) {
                print("Removed login credentials for \(registry)")
            } else {
                printError("swcopy: not logged in to \(registry)")
                throw ExitCode.failure
            }
        }
    }
}
