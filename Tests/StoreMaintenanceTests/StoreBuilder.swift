import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import SystemIO
import TestSupport

/// A blob or manifest as a descriptor.
struct Item: Hashable {
    let digest: Digest
    let size: Int
    let mediaType: String

    var json: String { #"{"mediaType":"\#(mediaType)","digest":"\#(digest)","size":\#(size)}"# }
}

/// Builds a store directly through `BlobStore` (uploads, commits, manifest PUTs as the registry makes them), and
/// inspects it, for the collector's tests.
final class StoreBuilder {
    let root: String
    let store: BlobStore

    init(prefix: String = "swr-gc") throws {
        root = makeTemporaryDirectory(prefix: prefix)
        store = try BlobStore(root: root)
    }

    /// Inspects an existing store (one a server serves).
    init(store: BlobStore) {
        root = store.layout.root
        self.store = store
    }

    func remove() { FileSystem.removeTree(root) }

    /// Uploads `bytes` into `repo` (a session, then a commit: blob and link).
    @discardableResult
    func blob(_ repo: String, _ bytes: [UInt8], mediaType: String = MediaType.ociLayerGzip.rawValue) throws -> Item {
        let name = try RepositoryName(validating: repo)
        let upload = try store.uploads.start(name, owner: "test")
        try store.uploads.append(upload, bytes)
        let digest = Digest.sha256(of: bytes)
        try store.uploads.commit(upload, expected: digest, into: store)
        return Item(digest: digest, size: bytes.count, mediaType: mediaType)
    }

    /// Pushes a manifest as the registry does; `subject` records it as a referrer.
    @discardableResult
    func manifest(_ repo: String, _ text: String, mediaType: String, tag: String? = nil, subject: Item? = nil) throws -> Item {
        let name = try RepositoryName(validating: repo)
        let bytes = Array(text.utf8)
        let digest = Digest.sha256(of: bytes)
        let referrer = subject.map { _ in Descriptor(mediaType: MediaType(mediaType), digest: digest, size: Int64(bytes.count)) }
        let refusal = try store.putManifest(name, bytes: bytes, digest: digest, mediaType: mediaType,
                                            tag: try tag.map { try Tag(validating: $0) }, subject: subject?.digest,
                                            referrer: referrer, references: ManifestReferences(bytes: bytes)) { () -> StoreError? in nil }
        precondition(refusal == nil)
        return Item(digest: digest, size: bytes.count, mediaType: mediaType)
    }

    /// An image of a config and `layers` (each uploaded), tagged or not.
    @discardableResult
    func image(_ repo: String, tag: String?, seed: String, layers: [[UInt8]]? = nil, subject: Item? = nil) throws -> Item {
        let config = try blob(repo, Array(#"{"os":"linux","seed":"\#(seed)"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let layerItems = try (layers ?? [Array("layer of \(seed)".utf8)]).map { try blob(repo, $0) }
        var text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","config":\#(config.json),"layers":["#
        text += layerItems.map(\.json).joined(separator: ",") + "]"
        if let subject { text += #","subject":\#(subject.json)"# }
        text += "}"
        return try manifest(repo, text, mediaType: MediaType.ociManifest.rawValue, tag: tag, subject: subject)
    }

    /// An index of `children` (already in `repo`).
    @discardableResult
    func index(_ repo: String, tag: String?, children: [Item]) throws -> Item {
        let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex.rawValue)","manifests":["#
            + children.map(\.json).joined(separator: ",") + "]}"
        return try manifest(repo, text, mediaType: MediaType.ociIndex.rawValue, tag: tag)
    }

    // MARK: - Time

    /// Moves the modification time of every file in the store `seconds` into the past (as if it were that old).
    func age(by seconds: Int64, under relative: String = "") {
        // What the store's metadata log holds reaches the tree for good first, as in a store that has run a while
        // (a store opened on this root later would otherwise replay it, with fresh times).
        try? store.checkpoint()
        let start = relative.isEmpty ? root : "\(root)/\(relative)"
        Self.walk(start) { path in
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            var times = [timespec(tv_sec: st.st_atim.tv_sec - Int(seconds), tv_nsec: st.st_atim.tv_nsec),
                         timespec(tv_sec: st.st_mtim.tv_sec - Int(seconds), tv_nsec: st.st_mtim.tv_nsec)]
            utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    /// Sets one file's modification time to `secondsAgo` before now.
    func setAge(_ relative: String, secondsAgo: Int) {
        let when = Int(time(nil)) - secondsAgo
        var times = [timespec(tv_sec: when, tv_nsec: 0), timespec(tv_sec: when, tv_nsec: 0)]
        utimensat(AT_FDCWD, "\(root)/\(relative)", &times, 0)
    }

    // MARK: - Inspection

    /// Every file of the store (but `tmp/` and the lock's pid file) with its size and modification time: equal
    /// listings, unchanged store.
    func listing() -> [String] {
        var lines: [String] = []
        Self.walk(root) { path in
            guard !path.hasPrefix("\(root)/tmp/") && path != "\(root)/.lock" else { return }
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            lines.append("\(path.dropFirst(root.count)) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
        }
        return lines.sorted()
    }

    func hasBlob(_ item: Item) -> Bool { FileSystem.exists(store.layout.blob(item.digest)) }

    func hasLink(_ repo: String, _ item: Item) -> Bool {
        FileSystem.exists(store.layout.layerLink(try! RepositoryName(validating: repo), item.digest))
    }

    func hasManifest(_ repo: String, _ item: Item) -> Bool {
        FileSystem.exists(store.layout.revisionLink(try! RepositoryName(validating: repo), item.digest))
    }

    func tags(_ repo: String) -> [String] {
        (try? store.tags(try RepositoryName(validating: repo))) ?? []
    }

    /// Problems with the images every tag names: each manifest, index child, config and layer must be served
    /// (revision or link present) and its blob must re-hash to its digest. Empty: every tagged image pulls whole.
    func pullProblems() throws -> [String] {
        var problems: [String] = []
        for repo in try store.repositoryNames() {
            for tag in tags(repo.value) {
                let digest = try store.resolve(repo, tag: try Tag(validating: tag))
                problems += checkManifest(repo, digest, depth: 0).map { "\(repo.value):\(tag): \($0)" }
            }
        }
        return problems
    }

    private func checkManifest(_ repo: RepositoryName, _ digest: Digest, depth: Int) -> [String] {
        guard let stored = try? store.manifest(repo, digest, maxBytes: 4 << 20) else { return ["manifest \(digest) missing"] }
        guard Digest.sha256(of: stored.bytes) == digest else { return ["manifest \(digest) damaged"] }
        let references = ManifestReferences(bytes: stored.bytes)
        var problems: [String] = []
        for blob in references.blobs {
            guard store.isLinked(repo, blob), let bytes = try? FileSystem.read(store.layout.blob(blob), maxBytes: 64 << 20) else {
                problems.append("blob \(blob) missing")
                continue
            }
            if Digest.sha256(of: bytes) != blob { problems.append("blob \(blob) damaged") }
        }
        if depth < 4 {
            for child in references.manifests { problems += checkManifest(repo, child, depth: depth + 1) }
        }
        return problems
    }

    static func walk(_ path: String, _ visit: (String) -> Void) {
        for entry in (try? FileSystem.list(path)) ?? [] {
            let child = "\(path)/\(entry)"
            if FileSystem.isRealDirectory(child) { walk(child, visit) } else { visit(child) }
        }
    }
}

/// Runs a collection over `builder`'s store with `options` (grace 1 h unless set), collecting its lines.
func collect(_ builder: StoreBuilder, _ options: GCOptions = GCOptions()) throws -> (GCReport, [String]) {
    let output = CollectedOutput()
    let report = try GarbageCollector(store: builder.store, options: options, output: output).run()
    return (report, output.lines)
}

extension StoreBuilder {
    /// What is in the store beyond what the tags reach (untagged manifests counted as reachable unless
    /// `deleteUntagged`), with referrers of reachable manifests reachable: empty after a full collection.
    func unreachable(deleteUntagged: Bool) throws -> [String] {
        var named: Set<Digest> = []
        var extra: [String] = []
        for repo in try store.repositoryNames() {
            let revisions = Set(try store.revisionEntries(repo).map(\.digest))
            let referrers = try store.referrerEntries(repo)
            var queue = try store.tagEntries(repo).map(\.digest)
            if !deleteUntagged { queue += revisions }
            var kept: Set<Digest> = []
            var blobs: Set<Digest> = []
            while let digest = queue.popLast() {
                guard revisions.contains(digest), kept.insert(digest).inserted else { continue }
                let references = ManifestReferences(bytes: (try store.manifestBytes(digest, maxBytes: 4 << 20)) ?? [])
                blobs.formUnion(references.blobs)
                queue += references.manifests + (referrers[digest] ?? [])
            }
            extra += revisions.subtracting(kept).map { "manifest \(repo.value)@\($0)" }
            let links = Set(try store.layerLinkEntries(repo).map(\.digest))
            extra += links.subtracting(blobs).map { "link \(repo.value) \($0)" }
            named.formUnion(kept)
            named.formUnion(links)
        }
        extra += try store.blobEntries().map(\.digest).filter { !named.contains($0) }.map { "blob \($0)" }
        return extra.sorted()
    }
}
