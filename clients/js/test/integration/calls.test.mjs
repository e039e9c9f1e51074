// A call between two Node peers (libwebrtc through @roamhq/wrtc) placed and answered with the
// SDK: ringing, accept, ACTIVE on both sides, a video track added mid-call (renegotiation),
// the call carried on through an edge kill (call-resume), hang-up, and its CALL message.
//
// WebRTC traffic in tests stays on loopback (docs/decisions, edge/tests/it/calls_media): this
// test runs only where loopback is the only network interface, i.e. inside a network
// namespace like `unshare -n` with `lo` up, with the Parley of the plan in it too.
import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { test } from "node:test";

import wrtc from "@roamhq/wrtc";

import { befriend, connect, heard, kill, needsParley, recorder, sleep, until } from "./support.mjs";

const onlyLoopback = Object.values(networkInterfaces())
  .flat()
  .every((address) => address?.internal);
const skip =
  needsParley || (onlyLoopback ? false : "WebRTC tests run only where loopback is the only interface (unshare -n)");

const { RTCPeerConnection, MediaStream, nonstandard } = wrtc;

// libwebrtc's teardown at a natural exit crashes (SIGSEGV) once a track existed, whatever was
// closed; an explicit exit, once the runner has nothing left to do, skips it (as
// edge/tests/js/calls-flow.mjs does).
process.on("beforeExit", (code) => process.exit(code));

/** A stream with one live track of `kind`, fed until `t` ends. */
function liveStream(t, kind) {
  if (kind === "audio") {
    const source = new nonstandard.RTCAudioSource();
    const track = source.createTrack();
    const samples = new Int16Array(480);
    const feeder = setInterval(() => source.onData({ samples, sampleRate: 48_000, bitsPerSample: 16, channelCount: 1 }), 10);
    t.after(() => {
      clearInterval(feeder);
      track.stop();
    });
    return new MediaStream([track]);
  }
  const source = new nonstandard.RTCVideoSource();
  const track = source.createTrack();
  const [width, height] = [160, 120];
  const data = new Uint8ClampedArray(width * height * 1.5).fill(128);
  const feeder = setInterval(() => source.onFrame({ width, height, data }), 33);
  t.after(() => {
    clearInterval(feeder);
    track.stop();
  });
  return new MediaStream([track]);
}

test("calls: ring, accept, ACTIVE, renegotiate, resume after an edge kill, hang up", { skip, timeout: 180_000 }, async (t) => {
  const options = { RTCPeerConnection };
  const alice = await connect(t, "alice", { ...options, deviceId: "alice-node" });
  const bob = await connect(t, "bob", { ...options, deviceId: "bob-node" });
  await befriend(alice, bob);
  const incoming = recorder(bob.calls, "incoming");
  const bobMessages = recorder(bob.chat, "message");

  const callerSession = await alice.calls.start({ receiverId: bob.me.id }, { media: "AUDIO", stream: liveStream(t, "audio") });
  assert.equal(callerSession.state, "RINGING");
  assert.equal(callerSession.info.caller.deviceId, "alice-node");
  const ringing = await heard(incoming, "bob's phone ringing", (call) => call.id === callerSession.id);
  assert.equal(ringing.info.caller.userId, alice.me.id);
  assert.ok(ringing.ringRemainingMs > 0);

  const callerTracks = recorder(callerSession, "track");
  const calleeSession = await ringing.accept({ stream: liveStream(t, "audio") });
  const calleeTracks = recorder(calleeSession, "track");
  assert.equal(calleeSession.id, callerSession.id);
  await until(() => callerSession.state === "ACTIVE" && calleeSession.state === "ACTIVE", "the call ACTIVE on both sides", 30_000);
  assert.ok(callerSession.info.connectedAt, "connectedAt set once a side reported call-connected");
  await until(() => callerTracks.some((e) => e.track.kind === "audio"), "alice hears bob's audio track");
  assert.deepEqual(alice.calls.live().map((s) => s.id), [callerSession.id]);

  // Renegotiation: alice adds video mid-call; perfect negotiation carries the offer to bob.
  const video = liveStream(t, "video");
  callerSession.pc.addTrack(video.getVideoTracks()[0], video);
  await until(() => calleeTracks.some((e) => e.track.kind === "video"), "bob gets alice's video track", 20_000);

  // The edge dies: both reconnect to its replacement and resume; the call carries on.
  await kill("edge");
  await until(() => !alice.connected, "alice's transport gone", 10_000);
  await until(() => alice.connected && bob.connected, "both back on the restarted edge", 60_000);
  // The renegotiation's answer may have been in flight at the kill: resent on resume.
  await until(
    () => callerSession.pc.signalingState === "stable" && calleeSession.pc.signalingState === "stable",
    "the renegotiation complete on both sides",
    20_000,
  );
  await sleep(2_000);
  assert.equal(callerSession.state, "ACTIVE");
  assert.equal(calleeSession.state, "ACTIVE");
  const { calls } = await alice.request("/calls", "list-calls", {});
  assert.deepEqual(calls.map((c) => [c.id, c.state]), [[callerSession.id, "ACTIVE"]], "the server still has the call live");
  assert.ok(["connected", "completed"].includes(callerSession.pc.iceConnectionState), "media kept flowing meanwhile");

  const ended = recorder(calleeSession, "ended");
  const finished = await callerSession.hangup();
  assert.equal(finished.state, "ENDED");
  assert.equal(finished.endReason, "HANGUP");
  const heardEnd = await heard(ended, "bob hears the call end");
  assert.equal(heardEnd.id, callerSession.id);
  assert.equal(calleeSession.state, "ENDED");
  assert.deepEqual(alice.calls.live(), []);
  assert.deepEqual(bob.calls.live(), []);
  const log = await heard(bobMessages, "the call's CALL message", (m) => m.messageType === "CALL" && m.call?.callId === callerSession.id);
  assert.equal(log.call.outcome, "ANSWERED");
  assert.deepEqual([...alice.errors, ...bob.errors].map((e) => `${e.event}: ${e.code} ${e.message}`), [], "nothing failed unseen");
});
