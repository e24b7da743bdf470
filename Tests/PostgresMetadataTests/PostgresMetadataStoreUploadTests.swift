import BlobStore
import Foundation
import OCIModel
import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PostgresMetadataStoreUploadTests {
    let repo = Fixture.name("team/app")

    func session(_ owner: String = "10.0.0.1", started: Int = 1_000, kind: Upload.Kind = .resumable) -> UploadSession {
        UploadSession(id: UploadID(validating: UUID().uuidString.lowercased())!, repository: repo, owner: owner,
                      kind: kind, started: started, lastActive: started,
                      state: UploadState(size: 0, data: Array("state 0".utf8)))
    }

    @Test func aSessionMovesBetweenReplicasOneRequestAtATime() throws {
        try withReplicas { replicas in
            let a = try replicas.open(), b = try replicas.open()
            var upload = session()
            try a.createUpload(upload, limits: UploadLimits())
            // Leased to the request that created it.
            #expect(throws: StoreError.uploadBusy(upload.id.value)) {
                try b.acquireUpload(upload.id, for: repo, leaseSeconds: 30)
            }
            upload.lastActive = 1_005
            upload.state = UploadState(size: 5 << 20, data: (0..<4096).map { UInt8(truncatingIfNeeded: $0) })
            try a.releaseUpload(upload)

            // Replica b continues it, with the state a saved.
            let continued = try b.acquireUpload(upload.id, for: repo, leaseSeconds: 30)
            #expect(continued == upload)
            #expect(throws: StoreError.uploadBusy(upload.id.value)) {
                try a.acquireUpload(upload.id, for: repo, leaseSeconds: 30)
            }
            try b.renewUpload(upload.id, leaseSeconds: 30)
            // Another repository's session, an unknown id: unknown.
            #expect(throws: StoreError.uploadUnknown(upload.id.value)) {
                try a.acquireUpload(upload.id, for: Fixture.name("other"), leaseSeconds: 30)
            }
            let unknown = session().id
            #expect(throws: StoreError.uploadUnknown(unknown.value)) {
                try a.acquireUpload(unknown, for: repo, leaseSeconds: 30)
            }
            try b.releaseUpload(continued)
            #expect(try a.uploadIDs() == [upload.id])
            #expect(try a.uploadCount() == 1)
            try a.removeUpload(upload.id)
            try a.removeUpload(upload.id)
            #expect(try b.uploadCount() == 0)
        }
    }

    @Test func aLapsedLeaseCanBeTakenAndTheOldHolderCannotOverwrite() throws {
        try withReplicas { replicas in
            let a = try replicas.open(), b = try replicas.open()
            let upload = session()
            try a.createUpload(upload, limits: UploadLimits())
            try a.releaseUpload(upload)
            var heldByA = try a.acquireUpload(upload.id, for: repo, leaseSeconds: 1)
            // a is "killed": its lease lapses, and b takes the session.
            usleep(1_200_000)
            var heldByB = try b.acquireUpload(upload.id, for: repo, leaseSeconds: 30)
            heldByB.state = UploadState(size: 7, data: [7])
            // The old holder's late release must not overwrite b's state.
            heldByA.state = UploadState(size: 99, data: [99])
            #expect(throws: StoreError.uploadBusy(upload.id.value)) { try a.releaseUpload(heldByA) }
            #expect(throws: StoreError.uploadBusy(upload.id.value)) { try a.renewUpload(upload.id, leaseSeconds: 30) }
            try b.releaseUpload(heldByB)
            #expect(try a.acquireUpload(upload.id, for: repo, leaseSeconds: 30).state == UploadState(size: 7, data: [7]))
        }
    }

    @Test func monolithicSessionsCannotBeContinued() throws {
        try withReplicas { replicas in
            let a = try replicas.open()
            let upload = session(kind: .monolithic)
            try a.createUpload(upload, limits: UploadLimits())
            try a.releaseUpload(upload)
            #expect(throws: StoreError.uploadUnknown(upload.id.value)) {
                try a.acquireUpload(upload.id, for: repo, leaseSeconds: 30)
            }
        }
    }

    @Test func limitsHoldAcrossReplicas() throws {
        try withReplicas { replicas in
            let stores = try (0..<2).map { _ in try replicas.open() }
            let limits = UploadLimits(maxOpen: 6, maxPerOwner: 4)
            let outcomes = Outcomes()
            DispatchQueue.concurrentPerform(iterations: 12) { index in
                do {
                    try stores[index % 2].createUpload(session(index < 8 ? "a" : "b"), limits: limits)
                    outcomes.record("ok")
                } catch {
                    outcomes.record("\(error)")
                }
            }
            #expect(outcomes.count("ok") == 6)
            #expect(try stores[0].uploadCount() == 6)
            #expect(try stores[0].expiredUploads(now: 1_000, limits: limits).isEmpty)
        }
    }

    @Test func expiredSessionsAreTheIdleOrOldOnesNotLeased() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let limits = UploadLimits(idleTimeout: 100, maxAge: 1000)
            var idle = session(started: 10_000)
            var old = session(started: 9_000)
            var fresh = session(started: 10_000)
            let leased = session(started: 1)
            for upload in [idle, old, fresh, leased] { try store.createUpload(upload, limits: limits) }
            idle.lastActive = 10_050
            old.lastActive = 10_190
            fresh.lastActive = 10_190
            for upload in [idle, old, fresh] { try store.releaseUpload(upload) }
            let expired = try store.expiredUploads(now: 10_200, limits: limits)
            #expect(Set(expired.map(\.id)) == [idle.id, old.id])
        }
    }
}

/// Outcomes recorded from several threads.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [String] = []
    func record(_ outcome: String) { lock.withLock { outcomes.append(outcome) } }
    func count(_ outcome: String) -> Int { lock.withLock { outcomes.filter { $0 == outcome }.count } }
}
