import HTTPServer
import Logging
import Registry
import RegistryConfig
import SystemIO

extension Serve {
    /// Starts the `http.debug.addr` listener, when one is configured: plain HTTP, one event loop, a few connections,
    /// `/metrics`, `/healthz` and `/readyz` only, no authentication and no access log (a scraper every few seconds
    /// would fill it). It is meant for loopback or a port only the cluster reaches: a warning says so otherwise.
    /// - Returns: the server, or nil when `http.debug.addr` is not set.
    /// - Throws: `AddressError` or `SystemError` when the address cannot be parsed or bound.
    static func startDebugListener(_ configuration: Configuration, metrics: MetricsExporter?, readiness: ReadinessProbe,
                                   logger: Logger) throws -> HTTPServer? {
        guard let text = configuration.string(.httpDebugAddr) else { return nil }
        var settings = ServerConfiguration(address: try SocketAddress(parsing: text), eventLoopCount: 1)
        settings.maxConnections = 64
        // No observers: the probes and scrapes of this listener write no access lines.
        settings.shutdownGrace = 0
        var render: (@Sendable () -> [UInt8])?
        if let metrics { render = { metrics.render() } }
        let responder = DebugResponder(metrics: render, readiness: readiness)
        var debugLogger = logger
        debugLogger[metadataKey: "listener"] = "debug"
        let server = try HTTPServer(configuration: settings, responder: responder, logger: debugLogger)
        if !isLoopback(server.localAddress) {
            logger.warning("""
                the debug listener (http.debug.addr) on \(server.localAddress) answers /metrics without \
                authentication: bind it to loopback or to an address only the cluster or the monitoring network \
                reaches
                """)
        }
        return server
    }
}
