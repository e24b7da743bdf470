import Foundation
import OCIModel
import Testing
@testable import ImageTransport

@Suite struct InspectTests {
    @Test func summaryOfAnIndexedImage() async throws {
        let scratch = Scratch()
        let builder = try TestImageBuilder(layoutPath: scratch.path + "/src")
        let amd = try builder.writeImage(layerSizes: [10, 20], seed: 1)
        let arm = try builder.writeImage(layerSizes: [30], seed: 2, platform: Platform(architecture: "arm64", os: "linux"))
        let index = try builder.writeIndex([amd, arm])
        try builder.tag(index, as: "multi")
        let source = try OCILayoutSource(directory: scratch.path + "/src", reference: "multi")
        let summary = try await ImageReader.inspect(
            source, name: nil, platform: PlatformSelector(os: "linux", architecture: "arm64"))
        #expect(summary.digest == index.digest)
        #expect(summary.architecture == "arm64")
        #expect(summary.layers.count == 1)
        #expect(summary.env == ["PATH=/bin"])
        #expect(summary.repoTags == ["multi"])
        #expect(summary.created == "2026-01-01T00:00:00Z")
        let json = summary.json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["Digest"] as? String == index.digest.description)
        #expect((object["LayersData"] as? [[String: Any]])?.first?["MIMEType"] as? String == MediaType.ociLayerGzip.rawValue)
        // Keys come in skopeo's order.
        let order = ["\"Digest\"", "\"RepoTags\"", "\"Created\"", "\"Architecture\"", "\"Os\"", "\"Layers\"", "\"Env\""]
        let positions = order.compactMap { json.range(of: $0)?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted())
    }
}
