import Glibc
import OCIModel
import Testing
import SystemIO
import TarArchive
import TestSupport
@testable import LayerCache

/// Archive bombs and disk fillers: the expansion ratio, sparse files, the free-space reserve.
@Suite("Archive bombs and disk space", .serialized)
struct UnpackBombTests {
    /// Writes a layer holding one file per `(name, size, data)`: `size` bytes of zeros with `data` bytes written
    /// at the given offsets. - Returns: the blob's summary.
    static func writeZerosLayer(_ path: String, files: [(name: String, size: Int, data: [(offset: Int, bytes: [UInt8])])],
                                gzip: Bool = true) throws -> TarWriter.Summary
    {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ShellError(description: "cannot create \(path)") }
        defer { close(fd) }
        let writer = try TarWriter(fileDescriptor: fd, compression: gzip ? .gzip : .none, level: 1)
        for file in files {
            try writer.append(TarEntry(kind: .regular, path: file.name, size: Int64(file.size)))
            var offset = 0
            while offset < file.size {
                let n = min(1 << 20, file.size - offset)
                try writer.writeContent(expectedChunk(of: file.data, at: offset, count: n))
                offset += n
            }
        }
        return try writer.finish()
    }

    /// `count` bytes at `offset` of a file of zeros with `data` written in it.
    static func expectedChunk(of data: [(offset: Int, bytes: [UInt8])], at offset: Int, count: Int) -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        for (at, bytes) in data where at + bytes.count > offset && at < offset + count {
            for (i, byte) in bytes.enumerated() where (offset..<offset + count).contains(at + i) {
                chunk[at + i - offset] = byte
            }
        }
        return chunk
    }

    /// Unpacks `blob` as the one layer of a stack in `store`, as `swcopy prepare` does.
    static func unpack(_ blob: String, diffID: Digest, into store: CacheStore, limits: UnpackLimits,
                       mediaType: MediaType = .ociLayerGzip) throws -> String?
    {
        let stack = try store.ensureStack(diffIDs: [diffID]) { _, root in
            let stream = try LayerStream(layerFile: blob, mediaType: mediaType,
                                         options: UnpackOptions(expectedDiffID: diffID, limits: limits))
            try LayerUnpacker.apply(stream, onto: root)
        }
        return stack.rootfs
    }

    /// Whether the cache holds no stack and no work directory.
    static func expectNothingLeft(_ store: CacheStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try FileSystem.list(store.layout.layersDirectory).isEmpty, sourceLocation: sourceLocation)
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty, sourceLocation: sourceLocation)
    }

    @Test("a gzip layer of zeros expanding past the default ratio and floor is refused, and leaves nothing")
    func zerosBeyondTheRatioAreRefused() throws {
        let scratch = ScratchDirectory("bomb")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        // 520 MiB of zeros compress to ~2 MiB at level 1: past the 512 MiB floor, and ~250x the blob.
        let blob = scratch.sub("bomb.tar.gz")
        let summary = try Self.writeZerosLayer(blob, files: [("zeros", 520 << 20, [])])
        #expect(summary.size * UnpackLimits.defaultExpansionRatio < UnpackLimits.defaultExpansionFloor)
        #expect {
            _ = try Self.unpack(blob, diffID: summary.diffID, into: store, limits: UnpackLimits())
        } throws: { error in
            guard case let .limitExceeded(what) = error as? UnpackError else { return false }
            return what.contains("more than 50 times its \(summary.size)-byte blob") && what.contains("--max-layer-ratio")
                && "\(error)".hasPrefix("layer refused: ")
        }
        try Self.expectNothingLeft(store)

        // The ratio without the floor refuses a smaller bomb too; with the ratio off, the 64 GiB cap stays.
        let small = scratch.sub("small.tar.gz")
        let smallSummary = try Self.writeZerosLayer(small, files: [("zeros", 16 << 20, [])])
        #expect(throws: UnpackError.self) {
            _ = try Self.unpack(small, diffID: smallSummary.diffID, into: store,
                                limits: UnpackLimits(maxExpansionRatio: 50, expansionFloor: 1 << 20))
        }
        try Self.expectNothingLeft(store)
        #expect(UnpackLimits(maxExpansionRatio: 0).uncompressedLimit(compressedSize: 10 << 20).bytes == 64 << 30)
        // An uncompressed layer cannot expand: only the size cap applies.
        #expect(UnpackLimits().uncompressedLimit(compressedSize: nil).bytes == 64 << 30)
        #expect(UnpackLimits().uncompressedLimit(compressedSize: 100 << 20).bytes == 5000 << 20)
    }

    @Test("zeros within the limits are unpacked as holes, in the cache and in a flattened copy")
    func zerosAreUnpackedSparse() throws {
        let scratch = ScratchDirectory("bomb")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let blob = scratch.sub("sparse.tar.gz")
        let data: [(offset: Int, bytes: [UInt8])] = [(0, [UInt8](repeating: 0x5A, count: 10_000)),
                                                     (20 << 20, Array("middle".utf8))]
        let size = 48 << 20  // ends in 28 MiB of zeros: a trailing hole
        let summary = try Self.writeZerosLayer(blob, files: [("sparse", size, data), ("empty-zeros", 8 << 20, [])])
        let rootfs = try #require(try Self.unpack(blob, diffID: summary.diffID, into: store, limits: UnpackLimits()))
        let bundle = scratch.sub("bundle")
        Fixture.mkdirs(bundle)
        try Rootfs.flatten(from: rootfs, to: "\(bundle)/rootfs")
        for tree in [rootfs, "\(bundle)/rootfs"] {
            let path = "\(tree)/sparse"
            let st = try #require(CacheFiles.lstatOrNil(path))
            #expect(st.st_size == size)
            #expect(Int64(st.st_blocks) * 512 < 1 << 20, "\(path) takes \(st.st_blocks * 512) bytes")
            #expect(Int64(try #require(CacheFiles.lstatOrNil("\(tree)/empty-zeros")).st_blocks) * 512 < 64 << 10)
            // The content is right: the data where it was written, zeros everywhere else.
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0xFF, count: 1 << 20)
            var offset = 0, mismatches = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                let expected = Self.expectedChunk(of: data, at: offset, count: n)
                let same = buffer.withUnsafeBytes { got in expected.withUnsafeBytes { memcmp(got.baseAddress!, $0.baseAddress!, n) } }
                if same != 0 { mismatches += 1 }
                offset += n
            }
            #expect(offset == size)
            #expect(mismatches == 0, "\(path)")
        }
    }

    @Test("the free-space reserve stops unpacking and copying, before and while writing, and leaves nothing")
    func freeSpaceReserve() throws {
        let scratch = ScratchDirectory("bomb")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let blob = scratch.sub("layer.tar.gz")
        let summary = try Self.writeZerosLayer(blob, files: [("f", 4096, [(0, Array("data".utf8))])])
        // A reserve larger than any disk: refused before anything is written.
        let huge: Int64 = 1 << 60
        #expect {
            _ = try Self.unpack(blob, diffID: summary.diffID, into: store, limits: UnpackLimits(freeSpaceReserve: huge))
        } throws: { error in
            guard let error = error as? FreeSpaceError else { return false }
            return error.reserve == huge && "\(error)".contains("--min-free-space")
        }
        try Self.expectNothingLeft(store)
        // The same layer with the default reserve; then its copy is refused with the huge one.
        let rootfs = try #require(try Self.unpack(blob, diffID: summary.diffID, into: store, limits: UnpackLimits()))
        Fixture.mkdirs(scratch.sub("bundle"))
        #expect(throws: FreeSpaceError.self) {
            try Rootfs.flatten(from: rootfs, to: scratch.sub("bundle/rootfs"), freeSpaceReserve: huge)
        }
        #expect(!CacheFiles.exists(scratch.sub("bundle/rootfs")))

        // While writing: on a 64 MiB tmpfs with a 32 MiB reserve, a layer of 48 MiB of random data starts (64 MiB
        // free) and is stopped part-way (checked every 8 MiB), before the tmpfs is full.
        guard Fixture.isRoot else { return }
        let small = scratch.sub("tmpfs")
        Fixture.mkdirs(small)
        do {
            try shell("mount -t tmpfs -o size=64m swcopy-test '\(small)'")
        } catch {
            print("SKIPPED the tmpfs part of the free-space test: \(error)")
            return
        }
        defer { _ = try? shell("umount -l '\(small)'") }
        let smallStore = try CacheStore(root: "\(small)/cache", syncBeforePublish: false)
        let hex = try shell("cd '\(scratch.path)' && head -c 48M /dev/urandom > noise && tar -cf data.tar noise "
                            + "&& sha256sum data.tar").prefix(64)
        #expect {
            _ = try Self.unpack(scratch.sub("data.tar"), diffID: try Digest(algorithm: .sha256, encoded: String(hex)),
                                into: smallStore, limits: UnpackLimits(freeSpaceReserve: 32 << 20), mediaType: .ociLayer)
        } throws: { error in
            guard let error = error as? FreeSpaceError else { return false }
            return error.available < 32 << 20 && error.available > 8 << 20
        }
        try Self.expectNothingLeft(smallStore)
    }
}
