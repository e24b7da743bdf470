import ArgumentParser
import Foundation
import ImageTransport
import OCIModel
import RegistryClient
import SystemIO

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy an image from one location to another.",
        discussion: """
            SOURCE and DESTINATION are docker://HOST/NAME[:TAG|@DIGEST], oci:DIR[:REF], dir:PATH or \
            oci-archive:FILE[:REF]. Manifests are copied byte for byte (digests are kept) unless --format asks \
            for a conversion. Every blob is verified against its digest.
            """)

    @Argument(help: "Where the image is read from.") var source: String
    @Argument(help: "Where the image is written.") var destination: String

    @Flag(name: [.customShort("a"), .customLong("all")], help: "Copy every image of a multi-platform index.")
    var all = false

    @Option(name: [.customShort("f"), .customLong("format")], help: "Convert manifests to this format: oci or v2s2.")
    var format: String?

    @Flag(name: .customLong("preserve-digests"), help: "Fail instead of converting a manifest (which changes its digest).")
    var preserveDigests = false

    @Option(name: .customLong("additional-tag"), help: "Also tag the copied image with this tag (repeatable).")
    var additionalTags: [String] = []

    @Option(name: .customLong("override-os"), help: "Platform OS to select from an index (default: this host's).")
    var overrideOS: String?
    @Option(name: .customLong("override-arch"), help: "Platform architecture to select from an index.")
    var overrideArch: String?
    @Option(name: .customLong("override-variant"), help: "Platform variant to select from an index.")
    var overrideVariant: String?

    @OptionGroup var access: SourceDestinationOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        if let format, ManifestFormat(rawValue: format) == nil {
            throw ValidationError("--format must be oci or v2s2")
        }
        for tag in additionalTags where (try? Tag(validating: tag)) == nil {
            throw ValidationError("--additional-tag: \"\(tag)\" is not a valid tag")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            let sourceLocation = try ImageLocation(parsing: source)
            let destinationLocation = try ImageLocation(parsing: destination)
            var options = CopyOptions()
            options.all = all
            options.format = format.flatMap(ManifestFormat.init(rawValue:))
            options.preserveDigests = preserveDigests
            options.additionalTags = additionalTags
            options.platform = PlatformSelector(os: overrideOS, architecture: overrideArch, variant: overrideVariant)
            options.jobs = transfer.jobs
            let session = try CopySession(transfer: transfer,
                                          sourceOptions: try transfer.clientOptions(access.source()),
                                          destinationOptions: try transfer.clientOptions(access.destination()))
            defer { session.close() }
            try await session.copy(from: sourceLocation, to: destinationLocation, options: options)
        }
    }
}

/// One engine, one staging directory and the progress display shared by the copies of a command.
final class CopySession {
    let engine: TransferEngine
    let staging: String
    let sources: ImageTransports
    let destinations: ImageTransports
    let display: ProgressDisplay

    init(transfer: TransferOptions, sourceOptions: ClientOptions, destinationOptions: ClientOptions) throws {
        engine = TransferEngine(maxParallel: transfer.jobs)
        staging = makeStagingDirectory()
        sources = ImageTransports(engine: engine, stagingDirectory: staging) { _ in sourceOptions }
        // Same settings on both sides: one client per registry, so a copy within a registry probes it and fetches
        // tokens once.
        destinations = Self.sameAccess(sourceOptions, destinationOptions) ? sources
            : ImageTransports(engine: engine, stagingDirectory: staging) { _ in destinationOptions }
        display = ProgressDisplay(quiet: transfer.quiet)
    }

    static func sameAccess(_ a: ClientOptions, _ b: ClientOptions) -> Bool {
        a.tlsVerify == b.tlsVerify && a.certDirectory == b.certDirectory && a.credentials == b.credentials
            && a.authFile == b.authFile && a.registryToken == b.registryToken
    }

    /// Copies one image and prints the summary line.
    @discardableResult
    func copy(from sourceLocation: ImageLocation, to destinationLocation: ImageLocation, options: CopyOptions)
        async throws -> CopyReport
    {
        let source = try sources.openSource(sourceLocation)
        defer { source.close() }
        let destination = try destinations.openDestination(destinationLocation)
        let started = ContinuousClock.now
        let report = try await Copier(source: source, destination: destination, options: options,
                                      observer: display.observer).run()
        if display.mode != .quiet {
            let seconds = ProgressDisplay.seconds(ContinuousClock.now - started)
            var line = "Copied \(sourceLocation) to \(destinationLocation): \(report.digest)"
            line += " (\(report.blobsCopied) blobs copied, \(ProgressDisplay.bytes(report.bytesCopied))"
            if report.blobsSkipped > 0 { line += ", \(report.blobsSkipped) already present" }
            if report.blobsMounted > 0 { line += ", \(report.blobsMounted) mounted" }
            line += ", \(String(format: "%.2f", seconds)) s)"
            if let original = report.sourceDigest { line += "; converted from \(original), the digest changed" }
            printError(line)
        }
        return report
    }

    func close() {
        engine.shutdown()
        FileSystem.removeTree(staging)
    }
}
