import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import SystemIO
import Testing

@Suite struct VerifierTests {
    func verify(_ test: TestStore, repair: Bool = false, repositories: [String] = [], jobs: Int = 2) throws
        -> (VerifyReport, [String]) {
        let output = CollectedOutput()
        let options = VerifyOptions(repair: repair, repositories: try repositories.map { try RepositoryName(validating: $0) },
                                    jobs: jobs)
        let report = try Verifier(store: test.store, options: options, output: output).run()
        return (report, output.lines)
    }

    @Test func cleanStoreExitsZero() throws {
        let test = try TestStore()
        let image = try test.putImage("library/a", tag: "v1", layers: [TestStore.bytes(3000, seed: 1), TestStore.bytes(70_000, seed: 2)])
        try test.putImage("b", tag: "latest", layers: [TestStore.bytes(100, seed: 3)], subject: image.manifest,
                          subjectSize: image.manifestBytes.count)
        let (report, lines) = try verify(test)
        #expect(report.exitStatus == 0)
        #expect(report.problems.isEmpty)
        #expect(report.blobs == 6, "1 config (the same in both), 3 layers, 2 manifests")
        #expect(report.repositories == 2 && report.manifests == 2 && report.tags == 2 && report.links == 5 && report.referrers == 1)
        #expect(lines.last == "no problem found", "\(lines)")
    }

    /// A flipped byte in a layer is found; with --repair the blob leaves `blobs/` for the quarantine, the link to
    /// it is removed, and the manifest is reported incomplete (a push repairs it).
    @Test func flippedByteIsFoundAndQuarantined() throws {
        let test = try TestStore()
        let image = try test.putImage("library/a", tag: "v1", layers: [TestStore.bytes(5000, seed: 4)])
        let layer = image.layers[0]
        try test.corrupt(layer, at: 1234)

        let (found, lines) = try verify(test)
        #expect(found.exitStatus == 1)
        #expect(found.problems.map(\.kind) == [.corruptBlob])
        #expect(lines.first?.hasPrefix("corrupt-blob - \(layer): content (5000 bytes) hashes to sha256:") == true, "\(lines)")
        #expect(test.store.blobSize(layer) == 5000, "nothing moves without --repair")

        let (repaired, repairLines) = try verify(test, repair: true)
        #expect(repaired.exitStatus == 1)
        #expect(repaired.problems.map(\.kind) == [.corruptBlob, .danglingLink, .incompleteManifest], "\(repairLines)")
        #expect(repaired.repaired == 2)
        #expect(repairLines[0].hasSuffix("; repaired: moved to quarantine/sha256/\(layer.encoded), no longer served"), "\(repairLines)")
        #expect(test.store.blobSize(layer) == nil)
        let quarantined = "\(test.root)/quarantine/sha256/\(layer.encoded)"
        #expect(FileSystem.fileSize(quarantined) == 5000)
        var st = stat()
        #expect(stat("\(test.root)/quarantine", &st) == 0 && st.st_mode & 0o777 == 0o700)
        let name = try RepositoryName(validating: "library/a")
        #expect(throws: StoreError.blobUnknown(layer)) { _ = try test.store.openBlob(name, layer) }

        // Pushed again, the blob is served; a second damage of the same digest is quarantined beside the first.
        try test.putBlob(TestStore.bytes(5000, seed: 4), in: "library/a")
        #expect(try verify(test).0.exitStatus == 0)
        try test.corrupt(layer, at: 0)
        let (again, _) = try verify(test, repair: true)
        #expect(again.problems.first?.repair == .done("moved to quarantine/sha256/\(layer.encoded).1, no longer served"))
    }

    @Test func danglingLinkTagAndReferrerAreFoundAndRemoved() throws {
        let test = try TestStore()
        let image = try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 5)])
        let signature = try test.putImage("a", tag: nil, layers: [TestStore.bytes(20, seed: 6)], subject: image.manifest,
                                          subjectSize: image.manifestBytes.count)
        let name = try RepositoryName(validating: "a")
        // A link to a blob that is not stored.
        let missing = Digest.sha256(of: Array("not stored".utf8))
        try FileSystem.touch(test.layout.layerLink(name, missing))
        // A tag pointing at a manifest the repository does not hold.
        let ghost = Digest.sha256(of: Array("ghost manifest".utf8))
        try FileSystem.writeAtomically(Array(ghost.description.utf8), to: test.layout.tag(name, try Tag(validating: "gone")),
                                       tmpDirectory: test.layout.tmpDirectory)
        // A tag holding garbage.
        try FileSystem.writeAtomically(Array("garbage".utf8), to: test.layout.tag(name, try Tag(validating: "junk")),
                                       tmpDirectory: test.layout.tmpDirectory)
        // A referrer entry whose manifest the repository no longer holds (its revision link lost).
        try FileSystem.remove(test.layout.revisionLink(name, signature.manifest))

        let (found, lines) = try verify(test)
        #expect(found.exitStatus == 1)
        #expect(Set(found.problems.map(\.kind)) == [.danglingLink, .danglingTag, .danglingReferrer], "\(lines)")
        #expect(found.problems.count == 4)
        #expect(lines.contains("dangling-link a \(missing): linked, but the blob is not stored"), "\(lines)")
        #expect(lines.contains("dangling-tag a tag gone: points to \(ghost), which is no manifest of the repository"), "\(lines)")
        #expect(lines.contains("dangling-tag a tag junk: does not hold a digest"), "\(lines)")

        let generation = test.store.metadataGeneration
        let (repaired, repairLines) = try verify(test, repair: true)
        #expect(repaired.repaired == 4, "\(repairLines)")
        #expect(test.store.metadataGeneration > generation, "caches built before the repair are stale")
        #expect(!test.store.isLinked(name, missing))
        #expect(try test.store.tags(name) == ["v1"])
        #expect(try test.store.referrers(name, subject: image.manifest).isEmpty)
        #expect(try verify(test).0.exitStatus == 0)
    }

    /// A manifest whose blob is damaged: quarantined, then the manifest is dangling and removed, and so is its tag;
    /// the copy the store's cache held is not served any more, and a push of the same manifest is served again.
    @Test func corruptManifestIsNotServedFromTheCache() throws {
        let test = try TestStore()
        let image = try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 7)])
        let name = try RepositoryName(validating: "a")
        // Served once, so its bytes are in the cache.
        #expect(try test.store.manifest(name, image.manifest, maxBytes: 1 << 20).bytes == image.manifestBytes)
        try test.corrupt(image.manifest, at: 3)

        let (report, lines) = try verify(test, repair: true)
        #expect(report.problems.map(\.kind) == [.corruptBlob, .danglingManifest, .danglingTag], "\(lines)")
        #expect(report.repaired == 3)
        #expect(throws: StoreError.manifestUnknown(image.manifest.description)) {
            _ = try test.store.manifest(name, image.manifest, maxBytes: 1 << 20)
        }
        #expect(throws: StoreError.manifestUnknown("v1")) { _ = try test.store.resolve(name, tag: try Tag(validating: "v1")) }

        try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 7)])
        #expect(try test.store.manifest(name, image.manifest, maxBytes: 1 << 20).bytes == image.manifestBytes)
        #expect(try verify(test).0.exitStatus == 0)
    }

    /// A damaged manifest left in place is reported once, as a damaged blob, not again as a manifest that does
    /// not parse.
    @Test func damagedManifestIsReportedOnce() throws {
        let test = try TestStore()
        let image = try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 11)])
        try test.corrupt(image.manifest, at: 0)
        let (report, lines) = try verify(test)
        #expect(report.problems.map(\.kind) == [.corruptBlob], "\(lines)")
    }

    @Test func incompleteIndexAndStrayEntriesAreReported() throws {
        let test = try TestStore()
        let image = try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 8)])
        let child = Digest.sha256(of: Array("absent child".utf8))
        let index = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(image.manifest)","size":\#(image.manifestBytes.count)},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(child)","size":5}]}"#.utf8)
        let indexDigest = Digest.sha256(of: index)
        let name = try RepositoryName(validating: "a")
        try test.store.putManifest(name, bytes: index, digest: indexDigest, mediaType: "application/vnd.oci.image.index.v1+json",
                                   tag: nil, subject: nil, referrer: nil)
        // A file in the blob folders that is no blob.
        try FileSystem.writeAtomically([1, 2, 3], to: "\(test.layout.blobsDirectory)/sha256/ab/not-a-digest",
                                       tmpDirectory: test.layout.tmpDirectory)

        let (report, lines) = try verify(test, repair: true)
        #expect(report.problems.map(\.kind) == [.strayEntry, .incompleteManifest], "\(lines)")
        #expect(lines.contains("incomplete-manifest a \(indexDigest): manifests[1] \(child) is not in the repository (push the image again to repair)"),
                "\(lines)")
        #expect(report.repaired == 0, "neither is repaired")
        #expect(FileSystem.exists("\(test.layout.blobsDirectory)/sha256/ab/not-a-digest"))
    }

    @Test func namedRepositoriesAreCheckedAlone() throws {
        let test = try TestStore()
        let a = try test.putImage("a", tag: "v1", layers: [TestStore.bytes(10, seed: 9)])
        let b = try test.putImage("b", tag: "v1", layers: [TestStore.bytes(10, seed: 10)])
        try test.corrupt(b.layers[0])
        let (onlyA, _) = try verify(test, repositories: ["a"])
        #expect(onlyA.exitStatus == 0)
        #expect(onlyA.blobs == 3 && onlyA.repositories == 1)
        let (onlyB, _) = try verify(test, repositories: ["b"])
        #expect(onlyB.problems.map(\.kind) == [.corruptBlob])
        _ = a
        #expect(throws: StoreError.nameUnknown("c")) { _ = try verify(test, repositories: ["c"]) }
    }

    /// Many blobs on several threads: every one is hashed once, and the damaged ones are all found.
    @Test func parallelHashingChecksEveryBlobOnce() throws {
        let test = try TestStore()
        var damaged: Set<Digest> = []
        for i in 0..<40 {
            let digest = try test.putBlob(TestStore.bytes(1000 + i * 997, seed: UInt8(i)), in: "many")
            if i % 7 == 0 {
                try test.corrupt(digest, at: i)
                damaged.insert(digest)
            }
        }
        let (report, _) = try verify(test, jobs: 4)
        #expect(report.blobs == 40)
        #expect(Set(report.problems.filter { $0.kind == .corruptBlob }.map(\.subject)) == Set(damaged.map(\.description)))
    }

    @Test func stopsWhenAsked() throws {
        let test = try TestStore()
        for i in 0..<10 { try test.putBlob(TestStore.bytes(100, seed: UInt8(i)), in: "x") }
        let options = VerifyOptions(shouldStop: { true })
        let output = CollectedOutput()
        let report = try Verifier(store: test.store, options: options, output: output).run()
        #expect(report.stopped && report.exitStatus == 2)
        #expect(report.blobs == 0)
        #expect(output.lines.contains("stopped before the end"))
    }
}
