-- Users are divided into 1024 shards (a hash of the user id's text, mod 1024); each is held by
-- one replica at a time. `holder` is the replica's advertised URL, so a replica restarted on
-- its address takes its shards back at once and other replicas know where to ask. A holder's
-- lease on all its shards is its row in `presence.replicas`, renewed every few seconds: one
-- write per replica per round, whatever the shards, and a shard row is written only when it
-- changes hands. `epoch` grows each time it does; `released_at` is when its holder last gave
-- it back. Times are the database's, the one clock every replica shares.
CREATE TABLE presence.replicas (
    url     text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

CREATE TABLE presence.shard_leases (
    shard       integer     PRIMARY KEY CHECK (shard >= 0 AND shard < 1024),
    holder      text,
    epoch       bigint      NOT NULL DEFAULT 0,
    released_at timestamptz
);

INSERT INTO presence.shard_leases (shard) SELECT generate_series(0, 1023);
