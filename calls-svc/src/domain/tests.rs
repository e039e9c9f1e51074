//! The rules on tokio's paused clock: time moves only when a test advances it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{Instant, advance};
use tonic::Code;
use uuid::Uuid;

use super::*;

/// Wall time that follows tokio's (paused) clock from a fixed start.
struct Clock {
    started: Instant,
    wall: DateTime<Utc>,
}

impl Clock {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            wall: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(self.started.elapsed()).unwrap()
    }
}

fn device(user: UserId, name: &str) -> Device {
    Device {
        user,
        device: name.to_owned(),
    }
}

struct Pair {
    alice: Device,
    alice_tablet: Device,
    bob_phone: Device,
    bob_laptop: Device,
    carol: Device,
}

fn pair() -> Pair {
    let (alice, bob, carol) = (
        UserId(Uuid::new_v4()),
        UserId(Uuid::new_v4()),
        UserId(Uuid::new_v4()),
    );
    Pair {
        alice: device(alice, "phone"),
        alice_tablet: device(alice, "tablet"),
        bob_phone: device(bob, "phone"),
        bob_laptop: device(bob, "laptop"),
        carol: device(carol, "x"),
    }
}

fn ringing(pair: &Pair, clock: &Clock) -> Call {
    place(
        NewCall {
            id: CallId(Uuid::new_v4()),
            room_id: RoomId(Uuid::new_v4()),
            media: Media::Video,
            caller: pair.alice.clone(),
            callee: pair.bob_phone.user,
            client_call_id: None,
        },
        false,
        &Timing::default(),
        clock.now(),
    )
    .call
}

fn code<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> Code {
    tonic::Status::from(result.expect_err("refused")).code()
}

fn sweep_now(call: &Call, clock: &Clock) -> Call {
    sweep(call, &Timing::default(), clock.now()).call
}

#[tokio::test(start_paused = true)]
async fn nobody_answering_makes_a_missed_call_at_the_ring_deadline() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    assert_eq!(due_at(&call, &Timing::default()), Some(call.ring_deadline));
    advance(Duration::from_secs(59)).await;
    assert_eq!(sweep_now(&call, &clock).state, CallState::Ringing);
    advance(Duration::from_secs(1)).await;
    let swept = sweep(&call, &Timing::default(), clock.now());
    assert_eq!(swept.call.state, CallState::Ended);
    assert_eq!(swept.call.end_reason, EndReason::Missed);
    assert_eq!(swept.notices, vec![Notice::Ended]);
    assert_eq!(outcome(&swept.call), CallOutcome::Missed);
    assert_eq!(log_text(&swept.call), "Missed video call");
    assert_eq!(due_at(&swept.call, &Timing::default()), None);
}

#[tokio::test(start_paused = true)]
async fn a_caller_lost_while_ringing_cancels_after_its_grace_unless_it_comes_back() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    let lost = device_presence(&call, &pair.alice, true, clock.now());
    advance(Duration::from_secs(9)).await;
    assert_eq!(sweep_now(&lost, &clock).state, CallState::Ringing);
    let back = device_presence(&lost, &pair.alice, false, clock.now());
    advance(Duration::from_secs(5)).await;
    assert_eq!(sweep_now(&back, &clock).state, CallState::Ringing);
    // Another device of the caller is no leg of the call.
    assert_eq!(
        device_presence(&call, &pair.alice_tablet, true, clock.now()),
        call
    );
    assert_eq!(
        due_at(&lost, &Timing::default()),
        lost.caller_lost_at
            .map(|at| at + chrono::Duration::seconds(10))
    );
    let ended = sweep_now(&lost, &clock);
    assert_eq!(ended.end_reason, EndReason::Canceled);
    assert_eq!(outcome(&ended), CallOutcome::Canceled);
}

#[tokio::test(start_paused = true)]
async fn the_first_accept_wins_and_a_second_is_refused() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    advance(Duration::from_secs(3)).await;
    let accepted = accept(&call, &pair.bob_laptop, clock.now()).unwrap();
    assert_eq!(accepted.call.state, CallState::Connecting);
    assert_eq!(accepted.call.answered_by.as_deref(), Some("laptop"));
    assert_eq!(
        accepted.notices,
        vec![
            Notice::Answered,
            Notice::Dismissed,
            Notice::UpdatedToCallerDevices
        ]
    );
    assert_eq!(
        code(accept(&accepted.call, &pair.bob_phone, clock.now())),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(accept(&call, &pair.alice, clock.now())),
        Code::PermissionDenied
    );
    assert_eq!(
        code(accept(&call, &pair.carol, clock.now())),
        Code::NotFound
    );
}

#[tokio::test(start_paused = true)]
async fn an_answered_call_that_never_connects_fails_after_the_connect_time() {
    let (clock, pair) = (Clock::new(), pair());
    let call = accept(&ringing(&pair, &clock), &pair.bob_phone, clock.now())
        .unwrap()
        .call;
    advance(Duration::from_secs(29)).await;
    assert_eq!(sweep_now(&call, &clock).state, CallState::Connecting);
    advance(Duration::from_secs(1)).await;
    let ended = sweep_now(&call, &clock);
    assert_eq!(ended.end_reason, EndReason::IceFailed);
    assert_eq!(outcome(&ended), CallOutcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn connected_makes_it_active_once_and_the_duration_counts_from_there() {
    let (clock, pair) = (Clock::new(), pair());
    let call = accept(&ringing(&pair, &clock), &pair.bob_phone, clock.now())
        .unwrap()
        .call;
    assert_eq!(
        code(connected(&call, &pair.bob_laptop, clock.now())),
        Code::PermissionDenied
    );
    advance(Duration::from_secs(2)).await;
    let active = connected(&call, &pair.bob_phone, clock.now()).unwrap();
    assert_eq!(active.call.state, CallState::Active);
    assert_eq!(active.notices, vec![Notice::UpdatedToBoth]);
    let again = connected(&active.call, &pair.alice, clock.now()).unwrap();
    assert!(!again.changed);
    // Past the connect time an ACTIVE call goes on.
    advance(Duration::from_secs(252)).await;
    assert_eq!(sweep_now(&active.call, &clock).state, CallState::Active);
    let ended = hangup(&active.call, &pair.alice, EndReason::Hangup, clock.now()).unwrap();
    assert_eq!(duration(&ended.call), Some(Duration::from_secs(252)));
    assert_eq!(log_text(&ended.call), "Video call · 4:12");
    assert_eq!(outcome(&ended.call), CallOutcome::Answered);
    assert_eq!(
        code(connected(&ended.call, &pair.alice, clock.now())),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(connected(&ringing(&pair, &clock), &pair.alice, clock.now())),
        Code::FailedPrecondition
    );
}

#[tokio::test(start_paused = true)]
async fn a_party_lost_past_the_resume_grace_loses_the_connection() {
    let (clock, pair) = (Clock::new(), pair());
    let answered = accept(&ringing(&pair, &clock), &pair.bob_phone, clock.now())
        .unwrap()
        .call;
    let call = connected(&answered, &pair.alice, clock.now()).unwrap().call;
    // A device of the callee that did not answer is no leg.
    assert_eq!(
        device_presence(&call, &pair.bob_laptop, true, clock.now()),
        call
    );
    let lost = device_presence(&call, &pair.bob_phone, true, clock.now());
    advance(Duration::from_secs(29)).await;
    assert_eq!(sweep_now(&lost, &clock).state, CallState::Active);
    let (side, peer, back) = resume(&lost, &pair.bob_phone).unwrap();
    assert_eq!((side, peer), (Side::Callee, pair.alice.clone()));
    assert_eq!(back.callee_lost_at, None);
    advance(Duration::from_secs(1)).await;
    assert_eq!(sweep_now(&back, &clock).state, CallState::Active);
    assert_eq!(
        sweep_now(&lost, &clock).end_reason,
        EndReason::ConnectionLost
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_ends_at_its_maximum_length() {
    let (clock, pair) = (Clock::new(), pair());
    let answered = accept(&ringing(&pair, &clock), &pair.bob_phone, clock.now())
        .unwrap()
        .call;
    let call = connected(&answered, &pair.alice, clock.now()).unwrap().call;
    advance(Duration::from_secs(12 * 3600 - 1)).await;
    assert_eq!(sweep_now(&call, &clock).state, CallState::Active);
    advance(Duration::from_secs(1)).await;
    assert_eq!(sweep_now(&call, &clock).end_reason, EndReason::Hangup);
}

#[tokio::test(start_paused = true)]
async fn decline_and_hangup_of_an_ended_call_change_nothing() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    assert_eq!(
        code(decline(&call, &pair.alice, clock.now())),
        Code::PermissionDenied
    );
    let declined = decline(&call, &pair.bob_laptop, clock.now()).unwrap();
    assert_eq!(declined.call.end_reason, EndReason::Declined);
    assert_eq!(declined.notices, vec![Notice::Ended]);
    advance(Duration::from_secs(1)).await;
    let again = decline(&declined.call, &pair.bob_phone, clock.now()).unwrap();
    assert!(!again.changed && again.notices.is_empty());
    assert_eq!(again.call, declined.call);
    let hung = hangup(&declined.call, &pair.alice, EndReason::Hangup, clock.now()).unwrap();
    assert!(!hung.changed);
    assert_eq!(
        code(decline(&declined.call, &pair.carol, clock.now())),
        Code::NotFound
    );
    assert_eq!(log_text(&declined.call), "Declined video call");
}

#[tokio::test(start_paused = true)]
async fn hanging_up_while_it_rings_cancels_and_only_the_caller_may() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    assert_eq!(
        code(hangup(
            &call,
            &pair.bob_phone,
            EndReason::Hangup,
            clock.now()
        )),
        Code::PermissionDenied
    );
    let canceled = hangup(&call, &pair.alice_tablet, EndReason::Hangup, clock.now()).unwrap();
    assert_eq!(canceled.call.end_reason, EndReason::Canceled);
    let answered = accept(&call, &pair.bob_phone, clock.now()).unwrap().call;
    assert_eq!(
        code(decline(&answered, &pair.bob_phone, clock.now())),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(hangup(
            &answered,
            &pair.bob_laptop,
            EndReason::Hangup,
            clock.now()
        )),
        Code::PermissionDenied
    );
    let failed = hangup(
        &answered,
        &pair.bob_phone,
        EndReason::IceFailed,
        clock.now(),
    )
    .unwrap();
    assert_eq!(failed.call.end_reason, EndReason::IceFailed);
}

#[tokio::test(start_paused = true)]
async fn candidates_go_to_every_callee_device_before_the_answer_and_to_one_after() {
    let (clock, pair) = (Clock::new(), pair());
    let call = ringing(&pair, &clock);
    assert_eq!(
        ice(&call, &pair.alice).unwrap(),
        (Side::Caller, Route::CalleeDevices)
    );
    assert_eq!(code(ice(&call, &pair.bob_phone)), Code::FailedPrecondition);
    assert_eq!(code(ice(&call, &pair.alice_tablet)), Code::PermissionDenied);
    assert_eq!(code(ice(&call, &pair.carol)), Code::NotFound);
    assert_eq!(
        code(negotiate(&call, &pair.alice)),
        Code::FailedPrecondition
    );
    let answered = accept(&call, &pair.bob_laptop, clock.now()).unwrap().call;
    assert_eq!(
        ice(&answered, &pair.alice).unwrap(),
        (Side::Caller, Route::Device(pair.bob_laptop.clone()))
    );
    assert_eq!(
        ice(&answered, &pair.bob_laptop).unwrap(),
        (Side::Callee, Route::Device(pair.alice.clone()))
    );
    assert_eq!(
        code(ice(&answered, &pair.bob_phone)),
        Code::PermissionDenied
    );
    assert_eq!(negotiate(&answered, &pair.bob_laptop).unwrap(), pair.alice);
    assert_eq!(
        code(negotiate(&answered, &pair.bob_phone)),
        Code::PermissionDenied
    );
    let ended = hangup(&answered, &pair.alice, EndReason::Hangup, clock.now())
        .unwrap()
        .call;
    assert_eq!(code(ice(&ended, &pair.alice)), Code::FailedPrecondition);
    assert_eq!(code(resume(&ended, &pair.alice)), Code::FailedPrecondition);
}

#[tokio::test(start_paused = true)]
async fn a_ringing_call_replays_only_with_enough_time_left() {
    let (clock, pair) = (Clock::new(), pair());
    let timing = Timing::default();
    let call = ringing(&pair, &clock);
    advance(Duration::from_secs(50)).await;
    assert_eq!(
        ring_remaining(&call, &timing, clock.now()),
        Some(Duration::from_secs(10))
    );
    advance(Duration::from_millis(7_001)).await;
    assert_eq!(ring_remaining(&call, &timing, clock.now()), None);
    let declined = decline(&call, &pair.bob_phone, clock.now()).unwrap().call;
    assert_eq!(ring_remaining(&declined, &timing, clock.now()), None);
}

#[tokio::test(start_paused = true)]
async fn a_busy_callee_is_not_rung_and_block_and_replace_end_live_calls() {
    let (clock, pair) = (Clock::new(), pair());
    let busy = place(
        NewCall {
            id: CallId(Uuid::new_v4()),
            room_id: RoomId(Uuid::new_v4()),
            media: Media::Audio,
            caller: pair.alice.clone(),
            callee: pair.bob_phone.user,
            client_call_id: Some("k".into()),
        },
        true,
        &Timing::default(),
        clock.now(),
    );
    assert_eq!(busy.call.end_reason, EndReason::Busy);
    assert!(busy.notices.is_empty(), "the callee's devices do not ring");
    assert_eq!(log_text(&busy.call), "Missed voice call (busy)");
    let call = ringing(&pair, &clock);
    assert_eq!(
        blocked(&call, clock.now()).call.end_reason,
        EndReason::Hangup
    );
    let replaced = replaced(&call, clock.now());
    assert_eq!(replaced.call.end_reason, EndReason::Replaced);
    assert_eq!(outcome(&replaced.call), CallOutcome::Failed);
    assert!(!blocked(&replaced.call, clock.now()).changed);
}
