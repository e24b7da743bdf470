import ArgumentParser
import Foundation
import LayerCache
import OCIModel

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List, measure and prune the layer cache.",
        subcommands: [List.self, DiskUsage.self, Prune.self, RemoveBundle.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List cached images, layer stacks and bundles.")
        @OptionGroup var cache: CacheOptions

        func run() async throws {
            try await runReportingErrors {
                let listing = try cache.open().listing()
                print("IMAGES")
                for image in listing.images.sorted(by: { $0.created < $1.created }) {
                    let names = image.names.filter { !$0.contains("#") }
                    print("  \(image.manifestDigest)  \(image.chainIDs.count) layers  \(names.joined(separator: ", "))")
                }
                print("LAYER STACKS (chainID, size of the layer's own files, entries)")
                for layer in listing.layers.sorted(by: { $0.created < $1.created }) {
                    print("  \(layer.chainID)  \(ProgressDisplay.bytes(layer.layerSize))  \(layer.entries) entries"
                          + (layer.parent == nil ? "  (base)" : ""))
                }
                print("BUNDLES")
                for (record, live) in listing.bundles {
                    print("  \(record.bundlePath)  \(record.manifestDigest)  \(record.rootfsMode.rawValue)"
                          + (live ? "" : "  (gone)"))
                }
            }
        }
    }

    struct DiskUsage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "du", abstract: "Disk space of the cache (each inode counted once, however many stacks link it).")
        @OptionGroup var cache: CacheOptions

        func run() async throws {
            try await runReportingErrors {
                let usage = try cache.open().diskUsage()
                for layer in usage.layers {
                    print("\(ProgressDisplay.bytes(layer.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)) \(layer.chainID)")
                }
                print("\(ProgressDisplay.bytes(usage.metadataBytes).padding(toLength: 12, withPad: " ", startingAt: 0)) metadata")
                print("\(ProgressDisplay.bytes(usage.temporaryBytes).padding(toLength: 12, withPad: " ", startingAt: 0)) temporary")
                print("\(ProgressDisplay.bytes(usage.totalBytes).padding(toLength: 12, withPad: " ", startingAt: 0)) total")
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune", abstract: "Remove images and layer stacks no prepared bundle uses.")
        @OptionGroup var cache: CacheOptions
        @Flag(name: .customLong("dry-run"), help: "Print what would be removed.") var dryRun = false

        func run() async throws {
            try await runReportingErrors {
                let report = try cache.open().prune(dryRun: dryRun)
                let verb = dryRun ? "Would remove" : "Removed"
                for digest in report.images { print("\(verb) image \(digest)") }
                for digest in report.chains { print("\(verb) layer stack \(digest)") }
                for path in report.staleBundles { print("\(verb) record of bundle \(path)") }
                for path in report.temporaries { print("\(verb) leftover \(path)") }
                print("\(verb) \(report.images.count) images, \(report.chains.count) layer stacks; "
                      + "\(ProgressDisplay.bytes(report.freedBytes)) \(dryRun ? "would be " : "")freed")
            }
        }
    }

    struct RemoveBundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm-bundle", abstract: "Take apart a prepared bundle (unmounting an overlay rootfs) and forget it.")
        @OptionGroup var cache: CacheOptions
        @Argument(help: "The bundle directory.") var bundle: String

        func run() async throws {
            try await runReportingErrors {
                try BundleDirectory.remove(at: bundle, store: try cache.open())
            }
        }
    }
}
