import ArgumentParser
import Foundation
import ImageTransport
import OCIModel
import RegistryClient

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Copy many images: every (or some) tag of repositories, into a registry namespace.",
        discussion: """
            Sources: --src-repo docker://HOST/NAME[:TAG] (every tag when none is given) or --src-yaml FILE \
            (skopeo's sync file: per registry, images with tag lists, images-by-tag-regex, credentials, \
            tls-verify, cert-dir). skopeo's form `--src docker|yaml --dest docker SOURCE DESTINATION` is \
            accepted too. Each image goes to DESTINATION/<last name component>:<tag> (with --scoped, \
            DESTINATION/<host>/<name>:<tag>). Images the destination already has (same digest) are skipped.
            """)

    @Option(name: .customLong("src-repo"), help: "docker://HOST/NAME[:TAG] to copy from.") var sourceRepository: String?
    @Option(name: .customLong("src-yaml"), help: "skopeo sync YAML file listing what to copy.") var sourceYAML: String?
    @Option(name: [.customLong("dst"), .customLong("dest-repo")], help: "docker://HOST[/NAMESPACE] to copy into.")
    var destinationOption: String?

    @Option(name: .customLong("src"), help: "skopeo-style source transport: docker or yaml.") var sourceTransport: String?
    @Option(name: .customLong("dest"), help: "skopeo-style destination transport: docker.") var destinationTransport: String?
    @Argument(help: "skopeo-style SOURCE and DESTINATION (with --src/--dest).") var positional: [String] = []

    @Flag(name: .customLong("scoped"), help: "Keep the source host and full name under the destination.")
    var scoped = false
    @Flag(name: [.customShort("a"), .customLong("all")], help: "Copy every image of multi-platform indexes.")
    var all = false
    @Flag(name: .customLong("keep-going"), help: "Go on after a failed image; report failures at the end.")
    var keepGoing = false
    @Flag(name: .customLong("dry-run"), help: "Print what would be copied.")
    var dryRun = false

    @OptionGroup var access: SourceDestinationOptions
    @OptionGroup var transfer: TransferOptions

    /// One image to copy.
    struct Job {
        var source: ImageLocation.RegistryImage
        var destination: ImageLocation.RegistryImage
        var sourceOptions: ClientOptions
    }

    func run() async throws {
        try await runReportingErrors {
            let (sourceText, yamlPath, destinationText) = try resolveArguments()
            let destinationBase = try parseDestination(destinationText)
            let baseOptions = try transfer.clientOptions(access.source())
            let destinationOptions = try transfer.clientOptions(access.destination())
            let session = try CopySession(transfer: transfer, sourceOptions: baseOptions,
                                          destinationOptions: destinationOptions)
            defer { session.close() }

            var sources: [(SyncConfiguration.Source, ClientOptions)] = []
            if let sourceText {
                guard case .registry(let image) = try ImageLocation(parsing: sourceText) else {
                    throw ValidationError("--src-repo must be docker://HOST/NAME[:TAG]")
                }
                // An explicit tag in the reference selects it; otherwise every tag.
                let explicitTag = sourceText.split(separator: "/").last.map { $0.contains(":") || $0.contains("@") } ?? false
                let selection: SyncConfiguration.TagSelection = explicitTag ? .list([image.reference]) : .all
                sources.append((SyncConfiguration.Source(
                    registry: image.registry,
                    repositories: [.init(name: image.repository, tags: selection)]), baseOptions))
            } else if let yamlPath {
                guard let bytes = FileManager.default.contents(atPath: yamlPath) else {
                    throw ValidationError("cannot read \(yamlPath)")
                }
                let config = try SyncConfiguration(yaml: String(decoding: bytes, as: UTF8.self))
                for source in config.sources {
                    var options = baseOptions
                    if let verify = source.tlsVerify { options.tlsVerify = verify }
                    if let directory = source.certDirectory { options.certDirectory = directory }
                    if let user = source.username, let password = source.password {
                        options.credentials = Credentials(username: user, password: password)
                        options.registryToken = nil
                    }
                    sources.append((source, options))
                }
            }

            var jobs: [Job] = []
            for (source, options) in sources {
                let client = RegistryClient(registry: source.registry, options: options, engine: session.engine)
                for repository in source.repositories {
                    var tags: [String]
                    if case .list(let list) = repository.tags {
                        tags = list
                    } else {
                        tags = try SyncConfiguration.select(
                            repository.tags, from: try await client.listTags(repository: repository.name))
                    }
                    tags.sort()
                    for tag in tags {
                        var image = ImageLocation.RegistryImage(registry: source.registry, repository: repository.name)
                        if let digest = try? Digest(parsing: tag) { image.digest = digest } else { image.tag = tag }
                        jobs.append(Job(source: image, destination: destination(for: image, under: destinationBase),
                                        sourceOptions: options))
                    }
                }
            }
            try await runJobs(jobs, session: session, destinationOptions: destinationOptions)
        }
    }

    func resolveArguments() throws -> (source: String?, yaml: String?, destination: String) {
        if let sourceTransport {
            guard positional.count == 2 else {
                throw ValidationError("with --src, give SOURCE and DESTINATION")
            }
            guard destinationTransport == nil || destinationTransport == "docker" else {
                throw ValidationError("--dest: only docker is supported")
            }
            let destination = positional[1].hasPrefix("docker://") ? positional[1] : "docker://" + positional[1]
            switch sourceTransport {
            case "docker":
                let source = positional[0].hasPrefix("docker://") ? positional[0] : "docker://" + positional[0]
                return (source, nil, destination)
            case "yaml": return (nil, positional[0], destination)
            default: throw ValidationError("--src: docker or yaml")
            }
        }
        guard positional.isEmpty else { throw ValidationError("unexpected arguments: \(positional.joined(separator: " "))") }
        guard let destinationOption else { throw ValidationError("--dst is required") }
        guard (sourceRepository != nil) != (sourceYAML != nil) else {
            throw ValidationError("give exactly one of --src-repo and --src-yaml")
        }
        return (sourceRepository, sourceYAML, destinationOption)
    }

    /// `docker://HOST[/NAMESPACE]`: unlike an image reference, a bare host is a host (not a name and tag).
    func parseDestination(_ text: String) throws -> ImageLocation.RegistryImage {
        guard text.hasPrefix("docker://") else {
            throw ValidationError("the sync destination must be docker://HOST[/NAMESPACE]")
        }
        let rest = text.dropFirst("docker://".count)
        let host = rest.prefix { $0 != "/" }
        let namespace = rest.dropFirst(host.count).drop { $0 == "/" }
        guard !host.isEmpty, case .registry(let probe) = try ImageLocation(parsing: "docker://\(host)/probe") else {
            throw ValidationError("the sync destination must be docker://HOST[/NAMESPACE]")
        }
        if !namespace.isEmpty {
            do { _ = try RepositoryName(validating: namespace) } catch {
                throw ValidationError("the sync destination namespace \"\(namespace)\" is invalid: \(error)")
            }
        }
        return ImageLocation.RegistryImage(registry: probe.registry, repository: String(namespace))
    }

    func destination(for image: ImageLocation.RegistryImage, under base: ImageLocation.RegistryImage)
        -> ImageLocation.RegistryImage
    {
        let namespace = base.repository
        let suffix = scoped ? "\(image.registry.replacingOccurrences(of: ":", with: "_"))/\(image.repository)"
            : String(image.repository.split(separator: "/").last ?? "")
        let repository = namespace.isEmpty ? suffix : "\(namespace)/\(suffix)"
        return ImageLocation.RegistryImage(registry: base.registry, repository: repository,
                                           tag: image.tag ?? image.digest.map { "sha256-\($0.encoded)" },
                                           digest: nil)
    }

    func runJobs(_ jobs: [Job], session: CopySession, destinationOptions: ClientOptions) async throws {
        var failures: [String] = []
        var skipped = 0, copied = 0
        for job in jobs {
            let from = "docker://\(job.source.description)", to = "docker://\(job.destination.description)"
            if dryRun {
                print("Would copy \(from) to \(to)")
                continue
            }
            do {
                let sourceClient = RegistryClient(registry: job.source.registry, options: job.sourceOptions,
                                                  engine: session.engine)
                let destinationClient = session.destinations.client(for: job.destination.registry)
                if try await alreadyPresent(job, sourceClient: sourceClient, destinationClient: destinationClient) {
                    skipped += 1
                    if !transfer.quiet { printError("Skipped \(from): \(to) already has it") }
                    continue
                }
                var options = CopyOptions()
                options.all = all
                options.jobs = transfer.jobs
                let source = RegistrySource(client: sourceClient, image: job.source)
                let destination = RegistryDestination(client: destinationClient, image: job.destination,
                                                      stagingDirectory: session.staging)
                _ = try await Copier(source: source, destination: destination, options: options,
                                     observer: session.display.observer).run()
                copied += 1
                if !transfer.quiet { printError("Copied \(from) to \(to)") }
            } catch {
                guard keepGoing else { throw error }
                failures.append("\(from): \(error)")
                printError("swcopy: \(from): \(error)")
            }
        }
        if !transfer.quiet && !dryRun {
            printError("Synced \(jobs.count) images: \(copied) copied, \(skipped) already present, \(failures.count) failed")
        }
        if !failures.isEmpty {
            for failure in failures { printError("failed: \(failure)") }
            throw ExitCode.failure
        }
    }

    /// Whether the destination tag already names what this copy would write.
    func alreadyPresent(_ job: Job, sourceClient: RegistryClient, destinationClient: RegistryClient) async throws -> Bool {
        guard let existing = try await destinationClient.headManifest(
            repository: job.destination.repository, reference: job.destination.reference, accept: RegistryClient.defaultManifestAccept)
        else { return false }
        // A HEAD settles the usual case; the source index is fetched only when one platform of it was copied.
        guard let head = try await sourceClient.headManifest(
            repository: job.source.repository, reference: job.source.reference, accept: RegistryClient.defaultManifestAccept)
        else { return false }
        if existing.digest == head.digest { return true }
        guard !all, MediaType(head.mediaType).isIndex else { return false }
        let top = try await sourceClient.fetchManifest(repository: job.source.repository,
                                                       reference: head.digest.description,
                                                       accept: RegistryClient.defaultManifestAccept)
        guard case .index(let index) = try ManifestDocument.parse(top.bytes, contentType: top.mediaType)
        else { return false }
        let chosen = try? PlatformSelector().select(from: index, what: job.source.description)
        return chosen?.digest == existing.digest
    }
}
