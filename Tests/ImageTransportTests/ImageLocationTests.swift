import OCIModel
import Testing
@testable import ImageTransport

@Suite struct ImageLocationTests {
    @Test func registryReferences() throws {
        #expect(try ImageLocation(parsing: "docker://localhost:5000/a/b:v1")
            == .registry(.init(registry: "localhost:5000", repository: "a/b", tag: "v1")))
        #expect(try ImageLocation(parsing: "docker://busybox")
            == .registry(.init(registry: "docker.io", repository: "library/busybox", tag: "latest")))
        let digest = "sha256:" + String(repeating: "a", count: 64)
        guard case .registry(let image) = try ImageLocation(parsing: "docker://127.0.0.1:5000/x@\(digest)") else {
            Issue.record("not a registry"); return
        }
        #expect(image.reference == digest)
        #expect(image.tag == nil)
        guard case .registry(let plain) = try ImageLocation(parsing: "docker://127.0.0.1:5000/x") else { return }
        #expect(plain.reference == "latest")
    }

    @Test func layoutReferences() throws {
        #expect(try ImageLocation(parsing: "oci:/tmp/x:v1.0") == .ociLayout(directory: "/tmp/x", reference: "v1.0"))
        #expect(try ImageLocation(parsing: "oci:/tmp/x") == .ociLayout(directory: "/tmp/x", reference: nil))
        #expect(try ImageLocation(parsing: "oci:rel") == .ociLayout(directory: "rel", reference: nil))
        #expect(try ImageLocation(parsing: "oci-archive:/tmp/a.tar:latest")
            == .ociArchive(file: "/tmp/a.tar", reference: "latest"))
        #expect(try ImageLocation(parsing: "dir:/tmp/d") == .directory(path: "/tmp/d"))
    }

    @Test(arguments: [
        "", "nothing", "docker:/x", "docker://", "docker://UPPER/Case", "ftp://x", "oci:", "oci::ref", "dir:",
        "oci:/tmp/x:bad ref", "oci:/tmp/x:-leading", "docker://host/name:bad!tag",
    ])
    func invalid(_ text: String) {
        #expect(throws: TransportError.self) { try ImageLocation(parsing: text) }
    }

    @Test func referenceNameGrammar() {
        for good in ["latest", "v1.0", "a/b", "x--y", "1:2", "a@b+c"] { #expect(OCILayout.isValidReferenceName(good)) }
        for bad in ["", "-a", "a-", "a/", "/a", "a---b", "a..b", "a b", "é"] {
            #expect(!OCILayout.isValidReferenceName(bad))
        }
    }
}
