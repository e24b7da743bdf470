import ImageTransport

/// skopeo's sync YAML (`swcopy sync --src yaml`): registries, their repositories and tag selections.
enum SyncFuzzing {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard let text = String(validating: data, as: UTF8.self) else { return }
        guard let configuration = try? SyncConfiguration(yaml: text) else { return }
        for source in configuration.sources {
            check(!source.registry.isEmpty, "source without a registry")
            for repository in source.repositories {
                // Selecting from a fixed tag list runs the regex of `images-by-tag-regex`.
                _ = try? SyncConfiguration.select(repository.tags, from: ["latest", "1.0", "v2.3.4-alpine", "sha-1"])
            }
        }
    }
}
