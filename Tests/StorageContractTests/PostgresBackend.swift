import BlobStore
import Glibc
import PostgresMetadata
import SystemIO
import TestSupport

/// `PostgresMetadataStore` for the contract suite: a fresh database `swtest_<hex>` per fixture on the test server
/// (`SWREGISTRY_TEST_POSTGRES`), dropped by `cleanup`, with a `FileBlobStorage` in a temporary folder for the blobs
/// it records. `all` lists it behind `TestServices.postgresEnabled` (true in CI, where a missing variable makes
/// `make` throw instead of the backend being skipped).
extension MetadataBackend {
    static let postgres = MetadataBackend(name: "postgres") {
        let admin = PGConnectionSettings(conninfo: try TestServices.requirePostgres())
        let name = "swtest_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try PGConnection(settings: admin).query("CREATE DATABASE \(name)")
        let root = makeTemporaryDirectory(prefix: "swr-pgmeta")
        func drop() {
            // FORCE: the store's pool and listener may still hold sessions.
            _ = try? PGConnection(settings: admin).query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            FileSystem.removeTree(root)
        }
        do {
            let store = try PostgresMetadataStore(settings: admin.with(dbname: name))
            // Changes by others count only once the listener is in force.
            for _ in 0..<500 where !store.isListening { usleep(10_000) }
            return MetadataFixture(store: store, blobs: try FileBlobStorage(root: root), cleanup: {
                store.close()
                drop()
            })
        } catch {
            drop()
            throw error
        }
    }
}
