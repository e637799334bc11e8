-- outbox_insert stores a batch with caused events by a plain insert
-- (issue 15, item 4). 011 looked up which of the batch's caused ids were
-- stored already, sorted the batch by id to drop repeats, and inserted
-- with ON CONFLICT ... DO NOTHING (a speculative insertion: the unique
-- index checked before and confirmed after each row), then counted what
-- went in against what was wanted. In the pipeline bench that was 22 us
-- an event, the order service's intake transaction's costliest
-- statement after its order insert; on a scratch outbox of 8,000 rows a
-- batch of 750 caused events took 17 ms that way against 9-10 ms by a
-- plain insert. An event applied twice, or a caused id inserted without
-- the lock, is rare; so the batch is inserted plainly first, in a block
-- whose subtransaction a unique_violation undoes, and only then is 011's
-- careful way taken: ids already stored are left out, the seqs stay
-- dense. One outcome changes: a caused id inserted unnumbered by another
-- transaction that commits while the plain insert waits on its row is
-- now found stored by the careful way and left out, where 011 failed the
-- transaction (40001) for the retry to find it so; a commit between the
-- careful look-up and its insert still fails it (40001). tests/test_outbox
-- covers both ways and that case.
--
-- Only the nine-argument outbox_insert changes; like 011's it carries no
-- setting (CREATE OR REPLACE drops any).

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
        -- the usual case: no event of the batch is stored yet and no caused
        -- id repeats in it: one plain insert, numbered as it goes, in a
        -- block of its own. A caused id already stored or repeated (an
        -- event applied again, an insert without the lock) fails it with
        -- unique_violation: the block's subtransaction undoes it and the
        -- careful way below runs instead, as in 011.
        BEGIN
            INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id,
                                schema_version, occurred_at_ms, payload, epoch, seq)
            SELECT r.e, r.s, r.t, r.c, r.k, r.v, r.a, r.p, cur_epoch,
                   base + row_number() OVER (ORDER BY r.n)
            FROM unnest(ids, streams, types, correlations, causations, versions, ats, payloads)
                WITH ORDINALITY AS r (e, s, t, c, k, v, a, p, n)
            WHERE r.s = strm
            ORDER BY r.n;
            GET DIAGNOSTICS got = ROW_COUNT;
            UPDATE outbox_streams o SET last_seq = base + got WHERE o.stream = strm;
            total := total + got;
            CONTINUE;
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
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
