-- The baseline's tables. Idempotent: server.mjs applies it at every start.
CREATE SCHEMA IF NOT EXISTS baseline;

CREATE TABLE IF NOT EXISTS baseline.users (
  id uuid PRIMARY KEY,
  username text NOT NULL,
  status text NOT NULL DEFAULT 'OFFLINE',
  last_seen timestamptz
);

-- Both directions are stored, so a user's friends are one index range.
CREATE TABLE IF NOT EXISTS baseline.friendships (
  user_id uuid NOT NULL,
  friend_id uuid NOT NULL,
  PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE IF NOT EXISTS baseline.rooms (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text,
  is_group boolean NOT NULL,
  is_public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS baseline.room_members (
  room_id uuid NOT NULL REFERENCES baseline.rooms ON DELETE CASCADE,
  user_id uuid NOT NULL,
  role text NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX IF NOT EXISTS room_members_user_id_idx ON baseline.room_members (user_id);

-- room_id is null for private messages (sender to receiver, no room).
CREATE TABLE IF NOT EXISTS baseline.messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  room_id uuid REFERENCES baseline.rooms ON DELETE CASCADE,
  sender_id uuid NOT NULL,
  receiver_id uuid,
  content text NOT NULL,
  message_type text NOT NULL DEFAULT 'TEXT',
  client_msg_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_room_id_created_at_idx
  ON baseline.messages (room_id, created_at DESC);
CREATE INDEX IF NOT EXISTS messages_sender_id_receiver_id_created_at_idx
  ON baseline.messages (sender_id, receiver_id, created_at DESC);
