import Glibc
import S3Storage

/// The RGW settings from `SWREGISTRY_TEST_S3_*`, read here until `TestServices` (Tests/TestSupport, helper "infra")
/// is on this branch; then this file goes and the suites use `TestServices.s3Enabled` / `requireS3()`.
/// Same rule: skipped when the variables are absent, unless `CI` is set, where their absence fails the tests.
enum S3TestEnvironment {
    static func variable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static var isCI: Bool {
        guard let value = variable("CI") else { return false }
        return !["0", "false"].contains(value.lowercased())
    }

    static var enabled: Bool { variable("SWREGISTRY_TEST_S3_ENDPOINT") != nil || isCI }

    struct Missing: Error, CustomStringConvertible {
        var variables: [String]
        var description: String {
            "S3 tests need \(variables.joined(separator: ", ")) (scripts/services/ceph-rgw.sh start)"
        }
    }

    /// A configuration for the test bucket. - Throws: ``Missing`` naming the absent variables.
    static func configuration(bucket: String? = nil) throws -> S3Configuration {
        let names = ["ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"].map { "SWREGISTRY_TEST_S3_\($0)" }
        let values = names.map(variable)
        let missing = zip(names, values).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else { throw Missing(variables: missing) }
        return S3Configuration(
            endpoint: values[0]!, region: variable("SWREGISTRY_TEST_S3_REGION") ?? "us-east-1",
            bucket: bucket ?? values[3]!, credentials: S3Credentials(accessKey: values[1]!, secretKey: values[2]!),
            forcePathStyle: true, connectTimeout: .seconds(3), stallTimeout: .seconds(10))
    }

    static func client() throws -> S3Client { try S3Client(configuration()) }

    /// A fresh key prefix inside the shared bucket, so runs never see each other's objects.
    static func randomPrefix(_ label: String = "t") -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        return "swtest/\(label)-" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Best effort: every object and multipart upload under `prefix` (a test's own random prefix).
    static func removeEverything(under prefix: String, _ client: S3Client) {
        if let uploads = try? client.listMultipartUploads(prefix: prefix) {
            for upload in uploads.uploads { try? client.abortMultipartUpload(upload.key, uploadID: upload.uploadID) }
        }
        var keys: [String] = []
        try? client.forEachObject(prefix: prefix) { object in
            keys.append(object.key)
            return true
        }
        _ = try? client.deleteObjects(keys)
    }
}
