import Glibc
import OCIModel
import SystemIO

/// Metadata changes through the store's write-ahead log (`MetadataJournal`): appended and applied under the
/// metadata lock, acknowledged once the log is durable; checkpoints; the replay after a crash.
extension BlobStore {
    /// Appends `record`, applies it to the tree and the caches, then waits until the log holds it durably (a flush
    /// shared with every writer waiting meanwhile), and checkpoints when the log has grown large.
    func record(_ record: JournalRecord) throws(SystemError) {
        let position = try metadataLock.withLock { _ throws(SystemError) -> UInt64 in
            let position = try journal.append(record)
            defer { cache.metadataChanged() }
            do throws(SystemError) {
                try apply(record, replaying: false)
            } catch {
                // Applied in order, a part-way change names nothing missing; the record goes, so that a failed
                // request is not made later by a replay (nor keeps a full disk's store from opening).
                try? journal.retract(position, size: MetadataJournal.frameSize(record))
                throw error
            }
            return position
        }
        try journal.waitDurable(position)
        if journal.wantsCheckpoint { try checkpoint() }
    }

    /// Creates the link `name` → `digest` through the log, or refreshes it when it exists. A link that exists may
    /// be another writer's change not durable yet: the refresh then waits for the log all the same.
    func recordLink(_ name: RepositoryName, _ digest: Digest) throws(SystemError) {
        let present = try metadataLock.withLock { _ throws(SystemError) -> UInt64? in
            try FileSystem.refresh(layout.layerLink(name, digest)) ? journal.end : nil
        }
        if let present {
            try journal.waitDurable(present)
        } else {
            try record(.link(name, digest))
        }
    }

    /// Makes the tree durable and empties the log. Before anything is deleted: a replay must never apply a
    /// record over a later deletion (bringing back a tag, or a revision whose layers the collector took); and
    /// when the store closes.
    public func checkpoint() throws(SystemError) {
        try metadataLock.withLock { _ throws(SystemError) in try checkpointLocked() }
    }

    /// `checkpoint`, holding the metadata lock (every record in the log is applied).
    func checkpointLocked() throws(SystemError) {
        guard !journal.isEmpty else { return }
        try durability.syncEverything()
        try journal.reset()
    }

    /// Runs `body` holding the reference lock exclusively (no mutation in progress, none starts), after a
    /// checkpoint: what it deletes stays deleted.
    func exclusivelyAfterCheckpoint<T>(_ body: () throws(SystemError) -> T) throws(SystemError) -> T {
        try references.withExclusive { () throws(SystemError) -> T in
            try checkpoint()
            return try body()
        }
    }

    /// Applies the log's records left by a crash (or a stop) to the tree, makes the tree durable and empties the
    /// log. Every file a record names is written again from the record: the tree's copy may not have reached the
    /// disk. Called by `init`, before anything reads the tree.
    func replayJournal() throws(SystemError) {
        let (records, _) = try journal.records()
        try metadataLock.withLock { _ throws(SystemError) in
            for record in records { try apply(record, replaying: true) }
            // A torn tail (an append cut short) goes with the rest.
            try durability.syncEverything()
            try journal.reset()
        }
        journalReplayed.store(true, ordering: .releasing)
    }

    /// Writes what `record` says into the tree, without flushing it (the log holds it).
    private func apply(_ record: JournalRecord, replaying: Bool) throws(SystemError) {
        switch record {
        case .link(let name, let digest):
            let link = layout.layerLink(name, digest)
            // A blob is durable before anything links it; a replayed link to a blob gone since is not made.
            guard !replaying || FileSystem.exists(layout.blob(digest)) else { return }
            if try FileSystem.refresh(link) { return }
            _ = try FileSystem.createDirectories(FileSystem.parent(of: link))
            let fd = open(link, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw SystemError("open \(link)", errno: errno) }
            close(fd)
        case .manifest(let write):
            try apply(write, replaying: replaying)
        }
    }

    /// In order — the blob, the revision, the referrer entry, the tag — so that a failure part-way (a full disk)
    /// leaves nothing that names what is not there. A replay writes only what differs from the record (after a
    /// `kill -9` the tree has it all, and a full disk must not keep the store from opening).
    private func apply(_ write: JournalRecord.ManifestWrite, replaying: Bool) throws(SystemError) {
        let blobPath = layout.blob(write.digest)
        let present = FileSystem.fileSize(blobPath)
        let blobCurrent = replaying
            ? FileSystem.read(revisionIfSmall: blobPath, maxBytes: write.bytes.count) == write.bytes
            : present == Int64(write.bytes.count)
        if blobCurrent, try FileSystem.refresh(blobPath) {
            // Stored already: its time refreshed for the collector.
        } else {
            try install(write.bytes, at: blobPath)
            if present != Int64(write.bytes.count) {
                if let present { statistics.blobRemoved(write.digest, size: present) }  // a damaged copy replaced
                statistics.blobAdded(write.digest, size: Int64(write.bytes.count))
            }
        }
        try installIfChanged(Array(write.mediaType.utf8), at: layout.revisionLink(write.name, write.digest))
        cache.setRevision(write.name, write.digest, mediaType: write.mediaType)
        cache.setManifest(write.digest, write.bytes)
        if let subject = write.subject, let referrer = write.referrer {
            try installIfChanged(referrer, at: layout.referrer(write.name, subject: subject, referrer: write.digest))
        }
        if let tag = write.tag {
            try installIfChanged(Array(write.digest.description.utf8), at: layout.tag(write.name, tag))
            cache.setTag(write.name, tag, write.digest)
        }
    }

    /// `install`, unless the file holds `bytes` already: then its time is refreshed (for the collector).
    private func installIfChanged(_ bytes: [UInt8], at path: String) throws(SystemError) {
        if FileSystem.read(revisionIfSmall: path, maxBytes: max(bytes.count, 1)) == bytes, try FileSystem.refresh(path) {
            return
        }
        try install(bytes, at: path)
    }

    /// Replaces `path` with `bytes` atomically (a reader sees the old content or the new), not durably.
    private func install(_ bytes: [UInt8], at path: String) throws(SystemError) {
        let staged = try FileSystem.stage(bytes, for: path, tmpDirectory: layout.tmpDirectory)
        do throws(SystemError) { _ = try staged.install() } catch {
            Glibc.unlink(staged.temporaryPath)  // `install` closed it
            throw error
        }
    }
}
