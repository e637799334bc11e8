-- Messages left pending behind a send job that died before its death
-- ended its message (issue 12: the kit gave the job up, its workers lost;
-- jobs.c on_send_dead now ends the message as the job dies). Each such job
-- is queued once more at its last attempt, as started: the kit gives it up
-- again at once (attempts_exhausted), and the message ends with it, failed
-- or outcome_unknown (handed), said on the bus, the next message of its
-- order queued. Nothing is sent again.
UPDATE jobs j
   SET state = 'queued', outcome = NULL, finished_at = NULL, run_at = now(),
       attempts = greatest(j.attempts, j.max_attempts), lease_token = NULL, lease_until = NULL,
       started_at = coalesce(j.started_at, now()), updated_at = now()
  FROM deliveries d
 WHERE j.kind = 'notify_send' AND j.state = 'dead' AND j.dedup_key = d.dedup_key
   AND d.status = 'pending';
