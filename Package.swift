// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swregistry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swregistry", targets: ["swregistry"]),
        .executable(name: "swcopy", targets: ["swcopy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // YAML for `swregistry serve --config` and `swcopy sync --src-yaml`: its Node API keeps each value's line.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Metrics are recorded through swift-metrics' API and exposed by swift-prometheus (neither pulls in NIO).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C shims: Linux calls that `import Glibc` lacks. `_GNU_SOURCE` lives only in the .c file.
        .target(name: "CLinuxShim"),
        // System libraries, each with `static inline` wrappers for variadic functions and macros.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypt", providers: [.apt(["libcrypt-dev"])]),

        .target(name: "SystemIO", dependencies: ["CLinuxShim"]),
        // libcurl easy-handle plumbing shared by the registry client, S3 storage and notifications: the handle and
        // its error buffer, option set-up, header parsing, callbacks into a `CurlExchange`. (Not named `C…`: the
        // release settings below skip those, the system-library and C targets.)
        .target(name: "LibcurlSupport", dependencies: ["CCurl"]),
        .target(name: "OCIModel", dependencies: ["COpenSSL"]),
        .target(name: "HTTPServer", dependencies: [
            "CLinuxShim",
            "COpenSSL",
            "SystemIO",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "BlobStore", dependencies: [
            "SystemIO", "OCIModel", "CLinuxShim", .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Credentials (htpasswd, bearer JWTs, the built-in token service) and per-repository policies.
        .target(name: "RegistryAuth", dependencies: ["COpenSSL", "CCrypt", "SystemIO"]),
        .target(name: "Registry", dependencies: [
            "HTTPServer", "RegistryAuth", "OCIModel", "SystemIO", "BlobStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Offline and online store maintenance: garbage collection, retention, verification, usage.
        .target(name: "StoreMaintenance", dependencies: [
            "BlobStore", "OCIModel", "SystemIO", "RegistryAuth",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Events (webhooks): distribution's notification envelope, queued on disk per endpoint, POSTed with libcurl.
        .target(name: "RegistryNotifications", dependencies: [
            "Registry", "CCurl", "LibcurlSupport", "SystemIO",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The one table of configuration keys; YAML file ← SWREGISTRY_* environment ← flags.
        .target(name: "RegistryConfig", dependencies: [
            "Registry", "RegistryAuth", "HTTPServer", "SystemIO", "StoreMaintenance", "RegistryNotifications", .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "swregistry", dependencies: [
            "Registry", "RegistryConfig", "RegistryAuth", "RegistryNotifications", "HTTPServer", "SystemIO", "BlobStore",
            "StoreMaintenance", "S3Storage", "PostgresMetadata",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // PostgreSQL metadata for scale-out replicas: libpq (Debian's libpq-dev), a pool, migrations, LISTEN/NOTIFY.
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "PostgresMetadata", dependencies: [
            "BlobStore", "OCIModel", "SystemIO", "CPostgres", "CLinuxShim", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "PostgresMetadataTests", dependencies: [
            "PostgresMetadata", "BlobStore", "OCIModel", "SystemIO", "TestSupport",
        ]),
        // Client side (swcopy): transfer engine, image transports, tar streams, layer cache.
        .target(name: "RegistryClient", dependencies: [
            "CCurl", "LibcurlSupport", "OCIModel", "SystemIO", "CLinuxShim",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TarArchive", dependencies: ["CZlib", "OCIModel", "SystemIO", "CLinuxShim"]),
        .target(name: "ImageTransport", dependencies: [
            "RegistryClient", "TarArchive", "OCIModel", "SystemIO", .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "LayerCache", dependencies: ["TarArchive", "OCIModel", "SystemIO", "CLinuxShim"]),
        .executableTarget(name: "swcopy", dependencies: [
            "OCIModel", "RegistryClient", "ImageTransport", "LayerCache", "TarArchive", "SystemIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // S3 blob storage (helper s3): S3Client over libcurl with SigV4, S3BlobStorage.
        .target(name: "S3Storage", dependencies: [
            "BlobStore", "OCIModel", "SystemIO", "CCurl", "LibcurlSupport", "COpenSSL",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "S3StorageTests", dependencies: ["S3Storage", "OCIModel", "BlobStore", "TestSupport"]),

        // Raw-socket client and process helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: [
            "SystemIO", .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/TestSupport"),
        .testTarget(name: "SystemIOTests", dependencies: ["SystemIO"]),
        .testTarget(name: "OCIModelTests", dependencies: ["OCIModel"]),
        .testTarget(name: "RegistryConfigTests", dependencies: [
            "RegistryConfig", "RegistryAuth", "HTTPServer", "Registry", "TestSupport", "StoreMaintenance",
        ]),
        .testTarget(name: "RegistryAuthTests", dependencies: ["RegistryAuth", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "SystemIO", "TestSupport", "COpenSSL"]),
        .testTarget(name: "RegistryTests", dependencies: [
            "Registry", "RegistryConfig", "BlobStore", "HTTPServer", "TestSupport", "swregistry", "S3Storage", "PostgresMetadata",
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .testTarget(name: "RegistryNotificationsTests", dependencies: [
            "RegistryNotifications", "Registry", "RegistryConfig", "HTTPServer", "SystemIO", "TestSupport",
        ]),
        .testTarget(name: "StoreMaintenanceTests", dependencies: [
            "StoreMaintenance", "BlobStore", "OCIModel", "SystemIO", "TestSupport", "Registry", "RegistryConfig",
            "HTTPServer", "swregistry",
        ]),
        .testTarget(name: "RegistryClientTests", dependencies: [
            "RegistryClient", "Registry", "HTTPServer", "OCIModel", "SystemIO", "TestSupport",
        ]),
        .testTarget(name: "TarArchiveTests", dependencies: ["TarArchive", "OCIModel", "TestSupport"]),
        .testTarget(name: "LayerCacheTests", dependencies: ["LayerCache", "TarArchive", "OCIModel", "SystemIO", "TestSupport"]),
        // The contract suites of BlobStorage and MetadataStore, run against every implementation (one backend
        // factory a file), and ComposedStorage over the filesystem implementations.
        .testTarget(name: "StorageContractTests", dependencies: [
            "BlobStore", "StoreMaintenance", "OCIModel", "SystemIO", "TestSupport", "S3Storage", "PostgresMetadata",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ImageTransportTests", dependencies: [
            "ImageTransport", "RegistryClient", "TarArchive", "Registry", "HTTPServer", "OCIModel", "TestSupport",
        ]),

        // libFuzzer targets (issue 14): one entry function per parser of untrusted bytes in `FuzzTargets`, one
        // executable each (`@_cdecl("LLVMFuzzerTestOneInput")`, with a replay `@main` unless built with -DFUZZING).
        // `scripts/fuzz` builds them with the fuzzer and ASan; seeds and dictionaries are in `Tests/Fuzz/<name>/`.
        .target(name: "FuzzTargets", dependencies: [
            "HTTPServer", "OCIModel", "TarArchive", "RegistryAuth", "RegistryClient", "Registry", "RegistryConfig",
            "ImageTransport",
        ], path: "Sources/Fuzz/FuzzTargets"),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzHTTPRequest"),
        .executableTarget(name: "FuzzChunked", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzChunked"),
        .executableTarget(name: "FuzzRange", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzRange"),
        .executableTarget(name: "FuzzReference", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzReference"),
        .executableTarget(name: "FuzzManifest", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzManifest"),
        .executableTarget(name: "FuzzTar", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzTar"),
        .executableTarget(name: "FuzzPax", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzPax"),
        .executableTarget(name: "FuzzWWWAuthenticate", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzWWWAuthenticate"),
        .executableTarget(name: "FuzzAuthorization", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzAuthorization"),
        .executableTarget(name: "FuzzJWT", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzJWT"),
        .executableTarget(name: "FuzzHtpasswd", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzHtpasswd"),
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzConfig"),
        .executableTarget(name: "FuzzSyncYAML", dependencies: ["FuzzTargets"], path: "Sources/Fuzz/FuzzSyncYAML"),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets", "HTTPServer", "RegistryAuth"]),
    ],
    swiftLanguageModes: [.v6]
)

// Release binaries link the Swift runtime and Foundation statically (`-static-stdlib`, given to the compiler too so
// that every module asks for the static libraries), with lld packing relative relocations (DT_RELR, glibc ≥ 2.36):
// a command-line tool started once per copy spends less time in the dynamic loader (measured: `swcopy --version`
// 32 ms → 22 ms static → 17.6 ms with packed relocations).
for target in package.targets where [.regular, .executable].contains(target.type) && !target.name.hasPrefix("C") {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]
}
for target in package.targets where target.type == .executable {
    target.linkerSettings = (target.linkerSettings ?? []) + [
        .unsafeFlags(["-static-stdlib", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                     .when(configuration: .release)),
    ]
}
