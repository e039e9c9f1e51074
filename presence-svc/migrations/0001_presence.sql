-- What must survive restarts of presence-svc: the status each user chose, and when friends
-- last saw them. Sessions live in memory only: edges re-register them after a restart.
CREATE TABLE presence.users (
    user_id uuid PRIMARY KEY,
    chosen_status text NOT NULL DEFAULT 'ONLINE'
        CONSTRAINT users_chosen_status_valid
        CHECK (chosen_status IN ('ONLINE', 'AWAY', 'DO_NOT_DISTURB', 'INVISIBLE')),
    last_seen timestamptz
);
