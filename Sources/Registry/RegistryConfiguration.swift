/// Settings of the registry above the HTTP engine.
public struct RegistryConfiguration: Sendable {
    /// Root folder of the store.
    public var storagePath: String

    public init(storagePath: String) {
        self.storagePath = storagePath
    }
}
