import RegistryConfig
import StoreMaintenance
import Testing

/// `gc.*` keys and the `gc.retention` rules.
@Suite struct GCConfigurationTests {
    @Test func defaultsAndValues() throws {
        let defaults = try Configuration.load(file: nil, environment: [:])
        #expect(defaults.gcIntervalSeconds == 86400)
        #expect(defaults.gcOptions == GCOptions(deleteUntagged: false, graceSeconds: 3600, retention: []))

        let file = writeConfigFile("""
            gc:
              interval: 12h
              grace: 90m
              deleteUntagged: true
              retention:
                - repositories: ["team/**", "tools/*"]
                  keeptags: { mostrecent: 10, patterns: ["^v[0-9]+\\\\.", "^latest$"] }
                  deleteuntagged: 7d
                - repositories: ["**"]
                  deleteuntagged: 0
            """)
        let config = try Configuration.load(file: file, environment: ["SWREGISTRY_GC_INTERVAL": "0"])
        #expect(config.gcIntervalSeconds == 0)
        #expect(config.gcOptions == GCOptions(deleteUntagged: true, graceSeconds: 5400, retention: [
            RetentionRule(repositories: ["team/**", "tools/*"], keepMostRecent: 10, keepPatterns: ["^v[0-9]+\\.", "^latest$"],
                          deleteUntaggedAfter: 7 * 86400),
            RetentionRule(repositories: ["**"], deleteUntaggedAfter: 0),
        ]))
        #expect(config.retentionSource == .file(path: file, line: 5))
        // `config print` shows the rules, in a form that loads back the same.
        let rendered = config.rendered()
        let start = try #require(rendered.range(of: "\ngc:\n"))
        let end = rendered.range(of: "\naccesscontrol:", range: start.upperBound..<rendered.endIndex)?.lowerBound ?? rendered.endIndex
        let printed = writeConfigFile("gc:\n" + rendered[start.upperBound..<end])
        #expect(try Configuration.load(file: printed, environment: [:]).retention == config.retention, "\(rendered)")
        #expect(rendered.contains("      keeptags: { mostrecent: 10, patterns: [\"^v[0-9]+\\\\.\", \"^latest$\"] }"), "\(rendered)")
    }

    @Test func retentionErrorsNameFileAndLine() throws {
        let file = writeConfigFile("""
            gc:
              grace: soon
              retention:
                - keeptags: { mostrecent: 3 }
                - repositories: [a/*]
                  keeptags: { mostrecent: -1, patterns: ["(unclosed"], newest: 2 }
                  deleteuntagged: forever
                  frobnicate: 1
                - just a string
            """)
        let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: file, environment: [:]) }
        let lines = error.errors.map(\.description)
        #expect(lines.count == 8, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("\(file):2: gc.grace: \"soon\" is not a duration") })
        #expect(lines.contains("\(file):4: gc.retention[0]: a retention rule needs repositories (accepted: repository patterns as in accesscontrol (team/**))"))
        #expect(lines.contains("\(file):6: gc.retention[1].keeptags.mostrecent: expected a count, got \"-1\" (accepted: 0 or more)"))
        #expect(lines.contains { $0.hasPrefix("\(file):6: gc.retention[1].keeptags.patterns: \"(unclosed\" is not a regular expression") })
        #expect(lines.contains("\(file):6: gc.retention[1].keeptags.newest: unknown key (accepted: keys under gc.retention[1].keeptags: mostrecent, patterns)"))
        #expect(lines.contains { $0.hasPrefix("\(file):7: gc.retention[1].deleteuntagged: expected a duration, got \"forever\"") })
        #expect(lines.contains { $0.hasPrefix("\(file):8: gc.retention[1].frobnicate: unknown key") })
        #expect(lines.contains { $0.hasPrefix("\(file):9: gc.retention[2]: expected a mapping") })
    }

    /// Durations past 100 years are typing errors (and would overflow nanoseconds); a schedule under a second would
    /// collect back to back.
    @Test func durationsAndIntervalAreBounded() throws {
        let file = writeConfigFile("""
            gc:
              interval: 1ms
              grace: 99999999999h
              retention:
                - repositories: ["**"]
                  deleteuntagged: 99999999999h
            """)
        let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: file, environment: [:]) }
        let lines = error.errors.map(\.description)
        #expect(lines.contains { $0.hasPrefix("\(file):3: gc.grace: \"99999999999h\" is more than 100 years") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("\(file):6: gc.retention[0].deleteuntagged: expected a duration") }, "\(lines)")

        let short = writeConfigFile("gc:\n  interval: 1ms\n")
        let intervalError = try #require(throws: ConfigErrors.self) { try Configuration.load(file: short, environment: [:]) }
        #expect(intervalError.errors.map(\.description).contains { $0.hasPrefix("\(short):2: gc.interval: under a second") },
                "\(intervalError.errors)")
    }

    @Test func retentionIsReadFromTheFileOnly() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try Configuration.load(file: nil, environment: ["SWREGISTRY_GC_RETENTION": "x"])
        }
        #expect(error.errors.map(\.description) == ["$SWREGISTRY_GC_RETENTION: gc.retention: is read from the configuration file only (structured)"])
    }
}
