-- A big batch of one stream's events none of which is caused is inserted
-- by COPY ... FROM STDIN (FORMAT binary), numbered by the producer, instead
-- of outbox_insert's INSERT ... SELECT FROM unnest(8 arrays) (issue 15
-- item 2: the producer's session is the bus's serial step, and unnest
-- builds every row through the executor). outbox_reserve does, for such a
-- batch, what outbox_insert (008) does before its plain insert, under the
-- same lock: it takes the stream's counter row FOR NO KEY UPDATE, held to
-- COMMIT (so commits come in seq order); checks the database identity (a
-- new epoch at seq 1 if it changed); numbers the events committed
-- unnumbered first (this transaction may have read what they did); then
-- reserves n seqs, advancing last_seq by n, and returns the epoch and the
-- seq before the first reserved one. The caller must then insert exactly n
-- rows numbered base + 1 .. base + n in this transaction: a COPY inserts
-- all its rows or fails, and a failure rolls the reservation back with the
-- transaction, so no seq is skipped. Uncaused events cannot collide (their
-- ids are fresh UUIDv4s and only caused ids are unique, 003); batches with
-- a caused event keep going through outbox_insert, which deduplicates.
-- The function queries outbox, so it plans each call afresh (009).
CREATE FUNCTION outbox_reserve(strm text, n bigint, OUT stream_epoch bigint, OUT base_seq bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    stored_sysid text;
    stored_timeline bigint;
    sysid text;
    tl bigint;
    moved bigint;
BEGIN
    IF n IS NULL OR n < 1 THEN
        RAISE EXCEPTION 'outbox: cannot reserve % seqs', n USING ERRCODE = '22023';
    END IF;
    SELECT c.system_identifier::text, (SELECT timeline_id FROM pg_control_checkpoint())
        INTO sysid, tl FROM pg_control_system() c;
    SELECT o.epoch, o.last_seq, o.system_identifier, o.timeline
        INTO stream_epoch, base_seq, stored_sysid, stored_timeline
        FROM outbox_streams o WHERE o.stream = strm FOR NO KEY UPDATE;
    IF NOT FOUND THEN
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
    -- come first: this transaction may have read what they did
    WITH pending AS (
        SELECT o.id, base_seq + row_number() OVER (ORDER BY o.id) AS new_seq
        FROM outbox o WHERE o.seq IS NULL AND o.stream = strm
    )
    UPDATE outbox o SET epoch = stream_epoch, seq = p.new_seq FROM pending p WHERE o.id = p.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    base_seq := base_seq + moved;
    UPDATE outbox_streams o SET last_seq = base_seq + n WHERE o.stream = strm;
END
$$;
