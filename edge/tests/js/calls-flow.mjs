// Calls between real WebRTC peers (calls-peer.mjs) signaling through the real edges and
// calls-svc with the official socket.io-client (docs/API.md "/calls"), driven by
// edge/tests/it/calls_media.rs inside a network namespace that sees only loopback.
//
// Plan on stdin: { edges: [url, ...], edgePids: [pid, ...], scenarios: [name, ...],
//   users: { <scenario>: { a: { id, token }, b: { id, token } } } }.
// Report on stdout: { <scenario>: { ...what happened }, failure? }. Scenarios:
//   two-devices   a calls b's two devices; one accepts, the other is dismissed; media flows
//   relay         the same, relay-only through coturn with get-ice-servers' credentials
//   tampered      relay-only with a tampered credential: ICE fails, hung up ICE_FAILED
//   caller-killed kill -9 of the ringing caller's Node process: CANCELED within 10 s
//   edge-killed   kill -9 of the callee's edge mid-call; call-resume on another edge
// `node calls-flow.mjs --ringing-caller` is the caller that caller-killed kills: it invites
// and then waits to be killed (plan { url, a, receiverId } on stdin).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import { readPlan, sleep } from "./lib.mjs";
import { Peer, until } from "./calls-peer.mjs";

const ACK_MS = 10_000;
const CONNECT_MS = 10_000;

/** Every event a socket received, in order, with when (ms since the epoch). */
function recorded(socket) {
  socket.log = [];
  socket.onAny((event, payload) => socket.log.push({ event, payload, at: Date.now() }));
  return socket;
}

/** A connected socket (no automatic reconnection: the tests reconnect where they mean to). */
function connect(url, namespace, person, deviceId) {
  const auth = deviceId ? { token: person.token, deviceId } : { token: person.token };
  const socket = recorded(io(url + namespace, { auth, reconnection: false, forceNew: true, transports: ["websocket"] }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connect ${namespace}: timed out`)), ACK_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      reject(new Error(`connect ${namespace}: ${error.message}`));
    });
  });
}

/** The ack of `event`; throws unless it is `{ ok: true }`. */
async function request(socket, event, payload) {
  const ack = await socket
    .timeout(ACK_MS)
    .emitWithAck(event, payload)
    .catch((error) => {
      throw new Error(`${event} on ${socket.nsp}: ${error.message}`);
    });
  if (!ack?.ok) throw new Error(`${event}: ${JSON.stringify(ack)}`);
  return ack.data;
}

/** The first `event` recorded on `socket` (from index `from`) that `match`es, waiting `ms`. */
async function waitFor(socket, event, ms = ACK_MS, match = () => true, from = 0) {
  let found;
  await until(() => {
    found = socket.log.slice(from).find((e) => e.event === event && match(e.payload));
    return found;
  }, ms, `${event} on ${socket.nsp}`);
  return found;
}

/** A call as a report shows it (no SDP, no candidates). */
const brief = (call) =>
  call && {
    id: call.id, state: call.state, endReason: call.endReason, durationMs: call.durationMs,
    answeredBy: call.answeredBy, caller: call.caller, calleeId: call.calleeId,
  };

/** Makes `a` and `b` friends (PROTOCOL "/friends"): a asks, b accepts. */
async function befriend(url, a, b) {
  const [fa, fb] = await Promise.all([connect(url, "/friends", a), connect(url, "/friends", b)]);
  const { request: asked } = await request(fa, "send-friend-request", { userId: b.id });
  await request(fb, "accept-friend-request", { requestId: asked.id });
  fa.close();
  fb.close();
}

/**
 * A device's side of a call: a /calls socket and its peer. Candidates go out with call-ice
 * once the call id is known (those gathered before are kept until then).
 */
class Device {
  constructor(socket, name) {
    this.socket = socket;
    this.name = name;
    this.unsent = [];
    this.sent = 0;
    this.gatheringDone = false;
  }

  startPeer({ iceServers = [], relayOnly = false } = {}) {
    this.peer = new Peer({
      name: this.name,
      iceServers,
      relayOnly,
      onCandidate: (candidate) => {
        if (candidate) this.unsent.push(candidate);
        else this.gatheringDone = true;
        this.flush();
      },
    });
    return this.peer;
  }

  /** Sends the candidates gathered so far (and `end` once gathering is done). */
  async flush() {
    if (!this.callId || this.flushing) return;
    this.flushing = true;
    try {
      await this.#send();
    } catch (error) {
      // Reported by the scenario (a refused call-ice fails it), not an unhandled rejection.
      this.iceError ??= error.message;
    } finally {
      this.flushing = false;
    }
  }

  async #send() {
    while (this.unsent.length || (this.gatheringDone && !this.endSent)) {
      const candidates = this.unsent.splice(0, 20);
      const end = this.gatheringDone && this.unsent.length === 0;
      if (candidates.length === 0 && !end) break;
      if (candidates.length === 0) {
        // The end alone: call-ice takes 1-20 candidates, so the last batch carries it.
        this.endSent = true;
        break;
      }
      await request(this.socket, "call-ice", { callId: this.callId, candidates, end });
      this.sent += candidates.length;
      if (end) this.endSent = true;
    }
  }

  /** Every call-ice from the peer received from index `from` on goes to the peer connection. */
  followIce(from) {
    const apply = (payload) => {
      if (payload?.callId !== this.callId) return;
      for (const candidate of payload.candidates ?? []) this.peer.addCandidate(candidate);
    };
    for (const e of this.socket.log.slice(from)) if (e.event === "call-ice") apply(e.payload);
    this.socket.on("call-ice", apply);
  }
}

/** Fails the scenario if a device's call-ice was refused. */
function assertIceSent(...devices) {
  for (const device of devices) if (device.iceError) throw new Error(`${device.name}: ${device.iceError}`);
}

/** a's /calls device invites b with a video offer; resolves with a's Device and the ack. */
async function invite(caller, b, iceOptions) {
  const peer = caller.startPeer(iceOptions);
  const offer = await peer.offer();
  const ack = await request(caller.socket, "call-invite", {
    receiverId: b.id, media: "VIDEO", offer, clientCallId: `test-${Date.now()}`,
  });
  caller.callId = ack.call.id;
  caller.flush();
  return ack;
}

/** The callee device accepts the ringing call: its answer, then the ack's candidates only. */
async function accept(callee, incoming, iceOptions) {
  const peer = callee.startPeer(iceOptions);
  const answer = await peer.answer(incoming.offer);
  const mark = callee.socket.log.length;
  const ack = await request(callee.socket, "call-accept", { callId: incoming.call.id, answer });
  // Only now may this device send its own candidates (a callee's come after its accept).
  callee.callId = incoming.call.id;
  // The caller's candidates so far come with the ack: they alone must get ICE going (the
  // call-ice events this device saw while ringing are not applied), then those after it.
  for (const candidate of ack.candidates ?? []) await peer.addCandidate(candidate);
  callee.followIce(mark);
  callee.flush();
  return ack;
}

/** The caller takes the answer and the callee's candidates. */
async function takeAnswer(caller) {
  const answered = await waitFor(caller.socket, "call-answered", ACK_MS, (p) => p.callId === caller.callId);
  await caller.peer.setRemote(answered.payload.answer);
  caller.followIce(0);
  return answered.payload;
}

/** The CALL messages of `callId` in the room, as `chat`'s user reads /chat (waits for one). */
async function callMessages(chat, roomId, callId) {
  const read = async () => {
    const ack = await chat.timeout(ACK_MS).emitWithAck("get-history", { roomId, limit: 100 });
    // History reads have a per-user limit of their own: wait as told.
    if (!ack.ok && ack.error?.code === "RATE_LIMITED") {
      await sleep(ack.error.retryAfterMs ?? 500);
      return read();
    }
    if (!ack.ok) throw new Error(`get-history: ${JSON.stringify(ack)}`);
    return ack.data.messages
      .filter((m) => m.messageType === "CALL" && m.call?.callId === callId)
      .map((m) => ({ id: m.id, seq: m.seq, content: m.content, senderId: m.sender?.id, call: m.call }));
  };
  const deadline = Date.now() + 10_000;
  let messages = await read();
  while (messages.length === 0 && Date.now() < deadline) {
    await sleep(500);
    messages = await read();
  }
  // A second one would come right after the first: look once more a little later.
  await sleep(500);
  return read();
}

/** Waits until both peers decoded `frames` more frames than they had, and pinged both ways. */
async function mediaFlows(peers, frames = 30) {
  const before = peers.map((p) => p.framesDecoded);
  await until(() => peers.every((p, i) => p.framesDecoded - before[i] >= frames), 10_000, `${frames} frames each way`);
  for (const peer of peers) await peer.pingPong(5000);
}

// --- the scenarios ---------------------------------------------------------------------

/** Scenarios 1 and 2: a call answered on one of b's two devices, with media both ways. */
async function answeredCall(plan, users, { relay }) {
  const report = {};
  const url = plan.edges[0];
  const { a, b } = users;
  await befriend(url, a, b);
  const [aCalls, bLaptop, bPhone, aChat] = await Promise.all([
    connect(url, "/calls", a, "a-laptop"),
    connect(url, "/calls", b, "b-laptop"),
    connect(url, "/calls", b, "b-phone"),
    connect(url, "/chat", a),
  ]);
  const caller = new Device(aCalls, "a");
  const callee = new Device(bLaptop, "b-laptop");
  try {
    let aIce = { iceServers: [] };
    let bIce = { iceServers: [] };
    if (relay) {
      const [aServers, bServers] = await Promise.all([
        request(aCalls, "get-ice-servers", {}),
        request(bLaptop, "get-ice-servers", {}),
      ]);
      report.iceServers = aServers.iceServers.map((s) => ({ urls: s.urls, username: s.username, hasCredential: Boolean(s.credential) }));
      report.iceServersExpireAt = aServers.expiresAt;
      aIce = { iceServers: aServers.iceServers, relayOnly: true };
      bIce = { iceServers: bServers.iceServers, relayOnly: true };
    }

    const invited = await invite(caller, b, aIce);
    report.invite = brief(invited.call);
    const [onLaptop, onPhone] = await Promise.all([
      waitFor(bLaptop, "call-incoming", ACK_MS, (p) => p.call.id === caller.callId),
      waitFor(bPhone, "call-incoming", ACK_MS, (p) => p.call.id === caller.callId),
    ]);
    report.incoming = [onLaptop, onPhone].map(({ payload }) => ({
      call: brief(payload.call), ringRemainingMs: payload.ringRemainingMs, hasOffer: Boolean(payload.offer?.sdp),
    }));
    // Every candidate of the caller is in calls-svc before the answer.
    await until(() => caller.endSent, ACK_MS, "the caller's candidates sent");
    report.callerCandidatesSent = caller.sent;

    const accepted = await accept(callee, onLaptop.payload, bIce);
    report.accept = { call: brief(accepted.call), candidates: accepted.candidates?.length ?? 0 };
    const dismissed = await waitFor(bPhone, "call-dismissed", ACK_MS, (p) => p.callId === caller.callId);
    report.dismissed = dismissed.payload;
    const answered = await takeAnswer(caller);
    report.answeredBy = answered.by;

    const started = Date.now();
    await Promise.all([caller.peer.waitConnected(CONNECT_MS), callee.peer.waitConnected(CONNECT_MS)]);
    report.iceConnectedMs = Date.now() - started;
    const connected = await request(aCalls, "call-connected", { callId: caller.callId });
    await request(bLaptop, "call-connected", { callId: caller.callId });
    report.connected = brief(connected.call);
    report.updatedOnCallee = brief((await waitFor(bLaptop, "call-updated", ACK_MS, (p) => p.call.state === "ACTIVE")).payload.call);

    await mediaFlows([caller.peer, callee.peer]);
    assertIceSent(caller, callee);
    report.caller = await caller.peer.summary();
    report.callee = await callee.peer.summary();

    const hungUp = await request(aCalls, "call-hangup", { callId: caller.callId, reason: "HANGUP" });
    report.hangup = brief(hungUp.call);
    report.endedOnCallee = brief((await waitFor(bLaptop, "call-ended", ACK_MS, (p) => p.call.id === caller.callId)).payload.call);
    report.phoneEvents = bPhone.log.map((e) => e.event);
    report.messages = await callMessages(aChat, invited.call.roomId, caller.callId);
  } finally {
    caller.peer?.close();
    callee.peer?.close();
    for (const socket of [aCalls, bLaptop, bPhone, aChat]) socket.close();
  }
  return report;
}

/** Scenario 3: the caller's TURN credential is tampered with; relay-only ICE cannot start. */
async function tamperedCall(plan, { a, b }) {
  const report = {};
  const url = plan.edges[0];
  await befriend(url, a, b);
  const [aCalls, bCalls, aChat] = await Promise.all([
    connect(url, "/calls", a, "a-laptop"),
    connect(url, "/calls", b, "b-laptop"),
    connect(url, "/chat", a),
  ]);
  const caller = new Device(aCalls, "a");
  const callee = new Device(bCalls, "b");
  try {
    const { iceServers } = await request(aCalls, "get-ice-servers", {});
    const tampered = iceServers.map((server) =>
      server.credential ? { ...server, credential: (server.credential[0] === "A" ? "B" : "A") + server.credential.slice(1) } : server,
    );
    report.tamperedServers = tampered.filter((s) => s.credential).length;
    const bServers = await request(bCalls, "get-ice-servers", {});
    const invited = await invite(caller, b, { iceServers: tampered, relayOnly: true });
    const incoming = await waitFor(bCalls, "call-incoming", ACK_MS, (p) => p.call.id === caller.callId);
    await accept(callee, incoming.payload, { iceServers: bServers.iceServers, relayOnly: true });
    await takeAnswer(caller);
    // A client gives ICE this long, then gives up as an app would.
    try {
      await caller.peer.waitConnected(plan.tamperedWaitMs ?? 8000);
      report.connected = true;
    } catch (error) {
      report.connected = false;
      report.waitError = error.message;
    }
    assertIceSent(caller, callee);
    report.caller = await caller.peer.summary();
    report.callee = await callee.peer.summary();
    const hungUp = await request(aCalls, "call-hangup", { callId: caller.callId, reason: "ICE_FAILED" });
    report.hangup = brief(hungUp.call);
    report.endedOnCallee = brief((await waitFor(bCalls, "call-ended", ACK_MS, (p) => p.call.id === caller.callId)).payload.call);
    report.messages = await callMessages(aChat, invited.call.roomId, caller.callId);
  } finally {
    caller.peer?.close();
    callee.peer?.close();
    for (const socket of [aCalls, bCalls, aChat]) socket.close();
  }
  return report;
}

/** Scenario 4: the ringing caller's process is killed with SIGKILL. */
async function callerKilled(plan, { a, b }) {
  const report = {};
  const url = plan.edges[0];
  await befriend(url, a, b);
  const [bLaptop, bPhone, bChat] = await Promise.all([
    connect(url, "/calls", b, "b-laptop"),
    connect(url, "/calls", b, "b-phone"),
    connect(url, "/chat", b),
  ]);
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--ringing-caller"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  try {
    child.stdin.end(JSON.stringify({ url, a, receiverId: b.id }));
    const lines = createInterface({ input: child.stdout });
    const callId = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the ringing caller never invited")), ACK_MS);
      lines.on("line", (line) => {
        const said = JSON.parse(line);
        if (said.invited) {
          clearTimeout(timer);
          resolve(said.invited);
        } else if (said.failure) reject(new Error(`ringing caller: ${said.failure}`));
      });
    });
    const incoming = await Promise.all(
      [bLaptop, bPhone].map((s) => waitFor(s, "call-incoming", ACK_MS, (p) => p.call.id === callId)),
    );
    report.ringing = incoming.map((e) => e.payload.call.state);
    const killedAt = Date.now();
    child.kill("SIGKILL");
    const ended = await Promise.all(
      [bLaptop, bPhone].map((s) => waitFor(s, "call-ended", 30_000, (p) => p.call.id === callId)),
    );
    report.endedAfterMs = ended.map((e) => e.at - killedAt);
    report.ended = ended.map((e) => brief(e.payload.call));
    const roomId = incoming[0].payload.call.roomId;
    report.messages = await callMessages(bChat, roomId, callId);
    const { rooms } = await request(bChat, "list-rooms", {});
    report.unreadForCallee = rooms.find((r) => r.id === roomId)?.unreadCount;
  } finally {
    child.kill("SIGKILL");
    for (const socket of [bLaptop, bPhone, bChat]) socket.close();
  }
  return report;
}

/** The process caller-killed kills: invites, says so on stdout, and rings until killed. */
async function ringingCaller() {
  const { url, a, receiverId } = await readPlan();
  try {
    const socket = await connect(url, "/calls", a, "a-doomed");
    const caller = new Device(socket, "a");
    await invite(caller, { id: receiverId }, { iceServers: [] });
    process.stdout.write(JSON.stringify({ invited: caller.callId }) + "\n");
    await new Promise(() => {});
  } catch (error) {
    process.stdout.write(JSON.stringify({ failure: error.message }) + "\n");
    process.exit(1);
  }
}

/** Scenario 5: the callee's edge (a process of its own) is killed mid-call. */
async function edgeKilled(plan, { a, b }) {
  const report = {};
  const [edgeA, edgeB, edgeLater] = plan.edges;
  await befriend(edgeA, a, b);
  const [aCalls, bCalls, aChat] = await Promise.all([
    connect(edgeA, "/calls", a, "a-laptop"),
    connect(edgeB, "/calls", b, "b-laptop"),
    connect(edgeA, "/chat", a),
  ]);
  const caller = new Device(aCalls, "a");
  const callee = new Device(bCalls, "b");
  let resumed;
  try {
    const invited = await invite(caller, b, { iceServers: [] });
    const incoming = await waitFor(bCalls, "call-incoming", ACK_MS, (p) => p.call.id === caller.callId);
    await accept(callee, incoming.payload, { iceServers: [] });
    await takeAnswer(caller);
    await Promise.all([caller.peer.waitConnected(CONNECT_MS), callee.peer.waitConnected(CONNECT_MS)]);
    await request(aCalls, "call-connected", { callId: caller.callId });
    await request(bCalls, "call-connected", { callId: caller.callId });
    await mediaFlows([caller.peer, callee.peer]);

    // kill -9 of b's edge: b's socket is gone, the peer connection is not.
    const framesAtKill = caller.peer.framesDecoded;
    const killedAt = Date.now();
    process.kill(plan.edgePids[1], "SIGKILL");
    await until(() => bCalls.disconnected, 5000, "b's socket sees its edge die");
    await sleep(2000);
    report.framesAtKill = framesAtKill;
    report.framesTwoSecondsLater = caller.peer.framesDecoded;

    // b's app reconnects, to another edge, as the same device, and resumes the call.
    resumed = await connect(edgeLater, "/calls", b, "b-laptop");
    const attempts = [];
    let ack;
    while (Date.now() - killedAt < 30_000) {
      ack = await resumed
        .timeout(ACK_MS)
        .emitWithAck("call-resume", { callId: caller.callId })
        .catch((error) => ({ ok: false, error: { code: error.message } }));
      attempts.push(ack.ok ? "ok" : ack.error?.code);
      if (ack.ok) break;
      await sleep(500);
    }
    report.resumeAttempts = attempts;
    report.resumedAfterMs = Date.now() - killedAt;
    if (!ack?.ok) throw new Error(`call-resume: ${JSON.stringify(ack)}`);
    report.resumed = { call: brief(ack.data.call), peer: ack.data.peer, candidates: ack.data.candidates?.length ?? 0 };
    callee.socket = resumed;

    // Media still flows both ways; the call is still live for both.
    await mediaFlows([caller.peer, callee.peer]);
    report.afterResume = {
      caller: (await request(aCalls, "list-calls", {})).calls.map(brief),
      callee: (await request(resumed, "list-calls", {})).calls.map(brief),
    };
    const hungUp = await request(aCalls, "call-hangup", { callId: caller.callId, reason: "HANGUP" });
    assertIceSent(caller, callee);
    report.hangup = brief(hungUp.call);
    report.endedOnCallee = brief((await waitFor(resumed, "call-ended", ACK_MS, (p) => p.call.id === caller.callId)).payload.call);
    report.caller = await caller.peer.summary();
    report.callee = await callee.peer.summary();
    report.messages = await callMessages(aChat, invited.call.roomId, caller.callId);
  } finally {
    caller.peer?.close();
    callee.peer?.close();
    for (const socket of [aCalls, bCalls, aChat, resumed]) socket?.close();
  }
  return report;
}

// --- main -----------------------------------------------------------------------------

if (process.argv.includes("--ringing-caller")) {
  await ringingCaller();
} else {
  const plan = await readPlan();
  const report = {};
  const scenarios = {
    "two-devices": (users) => answeredCall(plan, users, { relay: false }),
    relay: (users) => answeredCall(plan, users, { relay: true }),
    tampered: (users) => tamperedCall(plan, users),
    "caller-killed": (users) => callerKilled(plan, users),
    "edge-killed": (users) => edgeKilled(plan, users),
  };
  for (const name of plan.scenarios) {
    const started = Date.now();
    try {
      report[name] = await scenarios[name](plan.users[name]);
      report[name].tookMs = Date.now() - started;
    } catch (error) {
      report.failure = `${name}: ${error.stack ?? error.message}`;
      break;
    }
  }
  process.stdout.write(JSON.stringify(report));
  process.exit(0);
}
