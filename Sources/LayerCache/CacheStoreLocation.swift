/// Where the layer cache lives.
public enum CacheLocation {
    /// The system-wide cache used when running as root.
    public static let systemDirectory = "/var/lib/swcopy"

    /// Chooses the cache root: `--cache-dir`, then `$SWCOPY_CACHE`, then `/var/lib/swcopy` for root, or for anyone
    /// else `$XDG_CACHE_HOME/swcopy` (when absolute, as the XDG base directory spec requires) or `~/.cache/swcopy`.
    ///
    /// - Parameters:
    ///   - explicit: The `--cache-dir` value, if given.
    ///   - environment: The process environment (`ProcessInfo.processInfo.environment`).
    ///   - uid: The effective user id (`geteuid()`).
    /// - Returns: An absolute or caller-relative directory path; nothing is created.
    /// - Throws: ``CacheStoreError/noCacheLocation`` when a non-root user has neither `$XDG_CACHE_HOME` nor `$HOME`.
    public static func resolve(explicit: String?, environment: [String: String], uid: UInt32) throws -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["SWCOPY_CACHE"], !fromEnvironment.isEmpty { return fromEnvironment }
        if uid == 0 { return systemDirectory }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/swcopy" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/swcopy" }
        throw CacheStoreError.noCacheLocation
    }
}
