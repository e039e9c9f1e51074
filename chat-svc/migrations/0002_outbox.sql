-- Events on their way to every replica of chat-svc (see parley_common::bus): one row per
-- batch, named by one NOTIFY on the row's channel; rows are deleted after a few minutes.

CREATE TABLE chat.outbox (
    id bigserial PRIMARY KEY,
    channel text NOT NULL,
    -- Events were dropped before this batch: subscribers must resynchronise.
    after_gap boolean NOT NULL DEFAULT false,
    -- The batch's events, each a length-delimited protobuf message.
    events bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_created_at ON chat.outbox (created_at);
