-- outbox_insert (006) inserted every batch through DISTINCT ON (event_id)
-- and INSERT ... ON CONFLICT, so that a caused event appended twice is
-- stored once and a collision while numbering fails the transaction
-- rather than leave a hole. Only caused events (causation_id <> '') can
-- collide: their ids are derived from the cause, every other event's id is
-- a fresh UUIDv4 and only caused ids are unique (003). Yet every row paid
-- for the sort by id and the speculative insertion (a lock taken and
-- released per row): about 3 of the 17-22 ms a transaction of 1,000
-- events spends in outbox_insert and COMMIT on the bench machine, in the
-- producer's serial path (issue 15 item 2). A stream's events of a batch
-- with no caused event are now inserted by a plain INSERT, numbered from
-- the counter row under its lock as before; batches with a caused event,
-- and every unnumbered insert, go the way 006 does.
CREATE OR REPLACE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
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
        IF NOT EXISTS (SELECT 1 FROM unnest(streams, causations) AS u (s, k)
                       WHERE u.s = strm AND u.k <> '') THEN
            -- no caused event: nothing can collide (each has a fresh random
            -- id, and only caused ids are unique), so a plain insert numbers
            -- them all, in append order, without a hole
            INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                schema_version, occurred_at_ms, payload, epoch, seq)
            SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p, cur_epoch,
                   base + row_number() OVER (ORDER BY r.n)
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm
            ORDER BY r.n;
            GET DIAGNOSTICS got = ROW_COUNT;
            IF got + moved > 0 THEN
                UPDATE outbox_streams SET last_seq = base + got WHERE stream = strm;
            END IF;
            total := total + got;
            CONTINUE;
        END IF;
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
