-- Calls and their deadlines, the devices that can be reached, the edges that vouch for them,
-- and the outbox of call events (see docs/API.md "/calls").

-- State and reasons are the numbers of parley.calls.v1 CallState / EndReason / Media.
CREATE TABLE calls.calls (
    id uuid PRIMARY KEY,
    room_id uuid NOT NULL,
    caller_id uuid NOT NULL,
    caller_device text NOT NULL,
    callee_id uuid NOT NULL,
    media smallint NOT NULL,
    state smallint NOT NULL,
    -- One more per transition, so that a reader can tell two versions of a row apart.
    version bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    client_call_id text,
    created_at timestamptz NOT NULL,
    ring_deadline timestamptz NOT NULL,
    answered_device text,
    answered_at timestamptz,
    connected_at timestamptz,
    ended_at timestamptz,
    end_reason smallint NOT NULL DEFAULT 0,
    -- SDP and candidates carry network addresses: cleared when the call ends.
    offer jsonb,
    answer jsonb,
    caller_candidates jsonb NOT NULL DEFAULT '[]',
    callee_candidates jsonb NOT NULL DEFAULT '[]',
    -- Since when the caller's device, and the callee's answering device, have no socket.
    caller_lost_at timestamptz,
    callee_lost_at timestamptz,
    -- The next instant a rule of time may end the call (the sweeper's key); NULL once ended.
    due_at timestamptz,
    -- The call's CALL message is in the chat (chat-svc answered AppendCallMessage).
    logged boolean NOT NULL DEFAULT false,
    logged_message_id uuid
);

-- One live call per DM room: crossing invites (glare) cannot make two.
CREATE UNIQUE INDEX calls_one_live_per_room ON calls.calls (room_id) WHERE state <> 4;
CREATE UNIQUE INDEX calls_client_call_id ON calls.calls (caller_id, client_call_id);
CREATE INDEX calls_live_caller ON calls.calls (caller_id) WHERE state <> 4;
CREATE INDEX calls_live_callee ON calls.calls (callee_id) WHERE state <> 4;
CREATE INDEX calls_due ON calls.calls (due_at) WHERE state <> 4;
CREATE INDEX calls_unlogged ON calls.calls (ended_at) WHERE state = 4 AND NOT logged;
CREATE INDEX calls_pair ON calls.calls (caller_id, callee_id, created_at);

-- A user is in at most one answered (CONNECTING or ACTIVE) call: the key makes it so.
CREATE TABLE calls.busy (
    user_id uuid PRIMARY KEY,
    call_id uuid NOT NULL REFERENCES calls.calls (id) ON DELETE CASCADE
);
CREATE INDEX busy_call ON calls.busy (call_id);

-- The edges' leases: an edge that stops renewing has died, and its sockets go.
CREATE TABLE calls.edges (
    edge_id text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    lease_ttl_ms bigint NOT NULL,
    -- The renewal before the last one: sockets registered before it and not listed since
    -- are gone.
    previous_renewal timestamptz,
    last_renewal timestamptz NOT NULL
);

CREATE TABLE calls.sockets (
    socket_id text PRIMARY KEY,
    user_id uuid NOT NULL,
    device_id text NOT NULL,
    edge_id text NOT NULL,
    registered_at timestamptz NOT NULL
);
CREATE INDEX sockets_device ON calls.sockets (user_id, device_id);
CREATE INDEX sockets_edge ON calls.sockets (edge_id);

-- Events on their way to every replica (see parley_common::bus).
CREATE TABLE calls.outbox (
    id bigserial PRIMARY KEY,
    channel text NOT NULL,
    after_gap boolean NOT NULL DEFAULT false,
    events bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    batch_id uuid
);
CREATE INDEX outbox_created_at ON calls.outbox (created_at);
CREATE UNIQUE INDEX outbox_batch_id ON calls.outbox (batch_id);
