import BlobStore
import Foundation
import Glibc
import Logging
import PostgresMetadata
import S3Storage
import SystemIO
import TestSupport

/// With `SWREGISTRY_TEST_STORAGE=s3` in the environment, `RegistryFixture` serves over the scale-out backend: S3
/// (the test bucket on Ceph RGW, under a fresh prefix) and PostgreSQL (a fresh database), composed as
/// `ComposedStorage`, blobs streamed through the replica (no redirects, so that the suites read bodies). The API
/// conformance suites then run against it as they run against the filesystem store (`scripts/test`).
final class ScaleOutTestStorage {
    let storage: ComposedStorage
    private let metadata: PostgresMetadataStore
    private let blobs: S3BlobStorage
    private let admin: PGConnectionSettings
    private let database: String
    private let root: String

    static var isRequested: Bool { ProcessInfo.processInfo.environment["SWREGISTRY_TEST_STORAGE"] == "s3" }

    init(uploadLimits: UploadLimits) throws {
        let s3 = try TestServices.requireS3()
        admin = PGConnectionSettings(conninfo: try TestServices.requirePostgres())
        database = "swtest_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        root = TestServices.randomS3Prefix("api")
        try PGConnection(settings: admin).query("CREATE DATABASE \(database)")
        do {
            metadata = try PostgresMetadataStore(settings: admin.with(dbname: database))
            // Changes count across replicas only once the listener is in force.
            for _ in 0..<500 where !metadata.isListening { usleep(10_000) }
            let configuration = S3Configuration(
                endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
                credentials: S3Credentials(accessKey: s3.accessKey, secretKey: s3.secretKey), forcePathStyle: true)
            blobs = try S3BlobStorage(configuration, rootDirectory: root, chunkSize: S3BlobStorage.minimumChunkSize)
        } catch {
            _ = try? PGConnection(settings: admin).query("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
            throw error
        }
        var quiet = Logger(label: "api-test-storage")
        quiet.logLevel = .critical
        storage = ComposedStorage(blobs: blobs, metadata: metadata, uploadLimits: uploadLimits, logger: quiet,
                                  redirect: false)
    }

    /// Drops the database and every object under the prefix (best effort).
    func remove() {
        metadata.close()
        _ = try? PGConnection(settings: admin).query("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        if let uploads = try? blobs.client.listMultipartUploads(prefix: root + "/") {
            for upload in uploads.uploads { try? blobs.client.abortMultipartUpload(upload.key, uploadID: upload.uploadID) }
        }
        var keys: [String] = []
        try? blobs.client.forEachObject(prefix: root + "/") { object in
            keys.append(object.key)
            return true
        }
        _ = try? blobs.client.deleteObjects(keys)
    }
}
