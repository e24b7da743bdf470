import BlobStore
import Foundation
import OCIModel
import StoreMaintenance
import SystemIO
import Testing

@Suite struct UsageTests {
    /// Two repositories sharing a layer, one blob linked by nobody, one quarantined file: every figure is known.
    @Test func totalsSharedAndExclusive() throws {
        let test = try TestStore()
        let shared = TestStore.bytes(10_000, seed: 1)
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)  // 37 bytes, in both repositories
        let a = try test.putImage("team/a", tag: "v1", layers: [shared, TestStore.bytes(3000, seed: 2)], config: config)
        let b = try test.putImage("b", tag: "v1", layers: [shared, TestStore.bytes(500, seed: 3)], config: config)
        // Stored but linked by no repository (an upload whose manifest never came).
        let orphan = TestStore.bytes(777, seed: 4)
        try FileSystem.writeAtomically(orphan, to: test.layout.blob(Digest.sha256(of: orphan)), tmpDirectory: test.layout.tmpDirectory)
        try FileSystem.makePrivateDirectory(test.layout.quarantineDirectory)
        try FileSystem.makePrivateDirectory(test.layout.quarantineDirectory + "/sha256")
        try FileSystem.writeAtomically([UInt8](repeating: 0, count: 64), to: test.layout.quarantineDirectory + "/sha256/x",
                                       tmpDirectory: test.layout.tmpDirectory)

        let report = try Usage.measure(test.store)
        let aManifest = Int64(a.manifestBytes.count), bManifest = Int64(b.manifestBytes.count)
        #expect(report.repositories == [
            UsageReport.Repository(name: "b", total: 37 + 10_000 + 500 + bManifest, shared: 10_037,
                                   exclusive: 500 + bManifest, blobs: 4),
            UsageReport.Repository(name: "team/a", total: 37 + 10_000 + 3000 + aManifest, shared: 10_037,
                                   exclusive: 3000 + aManifest, blobs: 4),
        ])
        #expect(report.store == UsageReport.Store(
            repositories: 2, blobs: 7, bytes: 37 + 10_000 + 3000 + 500 + aManifest + bManifest + 777,
            unreferencedBlobs: 1, unreferencedBytes: 777, quarantinedFiles: 1, quarantinedBytes: 64))

        // Named repositories: only those rows, sharing still judged against the whole store.
        let onlyB = try Usage.measure(test.store, repositories: [try RepositoryName(validating: "b")])
        #expect(onlyB.repositories.map(\.name) == ["b"])
        #expect(onlyB.repositories[0].shared == 10_037)
        #expect(throws: StoreError.nameUnknown("nope")) {
            _ = try Usage.measure(test.store, repositories: [try RepositoryName(validating: "nope")])
        }
    }

    @Test func tableAndJSON() throws {
        let report = UsageReport(
            repositories: [
                .init(name: "library/ubuntu", total: 30 << 20, shared: 1536, exclusive: (30 << 20) - 1536, blobs: 5),
                .init(name: "x", total: 1536, shared: 1536, exclusive: 0, blobs: 1),
            ],
            store: .init(repositories: 2, blobs: 5, bytes: 30 << 20, unreferencedBlobs: 0, unreferencedBytes: 0,
                         quarantinedFiles: 0, quarantinedBytes: 0))
        #expect(report.tableLines == [
            "REPOSITORY         TOTAL   SHARED  EXCLUSIVE  BLOBS",
            "library/ubuntu  30.0 MiB  1.5 KiB   30.0 MiB      5",
            "x                1.5 KiB  1.5 KiB        0 B      1",
            "store: 2 repositories, 5 blobs, 30.0 MiB (each blob counted once); linked by no repository: 0 blobs, 0 B",
        ])
        let decoded = try JSONDecoder().decode(UsageReport.self, from: JSONEncoder().encode(report))
        #expect(decoded == report)
    }

    @Test func humanSizes() {
        #expect(ByteCount.human(0) == "0 B")
        #expect(ByteCount.human(1023) == "1023 B")
        #expect(ByteCount.human(1024) == "1.0 KiB")
        #expect(ByteCount.human(1536) == "1.5 KiB")
        #expect(ByteCount.human(5 << 30) == "5.0 GiB")
        #expect(ByteCount.human(Int64.max) == "8.0 EiB")
    }
}
