import Glibc
import SystemIO
import TestSupport
import Testing
@testable import ImageTransport

/// What `oci-archive:` extraction takes from a tar file.
@Suite struct OCIArchiveExtractTests {
    /// A sparse entry declares a size the archive does not hold: a hole of any size costs the archive nothing, and would
    /// be a blob file of that size to hash. Blobs are never stored sparse, so such an entry is refused; the same file
    /// stored whole extracts.
    @Test func sparseEntryIsRefusedAndTheSameFileStoredWholeExtracts() throws {
        let scratch = makeTemporaryDirectory(prefix: "swcopy-sparse-archive")
        defer { FileSystem.removeTree(scratch) }
        let hex = String(repeating: "ab", count: 32)
        try shell("""
            set -e
            cd '\(scratch)' && mkdir -p layout/blobs/sha256 && cd layout
            echo '{"imageLayoutVersion":"1.0.0"}' > oci-layout
            printf x > blobs/sha256/\(hex) && truncate -s 8M blobs/sha256/\(hex)
            tar --sparse --format=posix -cf ../sparse.tar oci-layout blobs
            tar --format=posix -cf ../whole.tar oci-layout blobs
            """)
        #expect(throws: TransportError.self) {
            try OCIArchive.extract(scratch + "/sparse.tar", into: scratch + "/out-sparse")
        }
        try OCIArchive.extract(scratch + "/whole.tar", into: scratch + "/out-whole")
        #expect(FileSystem.fileSize("\(scratch)/out-whole/blobs/sha256/\(hex)") == 8 << 20)
    }
}
