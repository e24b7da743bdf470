/// The metadata store's schema, as versioned migrations (`swregistry migrate` and every start apply them).
///
/// Design notes:
/// - Names, tags and digests are `text COLLATE "C"`: compared and ordered as bytes, as distribution-spec's
///   pagination requires, whatever the database's default collation. The unique index on `repositories.name` and
///   the primary key `(repository_id, name)` of `tags` are then in byte order, so `WHERE name > $1 ORDER BY name
///   LIMIT n` is an index range scan that stops after n rows: a catalog or tag page costs O(page).
/// - Repositories get a numeric id (rows are never deleted, so replicas cache name → id forever); every other table
///   is keyed by it first, so one repository's rows are adjacent in each index.
/// - Times (`modified`, `created`) are nanoseconds since the epoch on the *database's* clock
///   (`clock_timestamp()`), so that every replica stamps with one clock and the collector's cutoff means the same
///   everywhere (see `PostgresMetadataStore.exclusively`).
/// - A manifest's bytes are `bytea`, sent and read in binary; what it names (config and layers, an index's
///   children) is in `manifest_references`, so that a PUT's transitive refresh and the collector's "does any
///   manifest name this blob" are index lookups, not JSON parsing.
/// - Tags reference manifests (ON DELETE CASCADE): deleting a manifest takes its tags in the same statement, and no
///   tag can point at a manifest the repository does not hold.
/// - Upload sessions carry a lease (`lease_token`, `lease_until` on the database clock): one request at a time holds
///   a session across replicas, and a replica killed mid-request leaves a lease that lapses.
enum MetadataSchema {
    /// Key of the advisory lock serializing migrations ("swrmigr").
    static let migrationLockKey: Int64 = 0x7377_726D_6967_72
    /// Key of the advisory lock between mutations that make things reachable (shared) and the collector
    /// (exclusive) ("swrgc").
    static let collectionLockKey: Int64 = 0x7377_7267_63
    /// Key of the advisory lock serializing upload session creation, so that the limits hold across replicas.
    static let uploadLimitLockKey: Int64 = 0x7377_7275_706C

    static let migrations = PGMigrations([
        .init(version: 1, name: "metadata", sql: """
            CREATE TABLE repositories (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text COLLATE "C" NOT NULL,
                CONSTRAINT repositories_name_key UNIQUE (name)
            );

            CREATE TABLE blobs (
                digest text COLLATE "C" PRIMARY KEY,
                size bigint NOT NULL CHECK (size >= 0),
                modified bigint NOT NULL
            );

            CREATE TABLE repository_blobs (
                repository_id bigint NOT NULL REFERENCES repositories (id),
                digest text COLLATE "C" NOT NULL REFERENCES blobs (digest),
                modified bigint NOT NULL,
                PRIMARY KEY (repository_id, digest)
            );
            CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

            CREATE TABLE manifests (
                repository_id bigint NOT NULL REFERENCES repositories (id),
                digest text COLLATE "C" NOT NULL,
                media_type text NOT NULL,
                payload bytea NOT NULL,
                subject_digest text COLLATE "C",
                artifact_type text,
                referrer_descriptor bytea,
                created bigint NOT NULL,
                modified bigint NOT NULL,
                PRIMARY KEY (repository_id, digest)
            );
            CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest, digest)
                WHERE subject_digest IS NOT NULL;
            CREATE INDEX manifests_digest ON manifests (digest);

            CREATE TABLE manifest_references (
                repository_id bigint NOT NULL,
                manifest_digest text COLLATE "C" NOT NULL,
                is_manifest boolean NOT NULL,
                reference_digest text COLLATE "C" NOT NULL,
                PRIMARY KEY (repository_id, manifest_digest, is_manifest, reference_digest),
                FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests ON DELETE CASCADE
            );
            CREATE INDEX manifest_references_blob ON manifest_references (reference_digest) WHERE NOT is_manifest;

            CREATE TABLE tags (
                repository_id bigint NOT NULL,
                name text COLLATE "C" NOT NULL,
                manifest_digest text COLLATE "C" NOT NULL,
                modified bigint NOT NULL,
                PRIMARY KEY (repository_id, name),
                FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests ON DELETE CASCADE
            );
            CREATE INDEX tags_manifest ON tags (repository_id, manifest_digest);

            CREATE TABLE upload_sessions (
                id text COLLATE "C" PRIMARY KEY,
                repository text COLLATE "C" NOT NULL,
                owner text NOT NULL,
                kind text NOT NULL,
                started bigint NOT NULL,
                last_active bigint NOT NULL,
                size bigint NOT NULL,
                state bytea NOT NULL,
                lease_token bigint,
                lease_until timestamptz
            );
            CREATE INDEX upload_sessions_owner ON upload_sessions (owner);
            """),
    ], lockKey: migrationLockKey)
}
