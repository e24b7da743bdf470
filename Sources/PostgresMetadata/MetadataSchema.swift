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
        // A manifest PUT as one statement: one round trip and one implicit transaction instead of about ten
        // (BEGIN, lock, clock, checks, inserts, NOTIFY, COMMIT), which bounds PUT throughput under concurrency.
        // A missing reference raises SQLSTATE SWR01 (blob) or SWR02 (manifest) with the digest as DETAIL,
        // which rolls everything back.
        .init(version: 2, name: "put_manifest_function", sql: """
            CREATE FUNCTION swr_put_manifest(
                p_repository text, p_digest text, p_media_type text, p_payload bytea, p_subject text,
                p_artifact_type text, p_referrer bytea, p_blobs text[], p_children text[], p_tag text,
                p_channel text, p_lock bigint)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                v_id bigint;
                v_stamp bigint;
                v_missing text;
            BEGIN
                -- Shared with every other push; the collector takes it exclusively. Times are read after it.
                PERFORM pg_advisory_xact_lock_shared(p_lock);
                v_stamp := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000;
                SELECT id INTO v_id FROM repositories WHERE name = p_repository;
                IF v_id IS NULL THEN
                    INSERT INTO repositories (name) VALUES (p_repository) ON CONFLICT (name) DO NOTHING
                        RETURNING id INTO v_id;
                    IF v_id IS NULL THEN
                        SELECT id INTO v_id FROM repositories WHERE name = p_repository;
                    END IF;
                END IF;
                IF cardinality(p_blobs) > 0 THEN
                    -- Refreshes and row-locks the links present; the first one absent is reported.
                    WITH touched AS (
                        UPDATE repository_blobs SET modified = v_stamp
                        WHERE repository_id = v_id AND digest = ANY(p_blobs) RETURNING digest
                    )
                    SELECT u.d INTO v_missing FROM unnest(p_blobs) WITH ORDINALITY AS u(d, n)
                    WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.digest = u.d COLLATE "C")
                    ORDER BY u.n LIMIT 1;
                    IF v_missing IS NOT NULL THEN
                        RAISE EXCEPTION 'manifest blob unknown' USING ERRCODE = 'SWR01', DETAIL = v_missing;
                    END IF;
                    UPDATE blobs SET modified = v_stamp WHERE digest = ANY(p_blobs);
                END IF;
                IF cardinality(p_children) > 0 THEN
                    WITH touched AS (
                        UPDATE manifests SET modified = v_stamp
                        WHERE repository_id = v_id AND digest = ANY(p_children) RETURNING digest
                    )
                    SELECT u.d INTO v_missing FROM unnest(p_children) WITH ORDINALITY AS u(d, n)
                    WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.digest = u.d COLLATE "C")
                    ORDER BY u.n LIMIT 1;
                    IF v_missing IS NOT NULL THEN
                        RAISE EXCEPTION 'manifest unknown' USING ERRCODE = 'SWR02', DETAIL = v_missing;
                    END IF;
                    -- What the children name, transitively (an index of indexes).
                    WITH RECURSIVE below(digest) AS (
                        SELECT unnest(p_children) COLLATE "C"
                        UNION
                        SELECT r.reference_digest FROM manifest_references r JOIN below ON r.manifest_digest = below.digest
                        WHERE r.repository_id = v_id AND r.is_manifest
                    ),
                    named AS (
                        SELECT DISTINCT r.reference_digest AS digest FROM manifest_references r
                        JOIN below ON r.manifest_digest = below.digest
                        WHERE r.repository_id = v_id AND NOT r.is_manifest
                    ),
                    manifests_touched AS (
                        UPDATE manifests m SET modified = v_stamp FROM below
                        WHERE m.repository_id = v_id AND m.digest = below.digest RETURNING 1
                    ),
                    links_touched AS (
                        UPDATE repository_blobs l SET modified = v_stamp FROM named
                        WHERE l.repository_id = v_id AND l.digest = named.digest RETURNING 1
                    )
                    UPDATE blobs b SET modified = v_stamp FROM named WHERE b.digest = named.digest;
                END IF;
                INSERT INTO manifests (repository_id, digest, media_type, payload, subject_digest, artifact_type,
                                       referrer_descriptor, created, modified)
                VALUES (v_id, p_digest, p_media_type, p_payload, p_subject, p_artifact_type, p_referrer,
                        v_stamp, v_stamp)
                ON CONFLICT (repository_id, digest) DO UPDATE SET modified = EXCLUDED.modified;
                IF cardinality(p_blobs) > 0 OR cardinality(p_children) > 0 THEN
                    INSERT INTO manifest_references (repository_id, manifest_digest, is_manifest, reference_digest)
                    SELECT v_id, p_digest, false, unnest(p_blobs)
                    UNION SELECT v_id, p_digest, true, unnest(p_children)
                    ON CONFLICT DO NOTHING;
                END IF;
                IF p_tag IS NOT NULL THEN
                    INSERT INTO tags (repository_id, name, manifest_digest, modified)
                    VALUES (v_id, p_tag, p_digest, v_stamp)
                    ON CONFLICT (repository_id, name)
                    DO UPDATE SET manifest_digest = EXCLUDED.manifest_digest, modified = EXCLUDED.modified;
                END IF;
                PERFORM pg_notify(p_channel, p_repository);
                RETURN v_id;
            END
            $$;
            """),
        // A mount or an upload's link as one statement (one round trip, one implicit transaction), and a manifest
        // PUT that also checks the declared sizes. Measured with 8 clients (mount + PUT pairs), what bounded the
        // throughput was not the work but the commits that could not share a WAL flush:
        // - NOTIFY takes a lock that is global to the cluster from before the commit record until after its flush
        //   (async.c, PreCommit_Notify), so notifying transactions commit one flush at a time. Only a change that
        //   can make a cached answer wrong notifies: a tag that moves to another manifest (creations need none: no
        //   replica caches an absence; deletions still notify, elsewhere).
        // - A blob every push names (a base layer) is one row: refreshing its time locked it until COMMIT, one
        //   pusher after the other. Its time is refreshed only when older than `p_refresh` nanoseconds (a quarter
        //   of the collector's grace, as for links on HEAD); the link or reference made in the same transaction is
        //   what keeps it (`removeBlobRecord` deletes no blob that a link or manifest names).
        .init(version: 3, name: "one_statement_link_and_sized_put", sql: """
            CREATE FUNCTION swr_repository_id(p_repository text) RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                v_id bigint;
            BEGIN
                SELECT id INTO v_id FROM repositories WHERE name = p_repository;
                IF v_id IS NULL THEN
                    -- Another transaction inserting the name first makes this one wait for its commit and return
                    -- nothing; the SELECT after it is a new statement, whose snapshot sees that row.
                    INSERT INTO repositories (name) VALUES (p_repository) ON CONFLICT (name) DO NOTHING
                        RETURNING id INTO v_id;
                    IF v_id IS NULL THEN
                        SELECT id INTO v_id FROM repositories WHERE name = p_repository;
                    END IF;
                END IF;
                RETURN v_id;
            END
            $$;

            -- Links p_digest into p_repository. p_size NULL: a mount, the blob must be recorded (SWR01 otherwise);
            -- else an upload's commit records it. p_from not NULL: only when that repository links the blob
            -- (returns NULL and changes nothing otherwise). Returns the blob's size.
            CREATE FUNCTION swr_link(p_repository text, p_digest text, p_size bigint, p_from text, p_lock bigint,
                                     p_refresh bigint)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                v_id bigint;
                v_stamp bigint;
                v_size bigint;
                v_modified bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(p_lock);
                v_stamp := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000;
                IF p_from IS NOT NULL THEN
                    PERFORM 1 FROM repositories r JOIN repository_blobs l ON l.repository_id = r.id
                    WHERE r.name = p_from AND l.digest = p_digest;
                    IF NOT FOUND THEN
                        RETURN NULL;
                    END IF;
                END IF;
                IF p_size IS NULL THEN
                    -- The link's foreign key locks the row against deletion (KEY SHARE) without serializing mounts.
                    SELECT size, modified INTO v_size, v_modified FROM blobs WHERE digest = p_digest;
                    IF v_size IS NULL THEN
                        RAISE EXCEPTION 'blob unknown' USING ERRCODE = 'SWR01', DETAIL = p_digest;
                    END IF;
                    IF v_modified < v_stamp - p_refresh THEN
                        UPDATE blobs SET modified = v_stamp WHERE digest = p_digest AND modified < v_stamp;
                    END IF;
                ELSE
                    INSERT INTO blobs (digest, size, modified) VALUES (p_digest, p_size, v_stamp)
                    ON CONFLICT (digest) DO UPDATE SET modified = EXCLUDED.modified
                    RETURNING size INTO v_size;
                END IF;
                v_id := swr_repository_id(p_repository);
                INSERT INTO repository_blobs (repository_id, digest, modified) VALUES (v_id, p_digest, v_stamp)
                ON CONFLICT (repository_id, digest) DO UPDATE SET modified = EXCLUDED.modified;
                RETURN v_size;
            END
            $$;

            -- swr_put_manifest of version 2, plus: p_sized/p_sizes, the declared size of each descriptor, checked
            -- against the blob's recorded size (when some repository links it) or else the repository's manifest
            -- (SQLSTATE SWR03, DETAIL '<1-based position> <stored size>'); blob times refreshed only when older
            -- than p_refresh; NOTIFY only when the tag moved from another manifest. Returns whether it notified.
            CREATE FUNCTION swr_put_manifest(
                p_repository text, p_digest text, p_media_type text, p_payload bytea, p_subject text,
                p_artifact_type text, p_referrer bytea, p_blobs text[], p_children text[], p_tag text,
                p_channel text, p_lock bigint, p_sized text[], p_sizes bigint[], p_refresh bigint)
            RETURNS boolean LANGUAGE plpgsql AS $$
            DECLARE
                v_id bigint;
                v_stamp bigint;
                v_missing text;
                v_position bigint;
                v_stored bigint;
                v_previous text;
                v_moved boolean := false;
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(p_lock);
                v_stamp := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000;
                v_id := swr_repository_id(p_repository);
                IF cardinality(p_blobs) > 0 THEN
                    WITH touched AS (
                        UPDATE repository_blobs SET modified = v_stamp
                        WHERE repository_id = v_id AND digest = ANY(p_blobs) RETURNING digest
                    )
                    SELECT u.d INTO v_missing FROM unnest(p_blobs) WITH ORDINALITY AS u(d, n)
                    WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.digest = u.d COLLATE "C")
                    ORDER BY u.n LIMIT 1;
                    IF v_missing IS NOT NULL THEN
                        RAISE EXCEPTION 'manifest blob unknown' USING ERRCODE = 'SWR01', DETAIL = v_missing;
                    END IF;
                    UPDATE blobs SET modified = v_stamp WHERE digest = ANY(p_blobs) AND modified < v_stamp - p_refresh;
                END IF;
                IF cardinality(p_children) > 0 THEN
                    WITH touched AS (
                        UPDATE manifests SET modified = v_stamp
                        WHERE repository_id = v_id AND digest = ANY(p_children) RETURNING digest
                    )
                    SELECT u.d INTO v_missing FROM unnest(p_children) WITH ORDINALITY AS u(d, n)
                    WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.digest = u.d COLLATE "C")
                    ORDER BY u.n LIMIT 1;
                    IF v_missing IS NOT NULL THEN
                        RAISE EXCEPTION 'manifest unknown' USING ERRCODE = 'SWR02', DETAIL = v_missing;
                    END IF;
                    WITH RECURSIVE below(digest) AS (
                        SELECT unnest(p_children) COLLATE "C"
                        UNION
                        SELECT r.reference_digest FROM manifest_references r JOIN below ON r.manifest_digest = below.digest
                        WHERE r.repository_id = v_id AND r.is_manifest
                    ),
                    named AS (
                        SELECT DISTINCT r.reference_digest AS digest FROM manifest_references r
                        JOIN below ON r.manifest_digest = below.digest
                        WHERE r.repository_id = v_id AND NOT r.is_manifest
                    ),
                    manifests_touched AS (
                        UPDATE manifests m SET modified = v_stamp FROM below
                        WHERE m.repository_id = v_id AND m.digest = below.digest RETURNING 1
                    ),
                    links_touched AS (
                        UPDATE repository_blobs l SET modified = v_stamp FROM named
                        WHERE l.repository_id = v_id AND l.digest = named.digest RETURNING 1
                    )
                    UPDATE blobs b SET modified = v_stamp FROM named
                    WHERE b.digest = named.digest AND b.modified < v_stamp - p_refresh;
                END IF;
                IF cardinality(p_sized) > 0 THEN
                    SELECT u.n, s.stored INTO v_position, v_stored
                    FROM unnest(p_sized, p_sizes) WITH ORDINALITY AS u(d, declared, n)
                    CROSS JOIN LATERAL (SELECT coalesce(
                        (SELECT b.size FROM blobs b WHERE b.digest = u.d COLLATE "C"
                           AND EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)),
                        (SELECT octet_length(m.payload)::bigint FROM manifests m
                         WHERE m.repository_id = v_id AND m.digest = u.d COLLATE "C")) AS stored) s
                    WHERE s.stored <> u.declared
                    ORDER BY u.n LIMIT 1;
                    IF v_position IS NOT NULL THEN
                        RAISE EXCEPTION 'descriptor size mismatch' USING ERRCODE = 'SWR03',
                            DETAIL = v_position::text || ' ' || v_stored::text;
                    END IF;
                END IF;
                INSERT INTO manifests (repository_id, digest, media_type, payload, subject_digest, artifact_type,
                                       referrer_descriptor, created, modified)
                VALUES (v_id, p_digest, p_media_type, p_payload, p_subject, p_artifact_type, p_referrer,
                        v_stamp, v_stamp)
                ON CONFLICT (repository_id, digest) DO UPDATE SET modified = EXCLUDED.modified;
                IF cardinality(p_blobs) > 0 OR cardinality(p_children) > 0 THEN
                    INSERT INTO manifest_references (repository_id, manifest_digest, is_manifest, reference_digest)
                    SELECT v_id, p_digest, false, unnest(p_blobs)
                    UNION SELECT v_id, p_digest, true, unnest(p_children)
                    ON CONFLICT DO NOTHING;
                END IF;
                IF p_tag IS NOT NULL THEN
                    -- The tag's previous manifest, read locked (each statement of this VOLATILE function sees what
                    -- committed before it): a racing PUT that created the tag first is waited for and seen, so a
                    -- move is never taken for a creation.
                    LOOP
                        SELECT manifest_digest INTO v_previous FROM tags
                        WHERE repository_id = v_id AND name = p_tag FOR UPDATE;
                        IF FOUND THEN
                            UPDATE tags SET manifest_digest = p_digest, modified = v_stamp
                            WHERE repository_id = v_id AND name = p_tag;
                            v_moved := v_previous <> p_digest;
                            EXIT;
                        END IF;
                        INSERT INTO tags (repository_id, name, manifest_digest, modified)
                        VALUES (v_id, p_tag, p_digest, v_stamp)
                        ON CONFLICT (repository_id, name) DO NOTHING;
                        EXIT WHEN FOUND;
                    END LOOP;
                END IF;
                IF v_moved THEN
                    PERFORM pg_notify(p_channel, p_repository);
                END IF;
                RETURN v_moved;
            END
            $$;
            """),
    ], lockKey: migrationLockKey)
}
