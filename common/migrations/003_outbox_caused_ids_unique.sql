-- Only caused events need their event_id checked for uniqueness (issue
-- 15, fewer and narrower indexes): a caused event's id is UUIDv5(cause,
-- index), the same when a handler runs again after a crash, and must then
-- be a no-op; a root event's id is a fresh random UUIDv4 that nothing
-- appends twice. The unique index on every event_id took a random-order
-- entry per event (and full-page images of its leaves after each
-- checkpoint) for the producer's busiest events, which are root events.
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
CREATE UNIQUE INDEX outbox_caused_event_id ON outbox (event_id) WHERE causation_id <> '';

-- outbox_insert of 002, checking only caused events against that index.
CREATE OR REPLACE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
                              causations text[], versions integer[], ats bigint[],
                              payloads bytea[])
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
BEGIN
    SELECT c.system_identifier::text, (SELECT timeline_id FROM pg_control_checkpoint())
        INTO sysid, tl FROM pg_control_system() c;
    -- streams in a fixed order: two transactions never wait on each other
    FOR strm IN SELECT DISTINCT x FROM unnest(streams) AS x ORDER BY x LOOP
        SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
            INTO cur_epoch, base, stored_sysid, stored_timeline
            FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
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
        -- under the lock, every other inserter of this stream has ended, so
        -- this statement's snapshot shows every caused event already there:
        -- the numbers given are exactly the rows inserted, without a hole
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
        IF got > 0 THEN
            UPDATE outbox_streams SET last_seq = base + got WHERE stream = strm;
        END IF;
        total := total + got;
    END LOOP;
    RETURN total;
END
$$;
