//! The `calls` schema: calls with their deadlines and signaling, who is busy, the devices
//! that have sockets and the edges that vouch for them.
//!
//! Every change of a call happens in a transaction that holds its row (`FOR UPDATE`), so
//! two racing requests are applied one after the other and the second sees the first.

use chrono::{DateTime, Utc};
use parley_proto::calls::v1::{self as pb, CallState, EndReason, Media};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, PgConnection, Row as _, postgres::PgRow};

use crate::domain::{self, Call, CallId, Device, RoomId, Side, Timing, UserId};

/// Candidates kept per party and call.
pub const MAX_KEPT_CANDIDATES: usize = 200;

/// Every column a [`Stored`] is read from: a constant, so the queries built with it are
/// safe.
const COLUMNS: &str = "id, room_id, caller_id, caller_device, callee_id, media, state, \
    client_call_id, created_at, ring_deadline, answered_device, answered_at, connected_at, \
    ended_at, end_reason, caller_lost_at, callee_lost_at, offer, answer, caller_candidates, \
    callee_candidates";

/// A call with what it carries for the peers.
#[derive(Debug, Clone)]
pub struct Stored {
    pub call: Call,
    pub offer: Option<pb::SessionDescription>,
    pub answer: Option<pb::SessionDescription>,
    pub caller_candidates: Vec<pb::IceCandidate>,
    pub callee_candidates: Vec<pb::IceCandidate>,
}

impl Stored {
    /// The candidates of `side`.
    pub fn candidates(&self, side: Side) -> &[pb::IceCandidate] {
        match side {
            Side::Caller => &self.caller_candidates,
            Side::Callee => &self.callee_candidates,
        }
    }
}

fn small(value: i32) -> i16 {
    i16::try_from(value).unwrap_or_default()
}

fn decode(row: &PgRow) -> Result<Stored, sqlx::Error> {
    let media: i16 = row.try_get("media")?;
    let state: i16 = row.try_get("state")?;
    let reason: i16 = row.try_get("end_reason")?;
    let call = Call {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        media: Media::try_from(i32::from(media)).unwrap_or(Media::Unspecified),
        state: CallState::try_from(i32::from(state)).unwrap_or(CallState::Ended),
        caller: Device {
            user: row.try_get("caller_id")?,
            device: row.try_get("caller_device")?,
        },
        callee: row.try_get("callee_id")?,
        answered_by: row.try_get("answered_device")?,
        client_call_id: row.try_get("client_call_id")?,
        created_at: row.try_get("created_at")?,
        ring_deadline: row.try_get("ring_deadline")?,
        answered_at: row.try_get("answered_at")?,
        connected_at: row.try_get("connected_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: EndReason::try_from(i32::from(reason)).unwrap_or(EndReason::Unspecified),
        caller_lost_at: row.try_get("caller_lost_at")?,
        callee_lost_at: row.try_get("callee_lost_at")?,
    };
    let offer: Option<Value> = row.try_get("offer")?;
    let answer: Option<Value> = row.try_get("answer")?;
    let caller_candidates: Value = row.try_get("caller_candidates")?;
    let callee_candidates: Value = row.try_get("callee_candidates")?;
    Ok(Stored {
        call,
        offer: offer.as_ref().and_then(description_from_json),
        answer: answer.as_ref().and_then(description_from_json),
        caller_candidates: candidates_from_json(&caller_candidates),
        callee_candidates: candidates_from_json(&callee_candidates),
    })
}

pub fn description_json(description: &pb::SessionDescription) -> Value {
    json!({ "type": description.r#type, "sdp": description.sdp })
}

fn description_from_json(value: &Value) -> Option<pb::SessionDescription> {
    Some(pb::SessionDescription {
        r#type: value.get("type")?.as_str()?.to_owned(),
        sdp: value.get("sdp")?.as_str()?.to_owned(),
    })
}

fn candidates_json(candidates: &[pb::IceCandidate]) -> Value {
    Value::Array(
        candidates
            .iter()
            .map(|candidate| {
                json!({
                    "candidate": candidate.candidate,
                    "sdpMid": candidate.sdp_mid,
                    "sdpMLineIndex": candidate.sdp_m_line_index,
                    "usernameFragment": candidate.username_fragment,
                })
            })
            .collect(),
    )
}

fn candidates_from_json(value: &Value) -> Vec<pb::IceCandidate> {
    let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| pb::IceCandidate {
                    candidate: text(item, "candidate").unwrap_or_default(),
                    sdp_mid: text(item, "sdpMid"),
                    sdp_m_line_index: item
                        .get("sdpMLineIndex")
                        .and_then(Value::as_u64)
                        .and_then(|index| u32::try_from(index).ok()),
                    username_fragment: text(item, "usernameFragment"),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn fetch_where(
    connection: &mut PgConnection,
    condition: &'static str,
    bind: impl FnOnce(
        sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<Vec<Stored>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM calls.calls WHERE {condition}");
    let rows = bind(sqlx::query(AssertSqlSafe(sql)))
        .fetch_all(&mut *connection)
        .await?;
    rows.iter().map(decode).collect()
}

/// The call, held for the rest of the transaction.
pub async fn lock(
    connection: &mut PgConnection,
    id: CallId,
) -> Result<Option<Stored>, sqlx::Error> {
    let mut found = fetch_where(connection, "id = $1 FOR UPDATE", |q| q.bind(id)).await?;
    Ok(found.pop())
}

/// The call the caller made with this idempotency key.
pub async fn by_client_call_id(
    connection: &mut PgConnection,
    caller: UserId,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    let mut found = fetch_where(connection, "caller_id = $1 AND client_call_id = $2", |q| {
        q.bind(caller).bind(key.to_owned())
    })
    .await?;
    Ok(found.pop())
}

/// The live call of a DM room, held.
pub async fn live_in_room(
    connection: &mut PgConnection,
    room: RoomId,
) -> Result<Option<Stored>, sqlx::Error> {
    let mut found = fetch_where(connection, "room_id = $1 AND state <> 4 FOR UPDATE", |q| {
        q.bind(room)
    })
    .await?;
    Ok(found.pop())
}

/// The live calls `device` is a leg of (calling, or answering), held.
pub async fn live_of_device(
    connection: &mut PgConnection,
    device: &Device,
) -> Result<Vec<Stored>, sqlx::Error> {
    fetch_where(
        connection,
        "state <> 4 AND ((caller_id = $1 AND caller_device = $2) \
         OR (callee_id = $1 AND answered_device = $2)) ORDER BY id FOR UPDATE",
        |q| q.bind(device.user).bind(device.device.clone()),
    )
    .await
}

/// The live calls between two users, held.
pub async fn live_between(
    connection: &mut PgConnection,
    a: UserId,
    b: UserId,
) -> Result<Vec<Stored>, sqlx::Error> {
    fetch_where(
        connection,
        "state <> 4 AND ((caller_id = $1 AND callee_id = $2) OR (caller_id = $2 AND callee_id = $1)) \
         ORDER BY id FOR UPDATE",
        |q| q.bind(a).bind(b),
    )
    .await
}

/// The user's live calls, oldest first.
pub async fn live_of_user(
    connection: &mut PgConnection,
    user: UserId,
) -> Result<Vec<Stored>, sqlx::Error> {
    fetch_where(
        connection,
        "state <> 4 AND (caller_id = $1 OR callee_id = $1) ORDER BY created_at, id",
        |q| q.bind(user),
    )
    .await
}

/// Live calls whose deadline has come, held; those another replica holds are skipped.
pub async fn due(
    connection: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    fetch_where(
        connection,
        "state <> 4 AND due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        |q| q.bind(now).bind(limit),
    )
    .await
}

/// The earliest deadline of any live call, so the sweeper can wake for it.
pub async fn next_due(connection: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(due_at) FROM calls.calls WHERE state <> 4")
        .fetch_one(&mut *connection)
        .await
}

/// Ended calls whose CALL message is not yet written, ended before `before`.
pub async fn unlogged(
    connection: &mut PgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    fetch_where(
        connection,
        "state = 4 AND NOT logged AND ended_at <= $1 ORDER BY ended_at LIMIT $2",
        |q| q.bind(before).bind(limit),
    )
    .await
}

pub async fn mark_logged(
    connection: &mut PgConnection,
    id: CallId,
    message_id: Option<uuid::Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calls.calls SET logged = true, logged_message_id = $2 WHERE id = $1")
        .bind(id)
        .bind(message_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Whether `caller` has a ringing call placed from another of its devices.
pub async fn ringing_from_other_device(
    connection: &mut PgConnection,
    caller: &Device,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM calls.calls WHERE caller_id = $1 AND state = 1 \
         AND caller_device <> $2)",
    )
    .bind(caller.user)
    .bind(caller.device.clone())
    .fetch_one(&mut *connection)
    .await
}

/// Whether `user` is in an answered call.
pub async fn is_busy(connection: &mut PgConnection, user: UserId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM calls.busy WHERE user_id = $1)")
        .bind(user)
        .fetch_one(&mut *connection)
        .await
}

/// Marks both parties busy with `call`; false (nothing written) when either already is.
pub async fn mark_busy(connection: &mut PgConnection, call: &Call) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO calls.busy (user_id, call_id) VALUES ($1, $3), ($2, $3) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(call.caller.user)
    .bind(call.callee)
    .bind(call.id)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    Ok(inserted == 2)
}

/// Unanswered calls from `caller` to `callee` since `since`: how many, and the oldest one's
/// creation.
pub async fn unanswered_since(
    connection: &mut PgConnection,
    caller: UserId,
    callee: UserId,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), min(created_at) FROM calls.calls WHERE caller_id = $1 \
         AND callee_id = $2 AND created_at > $3 AND answered_at IS NULL",
    )
    .bind(caller)
    .bind(callee)
    .bind(since)
    .fetch_one(&mut *connection)
    .await
}

/// Stores a new call.
pub async fn insert(
    connection: &mut PgConnection,
    stored: &Stored,
    timing: &Timing,
) -> Result<(), sqlx::Error> {
    let call = &stored.call;
    sqlx::query(
        "INSERT INTO calls.calls (id, room_id, caller_id, caller_device, callee_id, media, \
         state, updated_at, client_call_id, created_at, ring_deadline, ended_at, end_reason, \
         offer, due_at, caller_candidates) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $12, $13, $14, '[]')",
    )
    .bind(call.id)
    .bind(call.room_id)
    .bind(call.caller.user)
    .bind(call.caller.device.clone())
    .bind(call.callee)
    .bind(small(call.media.into()))
    .bind(small(call.state.into()))
    .bind(call.created_at)
    .bind(call.client_call_id.clone())
    .bind(call.ring_deadline)
    .bind(call.ended_at)
    .bind(small(call.end_reason.into()))
    .bind(
        (call.state != CallState::Ended)
            .then(|| stored.offer.as_ref().map(description_json))
            .flatten(),
    )
    .bind(domain::due_at(call, timing))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Writes what the rules decided about the call; once ENDED its SDP and candidates are
/// cleared and its parties are no longer busy.
pub async fn save(
    connection: &mut PgConnection,
    call: &Call,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ended = call.state == CallState::Ended;
    sqlx::query(
        "UPDATE calls.calls SET state = $2, version = version + 1, updated_at = $3, \
         answered_device = $4, answered_at = $5, connected_at = $6, ended_at = $7, \
         end_reason = $8, caller_lost_at = $9, callee_lost_at = $10, due_at = $11, \
         offer = CASE WHEN $12 THEN NULL ELSE offer END, \
         answer = CASE WHEN $12 THEN NULL ELSE answer END, \
         caller_candidates = CASE WHEN $12 THEN '[]' ELSE caller_candidates END, \
         callee_candidates = CASE WHEN $12 THEN '[]' ELSE callee_candidates END \
         WHERE id = $1",
    )
    .bind(call.id)
    .bind(small(call.state.into()))
    .bind(now)
    .bind(call.answered_by.clone())
    .bind(call.answered_at)
    .bind(call.connected_at)
    .bind(call.ended_at)
    .bind(small(call.end_reason.into()))
    .bind(call.caller_lost_at)
    .bind(call.callee_lost_at)
    .bind(domain::due_at(call, timing))
    .bind(ended)
    .execute(&mut *connection)
    .await?;
    if ended {
        sqlx::query("DELETE FROM calls.busy WHERE call_id = $1")
            .bind(call.id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

pub async fn set_answer(
    connection: &mut PgConnection,
    id: CallId,
    answer: &pb::SessionDescription,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calls.calls SET answer = $2 WHERE id = $1")
        .bind(id)
        .bind(description_json(answer))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Keeps `side`'s candidates (the first [`MAX_KEPT_CANDIDATES`] of them).
pub async fn set_candidates(
    connection: &mut PgConnection,
    id: CallId,
    side: Side,
    candidates: &[pb::IceCandidate],
) -> Result<(), sqlx::Error> {
    let kept = candidates.get(..MAX_KEPT_CANDIDATES).unwrap_or(candidates);
    let sql = match side {
        Side::Caller => "UPDATE calls.calls SET caller_candidates = $2 WHERE id = $1",
        Side::Callee => "UPDATE calls.calls SET callee_candidates = $2 WHERE id = $1",
    };
    sqlx::query(sql)
        .bind(id)
        .bind(candidates_json(kept))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// The devices of `user` that have a socket now.
pub async fn devices_of(
    connection: &mut PgConnection,
    user: UserId,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT device_id FROM calls.sockets WHERE user_id = $1 ORDER BY device_id",
    )
    .bind(user)
    .fetch_all(&mut *connection)
    .await
}

/// Registers (or refreshes) a socket of `device` on `edge`.
pub async fn open_socket(
    connection: &mut PgConnection,
    device: &Device,
    edge: &str,
    socket: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO calls.sockets (socket_id, user_id, device_id, edge_id, registered_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (socket_id) DO UPDATE SET \
         user_id = $2, device_id = $3, edge_id = $4, registered_at = $5",
    )
    .bind(socket)
    .bind(device.user)
    .bind(device.device.clone())
    .bind(edge)
    .bind(now)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Forgets a socket of `device`; whether it was known.
pub async fn close_socket(
    connection: &mut PgConnection,
    device: &Device,
    socket: &str,
) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query(
        "DELETE FROM calls.sockets WHERE socket_id = $1 AND user_id = $2 AND device_id = $3",
    )
    .bind(socket)
    .bind(device.user)
    .bind(device.device.clone())
    .execute(&mut *connection)
    .await?
    .rows_affected();
    Ok(removed > 0)
}

pub async fn has_socket(
    connection: &mut PgConnection,
    device: &Device,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM calls.sockets WHERE user_id = $1 AND device_id = $2)",
    )
    .bind(device.user)
    .bind(device.device.clone())
    .fetch_one(&mut *connection)
    .await
}

/// Renews `edge`'s lease until `now + ttl`; answers the instant of its previous renewal.
pub async fn renew_edge(
    connection: &mut PgConnection,
    edge: &str,
    ttl_ms: i64,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    // `previous_renewal` becomes the renewal before this one (none for a new edge), which
    // is what the caller needs: one statement, no read first.
    sqlx::query_scalar(
        "INSERT INTO calls.edges (edge_id, expires_at, lease_ttl_ms, previous_renewal, last_renewal) \
         VALUES ($1, $2 + make_interval(secs => $3::float8 / 1000), $3, NULL, $2) \
         ON CONFLICT (edge_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
         lease_ttl_ms = $3, previous_renewal = calls.edges.last_renewal, last_renewal = $2 \
         RETURNING previous_renewal",
    )
    .bind(edge)
    .bind(now)
    .bind(ttl_ms)
    .fetch_one(&mut *connection)
    .await
}

/// Forgets the sockets of `edge` that are not in `listed` and were registered before
/// `before`; answers the devices they were of.
pub async fn forget_unlisted(
    connection: &mut PgConnection,
    edge: &str,
    listed: &[String],
    before: DateTime<Utc>,
) -> Result<Vec<Device>, sqlx::Error> {
    let rows: Vec<(UserId, String)> = sqlx::query_as(
        "DELETE FROM calls.sockets WHERE edge_id = $1 AND registered_at < $3 \
         AND NOT (socket_id = ANY($2)) RETURNING user_id, device_id",
    )
    .bind(edge)
    .bind(listed)
    .bind(before)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, device)| Device { user, device })
        .collect())
}

/// Registers every listed socket of `edge` that calls-svc does not know (after its restart),
/// in one statement; answers the devices of those it registered.
pub async fn adopt_sockets(
    connection: &mut PgConnection,
    edge: &str,
    sockets: &[(Device, String)],
    now: DateTime<Utc>,
) -> Result<Vec<Device>, sqlx::Error> {
    let socket_ids: Vec<&str> = sockets.iter().map(|(_, socket)| socket.as_str()).collect();
    let users: Vec<uuid::Uuid> = sockets.iter().map(|(device, _)| device.user.0).collect();
    let devices: Vec<&str> = sockets
        .iter()
        .map(|(device, _)| device.device.as_str())
        .collect();
    let adopted: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "INSERT INTO calls.sockets (socket_id, user_id, device_id, edge_id, registered_at) \
         SELECT socket_id, user_id, device_id, $4, $5 \
         FROM unnest($1::text[], $2::uuid[], $3::text[]) AS listed(socket_id, user_id, device_id) \
         ON CONFLICT (socket_id) DO NOTHING RETURNING user_id, device_id",
    )
    .bind(socket_ids)
    .bind(users)
    .bind(devices)
    .bind(edge)
    .bind(now)
    .fetch_all(&mut *connection)
    .await?;
    Ok(adopted
        .into_iter()
        .map(|(user, device)| Device {
            user: UserId::from(user),
            device,
        })
        .collect())
}

/// Removes the edges whose lease lapsed before `now` (only those whose lease is no longer
/// than `known_for`, how long this replica has been up) and their sockets; answers the
/// devices those were of.
pub async fn expire_edges(
    connection: &mut PgConnection,
    now: DateTime<Utc>,
    known_for_ms: i64,
) -> Result<Vec<Device>, sqlx::Error> {
    let rows: Vec<(UserId, String)> = sqlx::query_as(
        "WITH dead AS (DELETE FROM calls.edges WHERE expires_at < $1 AND lease_ttl_ms <= $2 \
         RETURNING edge_id) \
         DELETE FROM calls.sockets WHERE edge_id IN (SELECT edge_id FROM dead) \
         RETURNING user_id, device_id",
    )
    .bind(now)
    .bind(known_for_ms)
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, device)| Device { user, device })
        .collect())
}

/// The pairs of users in a live call.
pub async fn live_pairs(
    connection: &mut PgConnection,
) -> Result<Vec<(UserId, UserId)>, sqlx::Error> {
    sqlx::query_as("SELECT caller_id, callee_id FROM calls.calls WHERE state <> 4")
        .fetch_all(&mut *connection)
        .await
}
