-- Events are numbered when they are inserted, not renumbered by the relay
-- afterwards (issue 15): the relay's UPDATE wrote every row a second time,
-- with three index entries, and was a third of the durable bus's database
-- work. outbox_insert() takes the stream's counter row lock, numbers the
-- rows from last_seq and advances it; the lock is held until the
-- producing transaction ends, so producing transactions commit one after
-- another in seq order, a rolled-back one gives its numbers back, and what
-- any snapshot sees of a stream is a prefix of its seqs: the relay reads
-- rows past what it has published and can neither skip one nor see one
-- late. common/outbox.c calls it; rows still unnumbered (written before
-- this migration) are numbered by the relay as before.

-- How far the relay has published the current epoch (persisted now and
-- then: a new leader starts there and at worst publishes some again).
ALTER TABLE outbox_streams ADD COLUMN published_seq bigint NOT NULL DEFAULT 0;
-- everything numbered so far was numbered by a relay that published it
UPDATE outbox_streams SET published_seq = last_seq;
ALTER TABLE outbox_streams ADD CONSTRAINT outbox_streams_published_behind_head
    CHECK (published_seq >= 0 AND published_seq <= last_seq);

-- Inserts a transaction's events, numbered, and returns how many were new
-- (an event whose event_id is already there is left as it was). The
-- arrays are one column each, in append order. A stream without a counter
-- row starts its first epoch here; one whose database identity changed
-- (a restore, a failover) starts a new epoch at seq 1, as the relay would,
-- so that nothing is numbered into a life of the outbox the consumers have
-- already seen further.
CREATE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
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
        -- this statement's snapshot shows every event_id already there: the
        -- numbers given are exactly the rows inserted, without a hole
        WITH r AS (
            SELECT DISTINCT ON (r.e) r.*
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = r.e)
            ORDER BY r.e, r.n
        ), ins AS (
            INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                schema_version, occurred_at_ms, payload, epoch, seq)
            SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p, cur_epoch,
                   base + row_number() OVER (ORDER BY r.n)
            FROM r ORDER BY r.n
            ON CONFLICT (event_id) DO NOTHING
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
