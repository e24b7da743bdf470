import OCIModel
import SystemIO

extension CacheStore {
    /// Records an image whose layer stacks are all cached, with its config bytes, under its manifest digest.
    ///
    /// Names are merged with those already recorded for the digest, and taken away from any other image (a tag
    /// that moved now names the new image).
    /// - Parameters:
    ///   - record: The image; its chainIDs must follow from its diffIDs, and every chain must be cached.
    ///   - configBytes: The config blob exactly as pulled; it must hash to `record.configDigest`.
    /// - Throws: ``CacheStoreError`` for a digest mismatch, inconsistent chainIDs or a missing chain.
    public func recordImage(_ record: ImageRecord, configBytes: [UInt8]) throws {
        let actual = Digest.compute(record.configDigest.algorithm, of: configBytes)
        guard actual == record.configDigest else {
            throw CacheStoreError.configDigestMismatch(expected: record.configDigest, actual: actual)
        }
        guard record.chainIDs == ChainID.compute(diffIDs: record.diffIDs) else {
            throw CacheStoreError.inconsistentImage(record.manifestDigest, reason: "chainIDs do not follow from diffIDs")
        }
        for chainID in record.chainIDs where !hasChain(chainID) { throw CacheStoreError.chainMissing(chainID) }

        let configPath = layout.config(record.configDigest)
        if !CacheFiles.exists(configPath) { try CacheFiles.writeAtomically(configBytes, to: configPath) }

        let lock = try FileLock.acquire(layout.imagesLock, exclusive: true)
        defer { lock?.unlock() }
        var merged = record
        let existing = try image(record.manifestDigest)
        if let existing {
            merged.created = existing.created
            merged.names = existing.names + record.names.filter { !existing.names.contains($0) }
        }
        for var other in try images() where other.manifestDigest != record.manifestDigest {
            let kept = other.names.filter { !record.names.contains($0) }
            if kept != other.names {
                other.names = kept
                try CacheFiles.writeAtomically(Self.encodeRecord(other), to: layout.imageRecord(other.manifestDigest))
            }
        }
        // An image prepared again under a name it already has: nothing to write (and no fsync to wait for).
        if existing == merged { return }
        try CacheFiles.writeAtomically(Self.encodeRecord(merged), to: layout.imageRecord(record.manifestDigest))
    }

    /// The record of an image, or nil when it is not cached.
    public func image(_ manifestDigest: Digest) throws -> ImageRecord? {
        try Self.readRecord(ImageRecord.self, at: layout.imageRecord(manifestDigest))
    }

    /// The image last recorded under `name`, or nil.
    public func image(named name: String) throws -> ImageRecord? {
        try images().first { $0.names.contains(name) }
    }

    /// Every recorded image, sorted by manifest digest.
    public func images() throws -> [ImageRecord] {
        var records: [ImageRecord] = []
        for name in try FileSystem.list(layout.imagesDirectory) where name.hasSuffix(".json") && !name.hasPrefix(".") {
            if let record = try Self.readRecord(ImageRecord.self, at: "\(layout.imagesDirectory)/\(name)") {
                records.append(record)
            }
        }
        return records.sorted { $0.manifestDigest < $1.manifestDigest }
    }

    /// The config bytes of an image, verified against their digest.
    /// - Throws: ``CacheStoreError/corruptRecord(path:reason:)`` when they are missing or do not match.
    public func configBytes(_ configDigest: Digest) throws -> [UInt8] {
        let path = layout.config(configDigest)
        guard let bytes = try CacheFiles.readSmall(path, maxBytes: Self.maxConfigSize) else {
            throw CacheStoreError.corruptRecord(path: path, reason: "missing")
        }
        let actual = Digest.compute(configDigest.algorithm, of: bytes)
        guard actual == configDigest else {
            throw CacheStoreError.corruptRecord(path: path, reason: "content hashes to \(actual)")
        }
        return bytes
    }

    /// The largest image config read back (real ones are kilobytes; the bound only stops a damaged cache from
    /// exhausting memory).
    public static let maxConfigSize = 16 << 20

    /// The decoded config of a recorded image.
    public func imageConfig(for record: ImageRecord) throws -> ImageConfig {
        try ImageConfig(decoding: configBytes(record.configDigest))
    }
}
