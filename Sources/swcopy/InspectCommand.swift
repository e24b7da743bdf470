import ArgumentParser
import Foundation
import ImageTransport
import OCIModel
import RegistryClient

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a summary of an image (or its raw manifest or config).")

    @Argument(help: "The image: docker://…, oci:DIR[:REF], dir:PATH or oci-archive:FILE[:REF].") var image: String

    @Flag(name: .customLong("raw"), help: "Print the manifest (or index) bytes as stored.")
    var raw = false
    @Flag(name: .customLong("config"), help: "Print the image's config.")
    var config = false
    @Option(name: .customLong("format"), help: "Output format: json (the only one, and the default).")
    var format: String = "json"
    @Flag(name: .customLong("no-tags"), help: "Do not list the repository's tags.")
    var noTags = false

    @Option(name: .customLong("override-os")) var overrideOS: String?
    @Option(name: .customLong("override-arch")) var overrideArch: String?
    @Option(name: .customLong("override-variant")) var overrideVariant: String?

    @OptionGroup var registry: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        guard format == "json" else { throw ValidationError("--format: only json is supported") }
    }

    func run() async throws {
        try await runReportingErrors {
            let location = try ImageLocation(parsing: image)
            let options = try transfer.clientOptions(registry)
            let engine = TransferEngine(maxParallel: transfer.jobs)
            defer { engine.shutdown() }
            let transports = ImageTransports(engine: engine, stagingDirectory: makeStagingDirectory()) { _ in options }
            let source = try transports.openSource(location)
            defer { source.close() }
            let platform = PlatformSelector(os: overrideOS, architecture: overrideArch, variant: overrideVariant)
            if raw && !config {
                let top = try await source.topManifest()
                FileHandle.standardOutput.write(Data(top.bytes))
                return
            }
            if config {
                let (_, _, manifest) = try await ImageReader.resolveImage(source, platform: platform)
                let bytes = try await ImageReader.readConfig(source, manifest.config)
                FileHandle.standardOutput.write(Data(bytes))
                if !raw { FileHandle.standardOutput.write(Data("\n".utf8)) }
                return
            }
            var name: String?
            let inspectedSource: any ImageSource = noTags ? DerivedImageSource(base: source, hideTags: true) : source
            if case .registry(let image) = location { name = "\(image.registry)/\(image.repository)" }
            let summary = try await ImageReader.inspect(inspectedSource, name: name, platform: platform)
            print(summary.json())
        }
    }
}
