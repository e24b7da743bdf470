import HTTPServer
import Logging
import Registry
import RegistryConfig

/// SIGHUP: re-reads the configuration from the same sources; applies a valid one, logs and keeps the running one
/// otherwise. Used from the signal thread only.
final class Reloader {
    private let source: ConfigurationSource
    /// The configuration the process started with: keys that are not reloadable keep these values until a restart.
    private let started: Configuration
    /// The configuration last applied.
    private var running: Configuration
    private let server: HTTPServer
    private let responder: RegistryResponder
    private let logger: Logger

    init(source: ConfigurationSource, running: Configuration, server: HTTPServer, responder: RegistryResponder,
         logger: Logger) {
        self.source = source
        self.started = running
        self.running = running
        self.server = server
        self.responder = responder
        self.logger = logger
    }

    func reload() {
        let new: Configuration
        do { new = try source.load() } catch {
            logger.error("reload failed, keeping the running configuration:\n\(error)")
            return
        }
        do {
            try Serve.reloadSecurity(new, server: server, responder: responder, logger: logger)
        } catch {
            logger.error("reload failed, keeping the running configuration:\n\(error)")
            return
        }
        let changed = new.changedKeys(from: running)
        for path in changed {
            if path == ConfigKey.accessControlPath {
                logger.notice("reload: accesscontrol changed")
            } else if path == ConfigKey.notificationEndpointsPath {
                logger.warning("reload: notifications.endpoints changed but keeps its value until a restart")
            } else if let key = ConfigKey.byPath[path], key.reloadable {
                logger.notice("reload: \(path): \(Self.describe(running, key)) → \(Self.describe(new, key))")
            }
        }
        for key in ConfigKey.all where !key.reloadable && new[key] != started[key] {
            logger.warning("reload: \(key.path) is now \(Self.describe(new, key)) but keeps \(Self.describe(started, key)) until a restart")
        }
        LogLevelControl.shared.level = new.logLevel
        running = new
        logger.notice("configuration reloaded\(source.file.map { " from \($0)" } ?? "")\(changed.isEmpty ? " (no key changed; the htpasswd file, token trust and certificates were re-read)" : "")")
    }

    private static func describe(_ configuration: Configuration, _ key: ConfigKey) -> String {
        configuration.displayValue(key)
    }
}
