-- A small transaction's events (fewer than 64, 004) numbered by the
-- relay after the commit wait for a second commit, the relay's, flush
-- included, before they can be published: on a loaded machine most of
-- their latency commit to commit (issue 15, item 3: 22-30 ms p50 of 39-51
-- at 10,000 events/s in transactions of 50). outbox_insert(..., at_commit)
-- takes a ninth argument, true when the events are the statement just
-- before COMMIT (common/outbox.c, db_commit's flush), so that the counter
-- row's lock would be held for the COMMIT only. Then a small transaction's
-- events are numbered as inserted, like a big one's, if the stream's
-- counter row is free (FOR NO KEY UPDATE SKIP LOCKED): a lone producer's
-- events leave as soon as they are committed. When another transaction
-- holds the lock, or when the events are flushed earlier (a savepoint,
-- after which the transaction goes on), they are inserted unnumbered
-- without waiting, as 004 does, so that many small transactions at once
-- still share their flushes rather than commit one after another (004's
-- measurement) and a long transaction holds no lock. A transaction that
-- takes the lock numbers first the events committed unnumbered that it
-- can see, as a big one does, so every seq is still given under the
-- counter row's lock, held to commit: commits stay in seq order, a
-- snapshot shows a prefix of the seqs, and no event gets a lower seq than
-- one whose effects its transaction could have read. One that takes the
-- lock for a caused event another transaction is inserting unnumbered
-- fails with 40001 and is retried, as a big one does. The eight-argument
-- outbox_insert (004) stays for older binaries.
CREATE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
                              causations text[], versions integer[], ats bigint[],
                              payloads bytea[], at_commit boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    strm text;
    cur_epoch bigint;
    base bigint;
    stored_sysid text;
    stored_timeline bigint;
    sysid text;
    tl bigint;
    wanted bigint;
    got bigint;
    total bigint := 0;
    moved bigint;
    small boolean := cardinality(ids) < 64;
BEGIN
    IF small AND NOT at_commit THEN
        -- few events, and the transaction goes on: unnumbered, as in 004
        INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                            schema_version, occurred_at_ms, payload)
        SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p
        FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
            WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
        ORDER BY r.n
        ON CONFLICT (event_id) WHERE causation_id <> '' DO NOTHING;
        GET DIAGNOSTICS got = ROW_COUNT;
        RETURN got;
    END IF;
    SELECT c.system_identifier::text, (SELECT timeline_id FROM pg_control_checkpoint())
        INTO sysid, tl FROM pg_control_system() c;
    -- streams in a fixed order: two transactions never wait on each other
    FOR strm IN SELECT DISTINCT x FROM unnest(streams) AS x ORDER BY x LOOP
        IF small THEN
            -- few events, just before COMMIT: numbered here if the
            -- counter row is free
            SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
                INTO cur_epoch, base, stored_sysid, stored_timeline
                FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE SKIP LOCKED;
            IF NOT FOUND AND EXISTS (SELECT 1 FROM outbox_streams o WHERE o.stream = strm) THEN
                -- another transaction numbers: inserted unnumbered, without
                -- waiting, for the relay (or the next one to lock) to number
                -- once committed, as 004 did for every small transaction
                INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                    schema_version, occurred_at_ms, payload)
                SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p
                FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                    WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
                WHERE r.s = strm
                ORDER BY r.n
                ON CONFLICT (event_id) WHERE causation_id <> '' DO NOTHING;
                GET DIAGNOSTICS got = ROW_COUNT;
                total := total + got;
                CONTINUE;
            END IF;
        ELSE
            SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
                INTO cur_epoch, base, stored_sysid, stored_timeline
                FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
        END IF;
        IF NOT FOUND THEN
            INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline)
                VALUES (strm, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, sysid, tl)
                ON CONFLICT (stream) DO NOTHING;
            SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
                INTO cur_epoch, base, stored_sysid, stored_timeline
                FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
        END IF;
        IF stored_sysid <> sysid OR stored_timeline <> tl THEN
            UPDATE outbox_streams
                SET epoch = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                                     epoch + 1),
                    last_seq = 0, published_seq = 0, purged_through = 0,
                    system_identifier = sysid, timeline = tl, started_at = now()
                WHERE stream = strm RETURNING epoch INTO cur_epoch;
            base := 0;
            RAISE WARNING 'outbox: database identity changed: stream % starts epoch %',
                strm, cur_epoch;
        END IF;
        -- events committed unnumbered before this transaction could see
        -- them come first: this transaction may have read what they did
        WITH pending AS (
            SELECT o.id, base + row_number() OVER (ORDER BY o.id) AS new_seq
            FROM outbox o WHERE o.seq IS NULL AND o.stream = strm
        )
        UPDATE outbox o SET epoch = cur_epoch, seq = p.new_seq FROM pending p WHERE o.id = p.id;
        GET DIAGNOSTICS moved = ROW_COUNT;
        base := base + moved;
        -- under the lock, every other numbering of this stream has ended, so
        -- this statement's snapshot shows every caused event already there
        -- but those of unnumbered inserts still running: the numbers given
        -- are exactly the rows inserted, without a hole, or the conflict
        -- below fails the transaction
        WITH r AS (
            SELECT DISTINCT ON (r.e) r.*
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm AND (r.k = '' OR NOT EXISTS
                (SELECT 1 FROM outbox o WHERE o.event_id = r.e AND o.causation_id <> ''))
            ORDER BY r.e, r.n
        ), ins AS (
            INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                schema_version, occurred_at_ms, payload, epoch, seq)
            SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p, cur_epoch,
                   base + row_number() OVER (ORDER BY r.n)
            FROM r ORDER BY r.n
            ON CONFLICT (event_id) WHERE causation_id <> '' DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM ins) INTO wanted, got;
        IF got <> wanted THEN
            -- an event_id inserted without the lock: a hole would stop
            -- every consumer, so fail the transaction instead (retried)
            RAISE EXCEPTION 'outbox: % of % events of stream % collided while being numbered',
                wanted - got, wanted, strm USING ERRCODE = '40001';
        END IF;
        IF got + moved > 0 THEN
            UPDATE outbox_streams SET last_seq = base + got WHERE stream = strm;
        END IF;
        total := total + got;
    END LOOP;
    RETURN total;
END
$$;
