-- The latest lease renewal of each edge, whichever replica took it: a replica whose own view
-- of an edge's lease lapsed asks here whether the edge renewed elsewhere (it failed over)
-- before it takes the edge's users OFFLINE. One row per edge, removed once the edge is dead.

CREATE TABLE presence.edge_leases (
    edge_id    text        PRIMARY KEY,
    replica_id uuid        NOT NULL,
    renewed_at timestamptz NOT NULL
);
