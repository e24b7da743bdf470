import Testing
@testable import RegistryConfig

/// `storage.s3.*`, `storage.redirect.disable` and `database.*`: the scale-out backend's keys, their defaults, the
/// AWS variables, the checks `config check` runs and what `config print` hides.
@Suite struct BackendConfigurationTests {
    static let scaleOutFile = """
        storage:
          s3:
            regionendpoint: http://127.0.0.1:7480
            region: us-east-1
            bucket: swregistry-test
            accesskey: swregistry-test
            secretkey: swregistry-test-secret
            rootdirectory: /teams/a/
            forcepathstyle: true
        database:
          enabled: true
          host: 127.0.0.1
          port: 55432
          user: swregistry
          password: db-s3cret
          dbname: swregistry
          sslmode: disable
        """

    @Test func filesystemByDefault() throws {
        let config = try Configuration.load(file: nil, environment: [:])
        #expect(config.storageBackend == .filesystem(path: "./registry-data"))
        #expect(config.s3Settings == nil && config.databaseSettings == nil && !config.usesS3)
        // Distribution's defaults.
        #expect(config.int(.s3ChunkSize) == 10 << 20 && config.bool(.s3ForcePathStyle) == false)
        #expect(config.bool(.redirectDisable) == false && config.bool(.databaseEnabled) == false)
        // A developer's AWS variables do not turn S3 on.
        let aws = try Configuration.load(file: nil, environment: ["AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x",
                                                                  "AWS_REGION": "eu-west-1"])
        #expect(aws.storageBackend == .filesystem(path: "./registry-data") && aws[.s3AccessKey] == nil)
    }

    @Test func scaleOutSettingsFromTheFile() throws {
        let file = writeConfigFile(Self.scaleOutFile)
        let config = try Configuration.load(file: file, environment: [:])
        let s3 = S3StorageSettings(endpoint: "http://127.0.0.1:7480", region: "us-east-1", bucket: "swregistry-test",
                                   accessKey: "swregistry-test", secretKey: "swregistry-test-secret",
                                   rootDirectory: "teams/a", forcePathStyle: true, chunkSize: 10 << 20, redirect: true)
        let database = DatabaseSettings(host: "127.0.0.1", port: 55432, user: "swregistry", password: "db-s3cret",
                                        dbname: "swregistry", sslmode: "disable", connectTimeoutSeconds: 5, maxOpen: 16,
                                        maxIdle: 4, maxLifetimeSeconds: 3600)
        #expect(config.storageBackend == .scaleOut(s3, database))

        // Every key has its variable, over the file.
        let overridden = try Configuration.load(file: file, environment: [
            "SWREGISTRY_STORAGE_S3_CHUNKSIZE": "16MiB", "SWREGISTRY_STORAGE_REDIRECT_DISABLE": "true",
            "SWREGISTRY_DATABASE_POOL_MAXOPEN": "32", "SWREGISTRY_DATABASE_POOL_MAXIDLE": "8",
            "SWREGISTRY_DATABASE_CONNECTTIMEOUT": "2.5", "SWREGISTRY_DATABASE_POOL_MAXLIFETIME": "0",
            "SWREGISTRY_DATABASE_SSLMODE": "VERIFY-FULL",
        ])
        let s3Over = try #require(overridden.s3Settings)
        let databaseOver = try #require(overridden.databaseSettings)
        #expect(s3Over.chunkSize == 16 << 20 && !s3Over.redirect)
        #expect(databaseOver.maxOpen == 32 && databaseOver.maxIdle == 8 && databaseOver.connectTimeoutSeconds == 3)
        #expect(databaseOver.maxLifetimeSeconds == 0 && databaseOver.sslmode == "verify-full")
        #expect(overridden.source(of: .s3ChunkSize) == .environment("SWREGISTRY_STORAGE_S3_CHUNKSIZE"))
    }

    /// Without the keys, the AWS tools' variables give the credentials and region, and say so as their source.
    @Test func credentialsAndRegionFromTheAWSVariables() throws {
        let file = writeConfigFile("""
            storage: { s3: { bucket: registry } }
            database: { enabled: true, host: db, user: u, dbname: d }
            """)
        let config = try Configuration.load(file: file, environment: [
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws-s3cret", "AWS_DEFAULT_REGION": "eu-west-3",
        ])
        let s3 = try #require(config.s3Settings)
        #expect(s3.accessKey == "AKIAEXAMPLE" && s3.secretKey == "aws-s3cret" && s3.region == "eu-west-3")
        #expect(s3.endpoint == "https://s3.eu-west-3.amazonaws.com" && !s3.forcePathStyle && s3.rootDirectory == "")
        #expect(config.source(of: .s3SecretKey) == .environment("AWS_SECRET_ACCESS_KEY"))
        #expect(config.source(of: .s3Region) == .environment("AWS_DEFAULT_REGION"))
        let text = config.rendered()
        #expect(!text.contains("aws-s3cret") && text.contains("AKIAEXAMPLE"))
        // AWS_REGION wins over AWS_DEFAULT_REGION, and a key over both.
        let both = try Configuration.load(file: file, environment: [
            "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "us-west-2",
        ])
        #expect(both.s3Settings?.region == "us-west-2")
        let key = try Configuration.load(file: file, environment: [
            "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_REGION": "us-west-2",
            "SWREGISTRY_STORAGE_S3_REGION": "ap-south-1", "SWREGISTRY_STORAGE_S3_ACCESSKEY": "mine",
        ])
        #expect(key.s3Settings?.region == "ap-south-1" && key.s3Settings?.accessKey == "mine")
    }

    @Test func printRedactsTheSecretsAndReadsBack() throws {
        let file = writeConfigFile(Self.scaleOutFile)
        let config = try Configuration.load(file: file, environment: [:])
        let text = config.rendered()
        #expect(!text.contains("swregistry-test-secret") && !text.contains("db-s3cret"), "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("    secretkey: \"<redacted>\" ") })
        #expect(lines.contains { $0.hasPrefix("  password: \"<redacted>\" ") })
        #expect(lines.contains { $0.hasPrefix("    regionendpoint: http://127.0.0.1:7480 ") && $0.hasSuffix("# \(file):3") })
        #expect(lines.contains { $0.hasPrefix("    chunksize: 10485760 ") && $0.hasSuffix("# default") })
        #expect(lines.contains { $0.hasPrefix("    maxopen: 16 ") })
        let again = try Configuration.load(file: writeConfigFile(text), environment: [:])
        for key in ConfigKey.all where !key.secret {
            #expect(again[key] == config[key], "\(key.path)")
        }
    }

    /// Every wrong combination or value is named with its key and source; nothing starts half-configured.
    @Test(arguments: [
        // S3 and the database go together.
        ("storage: { s3: { bucket: b, region: r, accesskey: a, secretkey: s } }",
         "storage.s3.region: S3 blob storage needs the metadata in PostgreSQL"),
        ("database: { enabled: true, host: h, user: u, dbname: d }",
         "database.enabled: the PostgreSQL metadata store works with S3 blob storage only"),
        ("database: { host: h }", "database.host: needs database.enabled: true"),
        // Required keys.
        ("storage: { s3: { region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.bucket: required with S3"),
        ("storage: { s3: { bucket: bucket } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.accesskey: required with S3 (or $AWS_ACCESS_KEY_ID)"),
        ("storage: { s3: { bucket: bucket } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.region: required with S3 (or $AWS_REGION)"),
        ("storage: { s3: { bucket: b1, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, user: u, dbname: d }",
         "database.host: required with database.enabled: true"),
        // Values.
        ("storage: { s3: { regionendpoint: \"http://rgw:7480/path\" } }", "storage.s3.regionendpoint: \"http://rgw:7480/path\": a path, query or fragment is not allowed"),
        ("storage: { s3: { regionendpoint: \"ftp://rgw\" } }", "not an http:// or https:// URL"),
        ("storage: { s3: { regionendpoint: \"http://k:s@rgw\" } }", "credentials do not belong in the URL"),
        ("storage: { s3: { regionendpoint: \"http://rgw:99999\" } }", "the port must be 1 to 65535"),
        ("storage: { s3: { chunksize: 1MiB } }", "storage.s3.chunksize: 1048576 bytes is out of range"),
        ("database: { sslmode: sometimes }", "database.sslmode: \"sometimes\" is not a known value (accepted: one of disable, allow, prefer, require, verify-ca, verify-full)"),
        ("database: { port: 0 }", "database.port: 0 is out of range"),
        ("database: { pool: { maxopen: 0 } }", "database.pool.maxopen: 0 is out of range"),
        ("storage: { s3: { bucket: Upper_Case, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.bucket: \"Upper_Case\": only lower-case letters"),
        ("storage: { s3: { bucket: ab, region: r, accesskey: a, secretkey: s, forcepathstyle: true } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.bucket: \"ab\": must be 3 to 255 characters"),
        ("storage: { s3: { bucket: b1b, region: r, accesskey: a, secretkey: s, rootdirectory: a/../b } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.s3.rootdirectory: \"a/../b\" has a '.' or '..' segment"),
        ("storage: { s3: { bucket: b1b, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d, pool: { maxidle: 20, maxopen: 10 } }",
         "database.pool.maxidle: 20 is more than database.pool.maxopen (10)"),
        // What one filesystem store gave implicitly must be explicit for replicas.
        ("storage: { filesystem: { rootdirectory: /srv }, s3: { bucket: b1b, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }",
         "storage.filesystem.rootdirectory: choose one storage"),
        ("storage: { s3: { bucket: b1b, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }\nauth: { htpasswd: { path: /h }, tokenservice: { enabled: true } }",
         "auth.tokenservice.enabled: with S3 every replica must sign tokens with one key"),
        ("storage: { s3: { bucket: b1b, region: r, accesskey: a, secretkey: s } }\ndatabase: { enabled: true, host: h, user: u, dbname: d }\nnotifications: { endpoints: [ { name: ci, url: \"http://ci/events\" } ] }",
         "notifications.queue.directory: with S3 set a local folder"),
    ])
    func refused(_ text: String, _ message: String) throws {
        let file = writeConfigFile(text)
        let error = try #require(throws: ConfigErrors.self) { try Configuration.load(file: file, environment: [:]) }
        #expect(error.description.contains(message), "\(error)")
        #expect(error.errors.allSatisfy { $0.source != .defaultValue }, "\(error)")
    }

    @Test(arguments: ["http://127.0.0.1:7480", "https://s3.eu-west-3.amazonaws.com", "http://[::1]:7480", "http://rgw/",
                      "HTTPS://Storage.Example.COM:443"])
    func endpoints(_ url: String) throws {
        let config = try Configuration.load(file: nil, environment: [
            "SWREGISTRY_STORAGE_S3_REGIONENDPOINT": url, "SWREGISTRY_STORAGE_S3_BUCKET": "bucket",
            "SWREGISTRY_STORAGE_S3_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s",
            "SWREGISTRY_DATABASE_ENABLED": "true", "SWREGISTRY_DATABASE_HOST": "/run/postgresql",
            "SWREGISTRY_DATABASE_USER": "u", "SWREGISTRY_DATABASE_DBNAME": "d",
        ])
        #expect(config.s3Settings?.endpoint == url)
        #expect(config.databaseSettings?.host == "/run/postgresql")
    }
}
