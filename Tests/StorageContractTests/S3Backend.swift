import BlobStore
import Glibc
import S3Storage

/// `S3BlobStorage` for the contract suite: the test bucket on Ceph RGW (`SWREGISTRY_TEST_S3_*`), under a fresh
/// random root prefix per fixture, with 5 MiB parts so that the suite's uploads cross part boundaries and leave
/// tails both inline and as objects. `all` lists it behind `TestServices.s3Enabled` (true in CI, where a missing
/// variable makes `make` throw instead of the backend being skipped).
extension BlobBackend {
    static let s3 = BlobBackend(name: "s3") {
        let configuration = try S3ContractEnvironment.configuration()
        let root = "swtest/contract-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        @Sendable func open() throws -> S3BlobStorage {
            try S3BlobStorage(configuration, rootDirectory: root, chunkSize: S3BlobStorage.minimumChunkSize)
        }
        let storage = try open()
        return BlobFixture(
            storage: storage,
            reopen: { try open() },
            // No way to make one upload's writes fail on a shared RGW; S3StorageTests covers a dead endpoint.
            breakUpload: nil,
            cleanup: { S3ContractEnvironment.removeEverything(under: root, storage.client) })
    }
}

/// The `SWREGISTRY_TEST_S3_*` settings (the same variables `TestServices.requireS3()` reads).
enum S3ContractEnvironment {
    struct Missing: Error, CustomStringConvertible {
        var variables: [String]
        var description: String { "S3 contract tests need \(variables.joined(separator: ", "))" }
    }

    static func variable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static func configuration() throws -> S3Configuration {
        let names = ["ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"].map { "SWREGISTRY_TEST_S3_\($0)" }
        let values = names.map(variable)
        let missing = zip(names, values).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else { throw Missing(variables: missing) }
        return S3Configuration(
            endpoint: values[0]!, region: variable("SWREGISTRY_TEST_S3_REGION") ?? "us-east-1", bucket: values[3]!,
            credentials: S3Credentials(accessKey: values[1]!, secretKey: values[2]!), forcePathStyle: true)
    }

    /// Best effort: every object and multipart upload under `root`.
    static func removeEverything(under root: String, _ client: S3Client) {
        if let uploads = try? client.listMultipartUploads(prefix: root + "/") {
            for upload in uploads.uploads { try? client.abortMultipartUpload(upload.key, uploadID: upload.uploadID) }
        }
        var keys: [String] = []
        try? client.forEachObject(prefix: root + "/") { object in
            keys.append(object.key)
            return true
        }
        _ = try? client.deleteObjects(keys)
    }
}
