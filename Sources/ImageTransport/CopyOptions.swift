import OCIModel

/// How `Copier` copies (skopeo's `copy` flags).
public struct CopyOptions: Sendable {
    /// Copy every image of an index (`--all`); otherwise one platform's.
    public var all = false
    public var platform = PlatformSelector()
    /// Convert manifests to this format (`--format`); nil keeps them byte for byte.
    public var format: ManifestFormat?
    /// Fail rather than change a manifest digest (`--preserve-digests`).
    public var preserveDigests = false
    /// More tags for the top manifest at the destination (`--additional-tag`).
    public var additionalTags: [String] = []
    /// Blobs transferred at once (`--jobs`).
    public var jobs = 6

    public init() {}
}

/// What a copy did, for the summary line.
public struct CopyReport: Sendable {
    /// The digest of the manifest or index the destination's name now points at.
    public var digest: Digest
    public var mediaType: MediaType
    public var blobsCopied = 0
    public var blobsSkipped = 0
    public var blobsMounted = 0
    public var bytesCopied: Int64 = 0
    public var manifestsWritten = 0
    /// Set when a conversion changed the top digest: the source's digest.
    public var sourceDigest: Digest?
}

/// Events of a copy, for progress display.
public enum CopyEvent: Sendable {
    case blobStarted(Descriptor)
    case blobProgress(Descriptor, transferred: Int64)
    case blobFinished(Descriptor, BlobOutcome)
    case manifestWritten(ManifestData)
    case note(String)
}

public enum BlobOutcome: String, Sendable {
    case copied, skipped = "already present", mounted
}

public typealias CopyObserver = @Sendable (CopyEvent) -> Void
