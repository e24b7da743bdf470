extension ImageConfig {
    /// One build step (config.md `history`).
    public struct History: Hashable, Sendable, Codable {
        /// When the step ran, RFC 3339.
        public var created: String?
        /// The command that ran, e.g. `/bin/sh -c apk add curl`.
        public var createdBy: String?
        /// Who ran it.
        public var author: String?
        /// Free text.
        public var comment: String?
        /// True when the step produced no layer (e.g. `ENV`), so history and `diff_ids` can be
        /// matched up by skipping these entries.
        public var emptyLayer: Bool?

        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil,
                    comment: String? = nil, emptyLayer: Bool? = nil)
        {
            self.created = created
            self.createdBy = createdBy
            self.author = author
            self.comment = comment
            self.emptyLayer = emptyLayer
        }

        enum CodingKeys: String, CodingKey {
            case created
            case createdBy = "created_by"
            case author, comment
            case emptyLayer = "empty_layer"
        }
    }
}
