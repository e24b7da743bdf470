import Glibc
import SystemIO

extension CacheStore {
    /// Records a prepared bundle as a GC root (replacing any record for the same path).
    public func recordBundle(_ record: BundleRecord) throws {
        try CacheFiles.writeAtomically(Self.encodeRecord(record), to: layout.bundleRecord(bundlePath: record.bundlePath))
    }

    /// Drops the GC root of a bundle. - Returns: false when there was none.
    @discardableResult
    public func forgetBundle(at bundlePath: String) throws -> Bool {
        let path = layout.bundleRecord(bundlePath: bundlePath)
        if unlink(path) != 0 {
            if errno == ENOENT { return false }
            throw SystemError("unlink \(path)", errno: errno)
        }
        try FileSystem.syncDirectory(layout.rootsDirectory)
        return true
    }

    /// The GC root of a bundle, or nil.
    public func bundleRecord(at bundlePath: String) throws -> BundleRecord? {
        try Self.readRecord(BundleRecord.self, at: layout.bundleRecord(bundlePath: bundlePath))
    }

    /// Every recorded bundle, sorted by path.
    public func bundles() throws -> [BundleRecord] {
        var records: [BundleRecord] = []
        for name in try FileSystem.list(layout.rootsDirectory) where name.hasSuffix(".json") && !name.hasPrefix(".") {
            if let record = try Self.readRecord(BundleRecord.self, at: "\(layout.rootsDirectory)/\(name)") {
                records.append(record)
            }
        }
        return records.sorted { $0.bundlePath < $1.bundlePath }
    }

    /// Whether a recorded bundle still exists: its directory still holds `config.json`.
    public static func isLive(_ record: BundleRecord) -> Bool {
        CacheFiles.exists("\(record.bundlePath)/config.json")
    }
}
