-- Uploads and the attachments they become (an attachment's id is its upload's id), and what
-- each user stores. Rows come before bytes: an object exists only while its row does.

CREATE TABLE media.uploads (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    -- The room it may be sent to (chat-svc's CheckPostTarget answered for it).
    room_id uuid NOT NULL,
    client_upload_id text,
    -- Cleaned (docs/API.md "Attachments"); never part of a storage key.
    name text NOT NULL,
    declared_size bigint NOT NULL CHECK (declared_size > 0),
    content_type_hint text,
    -- pending: reserved, waiting for the PUT; receiving: a PUT is streaming; uploaded: the
    -- bytes are staged; ready: processed, servable, may be sent; deleted: 404, bytes purged
    -- at purge_after.
    state text NOT NULL CHECK (state IN ('pending', 'receiving', 'uploaded', 'ready', 'deleted')),
    -- A pending, receiving or uploaded row past this is removed by the sweeper.
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- What the user's stored bytes count for this row (the declared size), 0 once refunded.
    charged_bytes bigint NOT NULL,
    -- Set by the PUT.
    received_size bigint,
    sha256 bytea,
    -- Set by complete-upload.
    kind text CHECK (kind IN ('IMAGE', 'FILE')),
    mime_type text,
    size bigint,
    width integer,
    height integer,
    thumbhash bytea,
    thumbnail_mime text,
    preview_mime text,
    ready_at timestamptz,
    -- When chat-svc last asked to send it (ResolveForSend): a cancel right after could race
    -- the message's commit.
    claimed_at timestamptz,
    -- When chat-svc last confirmed which message holds it (the sweeper's reconciliation);
    -- NULL: never confirmed.
    confirmed_at timestamptz,
    deleted_at timestamptz,
    purge_after timestamptz
);

CREATE UNIQUE INDEX uploads_client_upload_id ON media.uploads (user_id, client_upload_id)
    WHERE client_upload_id IS NOT NULL;
-- The sweeper's queues.
CREATE INDEX uploads_unfinished ON media.uploads (expires_at) WHERE state IN ('pending', 'receiving', 'uploaded');
CREATE INDEX uploads_ready ON media.uploads (coalesce(confirmed_at, ready_at)) WHERE state = 'ready';
CREATE INDEX uploads_deleted ON media.uploads (purge_after) WHERE state = 'deleted';
-- Pending uploads per user.
CREATE INDEX uploads_user_unfinished ON media.uploads (user_id) WHERE state IN ('pending', 'receiving', 'uploaded');

-- Bytes each user stores now, and reserved per UTC day. A row is locked while a reservation
-- is checked, so concurrent create-uploads of one user cannot both pass the limit.
CREATE TABLE media.user_usage (
    user_id uuid PRIMARY KEY,
    stored_bytes bigint NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0),
    day date NOT NULL DEFAULT (now() AT TIME ZONE 'utc')::date,
    day_bytes bigint NOT NULL DEFAULT 0 CHECK (day_bytes >= 0)
);
