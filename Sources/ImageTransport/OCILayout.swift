import Glibc
import OCIModel
import SystemIO

/// An OCI image layout on disk (image-spec `image-layout.md`):
///
/// ```
/// DIR/
/// ├── oci-layout            {"imageLayoutVersion": "1.0.0"}
/// ├── index.json            an image index; entries named by the org.opencontainers.image.ref.name annotation
/// ├── blobs/<alg>/<hex>     every blob and manifest, by digest (shared by every image of the layout)
/// └── .tmp-*                files being written by swcopy (renamed into blobs/ once verified)
/// ```
struct OCILayout: Sendable {
    static let refNameAnnotation = "org.opencontainers.image.ref.name"
    static let layoutFileContents = Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)
    static let maxManifestBytes = 4 << 20

    let directory: String

    func blobPath(_ digest: Digest) -> String { "\(directory)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }
    var indexPath: String { directory + "/index.json" }

    /// Checks that `directory` is a layout this tool can read.
    func validate() throws {
        guard let bytes = try FileSystem.read(directory + "/oci-layout", maxBytes: 64 << 10) else {
            throw TransportError.invalidImage("oci:\(directory)", reason: "not an OCI image layout (no oci-layout file)")
        }
        struct LayoutFile: Decodable { var imageLayoutVersion: String }
        guard let file = try? JSONCoding.decode(LayoutFile.self, from: bytes) else {
            throw TransportError.invalidImage("oci:\(directory)", reason: "oci-layout is not valid JSON")
        }
        guard file.imageLayoutVersion.hasPrefix("1.") else {
            throw TransportError.invalidImage(
                "oci:\(directory)", reason: "unsupported imageLayoutVersion \(file.imageLayoutVersion)")
        }
    }

    /// The layout's `index.json`; an empty index when `allowMissing` and there is none yet.
    func readIndex(allowMissing: Bool = false) throws -> ImageIndex {
        guard let bytes = try FileSystem.read(indexPath, maxBytes: 64 << 20) else {
            if allowMissing { return ImageIndex(manifests: []) }
            throw TransportError.invalidImage("oci:\(directory)", reason: "no index.json")
        }
        do {
            return try JSONCoding.decode(ImageIndex.self, from: bytes)
        } catch {
            throw TransportError.invalidImage("oci:\(directory)/index.json", reason: "\(error)")
        }
    }

    /// Creates the directory, `oci-layout` and `blobs/` when missing.
    func create() throws {
        try FileSystem.makeDirectories(directory + "/blobs")
        if let existing = try FileSystem.read(directory + "/oci-layout", maxBytes: 64 << 10) {
            _ = existing
            try validate()
        } else {
            try FileSystem.writeAtomically(Self.layoutFileContents, to: directory + "/oci-layout",
                                           tmpDirectory: directory)
        }
    }

    /// Writes `index.json` atomically.
    func writeIndex(_ index: ImageIndex) throws {
        try FileSystem.writeAtomically(index.encoded(), to: indexPath, tmpDirectory: directory)
    }

    /// Reads a manifest blob and checks it against its descriptor.
    func readManifest(_ descriptor: Descriptor) throws -> ManifestData {
        try BlobFiles.readManifest(at: blobPath(descriptor.digest), descriptor: descriptor,
                                   what: "oci:\(directory): manifest \(descriptor.digest)")
    }

    /// The image-layout grammar for `org.opencontainers.image.ref.name`:
    /// `component ("/" component)*`, `component ::= alphanum (separator alphanum)*`, `separator ::= [-._:@+] | "--"`.
    static func isValidReferenceName(_ name: String) -> Bool {
        func isAlphanumeric(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        }
        func isSeparator(_ c: UInt8) -> Bool {
            c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: ":")
                || c == UInt8(ascii: "@") || c == UInt8(ascii: "+")
        }
        for component in name.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let bytes = Array(component)
            guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
                return false
            }
            var index = 0
            while index < bytes.count {
                if isAlphanumeric(bytes[index]) { index += 1; continue }
                guard isSeparator(bytes[index]) else { return false }
                // One separator, or exactly "--".
                if bytes[index] == UInt8(ascii: "-") && bytes[index + 1] == UInt8(ascii: "-") { index += 1 }
                index += 1
                guard isAlphanumeric(bytes[index]) else { return false }
            }
        }
        return true
    }
}
