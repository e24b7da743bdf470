import Glibc
import OCIModel
import Testing
import SystemIO
import TarArchive
import TestSupport
@testable import LayerCache

/// Layers holding GNU sparse files (old GNU `S` entries, PAX sparse 0.0, 0.1, 1.0), as GNU tar writes them.
@Suite("Sparse files in layers", .serialized)
struct UnpackSparseTests {
    /// GNU tar's options for each sparse format.
    static let formats: [String: String] = [
        "gnu": "--format=gnu",
        "pax-0.0": "--format=posix --sparse-version=0.0",
        "pax-0.1": "--format=posix --sparse-version=0.1",
        "pax-1.0": "--format=posix --sparse-version=1.0",
    ]

    /// Archives `names` of `scratch/src` with GNU tar in `format` as `layer.tar`, gzips it to `layer.tar.gz`.
    /// - Returns: The diffID.
    static func makeLayer(_ scratch: ScratchDirectory, format: String, names: [String]) throws -> Digest {
        let options = try #require(formats[format])
        let hex = try shell("cd '\(scratch.path)' && tar --sparse \(options) -C src -cf layer.tar \(names.joined(separator: " ")) "
                            + "&& gzip -kf layer.tar && sha256sum layer.tar").prefix(64)
        return try Digest(algorithm: .sha256, encoded: String(hex))
    }

    @Test("GNU tar's sparse files unpack byte-exact, at their real size, with their holes kept",
          arguments: ["gnu", "pax-0.0", "pax-0.1", "pax-1.0"])
    func unpacksSparseFiles(format: String) throws {
        let scratch = ScratchDirectory("sparse")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        // Data islands (unaligned, random, one at the very end), a 1 TiB file that is only a hole, 40 islands (old GNU
        // extension blocks) ending in a hole, a plain file.
        try shell("""
            set -e
            cd '\(scratch.path)' && mkdir src && cd src
            truncate -s 10M islands
            printf 'hello' | dd of=islands bs=1 seek=1048579 conv=notrunc status=none
            head -c 70000 /dev/urandom | dd of=islands bs=1000 seek=5000 conv=notrunc status=none
            printf 'tail' | dd of=islands bs=1 seek=$((10 * 1048576 - 4)) conv=notrunc status=none
            truncate -s 1T hole
            truncate -s 3M many
            for i in $(seq 0 39); do
                printf "island $i" | dd of=many bs=1 seek=$((i * 65536 + 100)) conv=notrunc status=none
            done
            printf 'plain\\n' > plain
            """)
        let diffID = try Self.makeLayer(scratch, format: format, names: ["islands", "hole", "many", "plain"])
        // The limits see the tar stream (the stored data), never the 1 TiB: the defaults accept the layer.
        let rootfs = try #require(try UnpackBombTests.unpack(scratch.sub("layer.tar.gz"), diffID: diffID, into: store,
                                                              limits: UnpackLimits()))
        for (name, size, maxDisk) in [("islands", Int64(10 << 20), Int64(1 << 20)), ("hole", Int64(1) << 40, Int64(64 << 10)),
                                      ("many", Int64(3 << 20), Int64(1 << 20)), ("plain", Int64(6), Int64(64 << 10))] {
            let st = try #require(CacheFiles.lstatOrNil("\(rootfs)/\(name)"), "\(name) missing")
            #expect(Int64(st.st_size) == size, "\(name)")
            #expect(Int64(st.st_blocks) * 512 <= maxDisk, "\(name) takes \(st.st_blocks * 512) bytes")
            #expect((st.st_mode & S_IFMT) == S_IFREG)
            if name != "hole" {
                _ = try shell("cmp '\(scratch.sub("src/\(name)"))' '\(rootfs)/\(name)'")
            }
        }
        // The hole reads as zeros (cmp over 1 TiB would take minutes: its start and end suffice with st_blocks).
        let fd = open("\(rootfs)/hole", O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0xff, count: 4096)
        #expect(buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 4096, 0) } == 4096)
        #expect(buffer.allSatisfy { $0 == 0 })
        #expect(buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 4096, off_t((1 << 40) - 4096)) } == 4096)
        #expect(buffer.allSatisfy { $0 == 0 })
    }

    @Test("a sparse file's stored data counts against the expansion ratio like any other content")
    func sparseDataIsCounted() throws {
        let scratch = ScratchDirectory("sparse")
        // 4 MiB of 'a' (compresses ~1000×, and is not zeros, so GNU tar stores it) in a 1 GiB sparse file.
        try shell("""
            set -e
            cd '\(scratch.path)' && mkdir src
            truncate -s 1G src/f
            yes a | tr -d '\\n' | head -c 4M | dd of=src/f bs=1M seek=100 conv=notrunc status=none
            """)
        for format in ["gnu", "pax-1.0"] {
            let store = try CacheStore(root: scratch.sub("cache-\(format)"), syncBeforePublish: false)
            let diffID = try Self.makeLayer(scratch, format: format, names: ["f"])
            #expect {
                _ = try UnpackBombTests.unpack(scratch.sub("layer.tar.gz"), diffID: diffID, into: store,
                                               limits: UnpackLimits(maxExpansionRatio: 50, expansionFloor: 1 << 20))
            } throws: { error in
                guard case let .limitExceeded(what) = error as? UnpackError else { return false }
                return what.contains("--max-layer-ratio")
            }
            try UnpackBombTests.expectNothingLeft(store)
            // Within the limits, the data is written and the rest stays a hole.
            let rootfs = try #require(try UnpackBombTests.unpack(scratch.sub("layer.tar.gz"), diffID: diffID,
                                                                  into: store, limits: UnpackLimits()))
            let st = try #require(CacheFiles.lstatOrNil("\(rootfs)/f"))
            #expect(Int64(st.st_size) == 1 << 30)
            #expect(Int64(st.st_blocks) * 512 >= 4 << 20)
            #expect(Int64(st.st_blocks) * 512 < 8 << 20)
            _ = try shell("cmp '\(scratch.sub("src/f"))' '\(rootfs)/f'")
        }
    }

    @Test("a layer with a hostile sparse map is refused as an archive error and leaves nothing")
    func hostileMapRefused() throws {
        let scratch = ScratchDirectory("sparse")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        // PAX 0.1 with overlapping fragments, written by Python (tarfile passes unknown records through).
        try shell("""
            cd '\(scratch.path)' && python3 -c "
            import io, tarfile
            t = tarfile.open('bad.tar', 'w', format=tarfile.PAX_FORMAT)
            i = tarfile.TarInfo('GNUSparseFile.0/f'); i.size = 20
            i.pax_headers = {'GNU.sparse.size': '100', 'GNU.sparse.name': 'f', 'GNU.sparse.map': '0,10,5,10'}
            t.addfile(i, io.BytesIO(b'x' * 20)); t.close()
            " && gzip -k bad.tar
            """)
        let hex = try shell("sha256sum '\(scratch.sub("bad.tar"))'").prefix(64)
        #expect {
            _ = try UnpackBombTests.unpack(scratch.sub("bad.tar.gz"), diffID: try Digest(algorithm: .sha256, encoded: String(hex)),
                                           into: store, limits: UnpackLimits())
        } throws: { error in
            guard case let .archive(tarError) = error as? UnpackError, case let .malformed(_, reason) = tarError else {
                return false
            }
            return reason.contains("overlap")
        }
        try UnpackBombTests.expectNothingLeft(store)
    }
}
