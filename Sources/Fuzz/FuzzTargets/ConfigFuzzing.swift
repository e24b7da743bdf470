import Foundation
import RegistryConfig

/// The registry's YAML configuration file, loaded as `swregistry serve --config` loads it (its path is the only
/// way in: the input is written to a file first). Loading must end with a configuration or with errors that say
/// what is wrong, never with a trap.
enum ConfigFuzzing {
    static let path: String = {
        let directory = FileManager.default.temporaryDirectory.path
        return directory + "/swregistry-fuzz-config-\(getpid()).yaml"
    }()

    static func run(_ data: UnsafeRawBufferPointer) {
        guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
            fatalError("fuzz: cannot write \(path)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        do throws(ConfigErrors) {
            _ = try Configuration.load(file: path, environment: [:])
        } catch {
            check(!error.errors.isEmpty, "load failed without an error")
            _ = error.description
        }
    }
}
