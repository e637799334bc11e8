-- The outbox functions plan afresh only the statements whose best plan
-- depends on the outbox's size, and take a stream's counter row in one
-- place (issue 15, item 4). 009 set plan_cache_mode = force_custom_plan on
-- the whole of outbox_insert and outbox_number_committed (010 on
-- outbox_reserve), so that a generic plan chosen while the outbox was tiny
-- (hash every caused id of the table; a seq scan) could not stay as the
-- table grew. The price was every statement of the function planned again
-- at every call: in the pipeline bench outbox_insert cost 1.3 ms a
-- transaction in the order service and 1.9 ms in inventory, mostly
-- planning, as much as all the rest of the order service's intake
-- transaction. Now only the statements that read outbox run by EXECUTE ...
-- USING, which plans them for the table as it is and the values given:
-- the probe for events committed unnumbered (seq IS NULL AND stream =
-- ...) and their numbering, and the look-up of a batch's caused ids
-- already stored. The rest (the counter row by primary key, the inserts
-- from unnest, the last_seq update) keep the session's cached plans,
-- which no size of outbox can spoil, generic ones too (inventory's
-- sessions ask for them). outbox_insert, outbox_reserve and
-- outbox_stream_lock carry no setting (CREATE OR REPLACE below drops
-- 009's and 010's). outbox_number_committed keeps 009's: the relay calls
-- it more often than anything else, and its usual call is its probe
-- alone, which a custom plan of the cached statement costs less than
-- EXECUTE's parse, analysis and plan (measured ~60-85 against ~90 us a
-- call). tests/test_outbox proves that calls made after the outbox grew
-- from nearly empty to 50,000 rows scan no outbox.
--
-- outbox_reserve (010) repeated outbox_insert's block of lock, identity
-- check and numbering of pending rows; outbox_stream_lock is that block,
-- once, for both.

-- Locks stream's counter row FOR NO KEY UPDATE, held to COMMIT, so that
-- the stream's numbering transactions commit one after another in seq
-- order. A stream without a counter row starts its first epoch here; one
-- whose database identity changed (a restore, a failover) starts a new
-- epoch at seq 1, as the relay would, so that nothing is numbered into a
-- life of the outbox the consumers have already seen further. Then the
-- events committed unnumbered that this transaction can see are numbered
-- first (this transaction may have read what they did), and reserve seqs
-- more are reserved: on return last_seq is base_seq + reserve, and the
-- caller must insert rows numbered base_seq + 1 .. base_seq + reserve in
-- this transaction (a failure rolls the reservation back with it), or,
-- with reserve 0, advance last_seq itself past what it numbers. With wait
-- false, a counter row another transaction holds is skipped (SKIP LOCKED):
-- stream_epoch and base_seq are then NULL, nothing was locked or numbered.
CREATE FUNCTION outbox_stream_lock(strm text, wait boolean, reserve bigint,
                                   OUT stream_epoch bigint, OUT base_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
    stored_sysid text;
    stored_timeline bigint;
    sysid text;
    tl bigint;
    pending boolean;
    moved bigint;
BEGIN
    IF reserve IS NULL OR reserve < 0 THEN
        RAISE EXCEPTION 'outbox: cannot reserve % seqs', reserve USING ERRCODE = '22023';
    END IF;
    IF wait THEN
        SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
            INTO stream_epoch, base_seq, stored_sysid, stored_timeline
            FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
    ELSE
        SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
            INTO stream_epoch, base_seq, stored_sysid, stored_timeline
            FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND AND EXISTS (SELECT 1 FROM outbox_streams o WHERE o.stream = strm) THEN
            RETURN;
        END IF;
    END IF;
    SELECT c.system_identifier::text, (SELECT timeline_id FROM pg_control_checkpoint())
        INTO sysid, tl FROM pg_control_system() c;
    IF stream_epoch IS NULL THEN
        INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline)
            VALUES (strm, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, sysid, tl)
            ON CONFLICT (stream) DO NOTHING;
        SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
            INTO stream_epoch, base_seq, stored_sysid, stored_timeline
            FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
    END IF;
    IF stored_sysid <> sysid OR stored_timeline <> tl THEN
        UPDATE outbox_streams o
            SET epoch = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                                 o.epoch + 1),
                last_seq = 0, published_seq = 0, purged_through = 0,
                system_identifier = sysid, timeline = tl, started_at = now()
            WHERE o.stream = strm RETURNING o.epoch INTO stream_epoch;
        base_seq := 0;
        RAISE WARNING 'outbox: database identity changed: stream % starts epoch %',
            strm, stream_epoch;
    END IF;
    -- events committed unnumbered before this transaction could see them
    -- come first (it may have read what they did). Both statements read
    -- outbox, so EXECUTE plans them for the table as it is; the numbering
    -- only when there is something to number, the probe being the cheaper
    -- to plan. Between the two nothing can be numbered by another (this
    -- transaction holds the counter row); what commits unnumbered in
    -- between, this transaction cannot have read.
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM outbox o WHERE o.seq IS NULL AND o.stream = $1)'
        INTO pending USING strm;
    moved := 0;
    IF pending THEN
        EXECUTE 'WITH pending AS (
                     SELECT o.id, $3 + row_number() OVER (ORDER BY o.id) AS new_seq
                     FROM outbox o WHERE o.seq IS NULL AND o.stream = $1
                 )
                 UPDATE outbox o SET epoch = $2, seq = p.new_seq FROM pending p WHERE o.id = p.id'
            USING strm, stream_epoch, base_seq;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    base_seq := base_seq + moved;
    IF moved + reserve > 0 THEN
        UPDATE outbox_streams o SET last_seq = base_seq + reserve WHERE o.stream = strm;
    END IF;
END
$$;

-- outbox_reserve of 010, by outbox_stream_lock.
CREATE OR REPLACE FUNCTION outbox_reserve(strm text, n bigint, OUT stream_epoch bigint,
                                          OUT base_seq bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF n IS NULL OR n < 1 THEN
        RAISE EXCEPTION 'outbox: cannot reserve % seqs', n USING ERRCODE = '22023';
    END IF;
    SELECT l.stream_epoch, l.base_seq INTO stream_epoch, base_seq
        FROM outbox_stream_lock(strm, true, n) l;
END
$$;

-- outbox_insert of 008, by outbox_stream_lock. A stream's events with no
-- caused event have their seqs reserved with the lock and go in by a plain
-- insert; with a caused event, the ids already stored are looked up first
-- (EXECUTE: planned for the table as it is), and the insert leaves them
-- out and still fails the transaction (40001, retried) on a collision with
-- an event inserted unnumbered meanwhile, as 002-008 do.
CREATE OR REPLACE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
                              causations text[], versions integer[], ats bigint[],
                              payloads bytea[], at_commit boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    strm text;
    cur_epoch bigint;
    base bigint;
    mine bigint;
    caused uuid[];
    stored uuid[];
    wanted bigint;
    got bigint;
    total bigint := 0;
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
    -- streams in a fixed order: two transactions never wait on each other
    FOR strm IN SELECT DISTINCT x FROM unnest(streams) AS x ORDER BY x LOOP
        SELECT count(*), array_agg(u.e) FILTER (WHERE u.k <> '') INTO mine, caused
            FROM unnest(ids, streams, causations) AS u (e, s, k) WHERE u.s = strm;
        -- few events, just before COMMIT: numbered here only if the
        -- counter row is free; no caused event: their seqs reserved
        SELECT l.stream_epoch, l.base_seq INTO cur_epoch, base
            FROM outbox_stream_lock(strm, NOT small, CASE WHEN caused IS NULL THEN mine ELSE 0 END) l;
        IF cur_epoch IS NULL THEN
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
        IF caused IS NULL THEN
            -- nothing can collide (each has a fresh random id, and only
            -- caused ids are unique): all of them, numbered as reserved
            INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                schema_version, occurred_at_ms, payload, epoch, seq)
            SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p, cur_epoch,
                   base + row_number() OVER (ORDER BY r.n)
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm
            ORDER BY r.n;
            GET DIAGNOSTICS got = ROW_COUNT;
            IF got <> mine THEN
                RAISE EXCEPTION 'outbox: % of % events of stream % inserted as reserved',
                    got, mine, strm;
            END IF;
            total := total + got;
            CONTINUE;
        END IF;
        -- under the lock, every other numbering of this stream has ended, so
        -- this look-up sees every caused event already there but those of
        -- unnumbered inserts still running: the numbers given are exactly
        -- the rows inserted, without a hole, or the conflict below fails
        -- the transaction
        -- few ids: one index scan for them all; many (an applier's batch
        -- of thousands): one probe each, so that neither the planning of
        -- = ANY over a constant of thousands of elements nor a scan of the
        -- whole outbox it then finds cheaper grows with the batch (30 ms
        -- against 5 for 2,500 ids on an outbox of 60,000 rows)
        IF cardinality(caused) < 64 THEN
            EXECUTE 'SELECT coalesce(array_agg(o.event_id), ''{}'') FROM outbox o
                     WHERE o.event_id = ANY ($1) AND o.causation_id <> '''''
                INTO stored USING caused;
        ELSE
            EXECUTE 'SELECT coalesce(array_agg(u.e), ''{}'') FROM unnest($1) AS u (e)
                     WHERE (SELECT true FROM outbox o
                            WHERE o.event_id = u.e AND o.causation_id <> '''')'
                INTO stored USING caused;
        END IF;
        WITH r AS (
            SELECT DISTINCT ON (r.e) r.*
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm AND (r.k = '' OR r.e <> ALL (stored))
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
            UPDATE outbox_streams o SET last_seq = base + got WHERE o.stream = strm;
        END IF;
        total := total + got;
    END LOOP;
    RETURN total;
END
$$;

-- The eight-argument outbox_insert (004) is what common/outbox.c calls
-- for a flush before the commit (a savepoint; an append outside a
-- transaction): 004's body had the lock block a third time and was never
-- given 009's setting. It is the nine-argument one, not at the commit.
CREATE OR REPLACE FUNCTION outbox_insert(ids uuid[], streams text[], types text[], correlations text[],
                              causations text[], versions integer[], ats bigint[],
                              payloads bytea[])
RETURNS bigint LANGUAGE sql AS $$
    SELECT outbox_insert(ids, streams, types, correlations, causations, versions, ats, payloads,
                         false)
$$;
