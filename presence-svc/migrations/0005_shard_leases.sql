-- Users are divided into 1024 shards (FNV-1a of the user id's text, mod 1024); each is held by
-- one replica at a time, under a lease renewed every few seconds. `holder` is the replica's
-- advertised URL, so a replica restarted on its address takes its shards back at once and
-- other replicas know where to ask. `epoch` grows each time the shard changes hands. Times
-- are the database's, the one clock every replica shares.
CREATE TABLE presence.shard_leases (
    shard      integer     PRIMARY KEY CHECK (shard >= 0 AND shard < 1024),
    holder     text,
    epoch      bigint      NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

INSERT INTO presence.shard_leases (shard) SELECT generate_series(0, 1023);

-- The replicas alive: each writes its row at every round; shards are divided among those seen
-- within a lease.
CREATE TABLE presence.replicas (
    url     text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
