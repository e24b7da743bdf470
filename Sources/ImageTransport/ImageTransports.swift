import Glibc
import OCIModel
import RegistryClient
import Synchronization
import SystemIO

/// Opens image locations as sources and destinations: one transfer engine for the whole command, one
/// registry client per registry host (so connections and tokens are shared), client options per role.
public final class ImageTransports: Sendable {
    public let engine: TransferEngine
    let options: @Sendable (_ registry: String) -> ClientOptions
    let stagingDirectory: String
    private let clients = Mutex<[String: RegistryClient]>([:])

    /// - Parameters:
    ///   - options: The client options for a registry (TLS, credentials, retries) in this role.
    ///   - stagingDirectory: Where blobs travelling between two registries are staged and verified.
    public init(engine: TransferEngine, stagingDirectory: String,
                options: @escaping @Sendable (_ registry: String) -> ClientOptions) {
        self.engine = engine
        self.options = options
        self.stagingDirectory = stagingDirectory
    }

    /// The client for `registry`, made once: its scheme probe, tokens and connections serve every image of the
    /// command.
    public func client(for registry: String) -> RegistryClient {
        clients.withLock { clients in
            if let client = clients[registry] { return client }
            let client = RegistryClient(registry: registry, options: options(registry), engine: engine)
            clients[registry] = client
            return client
        }
    }

    public func openSource(_ location: ImageLocation) throws -> any ImageSource {
        switch location {
        case .registry(let image): RegistrySource(client: client(for: image.registry), image: image)
        case .ociLayout(let directory, let reference): try OCILayoutSource(directory: directory, reference: reference)
        case .directory(let path): try DirectorySource(path: path)
        case .ociArchive(let file, let reference): try OCIArchiveSource(file: file, reference: reference)
        }
    }

    public func openDestination(_ location: ImageLocation) throws -> any ImageDestination {
        switch location {
        case .registry(let image):
            RegistryDestination(client: client(for: image.registry), image: image, stagingDirectory: stagingDirectory)
        case .ociLayout(let directory, let reference):
            try OCILayoutDestination(directory: directory, reference: reference)
        case .directory(let path): try DirectoryDestination(path: path)
        case .ociArchive(let file, let reference): try OCIArchiveDestination(file: file, reference: reference)
        }
    }
}
