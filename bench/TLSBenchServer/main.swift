// swregistry-tls-bench: the real registry responder behind the HTTP engine with TLS, for bench/tls.sh, until
// `swregistry serve` takes the http.tls.* configuration keys (issue 11, config branch).
//
//   swregistry-tls-bench ADDRESS STORAGE CERTIFICATE KEY THREADS
import Glibc
import HTTPServer
import Logging
import Registry
import SystemIO

let arguments = CommandLine.arguments
guard arguments.count == 6, let threads = Int(arguments[5]) else {
    let usage = "usage: swregistry-tls-bench ADDRESS STORAGE CERTIFICATE KEY THREADS\n"
    _ = Glibc.write(2, usage, usage.utf8.count)
    exit(2)
}
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "swregistry-tls-bench")
var config = ServerConfiguration(address: try SocketAddress(parsing: arguments[1]), eventLoopCount: threads)
config.tls = TLSSettings(certificatePath: arguments[3], keyPath: arguments[4])
config.accessLog = false
do {
    let responder = try RegistryResponder(configuration: RegistryConfiguration(storagePath: arguments[2]), logger: logger)
    let server = try HTTPServer(configuration: config, responder: responder, logger: logger)
    logger.info("listening on \(server.localAddress.description)")
    server.wait()
} catch {
    logger.critical("\(error)")
    exit(1)
}
