import ArgumentParser
import Foundation
import RegistryClient

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Check credentials against a registry and store them in the auth file.")

    @Argument(help: "The registry, HOST[:PORT].") var registry: String
    @Option(name: [.customShort("u"), .customLong("username")]) var username: String?
    @Option(name: [.customShort("p"), .customLong("password")]) var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.")
    var passwordFromStdin = false

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        guard username?.isEmpty == false else { throw ValidationError("--username is required") }
        guard (password != nil) != passwordFromStdin else {
            throw ValidationError("give exactly one of --password and --password-stdin")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            var secret = password ?? ""
            if passwordFromStdin {
                secret = readLine(strippingNewline: true) ?? ""
            }
            let options = try transfer.clientOptions(
                tlsVerify: registryOptions.tlsVerify, credentials: nil,
                certDirectory: registryOptions.certDirectory, authFile: nil)
            let engine = TransferEngine(maxParallel: 1)
            defer { engine.shutdown() }
            let path = try await AuthFile.login(
                registry: registry, credentials: Credentials(username: username ?? "", password: secret),
                authFile: transfer.authFile, options: options, engine: engine)
            if !transfer.quiet { print("Login Succeeded! (credentials stored in \(path))") }
        }
    }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Remove a registry's credentials from the auth file.")

    @Argument(help: "The registry, HOST[:PORT].") var registry: String
    @Option(name: .customLong("authfile")) var authFile: String?

    func run() async throws {
        try await runReportingErrors {
            if try AuthFile.logout(registry: registry, authFile: authFile) {
                print("Removed login credentials for \(registry)")
            } else {
                printError("swcopy: not logged in to \(registry)")
                throw ExitCode.failure
            }
        }
    }
}
