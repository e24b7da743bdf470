import Glibc
import Registry
@testable import RegistryConfig
import RegistryNotifications
import Testing
import TestSupport

/// `notifications.endpoints` and `notifications.queue.*` as the configuration file gives them.
@Suite struct NotificationsConfigTests {
    private func file(_ text: String) -> String {
        let directory = makeTemporaryDirectory(prefix: "swr-config")
        let path = directory + "/swregistry.yml"
        let file = fopen(path, "w")!
        fputs(text, file)
        fclose(file)
        return path
    }

    @Test func distributionsEndpointListIsRead() throws {
        let path = file("""
            storage: { filesystem: { rootdirectory: /srv/registry/ } }
            notifications:
              endpoints:
                - name: alistener
                  disabled: false
                  url: https://my.listener.com/event
                  headers:
                    Authorization: [Bearer s3cr3t]
                    X-Single: one
                  timeout: 500ms
                  threshold: 5
                  backoff: 2s
                  ignoredmediatypes:
                    - application/octet-stream
                  ignore:
                    mediatypes: [application/vnd.oci.image.index.v1+json]
                    actions: [pull, mount]
                - name: second
                  url: http://127.0.0.1:9000/
                  disabled: true
              queue:
                maxevents: 50
            """)
        let config = try Configuration.load(file: path, environment: [:])
        #expect(config.notificationEndpoints == [
            EndpointConfiguration(name: "alistener", url: "https://my.listener.com/event",
                                  headers: ["Authorization": ["Bearer s3cr3t"], "X-Single": ["one"]], timeout: 0.5,
                                  threshold: 5, backoff: 2, ignoredMediaTypes: ["application/octet-stream"],
                                  ignoreMediaTypes: ["application/vnd.oci.image.index.v1+json"],
                                  ignoreActions: [.pull, .mount]),
            EndpointConfiguration(name: "second", url: "http://127.0.0.1:9000/", disabled: true),
        ])
        #expect(config.notificationQueueSettings == NotificationQueueSettings(directory: "/srv/registry/_events", maxEvents: 50))

        // Printed with header values redacted, and read back the same.
        let text = config.rendered()
        #expect(!text.contains("s3cr3t"))
        // The notifications section reads back the same.
        let section = text.split(separator: "\n").drop { $0 != "notifications:" }
            .prefix { $0 == "notifications:" || $0.hasPrefix(" ") }.joined(separator: "\n")
        #expect(section.contains("  endpoints:") && section.contains("  queue:"))
        let again = try Configuration.load(file: file(section), environment: [:])
        var expected = config.notificationEndpoints
        expected[0].headers = ["Authorization": ["<redacted>"], "X-Single": ["<redacted>"]]
        #expect(again.notificationEndpoints == expected)
        #expect(again.changedKeys(from: config).last == ConfigKey.notificationEndpointsPath, "the headers differ")
    }

    @Test func defaultsAreDistributions() throws {
        let config = try Configuration.load(file: file("notifications: { endpoints: [ { name: a, url: 'http://h/' } ] }"),
                                            environment: ["SWREGISTRY_NOTIFICATIONS_QUEUE_DIRECTORY": "/var/q"])
        let endpoint = try #require(config.notificationEndpoints.first)
        #expect(endpoint.timeout == 1 && endpoint.threshold == 10 && endpoint.backoff == 1 && !endpoint.disabled)
        #expect(config.notificationQueueSettings == NotificationQueueSettings(directory: "/var/q", maxEvents: 10_000))
        #expect(try Configuration.load(file: nil, environment: [:]).notificationEndpoints.isEmpty)
    }

    @Test func mistakesAreReportedWithTheirLine() throws {
        let path = file("""
            notifications:
              endpoints:
                - name: ok
                  url: ftp://example.com/
                  timeout: soon
                  ignore: { actions: [pull, fetch] }
                  retries: 3
                - url: http://h/
                - name: ok
                  url: http://h/
                - name: "a/b"
                  url: http://h/
                - name: split
                  url: http://h/
                  headers: { X-Evil: "a\\r\\nInjected: 1" }
            """)
        #expect {
            try Configuration.load(file: path, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(path):4: notifications.endpoints.ok.url: \"ftp://example.com/\" is not an http(s) URL")
                && text.contains("\(path):5: notifications.endpoints.ok.timeout: \"soon\" is not a duration")
                && text.contains("\(path):6: notifications.endpoints.ok.ignore.actions: unknown action \"fetch\"")
                && text.contains("\(path):7: notifications.endpoints.retries: unknown key")
                && text.contains("\(path):8: notifications.endpoints: an endpoint needs a name")
                && text.contains("\(path):9: notifications.endpoints: two endpoints are named \"ok\"")
                && text.contains("\(path):11: notifications.endpoints.a/b.name: \"a/b\" cannot name an endpoint")
                && text.contains("notifications.endpoints.split.headers.X-Evil: a header value cannot hold a line break")
        }
    }
}
