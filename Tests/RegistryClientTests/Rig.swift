import Foundation
import OCIModel
import RegistryClient

/// A registry holding one blob, a proxy in front of it whose handler injects faults, and an engine.
final class Rig: @unchecked Sendable {
    let registry: TestRegistry
    let engine: TransferEngine
    let work: Workspace
    let bytes: [UInt8]
    let descriptor: Descriptor
    let repository = "fault/app"
    private(set) var proxy: FaultServer!

    /// - Parameters:
    ///   - size: Size of the blob pushed to the registry (directly, not through the proxy).
    ///   - handler: The proxy's behaviour, given the registry's port; ``forward(_:_:to:dropping:)`` relays a
    ///     request unchanged.
    init(size: Int = 400_000, push: Bool = true,
         handler: @escaping @Sendable (RawRequest, FaultConnection, FaultServer, _ upstream: UInt16) -> Void) async throws {
        registry = try TestRegistry()
        engine = TransferEngine(maxParallel: 4)
        work = try Workspace()
        bytes = testBytes(size, seed: "rig-\(size)")
        let (path, descriptor) = try work.blob("source", bytes)
        self.descriptor = descriptor
        if push {
            let direct = RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
            try await direct.uploadBlob(repository: repository, descriptor: descriptor, from: path, progress: nil)
        }
        let upstream = registry.port
        proxy = try FaultServer { request, connection, server in handler(request, connection, server, upstream) }
    }

    var sourcePath: String { work.file("source") }

    /// A client that talks to the registry through the proxy.
    func client(_ adjust: (inout ClientOptions) -> Void = { _ in }) -> RegistryClient {
        RegistryClient(registry: proxy.address, options: testOptions(adjust), engine: engine)
    }

    /// A client that talks to the registry directly.
    func directClient() -> RegistryClient {
        RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
    }

    /// Requests the proxy saw for blob content (GET on /blobs/).
    var blobGets: [RawRequest] {
        proxy.requests.filter { $0.method == "GET" && $0.path.contains("/blobs/sha256:") }
    }

    func stop() {
        engine.shutdown()
        proxy.stop()
        registry.stop()
    }

    /// Relays a request to the registry and returns the answer (for handlers to pass on or spoil).
    static func forward(_ request: RawRequest, _ connection: FaultConnection, to port: UInt16,
                        dropping: Set<String> = []) -> Forwarded {
        FaultServer.forward(request, body: connection.readBody(), to: port, dropping: dropping)
    }
}

/// An OCI error body.
func ociErrorBody(_ code: String, _ message: String) -> [UInt8] {
    Array(#"{"errors":[{"code":"\#(code)","message":"\#(message)"}]}"#.utf8)
}
