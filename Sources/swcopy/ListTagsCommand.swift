import ArgumentParser
import ImageTransport
import OCIModel
import RegistryClient

struct ListTagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-tags",
        abstract: "List the tags of a repository (every page) or of an OCI layout.")

    @Argument(help: "docker://HOST/NAME or oci:DIR.") var repository: String

    @OptionGroup var registry: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func run() async throws {
        try await runReportingErrors {
            let location = try ImageLocation(parsing: repository)
            let name: String
            let tags: [String]
            switch location {
            case .registry(let image):
                let options = try transfer.clientOptions(
                    tlsVerify: registry.tlsVerify, credentials: registry.credentials,
                    certDirectory: registry.certDirectory, authFile: nil)
                let engine = TransferEngine(maxParallel: 1)
                defer { engine.shutdown() }
                let client = RegistryClient(registry: image.registry, options: options, engine: engine)
                tags = try await client.listTags(repository: image.repository)
                name = "\(image.registry)/\(image.repository)"
            case .ociLayout(let directory, _):
                tags = try await OCILayoutSource(directory: directory, reference: nil).tags()
                name = directory
            default:
                throw ValidationError("list-tags works on docker:// repositories and oci: layouts")
            }
            let document = OrderedJSON.object([("Repository", .string(name)), ("Tags", .strings(tags))])
            print(document.pretty())
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete an image from a registry (by tag: the manifest the tag names, as skopeo does).")

    @Argument(help: "docker://HOST/NAME[:TAG|@DIGEST].") var image: String

    @OptionGroup var registry: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func run() async throws {
        try await runReportingErrors {
            guard case .registry(let image) = try ImageLocation(parsing: image) else {
                throw ValidationError("delete works on docker:// images")
            }
            let options = try transfer.clientOptions(
                tlsVerify: registry.tlsVerify, credentials: registry.credentials,
                certDirectory: registry.certDirectory, authFile: nil)
            let engine = TransferEngine(maxParallel: 1)
            defer { engine.shutdown() }
            let client = RegistryClient(registry: image.registry, options: options, engine: engine)
            let digest: Digest
            if let pinned = image.digest {
                digest = pinned
            } else {
                guard let head = try await client.headManifest(
                    repository: image.repository, reference: image.reference, accept: manifestMediaTypes)
                else { throw ImageTransport.TransportError.imageNotFound("docker://\(image.description)") }
                digest = head.digest
            }
            try await client.deleteManifest(repository: image.repository, digest: digest)
            if !transfer.quiet { printError("Deleted docker://\(image.registry)/\(image.repository)@\(digest)") }
        }
    }
}

let manifestMediaTypes = [
    MediaType.ociIndex.rawValue, MediaType.ociManifest.rawValue,
    MediaType.dockerManifestList.rawValue, MediaType.dockerManifest.rawValue,
]
