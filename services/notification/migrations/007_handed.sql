-- Whether a pending message may be at its provider (jobs.c): set just
-- before the call can hand it over (an email's last bytes and final dot,
-- an SMS's or a Telegram message's request), cleared when the attempt
-- ends in a failure worth a retry. A send found interrupted (its sender
-- died) is outcome_unknown only when set; otherwise it certainly was not
-- sent, and is sent now.
ALTER TABLE deliveries ADD COLUMN handed boolean NOT NULL DEFAULT false;
