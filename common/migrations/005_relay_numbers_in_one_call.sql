-- The relay numbers events committed unnumbered (a transaction of few
-- events, 004) in one call instead of six round trips (look, BEGIN, lock
-- the counter row, number, advance, COMMIT): on a busy machine each round
-- trip waits for the database's turn on a core, and an event committed by
-- a small transaction waited for all of them before it was published
-- (issue 15, item 3: latency under load). The statements are those the
-- relay ran, in the same order: the function is VOLATILE, so each takes
-- its snapshot after the one before, and the numbering sees every
-- transaction that held the counter row's lock before it, as it did.
-- Called outside a transaction, it commits (flushed) before returning.
-- Returns the stream's epoch and published_seq as locked (NULL when there
-- was nothing to number, no lock taken) and the rows numbered; -1 rows
-- when the stream has no counter row.
CREATE FUNCTION outbox_number_committed(strm text, batch_max bigint,
                                        OUT out_epoch bigint, OUT out_published bigint,
                                        OUT out_numbered bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    base bigint;
BEGIN
    out_numbered := 0;
    IF NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq IS NULL AND o.stream = strm) THEN
        RETURN;
    END IF;
    SELECT s.epoch, s.last_seq, s.published_seq INTO out_epoch, base, out_published
        FROM outbox_streams s WHERE s.stream = strm FOR UPDATE;
    IF NOT FOUND THEN
        out_numbered := -1;
        RETURN;
    END IF;
    WITH picked AS (
        SELECT o.id FROM outbox o WHERE o.seq IS NULL AND o.stream = strm
        ORDER BY o.id LIMIT batch_max FOR UPDATE SKIP LOCKED
    ), numbered AS (
        SELECT p.id, base + row_number() OVER (ORDER BY p.id) AS new_seq FROM picked p
    )
    UPDATE outbox o SET seq = n.new_seq, epoch = out_epoch FROM numbered n WHERE o.id = n.id;
    GET DIAGNOSTICS out_numbered = ROW_COUNT;
    IF out_numbered > 0 THEN
        UPDATE outbox_streams SET last_seq = base + out_numbered WHERE stream = strm;
    END IF;
END
$$;
