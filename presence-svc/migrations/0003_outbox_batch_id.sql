-- Each batch carries the id its writer gave it, so that a write retried after a lost answer
-- (the first attempt committed, its reply did not arrive) stores and announces it once.

ALTER TABLE presence.outbox ADD COLUMN batch_id uuid;
CREATE UNIQUE INDEX outbox_batch_id ON presence.outbox (batch_id);
