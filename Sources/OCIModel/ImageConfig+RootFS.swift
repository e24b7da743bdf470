extension ImageConfig {
    /// The layer content addresses of the image (config.md `rootfs`).
    public struct RootFS: Hashable, Sendable, Codable {
        /// MUST be `layers`; an unpacker MUST error on anything else (see ``isLayers``).
        public var type: String
        /// The DiffIDs: digests of each layer's *uncompressed* tar, base layer first.
        public var diffIDs: [Digest]

        public init(type: String = "layers", diffIDs: [Digest]) {
            self.type = type
            self.diffIDs = diffIDs
        }

        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }

        /// Whether ``type`` is the only value the spec defines. Decoding accepts any value, since
        /// storing or copying needs no interpretation; unpacking must check this.
        public var isLayers: Bool { type == "layers" }
    }
}
