import Foundation
import RegistryConfig
import Testing
@testable import swregistry

/// The flags of `swregistry serve` and the README agree with the table of keys.
@Suite struct ServeConfigurationTests {
    /// Every flag the table names is a flag of `serve`, and `serve` hands each one on under that name.
    @Test func everyTableFlagIsAServeFlag() throws {
        let keys = ConfigKey.all.filter { $0.flag != nil }
        var arguments: [String] = []
        for (index, key) in keys.enumerated() { arguments += ["--" + key.flag!, "value\(index)"] }
        let serve = try Serve.parse(arguments)
        let given = serve.givenFlags
        let byName = Dictionary(uniqueKeysWithValues: given.map { ($0.name, $0.value) })
        #expect(byName == Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1.flag!, "value\($0)") }))
        let help = Serve.helpMessage()
        for key in keys {
            #expect(help.contains(key.path), "help of --\(key.flag!) names its key")
        }
        // No flag given: no value from the command line (so the file and the environment decide).
        #expect(try Serve.parse([]).givenFlags.isEmpty)
    }

    /// The README's table names every key, its variable rule and every older flag and variable.
    @Test func readmeDocumentsEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Configuration")).upperBound
        let text = String(readme[section...])
        for key in ConfigKey.all {
            #expect(text.contains("| `\(key.path)` |"), "README lacks \(key.path)")
            if let flag = key.flag { #expect(text.contains("`--\(flag)`"), "README lacks --\(flag)") }
            if let variable = key.legacyVariable { #expect(text.contains("`\(variable)`"), "README lacks \(variable)") }
        }
        // And the example file in it is valid.
        let example = try #require(text.range(of: "```yaml\n")).upperBound
        let end = try #require(text[example...].range(of: "```")).lowerBound
        let path = NSTemporaryDirectory() + "/swr-readme-\(getpid()).yml"
        try String(text[example..<end]).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try Configuration.load(file: path, environment: [:])
        #expect(config.security.htpasswd?.path == "/etc/swregistry/htpasswd")
        #expect(config.accessControl?.repositories.first?.pattern == "team/**")

        let deployed = try Configuration.load(file: root.appendingPathComponent("deploy/swregistry.yml").path, environment: [:])
        #expect(deployed.security.tls != nil && deployed.security.htpasswd != nil)
    }
}
