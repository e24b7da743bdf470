import ArgumentParser
import Foundation
import ImageTransport
import OCIModel
import RegistryClient
import SystemIO
import TarArchive

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Add directories as new layers on top of a base image and write the new image.",
        discussion: """
            Like `FROM base` + `COPY dir /dest` without a daemon: each --layer DIR[:DEST_PATH] becomes one \
            deterministic gzip tar layer (sorted entries, fixed mtimes, root ownership); the base config gets the \
            new diff_ids, history and the given overrides. Base blobs the destination already has are not \
            uploaded again (skipped, or mounted within one registry).
            """)

    @Option(name: .customLong("base"), help: "The base image (docker://… or oci:…).") var base: String
    @Option(name: .customLong("layer"), help: "DIR[:DEST_PATH] to add as a layer (repeatable, in order).")
    var layers: [String] = []
    @Option(name: .customLong("tag"), help: "Where to write the new image (docker://HOST/NAME:TAG or oci:DIR:REF).")
    var destination: String

    @Option(name: .customLong("cmd"), help: "Cmd: a JSON array (exec form), or a string run with /bin/sh -c (shell form).")
    var command: String?
    @Option(name: .customLong("entrypoint"), help: "Entrypoint: a JSON array (exec form), or a string run with /bin/sh -c.")
    var entrypoint: String?
    @Option(name: .customLong("env"), help: "NAME=VALUE to add or replace (repeatable).") var environment: [String] = []
    @Option(name: .customLong("label"), help: "KEY=VALUE label (repeatable).") var labels: [String] = []
    @Option(name: .customLong("workdir"), help: "New WorkingDir.") var workingDirectory: String?
    @Option(name: .customLong("user"), help: "New User.") var user: String?
    @Flag(name: .customLong("keep-mtimes"), help: "Keep the files' modification times (default: fixed at the epoch).")
    var keepModificationTimes = false
    @Option(name: .customLong("platform"), help: "OS/ARCH[/VARIANT] of the base to use when it is an index.")
    var platform: String?

    @OptionGroup var access: SourceDestinationOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        guard !layers.isEmpty else { throw ValidationError("give at least one --layer DIR[:DEST_PATH]") }
        for pair in environment + labels where !pair.contains("=") {
            throw ValidationError("\(pair): expected NAME=VALUE")
        }
        if let platform { _ = try PrepareCommand.parsePlatform(platform) }
    }

    func run() async throws {
        try await runReportingErrors {
            let session = try CopySession(transfer: transfer,
                                          sourceOptions: try transfer.clientOptions(access.source()),
                                          destinationOptions: try transfer.clientOptions(access.destination()))
            defer { session.close() }
            let work = "\(ImagePreparer.temporaryBase())/swcopy-append-\(getpid())-\(FileSystem.randomName())"
            try FileSystem.makeDirectories(work)
            defer { FileSystem.removeTree(work) }

            let baseLocation = try PrepareCommand.location(base)
            let destinationLocation = try PrepareCommand.location(destination)
            let source = try session.sources.openSource(baseLocation)
            defer { source.close() }
            var labelMap: [String: String] = [:]
            for label in labels {
                let key = String(label.prefix { $0 != "=" })
                labelMap[key] = String(label.dropFirst(key.count + 1))
            }
            let appender = ImageAppender(
                base: source, platform: try platform.map(PrepareCommand.parsePlatform) ?? PlatformSelector(),
                layers: layers.map {
                    let (directory, path) = DirectoryArchiver.parseLayerArgument($0)
                    return ImageAppender.Layer(directory: directory, destinationPath: path)
                },
                overrides: ImageAppender.Overrides(
                    command: try command.map(CommandLineForm.parse), entrypoint: try entrypoint.map(CommandLineForm.parse),
                    environment: environment, labels: labelMap, workingDirectory: workingDirectory, user: user,
                    keepModificationTimes: keepModificationTimes,
                    created: ImageAppender.creationTime(environment: ProcessInfo.processInfo.environment)),
                workDirectory: work)
            let derived = try await appender.build()
            let destinationImage = try session.destinations.openDestination(destinationLocation)
            let started = ContinuousClock.now
            var options = CopyOptions()
            options.jobs = transfer.jobs
            let report = try await Copier(source: derived, destination: destinationImage, options: options,
                                          observer: session.display.observer).run()
            if !transfer.quiet {
                printError("Wrote \(destinationLocation): \(report.digest) (\(report.blobsCopied) blobs written, "
                           + "\(report.blobsSkipped) already present, \(report.blobsMounted) mounted, "
                           + String(format: "%.2f s)", ProgressDisplay.seconds(ContinuousClock.now - started)))
            }
        }
    }
}
