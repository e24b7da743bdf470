import Glibc
import OCIModel
import SystemIO
import Testing
@testable import ImageTransport

@Suite struct LocalCopyTests {
    func copy(_ from: String, _ to: String, options: CopyOptions = CopyOptions()) async throws -> CopyReport {
        let source = try openLocalSource(try ImageLocation(parsing: from))
        let destination = try openLocalDestination(try ImageLocation(parsing: to))
        return try await Copier(source: source, destination: destination, options: options).run()
    }

    func openLocalSource(_ location: ImageLocation) throws -> any ImageSource {
        switch location {
        case .ociLayout(let directory, let reference): try OCILayoutSource(directory: directory, reference: reference)
        case .directory(let path): try DirectorySource(path: path)
        default: throw TransportError.unsupported("not local")
        }
    }

    func openLocalDestination(_ location: ImageLocation) throws -> any ImageDestination {
        switch location {
        case .ociLayout(let directory, let reference):
            try OCILayoutDestination(directory: directory, reference: reference)
        case .directory(let path): try DirectoryDestination(path: path)
        default: throw TransportError.unsupported("not local")
        }
    }

    @Test func ociToOCIKeepsBytesAndDigest() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let image = try builder.writeImage(layerSizes: [1000, 70_000, 3_000_000], seed: 1)
        try builder.tag(image, as: "v1")
        let report = try await copy("oci:\(scratch.path)/src:v1", "oci:\(scratch.path)/dst:copied")
        #expect(report.digest == image.digest)
        #expect(report.blobsCopied == 4)
        #expect(report.sourceDigest == nil)
        // Every blob of the source is in the destination, byte for byte.
        let source = try treeDigests(scratch.path + "/src/blobs")
        let destination = try treeDigests(scratch.path + "/dst/blobs")
        #expect(source == destination)
        for (path, digest) in destination { #expect(path.hasSuffix(digest.encoded)) }
        let index = try OCILayout(directory: scratch.path + "/dst").readIndex()
        #expect(index.manifests.count == 1)
        #expect(index.manifests[0].annotations?[OCILayout.refNameAnnotation] == "copied")
        #expect(index.manifests[0].digest == image.digest)
        // No temporary files remain.
        #expect(try FileSystem.list(scratch.path + "/dst").sorted() == ["blobs", "index.json", "oci-layout"])
    }

    @Test func secondCopySkipsBlobsAndSharesTheLayout() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let one = try builder.writeImage(layerSizes: [500, 600], seed: 2)
        let two = try builder.writeImage(layerSizes: [500, 600, 700], seed: 2)  // shares two layers with `one`
        try builder.tag(one, as: "one")
        try builder.tag(two, as: "two")
        _ = try await copy("oci:\(scratch.path)/src:one", "oci:\(scratch.path)/dst:one")
        let report = try await copy("oci:\(scratch.path)/src:two", "oci:\(scratch.path)/dst:two")
        #expect(report.blobsSkipped == 2)
        #expect(report.blobsCopied == 2)  // the new layer and the new config
        let index = try OCILayout(directory: scratch.path + "/dst").readIndex()
        #expect(Set(index.manifests.compactMap { $0.annotations?[OCILayout.refNameAnnotation] }) == ["one", "two"])
        // Re-copying under an existing name replaces the entry rather than adding one.
        _ = try await copy("oci:\(scratch.path)/src:one", "oci:\(scratch.path)/dst:two")
        let after = try OCILayout(directory: scratch.path + "/dst").readIndex()
        #expect(after.manifests.count == 2)
        #expect(after.manifests.first { $0.annotations?[OCILayout.refNameAnnotation] == "two" }?.digest == one.digest)
    }

    @Test func directoryRoundTrip() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let image = try builder.writeImage(layerSizes: [10, 20_000], seed: 3)
        try builder.tag(image, as: "latest")
        _ = try await copy("oci:\(scratch.path)/src:latest", "dir:\(scratch.path)/dir")
        let files = try FileSystem.list(scratch.path + "/dir").sorted()
        #expect(files.contains("manifest.json") && files.contains("version"))
        #expect(files.count == 2 + 3)
        let version = try FileSystem.read(scratch.path + "/dir/version", maxBytes: 100)
        #expect(version == Array("Directory Transport Version: 1.1\n".utf8))
        let report = try await copy("dir:\(scratch.path)/dir", "oci:\(scratch.path)/back:again")
        #expect(report.digest == image.digest)
        // A dir: destination replaces a previous dir: image.
        _ = try await copy("oci:\(scratch.path)/src:latest", "dir:\(scratch.path)/dir")
        #expect(try FileSystem.list(scratch.path + "/dir").count == 5)
    }

    @Test func dirDestinationRefusesAForeignNonEmptyDirectory() async throws {
        let scratch = Scratch()
        try FileSystem.makeDirectories(scratch.path + "/busy")
        try FileSystem.writeAtomically([1], to: scratch.path + "/busy/precious", tmpDirectory: scratch.path)
        #expect(throws: TransportError.self) { try DirectoryDestination(path: scratch.path + "/busy") }
        #expect(FileSystem.exists(scratch.path + "/busy/precious"))
    }

    @Test func indexSelectsHostPlatformOrOverride() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let amd = try builder.writeImage(layerSizes: [100], seed: 4, platform: Platform(architecture: "amd64", os: "linux"))
        let arm = try builder.writeImage(
            layerSizes: [200], seed: 5, platform: Platform(architecture: "arm64", os: "linux", variant: "v8"))
        let index = try builder.writeIndex([amd, arm])
        try builder.tag(index, as: "multi")
        var options = CopyOptions()
        options.platform = PlatformSelector(os: "linux", architecture: "arm64")
        let report = try await copy("oci:\(scratch.path)/src:multi", "oci:\(scratch.path)/arm:x", options: options)
        #expect(report.digest == arm.digest)
        options.platform = PlatformSelector(os: "linux", architecture: "amd64")
        let amdReport = try await copy("oci:\(scratch.path)/src:multi", "oci:\(scratch.path)/amd:x", options: options)
        #expect(amdReport.digest == amd.digest)
        options.platform = PlatformSelector(os: "linux", architecture: "s390x")
        await #expect(throws: TransportError.self) {
            _ = try await copy("oci:\(scratch.path)/src:multi", "oci:\(scratch.path)/none:x", options: options)
        }
    }

    @Test func allCopiesEveryPlatformAndKeepsTheIndexDigest() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let amd = try builder.writeImage(layerSizes: [100, 300], seed: 6)
        let arm = try builder.writeImage(layerSizes: [200], seed: 7, platform: Platform(architecture: "arm64", os: "linux"))
        let index = try builder.writeIndex([amd, arm])
        try builder.tag(index, as: "multi")
        var options = CopyOptions()
        options.all = true
        let report = try await copy("oci:\(scratch.path)/src:multi", "oci:\(scratch.path)/dst:multi", options: options)
        #expect(report.digest == index.digest)
        #expect(report.manifestsWritten == 3)
        #expect(try treeDigests(scratch.path + "/src/blobs") == treeDigests(scratch.path + "/dst/blobs"))
        // dir: with --all keeps child manifests beside manifest.json.
        _ = try await copy("oci:\(scratch.path)/src:multi", "dir:\(scratch.path)/dir", options: options)
        #expect(FileSystem.exists("\(scratch.path)/dir/\(amd.digest.encoded).manifest.json"))
        let back = try await copy("dir:\(scratch.path)/dir", "oci:\(scratch.path)/back:multi", options: options)
        #expect(back.digest == index.digest)
    }

    @Test func formatConversionChangesDigestsAndPreserveDigestsRefuses() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let image = try builder.writeImage(layerSizes: [100, 300], seed: 8)
        try builder.tag(image, as: "oci")
        var options = CopyOptions()
        options.format = .v2s2
        let report = try await copy("oci:\(scratch.path)/src:oci", "oci:\(scratch.path)/dst:docker", options: options)
        #expect(report.digest != image.digest)
        #expect(report.sourceDigest == image.digest)
        #expect(report.mediaType == .dockerManifest)
        let converted = try OCILayoutSource(directory: scratch.path + "/dst", reference: "docker")
        guard case .manifest(let manifest) = try await converted.topManifest().parsed() else {
            Issue.record("not a manifest"); return
        }
        #expect(manifest.config.mediaType == .dockerConfig)
        #expect(manifest.layers.allSatisfy { $0.mediaType == .dockerLayerGzip })
        // And back: the OCI form is the same document again.
        options.format = .oci
        let back = try await copy("oci:\(scratch.path)/dst:docker", "oci:\(scratch.path)/back:oci", options: options)
        #expect(back.mediaType == .ociManifest)
        // Already in the asked format: bytes kept.
        let same = try await copy("oci:\(scratch.path)/src:oci", "oci:\(scratch.path)/same:oci", options: options)
        #expect(same.digest == image.digest)
        options.format = .v2s2
        options.preserveDigests = true
        await #expect(throws: TransportError.self) {
            _ = try await copy("oci:\(scratch.path)/src:oci", "oci:\(scratch.path)/refused:x", options: options)
        }
    }

    @Test func corruptSourceBlobFailsAndLeavesNothingPartial() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let image = try builder.writeImage(layerSizes: [100_000, 200], seed: 9)
        try builder.tag(image, as: "bad")
        // Flip one byte of the big layer.
        let manifest = try OCILayout(directory: scratch.path + "/src").readManifest(image)
        guard case .manifest(let parsed) = try manifest.parsed() else { return }
        let layerPath = OCILayout(directory: scratch.path + "/src").blobPath(parsed.layers[0].digest)
        var bytes = try #require(try FileSystem.read(layerPath, maxBytes: 1 << 20))
        bytes[500] ^= 0xFF
        try FileSystem.writeAtomically(bytes, to: layerPath, tmpDirectory: scratch.path)
        await #expect(throws: TransportError.self) {
            _ = try await copy("oci:\(scratch.path)/src:bad", "oci:\(scratch.path)/dst:bad")
        }
        // The corrupt layer is not in the destination under its digest, no temp file remains, no index entry.
        let destination = OCILayout(directory: scratch.path + "/dst")
        #expect(!FileSystem.exists(destination.blobPath(parsed.layers[0].digest)))
        #expect(try FileSystem.list(scratch.path + "/dst").filter { $0.hasPrefix(".tmp") }.isEmpty)
        #expect(try destination.readIndex(allowMissing: true).manifests.isEmpty)
    }

    @Test func layoutWithSeveralImagesNeedsAReference() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        try builder.tag(try builder.writeImage(layerSizes: [1], seed: 10), as: "a")
        try builder.tag(try builder.writeImage(layerSizes: [2], seed: 11), as: "b")
        await #expect(throws: TransportError.self) {
            _ = try await copy("oci:\(scratch.path)/src", "oci:\(scratch.path)/dst:x")
        }
        await #expect(throws: TransportError.self) {
            _ = try await copy("oci:\(scratch.path)/src:missing", "oci:\(scratch.path)/dst:x")
        }
        #expect(try await OCILayoutSource(directory: scratch.path + "/src", reference: nil).tags().sorted() == ["a", "b"])
    }
}
