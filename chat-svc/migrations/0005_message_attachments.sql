-- The files a message carries (docs/API.md "Attachments"), with their metadata as media-svc
-- resolved it when the message was sent: rendering a message, its room's gallery or fresh
-- URLs never asks media-svc. Rows stay when their message is deleted, so that media-svc's
-- sweeper can learn which files belonged to a deleted message (ListAttachmentRefs).

CREATE TABLE chat.message_attachments (
    -- The upload's id: one attachment belongs to one message, so sending it again conflicts.
    attachment_id uuid PRIMARY KEY,
    -- Deferred: the writer claims a batch's attachments before it stores their messages, so
    -- that a send whose attachment is taken is dropped before seqs are given.
    message_id uuid NOT NULL REFERENCES chat.messages (id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    room_id uuid NOT NULL,
    -- The message's seq, copied (seqs never change), so that the gallery reads in room order
    -- from this table's index alone.
    seq bigint NOT NULL,
    -- Order within the message, from 0.
    position smallint NOT NULL CONSTRAINT message_attachments_position_valid CHECK (position >= 0),
    kind text NOT NULL CONSTRAINT message_attachments_kind_valid CHECK (kind IN ('IMAGE', 'FILE')),
    name text NOT NULL,
    size bigint NOT NULL CONSTRAINT message_attachments_size_valid CHECK (size >= 0),
    mime_type text NOT NULL,
    width integer,
    height integer,
    thumbhash bytea,
    has_thumbnail boolean NOT NULL DEFAULT false,
    has_preview boolean NOT NULL DEFAULT false,
    -- The message's time.
    created_at timestamptz NOT NULL,
    -- Also the index of a message's attachments.
    CONSTRAINT message_attachments_message_position_unique UNIQUE (message_id, position)
);

-- The room's gallery, newest message first, each message's files in their order.
CREATE INDEX message_attachments_gallery ON chat.message_attachments (room_id, seq DESC, position);
