-- The outbox functions plan their statements for the outbox as it is now,
-- not as it was when the session first ran them (issue 15, item 4).
-- PL/pgSQL keeps a statement's plan for the session, and after five calls
-- a generic one. A service started on a new schema plans outbox_insert's
-- check of caused events (NOT EXISTS ... outbox_caused_event_id) while the
-- outbox holds a few hundred rows: the cheapest plan then is to hash the
-- whole table's caused ids, and that plan stays as the table grows until
-- autovacuum first analyzes it (a minute or more). In the pipeline bench
-- the order applier's outbox_insert went from ~1 ms to 40+ ms a
-- transaction within 20 s (auto_explain: "hashed SubPlan ... Seq Scan on
-- outbox"), and publish -> stock.reserved grew with it. The relay's
-- outbox_number_committed has the same shape (is anything unnumbered?).
-- A custom plan per call costs a few hundred microseconds of planning a
-- transaction, not per event, and always sees the table's real size.
ALTER FUNCTION outbox_insert(uuid[], text[], text[], text[], text[], integer[], bigint[], bytea[],
                             boolean)
    SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION outbox_number_committed(text, bigint)
    SET plan_cache_mode = force_custom_plan;
