-- After a declined or cancelled friend request its requester waits before asking the same
-- user again (docs/decisions/0008-friends-hardening.md), so that nobody can ring another user
-- with a request/cancel loop. One row per (requester, target): until when. An expired row
-- means nothing; the pair's next decline or cancel overwrites it, and a friendship deletes it.

CREATE TABLE friends.request_cooldowns (
    from_user_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    to_user_id uuid NOT NULL REFERENCES friends.users (id) ON DELETE CASCADE,
    until timestamptz NOT NULL,
    PRIMARY KEY (from_user_id, to_user_id)
);
