-- Users as known from their tokens, friend requests, friendships and blocks.

CREATE TABLE friends.users (
    id uuid PRIMARY KEY,
    -- The name shown to others: the token's name, or with a suffix when another user holds
    -- that name already (usernames are unique regardless of case).
    username text NOT NULL,
    -- Lowercased `username`: the uniqueness key and the prefix-search key. The C collation
    -- orders by code point, so a plain b-tree serves `>= prefix AND < next` range scans.
    username_key text COLLATE "C" NOT NULL,
    -- The name the latest token asked for; differs from `username` after a clash.
    requested_username text NOT NULL,
    avatar text,
    -- `iat` of the token the stored name and avatar come from: an older token that is still
    -- valid (another device) does not bring back an old name.
    claims_issued_at bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key_unique UNIQUE (username_key)
);

CREATE TABLE friends.friend_requests (
    id uuid PRIMARY KEY,
    from_user_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    to_user_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT friend_requests_not_to_self CHECK (from_user_id <> to_user_id)
);
-- At most one pending request per pair, whichever its direction: two requests crossing each
-- other cannot both be stored.
CREATE UNIQUE INDEX friend_requests_one_per_pair ON friends.friend_requests
    (LEAST(from_user_id, to_user_id), GREATEST(from_user_id, to_user_id));
CREATE INDEX friend_requests_incoming ON friends.friend_requests (to_user_id, created_at DESC);
CREATE INDEX friend_requests_outgoing ON friends.friend_requests (from_user_id, created_at DESC);

-- One row per friendship, the smaller id first, so a pair cannot be stored twice.
CREATE TABLE friends.friendships (
    user_low uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    user_high uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    since timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_low, user_high),
    CONSTRAINT friendships_ordered CHECK (user_low < user_high)
);
CREATE INDEX friendships_by_high ON friends.friendships (user_high, user_low);

CREATE TABLE friends.blocks (
    blocker_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_by_blocked ON friends.blocks (blocked_id, blocker_id);
