-- Rooms, their members and roles, messages with a per-room sequence, read pointers.

CREATE TABLE chat.rooms (
    id uuid PRIMARY KEY,
    name text,
    is_group boolean NOT NULL,
    is_public boolean NOT NULL DEFAULT false,
    -- The two users of a direct-message room, smaller id first. Unique, so two people who
    -- create their DM room at the same time get one room.
    dm_low uuid,
    dm_high uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The seq of the newest message: the next one gets last_seq + 1, with no gaps.
    last_seq bigint NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    CONSTRAINT rooms_dm_pair_unique UNIQUE (dm_low, dm_high),
    CONSTRAINT rooms_dm_shape CHECK (
        (is_group AND dm_low IS NULL AND dm_high IS NULL)
        OR (NOT is_group AND NOT is_public AND dm_low < dm_high))
);

CREATE TABLE chat.members (
    room_id uuid NOT NULL REFERENCES chat.rooms (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL CONSTRAINT members_role_valid CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    joined_at timestamptz NOT NULL DEFAULT now(),
    -- Read pointer: the seq of the newest message this member has read.
    last_read_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_by_user ON chat.members (user_id, room_id);

CREATE TABLE chat.messages (
    id uuid PRIMARY KEY,
    room_id uuid NOT NULL REFERENCES chat.rooms (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    sender_id uuid NOT NULL,
    -- NULL once deleted: the message stays in history as a tombstone.
    content text,
    message_type text NOT NULL DEFAULT 'TEXT'
        CONSTRAINT messages_type_valid CHECK (message_type IN ('TEXT', 'IMAGE', 'FILE', 'SYSTEM', 'CALL')),
    client_msg_id text,
    reply_to_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at timestamptz,
    deleted_at timestamptz,
    CONSTRAINT messages_room_seq_unique UNIQUE (room_id, seq),
    -- A retried send with the same clientMsgId is stored once.
    CONSTRAINT messages_client_msg_id_unique UNIQUE (sender_id, client_msg_id)
);
