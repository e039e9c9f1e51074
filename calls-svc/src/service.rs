//! The operations of calls-svc: each loads the call under its row lock, asks the rules in
//! [`crate::domain`], and stores the outcome and its events in one transaction.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use parley_common::{chat::ChatClient, error::ServiceError, friends::FriendsClient};
use parley_proto::{
    calls::v1::{self as pb, CallState, EndReason, Media, call_event::Payload},
    chat::v1 as chat,
    friends::v1 as friends,
};
use sqlx::{PgConnection, PgPool};

use crate::{
    domain::{
        self, Call, CallId, Decision, Device, NewCall, Notice, RoomId, Route, Side, Timing, UserId,
    },
    error::{Error, from_dependency},
    events::{self, Events},
    repo::{self, Stored},
    turn::{Minted, Turn},
};

/// The window of the per-pair limit on unanswered calls.
const UNANSWERED_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What decides who may call whom and how often.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub friends_only: bool,
    pub unanswered_per_pair: u32,
}

pub struct Calls {
    pool: PgPool,
    events: Events,
    chat: ChatClient,
    friends: FriendsClient,
    pub turn: Turn,
    pub timing: Timing,
    policy: Policy,
}

/// `call-invite`'s target.
pub enum Target {
    Room(RoomId),
    Receiver(UserId),
}

/// What `call-invite` answers.
pub struct Invited {
    pub call: Call,
    pub ice: Minted,
    /// The callee was already calling: `call` is theirs, with its offer and candidates.
    pub merged: Option<(Option<pb::SessionDescription>, Vec<pb::IceCandidate>)>,
}

/// The caller's validated `call-invite`.
pub struct Invite {
    pub actor: Device,
    pub target: Target,
    pub media: Media,
    pub offer: pb::SessionDescription,
    pub client_call_id: Option<String>,
}

fn not_found() -> Error {
    Error::Service(ServiceError::NotFound("no such call"))
}

impl Calls {
    pub fn new(
        pool: PgPool,
        events: Events,
        chat: ChatClient,
        friends: FriendsClient,
        turn: Turn,
        timing: Timing,
        policy: Policy,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            events,
            chat,
            friends,
            turn,
            timing,
            policy,
        })
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The service's clock, to the microsecond Postgres keeps: a call answered from memory
    /// equals the same call read back.
    pub fn now() -> DateTime<Utc> {
        use chrono::SubsecRound as _;
        Utc::now().trunc_subsecs(6)
    }

    pub fn ice_servers(&self, user: UserId) -> Minted {
        self.turn.mint(user, Self::now())
    }

    /// `call-invite`: see `CallsService.Invite` in calls.proto for every case.
    pub async fn invite(self: &Arc<Self>, invite: Invite) -> Result<Invited, Error> {
        let caller = invite.actor.user;
        let (room, callee) = self.resolve(caller, &invite.target).await?;
        if self.policy.friends_only {
            let answer = self
                .friends
                .clone()
                .are_friends(friends::AreFriendsRequest {
                    user_id: caller.to_string(),
                    other_user_id: callee.to_string(),
                })
                .await
                .map_err(|status| from_dependency("friends-svc", status))?;
            if !answer.into_inner().are_friends {
                return Err(
                    ServiceError::PermissionDenied("only friends may call each other").into(),
                );
            }
        }
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        // Crossing invites in one room are applied one after the other.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 17))")
            .bind(room.to_string())
            .execute(&mut *transaction)
            .await?;
        if let Some(key) = &invite.client_call_id
            && let Some(earlier) = repo::by_client_call_id(&mut transaction, caller, key).await?
        {
            transaction.commit().await?;
            return Ok(Invited {
                ice: self.turn.mint(caller, now),
                call: earlier.call,
                merged: None,
            });
        }
        let mut ended = Vec::new();
        let mut events = Vec::new();
        // A device that calls again replaces its live calls.
        for old in repo::live_of_device(&mut transaction, &invite.actor).await? {
            let decision = domain::replaced(&old.call, now);
            events.extend(self.apply(&mut transaction, &old, &decision, now).await?);
            ended.push(decision.call);
        }
        if let Some(live) = repo::live_in_room(&mut transaction, room).await? {
            if live.call.state == CallState::Ringing && live.call.caller.user == callee {
                // Glare: the callee is calling the caller; that call is the one.
                self.events.store_in(&mut transaction, &events).await?;
                transaction.commit().await?;
                self.log_later(ended);
                return Ok(Invited {
                    ice: self.turn.mint(caller, now),
                    merged: Some((live.offer.clone(), live.caller_candidates.clone())),
                    call: live.call,
                });
            }
            return Err(ServiceError::FailedPrecondition(
                "a call between you is already going on from another device",
            )
            .into());
        }
        if repo::ringing_from_other_device(&mut transaction, &invite.actor).await? {
            return Err(ServiceError::FailedPrecondition(
                "you already have an outgoing call ringing from another device",
            )
            .into());
        }
        if repo::is_busy(&mut transaction, caller).await? {
            return Err(ServiceError::FailedPrecondition(
                "you are already in a call on another device",
            )
            .into());
        }
        self.check_pair_limit(&mut transaction, caller, callee, now)
            .await?;
        let busy = repo::is_busy(&mut transaction, callee).await?;
        let decision = domain::place(
            NewCall {
                id: CallId(uuid::Uuid::new_v4()),
                room_id: room,
                media: invite.media,
                caller: invite.actor.clone(),
                callee,
                client_call_id: invite.client_call_id.clone(),
            },
            busy,
            &self.timing,
            now,
        );
        let stored = Stored {
            call: decision.call.clone(),
            offer: Some(invite.offer),
            answer: None,
            caller_candidates: Vec::new(),
            callee_candidates: Vec::new(),
        };
        if let Err(error) = repo::insert(&mut transaction, &stored, &self.timing).await {
            // Another invite with the same key committed first: answer its call.
            if parley_common::db::is_unique_violation(&error, "calls_client_call_id") {
                return Err(
                    ServiceError::Unavailable("the same call is being placed; retry").into(),
                );
            }
            return Err(error.into());
        }
        events.extend(
            self.render(&mut transaction, &stored, &decision, now)
                .await?,
        );
        self.events.store_in(&mut transaction, &events).await?;
        transaction.commit().await?;
        if decision.call.state == CallState::Ended {
            ended.push(decision.call.clone());
        }
        self.log_later(ended);
        Ok(Invited {
            call: decision.call,
            ice: self.turn.mint(caller, now),
            merged: None,
        })
    }

    async fn resolve(&self, caller: UserId, target: &Target) -> Result<(RoomId, UserId), Error> {
        let target = match target {
            Target::Room(room) => {
                chat::resolve_call_target_request::Target::RoomId(room.to_string())
            }
            Target::Receiver(user) => {
                if *user == caller {
                    return Err(
                        ServiceError::invalid("receiver_id", "you cannot call yourself").into(),
                    );
                }
                chat::resolve_call_target_request::Target::ReceiverId(user.to_string())
            }
        };
        let answer = self
            .chat
            .clone()
            .resolve_call_target(chat::ResolveCallTargetRequest {
                acting_user_id: caller.to_string(),
                target: Some(target),
            })
            .await
            .map_err(|status| from_dependency("chat-svc", status))?
            .into_inner();
        let room = RoomId::parse("room_id", &answer.room_id)
            .map_err(|_| ServiceError::Unavailable("chat-svc answered no room"))?;
        let peer = UserId::parse("peer_id", &answer.peer_id)
            .map_err(|_| ServiceError::Unavailable("chat-svc answered no peer"))?;
        if peer == caller {
            return Err(ServiceError::invalid("room_id", "you cannot call yourself").into());
        }
        Ok((room, peer))
    }

    async fn check_pair_limit(
        &self,
        connection: &mut PgConnection,
        caller: UserId,
        callee: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let limit = self.policy.unanswered_per_pair;
        if limit == 0 {
            return Ok(());
        }
        let window = chrono::Duration::from_std(UNANSWERED_WINDOW).unwrap_or_default();
        let (count, oldest) =
            repo::unanswered_since(connection, caller, callee, now - window).await?;
        if count >= i64::from(limit) {
            let retry = oldest
                .map(|oldest| (oldest + window - now).num_milliseconds().max(1))
                .unwrap_or(1000);
            return Err(ServiceError::RateLimited(u64::try_from(retry).unwrap_or(1000)).into());
        }
        Ok(())
    }

    /// Saves `decision` about `stored` and answers its events (to be stored by the caller in
    /// the same transaction).
    async fn apply(
        &self,
        connection: &mut PgConnection,
        stored: &Stored,
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Result<Vec<pb::CallEvent>, Error> {
        if !decision.changed {
            return Ok(Vec::new());
        }
        repo::save(connection, &decision.call, &self.timing, now).await?;
        let after = Stored {
            call: decision.call.clone(),
            ..stored.clone()
        };
        self.render(connection, &after, decision, now).await
    }

    /// The events `decision`'s notices name, with their recipients.
    async fn render(
        &self,
        connection: &mut PgConnection,
        stored: &Stored,
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Result<Vec<pb::CallEvent>, Error> {
        let call = &decision.call;
        let both = || vec![events::user(call.caller.user), events::user(call.callee)];
        let mut out = Vec::new();
        for notice in &decision.notices {
            match notice {
                Notice::Incoming => out.push(events::event(
                    vec![events::user(call.callee)],
                    Payload::Incoming(self.incoming(stored, now)),
                )),
                Notice::Answered => out.push(events::event(
                    vec![events::device(&call.caller)],
                    Payload::Answered(pb::CallAnswered {
                        call_id: call.id.to_string(),
                        answer: stored.answer.clone(),
                        by: call.answered_by.as_ref().map(|device| pb::Device {
                            user_id: call.callee.to_string(),
                            device_id: device.clone(),
                        }),
                    }),
                )),
                Notice::Dismissed => {
                    let others = self
                        .other_devices(connection, call.callee, call.answered_by.as_deref())
                        .await?;
                    if !others.is_empty() {
                        out.push(events::event(
                            others,
                            Payload::Dismissed(pb::CallDismissed {
                                call_id: call.id.to_string(),
                                reason: "ANSWERED_ELSEWHERE".to_owned(),
                            }),
                        ));
                    }
                }
                Notice::UpdatedToCallerDevices => {
                    let others = self
                        .other_devices(connection, call.caller.user, Some(&call.caller.device))
                        .await?;
                    if !others.is_empty() {
                        out.push(events::event(
                            others,
                            Payload::Updated(pb::CallUpdated {
                                call: Some(events::call_pb(call)),
                            }),
                        ));
                    }
                }
                Notice::UpdatedToBoth => out.push(events::event(
                    both(),
                    Payload::Updated(pb::CallUpdated {
                        call: Some(events::call_pb(call)),
                    }),
                )),
                Notice::Ended => out.push(events::event(
                    both(),
                    Payload::Ended(pb::CallEnded {
                        call: Some(events::call_pb(call)),
                    }),
                )),
            }
        }
        Ok(out)
    }

    /// The devices of `user` with a socket, but `except`.
    async fn other_devices(
        &self,
        connection: &mut PgConnection,
        user: UserId,
        except: Option<&str>,
    ) -> Result<Vec<pb::Recipient>, Error> {
        Ok(repo::devices_of(connection, user)
            .await?
            .into_iter()
            .filter(|device| Some(device.as_str()) != except)
            .map(|device| events::device(&Device { user, device }))
            .collect())
    }

    /// The `call-incoming` of a ringing call at `now`, with ICE servers for the callee.
    pub fn incoming(&self, stored: &Stored, now: DateTime<Utc>) -> pb::CallIncoming {
        let call = &stored.call;
        let remaining = (call.ring_deadline - now).to_std().unwrap_or_default();
        let ice = self.turn.mint(call.callee, now);
        pb::CallIncoming {
            call: Some(events::call_pb(call)),
            offer: stored.offer.clone(),
            candidates: stored.caller_candidates.clone(),
            ring_remaining_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
            ice_servers: ice.servers,
            ice_servers_expire_at: ice.expires_at.map(parley_common::time::to_timestamp),
        }
    }

    /// Runs `decide` on the call under its lock, stores the decision and its events, and
    /// answers the call as it is after.
    async fn transition<F>(&self, id: CallId, decide: F) -> Result<(Stored, Decision), Error>
    where
        F: FnOnce(&Stored, DateTime<Utc>) -> Result<Decision, ServiceError>,
    {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        let stored = repo::lock(&mut transaction, id)
            .await?
            .ok_or_else(not_found)?;
        let decision = decide(&stored, now)?;
        let events = self
            .apply(&mut transaction, &stored, &decision, now)
            .await?;
        self.events.store_in(&mut transaction, &events).await?;
        transaction.commit().await?;
        if decision.changed && decision.call.state == CallState::Ended {
            self.log_later(vec![decision.call.clone()]);
        }
        Ok((stored, decision))
    }

    /// `call-accept`: answers the call, the caller's candidates so far, and fresh ICE
    /// servers when the callee's are about to expire.
    pub async fn accept(
        &self,
        actor: &Device,
        id: CallId,
        answer: pb::SessionDescription,
    ) -> Result<(Call, Vec<pb::IceCandidate>, Minted), Error> {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        let stored = repo::lock(&mut transaction, id)
            .await?
            .ok_or_else(not_found)?;
        let decision = domain::accept(&stored.call, actor, now)?;
        if !repo::mark_busy(&mut transaction, &decision.call).await? {
            return Err(ServiceError::FailedPrecondition("already in another call").into());
        }
        repo::set_answer(&mut transaction, id, &answer).await?;
        let stored = Stored {
            answer: Some(answer),
            ..stored
        };
        let events = self
            .apply(&mut transaction, &stored, &decision, now)
            .await?;
        self.events.store_in(&mut transaction, &events).await?;
        transaction.commit().await?;
        let ice = self.turn.remint(actor.user, stored.call.created_at, now);
        Ok((decision.call, stored.caller_candidates, ice))
    }

    pub async fn decline(&self, actor: &Device, id: CallId) -> Result<Call, Error> {
        let (_, decision) = self
            .transition(id, |stored, now| domain::decline(&stored.call, actor, now))
            .await?;
        Ok(decision.call)
    }

    pub async fn hangup(
        &self,
        actor: &Device,
        id: CallId,
        reason: EndReason,
    ) -> Result<Call, Error> {
        let (_, decision) = self
            .transition(id, |stored, now| {
                domain::hangup(&stored.call, actor, reason, now)
            })
            .await?;
        Ok(decision.call)
    }

    pub async fn connected(&self, actor: &Device, id: CallId) -> Result<Call, Error> {
        let (_, decision) = self
            .transition(id, |stored, now| {
                domain::connected(&stored.call, actor, now)
            })
            .await?;
        Ok(decision.call)
    }

    /// `call-ice`: relays the candidates, and keeps them with the call.
    pub async fn ice(
        &self,
        actor: &Device,
        id: CallId,
        candidates: Vec<pb::IceCandidate>,
        end: bool,
    ) -> Result<(), Error> {
        let mut transaction = self.pool.begin().await?;
        let stored = repo::lock(&mut transaction, id)
            .await?
            .ok_or_else(not_found)?;
        let (side, route) = domain::ice(&stored.call, actor)?;
        let kept = stored.candidates(side);
        if kept.len() < repo::MAX_KEPT_CANDIDATES && !candidates.is_empty() {
            let all: Vec<pb::IceCandidate> = kept.iter().chain(&candidates).cloned().collect();
            repo::set_candidates(&mut transaction, id, side, &all).await?;
        }
        let recipients = match route {
            Route::CalleeDevices => vec![events::user(stored.call.callee)],
            Route::Device(device) => vec![events::device(&device)],
        };
        let event = events::event(
            recipients,
            Payload::Ice(pb::CallIce {
                call_id: id.to_string(),
                from: Some(events::device_pb(actor)),
                candidates,
                end,
            }),
        );
        self.events.store_in(&mut transaction, &[event]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// `call-negotiate`: relays the description to the peer's device.
    pub async fn negotiate(
        &self,
        actor: &Device,
        id: CallId,
        description: pb::SessionDescription,
    ) -> Result<(), Error> {
        let mut transaction = self.pool.begin().await?;
        let stored = repo::lock(&mut transaction, id)
            .await?
            .ok_or_else(not_found)?;
        let peer = domain::negotiate(&stored.call, actor)?;
        let event = events::event(
            vec![events::device(&peer)],
            Payload::Negotiate(pb::CallNegotiate {
                call_id: id.to_string(),
                from: Some(events::device_pb(actor)),
                description: Some(description),
            }),
        );
        self.events.store_in(&mut transaction, &[event]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// `call-resume`: the device is back in the call on `edge`/`socket`.
    pub async fn resume(
        &self,
        actor: &Device,
        id: CallId,
        edge: &str,
        socket: &str,
    ) -> Result<(Call, Device, Vec<pb::IceCandidate>, Minted), Error> {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        // The socket row before the call row, in the order OpenDevice, CloseDevice and
        // RenewEdgeLease take them: a reconnecting device registers its socket and resumes
        // on it at once, and the opposite order deadlocked the two. Refused, it rolls back.
        repo::open_socket(&mut transaction, actor, edge, socket, now).await?;
        let stored = repo::lock(&mut transaction, id)
            .await?
            .ok_or_else(not_found)?;
        let (side, peer, back) = domain::resume(&stored.call, actor)?;
        repo::save(&mut transaction, &back, &self.timing, now).await?;
        transaction.commit().await?;
        let peer_side = match side {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        };
        let candidates = stored.candidates(peer_side).to_vec();
        let ice = self.turn.remint(actor.user, stored.call.created_at, now);
        Ok((back, peer, candidates, ice))
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<Call>, Error> {
        let mut connection = self.pool.acquire().await?;
        Ok(repo::live_of_user(&mut connection, user)
            .await?
            .into_iter()
            .map(|stored| stored.call)
            .collect())
    }

    /// `OpenDevice`: the socket is registered, the device's legs are back, and the user's
    /// live calls and those ringing with enough time left are answered.
    pub async fn open_device(
        &self,
        device: &Device,
        edge: &str,
        socket: &str,
    ) -> Result<(Vec<Call>, Vec<pb::CallIncoming>), Error> {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        repo::open_socket(&mut transaction, device, edge, socket, now).await?;
        self.device_presence(&mut transaction, device, false, now)
            .await?;
        let live = repo::live_of_user(&mut transaction, device.user).await?;
        transaction.commit().await?;
        let ringing = live
            .iter()
            .filter(|stored| stored.call.callee == device.user)
            .filter(|stored| domain::ring_remaining(&stored.call, &self.timing, now).is_some())
            .map(|stored| self.incoming(stored, now))
            .collect();
        Ok((
            live.into_iter().map(|stored| stored.call).collect(),
            ringing,
        ))
    }

    /// `CloseDevice`: the socket goes; a device left without one is lost.
    pub async fn close_device(&self, device: &Device, socket: &str) -> Result<(), Error> {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        if repo::close_socket(&mut transaction, device, socket).await?
            && !repo::has_socket(&mut transaction, device).await?
        {
            self.device_presence(&mut transaction, device, true, now)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// `RenewEdgeLease`: the lease runs on, listed sockets are known, unlisted ones
    /// registered before the previous renewal are gone.
    pub async fn renew_edge_lease(
        &self,
        edge: &str,
        ttl: Duration,
        sockets: Vec<(Device, String)>,
    ) -> Result<(), Error> {
        let now = Self::now();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut transaction = self.pool.begin().await?;
        let previous = repo::renew_edge(&mut transaction, edge, ttl_ms, now).await?;
        // Almost always none: sockets are registered as they connect (OpenDevice).
        for device in repo::adopt_sockets(&mut transaction, edge, &sockets, now).await? {
            self.device_presence(&mut transaction, &device, false, now)
                .await?;
        }
        if let Some(previous) = previous {
            let listed: Vec<String> = sockets.iter().map(|(_, socket)| socket.clone()).collect();
            let gone = repo::forget_unlisted(&mut transaction, edge, &listed, previous).await?;
            self.devices_gone(&mut transaction, gone, now).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Marks lost the devices of `gone` (sockets removed) that have no socket left.
    pub(crate) async fn devices_gone(
        &self,
        connection: &mut PgConnection,
        mut gone: Vec<Device>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        gone.sort_by(|a, b| (a.user, &a.device).cmp(&(b.user, &b.device)));
        gone.dedup();
        for device in gone {
            if !repo::has_socket(connection, &device).await? {
                self.device_presence(connection, &device, true, now).await?;
            }
        }
        Ok(())
    }

    /// Stamps (or clears) `device` as lost on every live call it is a leg of.
    async fn device_presence(
        &self,
        connection: &mut PgConnection,
        device: &Device,
        lost: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        for stored in repo::live_of_device(connection, device).await? {
            let after = domain::device_presence(&stored.call, device, lost, now);
            if after != stored.call {
                repo::save(connection, &after, &self.timing, now).await?;
            }
        }
        Ok(())
    }

    /// The pairs of users in a live call.
    pub async fn live_pairs(&self) -> Result<Vec<(UserId, UserId)>, Error> {
        let mut connection = self.pool.acquire().await?;
        Ok(repo::live_pairs(&mut connection).await?)
    }

    /// A block between `a` and `b`: their live calls end as hang-ups.
    pub async fn blocked(&self, a: UserId, b: UserId) -> Result<(), Error> {
        let now = Self::now();
        let mut transaction = self.pool.begin().await?;
        let mut ended = Vec::new();
        let mut events = Vec::new();
        for stored in repo::live_between(&mut transaction, a, b).await? {
            let decision = domain::blocked(&stored.call, now);
            events.extend(
                self.apply(&mut transaction, &stored, &decision, now)
                    .await?,
            );
            ended.push(decision.call);
        }
        self.events.store_in(&mut transaction, &events).await?;
        transaction.commit().await?;
        self.log_later(ended);
        Ok(())
    }

    /// One sweep of the due calls at `now`: those whose deadline came end, in batches
    /// another replica's sweep skips. Answers how many ended.
    pub async fn sweep_due(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let mut transaction = self.pool.begin().await?;
        let due = repo::due(&mut transaction, now, 100).await?;
        let mut ended = Vec::new();
        let mut events = Vec::new();
        for stored in &due {
            let decision = domain::sweep(&stored.call, &self.timing, now);
            if decision.changed {
                events.extend(self.apply(&mut transaction, stored, &decision, now).await?);
                ended.push(decision.call);
            } else {
                // Not due after all (a stamp moved): the next deadline is stored again.
                repo::save(&mut transaction, &stored.call, &self.timing, now).await?;
            }
        }
        self.events.store_in(&mut transaction, &events).await?;
        transaction.commit().await?;
        let count = ended.len();
        // Written after this sweep, as every other path does: a slow chat-svc must not hold
        // back the deadlines of the next batch (the unlogged retry covers failures).
        self.log_later(ended);
        Ok(count)
    }

    /// Writes the CALL messages of `calls` after the reply; the sweeper retries any that
    /// fail.
    fn log_later(&self, calls: Vec<Call>) {
        let calls: Vec<Call> = calls
            .into_iter()
            .filter(|call| call.state == CallState::Ended)
            .collect();
        if calls.is_empty() {
            return;
        }
        for call in &calls {
            count_ended(call);
        }
        let chat = self.chat.clone();
        let pool = self.pool.clone();
        tokio::spawn(async move {
            for call in calls {
                log_call(&chat, &pool, &call).await;
            }
        });
    }

    /// Writes the call's CALL message now; whether it is recorded as written.
    pub(crate) async fn log(&self, call: &Call) -> bool {
        log_call(&self.chat, &self.pool, call).await
    }
}

/// Counts an ended call by why it ended.
fn count_ended(call: &Call) {
    metrics::counter!("parley_calls_ended_total", "reason" => call.end_reason.as_str_name())
        .increment(1);
}

/// Writes the one CALL message of an ended call and records it; a failure is left for the
/// sweeper (chat-svc's idempotency per call makes a retry harmless). Answers whether it is
/// recorded.
async fn log_call(chat: &ChatClient, pool: &PgPool, call: &Call) -> bool {
    let read_by = if call.answered_at.is_some() {
        vec![call.callee.to_string()]
    } else {
        Vec::new()
    };
    let request = chat::AppendCallMessageRequest {
        room_id: call.room_id.to_string(),
        call: Some(events::call_log(call)),
        content: domain::log_text(call),
        read_by_user_ids: read_by,
    };
    let message_id = match chat.clone().append_call_message(request).await {
        Ok(answer) => answer
            .into_inner()
            .message
            .and_then(|message| uuid::Uuid::parse_str(&message.id).ok()),
        // A verdict on the log itself (the room is gone, or no DM room any more) will not
        // change: recorded, so that no replica retries it every second forever.
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::InvalidArgument
                    | tonic::Code::NotFound
                    | tonic::Code::FailedPrecondition
            ) =>
        {
            tracing::warn!(call = %call.id, %status, "chat-svc refused the call's CALL message");
            None
        }
        Err(status) => {
            tracing::warn!(call = %call.id, %status, "cannot write the call's CALL message yet");
            return false;
        }
    };
    let marked = async {
        let mut connection = pool.acquire().await?;
        repo::mark_logged(&mut connection, call.id, message_id).await
    };
    match marked.await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(call = %call.id, %error, "cannot record the call's CALL message");
            false
        }
    }
}
