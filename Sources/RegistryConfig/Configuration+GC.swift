import StoreMaintenance

extension Configuration {
    /// The collector's options from `gc.*` (the command's flags override them).
    public var gcOptions: GCOptions {
        var options = GCOptions(deleteUntagged: bool(.gcDeleteUntagged)!, graceSeconds: duration(.gcGrace)!, retention: retention)
        // Every manifest the registry accepted must be readable by the collector.
        options.maxManifestBytes = int(.maxManifestBytes)!
        return options
    }

    /// Seconds between collections inside the server; 0: none.
    public var gcIntervalSeconds: Double { duration(.gcInterval)! }
}

extension ConfigKey {
    /// A duration given outside the configuration (`swregistry gc --grace`), read as this key's values are; nil
    /// when `text` is not one this key accepts.
    public func duration(parsing text: String) -> Double? {
        if case .success(.duration(let seconds)) = kind.parse(text) { return seconds }
        return nil
    }
}
