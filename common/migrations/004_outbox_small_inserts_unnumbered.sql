-- Numbering at insert (002) serializes a stream's producing transactions
-- from their outbox insert to the end of their COMMIT, flush included:
-- measured with pgbench, one event per transaction, eight clients went
-- from about 2,200 to 470 transactions/s. So only a transaction with many
-- events (64 or more: an applier's batch, a bulk producer) is numbered at
-- insert, where the second row version it saves pays; one with few is
-- inserted unnumbered without the lock and numbered by the relay after its
-- commit, as before 002, so concurrent small transactions share their
-- flushes again. Every seq is still given under the counter row's lock,
-- held to commit, so commits stay in seq order and any snapshot shows a
-- prefix of the seqs; a numbering transaction first numbers the events
-- committed unnumbered that it can see, so an event never gets a lower seq
-- than one whose effects its transaction could have read.
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
    moved bigint;
BEGIN
    IF cardinality(ids) < 64 THEN
        -- few events: inserted unnumbered, without the lock, for the relay
        -- to number once committed (as before 002), so that many small
        -- transactions at once still share their flushes
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
