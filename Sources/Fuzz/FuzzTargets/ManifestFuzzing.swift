import Foundation
import OCIModel

/// Manifest and index decoding and validation, as a PUT of a manifest or a pull reads them. A document that is
/// accepted must encode to a document that is accepted again, with the same kind and descriptors.
///
/// Input: a selector byte for the Content-Type sent along, then the document.
enum ManifestFuzzing {
    static let contentTypes: [String?] = [
        nil, "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/json", "application/vnd.docker.distribution.manifest.v1+prettyjws", "text/plain; charset=utf-8",
    ]

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let contentType = contentTypes[Int(input.byte()) % contentTypes.count]
        let bytes = input.rest()
        guard let document = try? ManifestDocument.parse(bytes, contentType: contentType) else { return }
        _ = document.referencedDescriptors
        _ = document.subject
        _ = document.artifactType
        let encoded = document.encoded()
        do {
            let again = try ManifestDocument.parse(encoded, contentType: contentType)
            check(again.mediaType == document.mediaType, "media type \(document.mediaType) re-read as \(again.mediaType)")
            check(again.referencedDescriptors == document.referencedDescriptors, "descriptors change on re-encoding")
        } catch {
            check(false, "accepted manifest re-encodes to a refused one: \(error)\n\(String(decoding: encoded, as: UTF8.self))")
        }
    }
}
