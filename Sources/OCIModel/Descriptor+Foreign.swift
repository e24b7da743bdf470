extension Descriptor {
    /// Whether this is a layer that clients fetch from its `urls` rather than from a registry: its media type is
    /// non-distributable (image-spec layer.md) or Docker foreign (manifest-v2-2.md), *and* it has a URL.
    ///
    /// Both conditions, because image-spec says the presence of `urls` SHOULD NOT decide that a layer is
    /// non-distributable (an ordinary layer or a config with `urls` is still an ordinary blob that a registry must
    /// hold), and a non-distributable layer without URLs can only come from a registry like any other.
    public var isForeignLayer: Bool { mediaType.isNondistributable && !(urls ?? []).isEmpty }
}
