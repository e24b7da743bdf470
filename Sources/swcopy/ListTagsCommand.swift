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
                tags = try await transfer.withClient(registry, host: image.registry) {
                    try await $0.listTags(repository: image.repository)
                }
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
            let digest = try await transfer.withClient(registry, host: image.registry) { client in
                var digest = image.digest
                if digest == nil {
                    guard let head = try await client.headManifest(
                        repository: image.repository, reference: image.reference,
                        accept: RegistryClient.defaultManifestAccept)
                    else { throw ImageTransport.TransportError.imageNotFound("docker://\(image.description)") }
                    digest = head.digest
                }
                try await client.deleteManifest(repository: image.repository, digest: digest!)
                return digest!
            }
            if !transfer.quiet { printError("Deleted docker://\(image.registry)/\(image.repository)@\(digest)") }
        }
    }
}
