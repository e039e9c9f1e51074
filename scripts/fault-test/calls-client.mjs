// The fault test's call clients: pairs of friends (users of their own, not the chat load's)
// holding calls through every fault run.sh injects. Signaling only, with the official
// socket.io-client: no WebRTC and no media (the SDP is a placeholder, `call-connected` is the
// client's own report), so every byte stays on loopback.
//
// - Kept calls: FAULT_CALL_PAIRS pairs place a call, accept it and report `call-connected`
//   (ACTIVE). On every reconnect of a party's /calls socket (stable deviceId) the party sends
//   `call-resume` for its call, retried while the stack recovers; each resume is recorded.
// - Ring calls: on SIGUSR1 (run.sh sends it shortly before each fault) a pair of its own
//   places a fresh call; it must ring through (the callee accepts, it becomes ACTIVE, the
//   caller hangs up) or end with a reason, never be lost or stay ringing.
// - On SIGUSR2 the clients wait until a device wrongly counted gone would have lost its call
//   (calls lease + resume grace after the last disconnect), check every kept call is still
//   ACTIVE (`list-calls`), hang up, and check each call left exactly one CALL message in its DM
//   room (`get-history`), ANSWERED for every call that was ACTIVE.
// Protocol with run.sh: READY_FILE once the kept calls are ACTIVE; FAULT_FILE holds the name
// of the fault about to happen at each SIGUSR1; RESULT_FILE (JSON) at the end; exit 0 (pass),
// 1 (a check failed) or 2 (setup failed). docs/API.md "/calls" is the contract.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { bump, jwtSecret, logger, request as ackedRequest, sleep, token } from "./lib.mjs";

const setting = (name, fallback) => process.env[name] ?? fallback;
const EDGE_URLS = setting("FAULT_EDGE_URLS", "http://127.0.0.1:4000,http://127.0.0.1:4010").split(",");
const PAIRS = Number(setting("FAULT_CALL_PAIRS", 3));
const RING_PAIRS = Number(setting("FAULT_RING_PAIRS", 4));
const SECRET = jwtSecret();
const READY_FILE = setting("READY_FILE", "");
const RESULT_FILE = setting("RESULT_FILE", "");
const FAULT_FILE = setting("FAULT_FILE", "");
// The server's deadlines run.sh gives the stack (PARLEY_CALLS_LEASE_TTL, PARLEY_CALL_RESUME_GRACE).
const LEASE_MS = Number(setting("FAULT_CALLS_LEASE_MS", 30_000));
const GRACE_MS = Number(setting("FAULT_CALL_RESUME_GRACE_MS", 30_000));
const ACK_TIMEOUT_MS = 8000;
const RESUME_DEADLINE_MS = 20_000; // after a reconnect: a resume not through by then failed
const RING_DEADLINE_MS = 45_000; // a ring call not answered or ended by then is stuck
const LOG_DEADLINE_MS = 20_000; // for a CALL message to show up in the room
const RETRYABLE = new Set(["UNAVAILABLE", "TIMEOUT", "DISCONNECTED", "INTERNAL", "DEADLINE_EXCEEDED", "RATE_LIMITED", "MALFORMED_ACK"]);
// A placeholder: the server checks a description's size and type, not its SDP.
const SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=parley-fault\r\nt=0 0\r\n";

const started = Date.now();
const log = logger("calls  ");

let fault = "setup"; // the fault about to happen or last happened, for labels
const stats = { disconnects: {}, disconnectsByFault: {}, serverDisconnects: 0, connectErrors: {}, failedAttempts: {} };
const problems = [];
const problem = (text) => {
  problems.push(text);
  log(`PROBLEM ${text}`);
};
const resumes = []; // { party, callId, fault, ok, msSinceDisconnect, msSinceReconnect, attempts, errors, state }
const kept = []; // { id, roomId, caller, callee, ended }
const rings = []; // { fault, caller, callee, id, roomId, outcome, reason, rang, wasActive, ms }
const snapshots = []; // { after, states }
let lastDisconnectAt = 0;

class Party {
  constructor(name, url) {
    this.name = name;
    this.id = randomUUID();
    this.deviceId = `${name}-device`; // stable: the same device after every reconnect
    this.url = url;
    this.connects = 0;
    this.disconnectedAt = null;
    this.known = new Map(); // callId -> the latest call seen in an event
    this.ended = new Map(); // callId -> the call of its call-ended
    this.incoming = new Map(); // callId -> resolve, for ring calls awaited by the callee
    this.rang = new Set(); // callIds that reached this device (call-incoming or calls-state)
    this.resuming = null;
    this.resumeAgain = false;
  }

  start() {
    const options = { auth: { token: token(SECRET, this.id, this.name), deviceId: this.deviceId }, forceNew: true, reconnectionDelay: 500, reconnectionDelayMax: 2000 };
    this.friends = this.socket("/friends", options);
    this.chat = this.socket("/chat", options);
    this.calls = this.socket("/calls", options);
    this.calls.on("connect", () => {
      this.connects += 1;
      if (this.connects > 1) this.reconnected();
    });
    this.calls.on("disconnect", (reason) => {
      bump(stats.disconnects, reason);
      bump(stats.disconnectsByFault, fault);
      this.disconnectedAt ??= Date.now();
      lastDisconnectAt = Date.now();
    });
    this.calls.on("calls-state", ({ calls }) => {
      for (const call of calls ?? []) this.seen(call, true);
    });
    this.calls.on("call-incoming", ({ call }) => this.seen(call, true));
    this.calls.on("call-updated", ({ call }) => this.seen(call, false));
    this.calls.on("call-ended", ({ call }) => {
      this.seen(call, false);
      this.ended.set(call.id, call);
      const keptCall = kept.find((k) => k.id === call.id);
      if (keptCall && !keptCall.hangingUp && !keptCall.ended) {
        keptCall.ended = call;
        problem(`kept call ${call.id} (${keptCall.caller.name}->${keptCall.callee.name}) ended during "${fault}": ${call.endReason}`);
      }
    });
  }

  socket(namespace, options) {
    const socket = io(`${this.url}${namespace}`, options);
    socket.on("disconnect", (reason) => {
      if (reason === "io server disconnect") {
        stats.serverDisconnects += 1;
        setTimeout(() => socket.connect(), 300);
      }
    });
    socket.on("connect_error", (err) => {
      bump(stats.connectErrors, `${namespace} ${err.message}`);
      if (!socket.active) setTimeout(() => socket.connect(), 1000);
    });
    return socket;
  }

  /** A call from an event; `ringing`: an event that rings this device when it is the callee. */
  seen(call, ringing) {
    if (!call?.id) return;
    this.known.set(call.id, call);
    if (ringing && call.calleeId === this.id && call.state === "RINGING") {
      this.rang.add(call.id);
      this.incoming.get(call.id)?.(call);
    }
  }

  connected() {
    return [this.friends, this.chat, this.calls].every((socket) => socket.connected);
  }
}

const newParty = (name, url) => new Party(name, url);

/** An event with an ack: its data, or throws AckError (a code, TIMEOUT or DISCONNECTED). */
const request = (socket, event, payload) => ackedRequest(socket, event, payload, ACK_TIMEOUT_MS);

function waitConnected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve) => socket.once("connect", resolve));
}

/** `request`, retried on errors that pass (a stack recovering) until `deadlineMs`. */
async function retried(socket, event, payload, deadlineMs = 30_000, errors = []) {
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    await Promise.race([waitConnected(socket), sleep(Math.max(0, until - Date.now()))]);
    try {
      return await request(socket, event, payload);
    } catch (error) {
      errors.push(error.code);
      bump(stats.failedAttempts, `${event}:${error.code}`);
      if (!RETRYABLE.has(error.code) || Date.now() >= until) throw error;
      await sleep(error.retryAfterMs ?? Math.min(2000, 100 * 2 ** Math.min(attempt, 4)));
    }
  }
}

function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms);
    }),
  ]);
}

/** The parties' live calls this device is in after a reconnect: `call-resume` for each. */
Party.prototype.reconnected = function reconnected() {
  if (this.resuming) {
    this.resumeAgain = true;
    return;
  }
  this.resuming = (async () => {
    do {
      this.resumeAgain = false;
      const disconnectedAt = this.disconnectedAt ?? Date.now();
      const reconnectedAt = Date.now();
      this.disconnectedAt = null;
      const mine = [...kept, ...rings.filter((ring) => ring.answered && !ring.done)]
        .filter((call) => call.id && !call.hungUp && (call.caller === this || call.callee === this));
      await Promise.all(mine.map((call) => this.resume(call, disconnectedAt, reconnectedAt)));
    } while (this.resumeAgain);
    this.resuming = null;
  })();
};

Party.prototype.resume = async function resume(call, disconnectedAt, reconnectedAt) {
  const errors = [];
  const label = fault;
  const entry = { party: this.name, callId: call.id, kind: kept.includes(call) ? "kept" : "ring", fault: label, ok: false, attempts: 0, errors };
  try {
    const data = await retried(this.calls, "call-resume", { callId: call.id }, RESUME_DEADLINE_MS, errors);
    entry.state = data.call?.state;
    entry.ok = data.call?.state === "ACTIVE" || data.call?.state === "CONNECTING";
  } catch (error) {
    entry.error = error.code;
  }
  entry.attempts = errors.length + (entry.error ? 0 : 1);
  entry.msSinceDisconnect = Date.now() - disconnectedAt;
  entry.msSinceReconnect = Date.now() - reconnectedAt;
  entry.atS = Number(((Date.now() - started) / 1000).toFixed(1));
  // A call this client hung up meanwhile (a ring call ending) has nothing left to resume.
  entry.moot = !entry.ok && Boolean(call.hangingUp || call.done);
  resumes.push(entry);
  if (!entry.ok && !entry.moot) {
    problem(`resume of ${entry.kind} call ${call.id} by ${this.name} after "${label}" failed: ${entry.error ?? `state ${entry.state}`} (errors ${errors.join(",")})`);
  }
};

/** Friends: a asks, b accepts (calls are friends only, docs/API.md "/calls"). */
async function befriend(a, b) {
  const { request: asked } = await retried(a.friends, "send-friend-request", { userId: b.id });
  await retried(b.friends, "accept-friend-request", { requestId: asked.id });
}

/** A call from `caller` to `callee`, answered and reported connected: its ACTIVE call. */
async function placeAndConnect(caller, callee, clientCallId) {
  const { call } = await retried(caller.calls, "call-invite", { receiverId: callee.id, media: "AUDIO", offer: { type: "offer", sdp: SDP }, clientCallId });
  if (call.state !== "RINGING") throw new Error(`invite ${caller.name}->${callee.name}: ${call.state} ${call.endReason ?? ""}`);
  await retried(callee.calls, "call-accept", { callId: call.id, answer: { type: "answer", sdp: SDP } });
  const { call: connected } = await retried(caller.calls, "call-connected", { callId: call.id });
  await retried(callee.calls, "call-connected", { callId: call.id });
  if (connected.state !== "ACTIVE") throw new Error(`call ${call.id} is ${connected.state} after call-connected`);
  return connected;
}

/** SIGUSR1: a fresh call just before a fault; it must ring through or end with a reason. */
async function ringCall(index, label) {
  const pair = ringPairs[index % ringPairs.length];
  const [caller, callee] = pair;
  const ring = { fault: label, caller, callee, id: null, roomId: null, rang: false, answered: false, wasActive: false, done: false };
  rings.push(ring);
  const begun = Date.now();
  const clientCallId = `ring-${index}-${randomUUID()}`;
  const finishedBy = Date.now() + RING_DEADLINE_MS;
  try {
    // The same clientCallId on every retry: an invite that did go through returns its call.
    const { call } = await retried(caller.calls, "call-invite", { receiverId: callee.id, media: "AUDIO", offer: { type: "offer", sdp: SDP }, clientCallId }, RING_DEADLINE_MS);
    ring.id = call.id;
    ring.roomId = call.roomId;
    if (call.state === "ENDED") {
      ring.reason = call.endReason;
      return;
    }
    // The callee answers once the call reaches its device (live or in calls-state after a
    // reconnect), or once it learns from the caller: a call the device never heard of is lost.
    const reached = callee.rang.has(call.id)
      ? Promise.resolve()
      : new Promise((resolve) => callee.incoming.set(call.id, resolve));
    const ended = () => caller.ended.get(call.id) ?? callee.ended.get(call.id);
    await Promise.race([reached, sleep(Math.max(0, finishedBy - Date.now()))]);
    ring.rang = callee.rang.has(call.id);
    if (!ring.rang) {
      if (!ended()) problem(`ring call ${call.id} before "${label}" never reached the callee and did not end`);
      ring.reason = ended()?.endReason;
      return;
    }
    try {
      await retried(callee.calls, "call-accept", { callId: call.id, answer: { type: "answer", sdp: SDP } }, Math.max(1, finishedBy - Date.now()));
      ring.answered = true;
      await retried(caller.calls, "call-connected", { callId: call.id }, Math.max(1, finishedBy - Date.now()));
      const { call: active } = await retried(callee.calls, "call-connected", { callId: call.id }, Math.max(1, finishedBy - Date.now()));
      ring.wasActive = active.state === "ACTIVE";
      await sleep(2000);
      ring.hangingUp = true;
      ring.hangupAtS = Number(((Date.now() - started) / 1000).toFixed(1));
      const { call: over } = await retried(caller.calls, "call-hangup", { callId: call.id }, Math.max(1, finishedBy - Date.now()));
      ring.reason = over.endReason;
    } catch (error) {
      // FAILED_PRECONDITION and the like: the call ended meanwhile; it must say why.
      await sleep(500);
      const over = ended() ?? (await listed(caller, call.id));
      if (over?.state === "ENDED" && over.endReason) ring.reason = over.endReason;
      else problem(`ring call ${call.id} before "${label}": ${error.code ?? error.message}, and it did not end (${over?.state ?? "not listed"})`);
    }
  } catch (error) {
    problem(`ring call ${ring.caller.name}->${ring.callee.name} before "${label}": invite failed: ${error.code ?? error.message}`);
  } finally {
    ring.ms = Date.now() - begun;
    ring.done = true;
    callee.incoming.delete(ring.id);
    log(`ring call before "${label}": ${ring.id ? (ring.rang ? "rang through" : "did not ring") : "no call"}${ring.wasActive ? ", ACTIVE" : ""}, ended ${ring.reason ?? "?"} after ${(ring.ms / 1000).toFixed(1)} s`);
  }
}

/** The call `callId` as `party`'s list-calls shows it (undefined: not live). */
async function listed(party, callId) {
  const { calls } = await retried(party.calls, "list-calls", {});
  return calls.find((call) => call.id === callId);
}

async function snapshot(after) {
  const states = {};
  for (const call of kept) {
    try {
      const seen = await listed(call.caller, call.id);
      bump(states, seen?.state ?? "NOT_LISTED");
    } catch (error) {
      bump(states, `list-calls:${error.code}`);
    }
  }
  snapshots.push({ after, states });
  log(`kept calls after "${after}": ${JSON.stringify(states)}`);
}

/** Every CALL message of `roomId`, read by `reader`, polled until `expected` call ids show. */
async function callMessages(reader, roomId, expected) {
  const until = Date.now() + LOG_DEADLINE_MS;
  for (;;) {
    const { messages } = await retried(reader.chat, "get-history", { roomId, limit: 100 });
    const logged = messages.filter((message) => message.messageType === "CALL");
    const ids = new Set(logged.map((message) => message.call?.callId));
    if (expected.every((id) => ids.has(id)) || Date.now() >= until) return logged;
    await sleep(500);
  }
}

let keptPairs = [];
let ringPairs = [];

async function setUp() {
  const url = (k) => EDGE_URLS[k % EDGE_URLS.length];
  // Pair p: caller and callee on different edges, every third pair both on one.
  for (let p = 0; p < PAIRS; p++) {
    const edge = p % 2;
    keptPairs.push([newParty(`call${p}a`, url(edge)), newParty(`call${p}b`, url(p % 3 === 2 ? edge : edge + 1))]);
  }
  for (let r = 0; r < RING_PAIRS; r++) ringPairs.push([newParty(`ring${r}a`, url(r)), newParty(`ring${r}b`, url(r + 1))]);
  const parties = [...keptPairs, ...ringPairs].flat();
  for (const party of parties) party.start();
  await within(30_000, "connecting every party", Promise.all(parties.map((party) => Promise.all([party.friends, party.chat, party.calls].map(waitConnected)))));
  await within(30_000, "befriending", Promise.all([...keptPairs, ...ringPairs].map(([a, b]) => befriend(a, b))));
  await within(60_000, "placing the kept calls", Promise.all(keptPairs.map(async ([caller, callee], p) => {
    const call = await placeAndConnect(caller, callee, `kept-${p}-${randomUUID()}`);
    kept.push({ id: call.id, roomId: call.roomId, caller, callee, ended: null });
  })));
  log(`${kept.length} kept calls ACTIVE over ${EDGE_URLS.join(" and ")}; ${ringPairs.length} pairs for ring calls`);
}

async function finish() {
  const ringsDone = rings.map(async (ring) => {
    while (!ring.done) await sleep(200);
  });
  await within(RING_DEADLINE_MS + 10_000, "ring calls", Promise.all(ringsDone)).catch((error) => problem(error.message));
  // A device wrongly counted gone loses its call a lease plus a grace after its disconnect.
  const quietUntil = lastDisconnectAt + LEASE_MS + GRACE_MS + 2000;
  if (Date.now() < quietUntil) {
    log(`waiting ${((quietUntil - Date.now()) / 1000).toFixed(0)} s: calls lease + resume grace after the last disconnect`);
    await sleep(quietUntil - Date.now());
  }
  for (const party of [...keptPairs, ...ringPairs].flat()) while (party.resuming) await sleep(200);
  await snapshot(fault); // after the last fault
  // Still ACTIVE for both parties, then hung up.
  for (const call of kept) {
    for (const party of [call.caller, call.callee]) {
      const seen = await listed(party, call.id).catch(() => undefined);
      if (seen?.state !== "ACTIVE") problem(`kept call ${call.id}: ${party.name}'s list-calls shows ${seen?.state ?? "nothing"}, not ACTIVE`);
    }
    call.hangingUp = true;
    try {
      const { call: over } = await retried(call.caller.calls, "call-hangup", { callId: call.id });
      call.hungUp = over;
      if (over.state !== "ENDED" || over.endReason !== "HANGUP") problem(`kept call ${call.id} hung up: ${over.state} ${over.endReason}`);
    } catch (error) {
      problem(`kept call ${call.id}: call-hangup failed: ${error.code}`);
    }
  }
  // Exactly one CALL message per call in each DM room; ANSWERED for every call that was ACTIVE.
  const byRoom = new Map();
  for (const call of kept) byRoom.set(call.roomId, { reader: call.caller, calls: [...(byRoom.get(call.roomId)?.calls ?? []), { id: call.id, answered: true }] });
  for (const ring of rings.filter((ring) => ring.roomId)) {
    byRoom.set(ring.roomId, { reader: ring.caller, calls: [...(byRoom.get(ring.roomId)?.calls ?? []), { id: ring.id, answered: ring.wasActive }] });
  }
  await sleep(2000); // a doubled message would be written by a later sweep: give it a moment
  let logs = 0;
  for (const [roomId, { reader, calls }] of byRoom) {
    const logged = await callMessages(reader, roomId, calls.map((call) => call.id)).catch((error) => {
      problem(`get-history of room ${roomId}: ${error.code ?? error.message}`);
      return [];
    });
    for (const { id, answered } of calls) {
      const mine = logged.filter((message) => message.call?.callId === id);
      logs += mine.length;
      if (mine.length !== 1) problem(`call ${id}: ${mine.length} CALL messages in room ${roomId}, not 1`);
      if (answered && mine.length && mine[0].call.outcome !== "ANSWERED") problem(`call ${id}: CALL message outcome ${mine[0].call.outcome}, not ANSWERED`);
    }
    const strangers = logged.filter((message) => !calls.some((call) => call.id === message.call?.callId));
    if (strangers.length) problem(`room ${roomId}: ${strangers.length} CALL message(s) of calls never placed: ${strangers.map((m) => m.call?.callId).join(",")}`);
  }
  return summary(logs);
}

function summary(logs) {
  const ok = resumes.filter((entry) => entry.ok);
  const failed = resumes.filter((entry) => !entry.ok && !entry.moot);
  const ms = (values) => {
    if (!values.length) return "-";
    const sorted = [...values].sort((a, b) => a - b);
    return `min ${sorted[0]} / median ${sorted[Math.floor(sorted.length / 2)]} / max ${sorted.at(-1)} ms`;
  };
  const byFault = {};
  for (const entry of resumes) {
    const slot = (byFault[entry.fault] ??= { resumes: 0, ok: 0, retried: 0, sinceDisconnect: [], sinceReconnect: [] });
    slot.resumes += 1;
    if (entry.ok) slot.ok += 1;
    if (entry.moot) slot.moot = (slot.moot ?? 0) + 1;
    if (entry.attempts > 1) slot.retried += 1;
    slot.sinceDisconnect.push(entry.msSinceDisconnect);
    slot.sinceReconnect.push(entry.msSinceReconnect);
  }
  const result = {
    pass: problems.length === 0,
    keptCalls: kept.length,
    keptEnded: kept.filter((call) => call.ended).length,
    resumes: resumes.length,
    resumesOk: ok.length,
    resumesFailed: failed.length,
    resumesMoot: resumes.length - ok.length - failed.length,
    ringCalls: rings.map((ring) => ({ fault: ring.fault, id: ring.id, rang: ring.rang, active: ring.wasActive, reason: ring.reason, ms: ring.ms, hangupAtS: ring.hangupAtS })),
    callMessages: logs,
    snapshots,
    byFault,
    ...stats,
    problems,
    resumeLog: resumes,
  };
  console.log("");
  console.log("---- calls fault test summary ----");
  console.log(`kept      ${kept.length} calls; ended during the faults: ${result.keptEnded}`);
  console.log(`resumes   ${resumes.length}, through ${ok.length}, failed ${result.resumesFailed} (of calls hung up meanwhile: ${result.resumesMoot}); since the disconnect ${ms(ok.map((e) => e.msSinceDisconnect))}; since the reconnect ${ms(ok.map((e) => e.msSinceReconnect))}`);
  for (const [label, slot] of Object.entries(byFault)) {
    console.log(`          "${label}": ${slot.ok}/${slot.resumes} through${slot.moot ? ` (${slot.moot} of a call hung up meanwhile)` : ""}, ${slot.retried} retried; since the disconnect ${ms(slot.sinceDisconnect)}`);
  }
  for (const snap of snapshots) console.log(`states    kept calls after "${snap.after}": ${JSON.stringify(snap.states)}`);
  for (const ring of result.ringCalls) console.log(`ring      before "${ring.fault}": ${ring.rang ? "rang through" : "did not ring"}, ${ring.active ? "ACTIVE, " : ""}ended ${ring.reason ?? "?"} (${((ring.ms ?? 0) / 1000).toFixed(1)} s)`);
  console.log(`messages  ${logs} CALL messages for ${kept.length + rings.filter((ring) => ring.id).length} calls`);
  console.log(`sockets   /calls disconnects ${JSON.stringify(stats.disconnects)}, by fault ${JSON.stringify(stats.disconnectsByFault)}; server-initiated ${stats.serverDisconnects}; failed attempts ${JSON.stringify(stats.failedAttempts)}`);
  for (const text of problems.slice(0, 30)) console.log(`  ! ${text}`);
  console.log(`CALLS ${result.pass ? "PASS" : "FAIL"}: kept=${kept.length} kept-ended=${result.keptEnded} resumes=${resumes.length} resume-failures=${result.resumesFailed} rings=${rings.length} call-messages=${logs} problems=${problems.length}`);
  if (RESULT_FILE) writeFileSync(RESULT_FILE, JSON.stringify(result, null, 2));
  return result.pass;
}

async function main() {
  let stop;
  const stopped = new Promise((resolve) => (stop = resolve));
  process.on("SIGUSR2", () => stop());
  let ringIndex = 0;
  process.on("SIGUSR1", () => {
    const previous = fault;
    try {
      fault = FAULT_FILE ? readFileSync(FAULT_FILE, "utf8").trim() : `fault ${ringIndex + 1}`;
    } catch {
      fault = `fault ${ringIndex + 1}`;
    }
    snapshot(previous).catch(() => {});
    ringCall(ringIndex++, fault);
  });
  try {
    await setUp();
  } catch (error) {
    log(`setup failed: ${error.code ?? ""} ${error.message}`);
    process.exit(2);
  }
  fault = "before the faults";
  if (READY_FILE) writeFileSync(READY_FILE, "ready\n");
  await stopped;
  const pass = await finish();
  for (const party of [...keptPairs, ...ringPairs].flat()) for (const socket of [party.friends, party.chat, party.calls]) socket.disconnect();
  process.exit(pass ? 0 : 1);
}

main();
