// Call signaling under load, with official socket.io-client sockets: how long each step of a
// call takes through the edge and calls-svc, at an ordinary rate of call setups. No WebRTC:
// a fixed small fake SDP and fake candidates, signaling only, on loopback. bench/run.sh calls
// calls it; see docs/BENCHMARKS.md "Calls".
//
//   node calls.mjs --server http://127.0.0.1:3400 --secret S [--pairs 100] [--rates 5,20]
//        [--warmup 5] [--measure 30] [--ice 3] [--xid-command CMD]
//
// Users 2i (caller) and 2i+1 (callee) are friends (bench/run.sh seeds them). Each caller has
// one `/calls` socket, each callee two (deviceIds `a` and `b`) and a `/chat` socket. At each
// rate, call setups start paced, open loop (one every 1/rate s, on the next pair that has no
// call running; a pair still busy counts as `skipped`), each one the whole call:
//   call-invite -> call-incoming on a and b -> a: call-accept -> caller: call-answered,
//   b: call-dismissed -> `ice` call-ice each way (one candidate each) -> caller:
//   call-connected -> caller: call-hangup -> call-ended on the caller, a and b -> the CALL
//   message in the callee's /chat.
// One JSON line per rate on stdout and in --out: p50/p99 of each step, errors; with
// --xid-command (a shell command printing Postgres' next transaction id), also the write
// transactions per call (all of them, over every call placed at that rate, warmup included;
// the background sweeps and leases add about one a second).
import { createHmac } from "node:crypto";
import { execSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { io } from "socket.io-client";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, word, i, all) => {
    if (word.startsWith("--")) pairs.push([word.slice(2), all[i + 1]?.startsWith("--") ? "1" : all[i + 1] ?? "1"]);
    return pairs;
  }, []),
);
const SERVER = args.server ?? "http://127.0.0.1:3000";
const SECRET = args.secret ?? process.env.PARLEY_JWT_SECRET ?? "";
const PAIRS = Number(args.pairs ?? 100);
const RATES = String(args.rates ?? "5,20").split(",").map(Number);
const WARMUP_MS = Number(args.warmup ?? 5) * 1000;
const MEASURE_MS = Number(args.measure ?? 30) * 1000;
const ICE = Number(args.ice ?? 3);
const XID_COMMAND = args["xid-command"];
const nextXid = () => (XID_COMMAND ? Number(execSync(XID_COMMAND, { encoding: "utf8" }).trim()) : null);
// Any one step not done in this long fails the call.
const STEP_TIMEOUT_MS = 10_000;

if (!SECRET) {
  console.error("--secret or PARLEY_JWT_SECRET is required");
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
/** User `n`: the same ids as the other generators (bench/loadgen/src/users.rs). */
const userId = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

function token(n) {
  const issued = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { sub: userId(n), name: `u${n}`, iat: issued, exp: issued + 86_400 };
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

function connect(namespace, n, deviceId) {
  const auth = deviceId ? { token: token(n), deviceId } : { token: token(n) };
  const socket = io(`${SERVER}${namespace}`, { auth, transports: ["websocket"], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(new Error(`user ${n} ${namespace}: ${error.message}`)));
  });
}

function request(socket, event, payload) {
  return new Promise((resolve, reject) =>
    socket.timeout(STEP_TIMEOUT_MS).emit(event, payload, (timeout, reply) => {
      if (timeout) reject(new Error(`${event}: no answer`));
      else if (reply.ok) resolve(reply.data);
      else reject(new Error(`${event}: ${reply.error.code}`));
    }),
  );
}

const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2));
};

// A fixed small offer and answer: the server only carries them (1 byte to 32 KiB).
const sdp = (type) => ({
  type,
  sdp: "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n" +
    `a=setup:${type === "offer" ? "actpass" : "active"}\r\na=ice-ufrag:bench\r\na=ice-pwd:benchbenchbenchbenchbench\r\n`,
});
const OFFER = sdp("offer");
const ANSWER = sdp("answer");
// The candidate's port carries its number, so that the receiving side knows which one came.
const candidate = (k) => ({ candidate: `candidate:1 1 udp 2122260223 127.0.0.1 ${40000 + k} typ host`, sdpMid: "0", sdpMLineIndex: 0 });
const candidateNumber = (c) => Number(/ (\d+) typ/.exec(c.candidate)?.[1]) - 40000;

/**
 * Waits for `event` on `socket` satisfying `match`; resolves to the arrival time. Listeners
 * are set before the step that causes the event, so nothing is missed.
 */
function arrival(socket, event, match) {
  let listener;
  let timer;
  const promise = new Promise((resolve, reject) => {
    listener = (payload) => {
      if (!match(payload)) return;
      const at = now();
      socket.off(event, listener);
      clearTimeout(timer);
      resolve(at);
    };
    socket.on(event, listener);
    timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`${event}: never came`));
    }, STEP_TIMEOUT_MS);
  });
  promise.cancel = () => {
    socket.off(event, listener);
    clearTimeout(timer);
  };
  // A step that fails while an earlier one is awaited is counted there, not left unhandled.
  promise.catch(() => {});
  return promise;
}

// --- setup ---
let setupRetries = 0;
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  const caller = 2 * i;
  const callee = 2 * i + 1;
  pairs.push({ caller, callee, busy: false });
}
const batches = (items, size) => Array.from({ length: Math.ceil(items.length / size) }, (_, k) => items.slice(k * size, (k + 1) * size));
for (const batch of batches(pairs, 50)) {
  await Promise.all(batch.map(async (pair) => {
    [pair.callerCalls, pair.callerChat] = await Promise.all([
      connect("/calls", pair.caller, "caller"), connect("/chat", pair.caller),
    ]);
    // The pair's DM room exists before the callee's /chat socket connects, so that socket is
    // in it and gets the CALL message as `new-message`.
    // Retried (the same clientMsgId: one message) when unanswered: seen once in a few runs
    // right after startup, an ack that never came; counted in the results as setupRetries.
    for (let attempt = 0; ; attempt++) {
      try {
        await request(pair.callerChat, "send-message", { receiverId: userId(pair.callee), content: "hi", clientMsgId: `hi-${pair.caller}` });
        break;
      } catch (error) {
        if (attempt >= 2) throw error;
        setupRetries++;
      }
    }
    [pair.deviceA, pair.deviceB, pair.calleeChat] = await Promise.all([
      connect("/calls", pair.callee, "a"), connect("/calls", pair.callee, "b"), connect("/chat", pair.callee),
    ]);
  }));
}

// Numbers the calls of the whole run: each call's clientCallId is new (the same one again
// would answer the earlier call).
let callsPlaced = 0;

/** One whole call on `pair`; its step latencies in ms. */
async function placeCall(pair) {
  const n = callsPlaced++;
  const { callerCalls, deviceA, deviceB, calleeChat } = pair;
  const callerId = userId(pair.caller);
  const forCaller = ({ call }) => call?.caller?.userId === callerId;
  const t = {};
  const incomingA = arrival(deviceA, "call-incoming", forCaller);
  const incomingB = arrival(deviceB, "call-incoming", forCaller);
  const pending = [incomingA, incomingB];
  try {
    t.invite = now();
    const { call } = await request(callerCalls, "call-invite", {
      receiverId: userId(pair.callee), media: "AUDIO", offer: OFFER, clientCallId: `bench-${pair.caller}-${n}`,
    });
    t.inviteAck = now();
    if (call.state !== "RINGING") throw new Error(`call-invite: ${call.state} ${call.endReason ?? ""}`);
    const callId = call.id;
    const ofCall = (payload) => (payload.callId ?? payload.call?.id) === callId;
    t.incomingA = await incomingA;
    t.incomingB = await incomingB;

    const answered = arrival(callerCalls, "call-answered", ofCall);
    const dismissed = arrival(deviceB, "call-dismissed", ofCall);
    pending.push(answered, dismissed);
    t.accept = now();
    await request(deviceA, "call-accept", { callId, answer: ANSWER });
    t.acceptAck = now();
    t.answered = await answered;
    t.dismissed = await dismissed;

    // Candidates each way, one per call-ice, all sent at once: each one's way to the peer.
    const ice = [];
    const relay = async (from, to) => {
      const sent = new Map();
      const got = new Map();
      const all = new Promise((resolve, reject) => {
        const listener = (payload) => {
          if (payload.callId !== callId) return;
          for (const c of payload.candidates ?? []) got.set(candidateNumber(c), now());
          if (got.size >= ICE) {
            to.off("call-ice", listener);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          to.off("call-ice", listener);
          reject(new Error("call-ice: not all relayed"));
        }, STEP_TIMEOUT_MS);
        to.on("call-ice", listener);
      });
      all.catch(() => {});
      await Promise.all(Array.from({ length: ICE }, (_, k) => {
        sent.set(k, now());
        return request(from, "call-ice", { callId, candidates: [candidate(k)] });
      }));
      await all;
      for (const [k, at] of sent) ice.push(got.get(k) - at);
    };
    await Promise.all([relay(callerCalls, deviceA), relay(deviceA, callerCalls)]);

    t.connected = now();
    await request(callerCalls, "call-connected", { callId });
    t.connectedAck = now();

    const endedCaller = arrival(callerCalls, "call-ended", ofCall);
    const endedA = arrival(deviceA, "call-ended", ofCall);
    const endedB = arrival(deviceB, "call-ended", ofCall);
    const message = arrival(calleeChat, "new-message", (m) => m.messageType === "CALL" && m.call?.callId === callId);
    pending.push(endedCaller, endedA, endedB, message);
    t.hangup = now();
    await request(callerCalls, "call-hangup", { callId });
    t.hangupAck = now();
    const [ec, ea, eb, msg] = await Promise.all([endedCaller, endedA, endedB, message]);
    return {
      inviteAck: t.inviteAck - t.invite,
      incomingA: t.incomingA - t.invite,
      incomingB: t.incomingB - t.invite,
      acceptAck: t.acceptAck - t.accept,
      answered: t.answered - t.accept,
      dismissed: t.dismissed - t.accept,
      ice,
      connectedAck: t.connectedAck - t.connected,
      hangupAck: t.hangupAck - t.hangup,
      endedCaller: ec - t.hangup,
      endedA: ea - t.hangup,
      endedB: eb - t.hangup,
      callMessage: msg - t.hangup,
      setup: t.answered - t.invite,
    };
  } finally {
    for (const p of pending) {
      p.cancel();
      p.catch(() => {});
    }
  }
}

const STEPS = ["inviteAck", "incomingA", "incomingB", "acceptAck", "answered", "dismissed", "ice", "connectedAck", "hangupAck", "endedCaller", "endedA", "endedB", "callMessage", "setup"];

async function step(rate) {
  const samples = Object.fromEntries(STEPS.map((s) => [s, []]));
  const errors = {};
  let started = 0;
  let done = 0;
  let skipped = 0;
  const running = [];
  let placed = 0;
  const xidBefore = nextXid();
  const begin = now();
  const measureFrom = begin + WARMUP_MS;
  const end = measureFrom + MEASURE_MS;
  let next = 0;
  for (let k = 0; ; k++) {
    // Open loop: the k-th setup starts at begin + k/rate, however the previous ones fare.
    const at = begin + (k * 1000) / rate;
    if (at >= end) break;
    const wait = at - now();
    if (wait > 0) await sleep(wait);
    const measured = at >= measureFrom;
    let pair;
    for (let tries = 0; tries < pairs.length && !pair; tries++) {
      const candidatePair = pairs[next];
      next = (next + 1) % pairs.length;
      if (!candidatePair.busy) pair = candidatePair;
    }
    if (!pair) {
      if (measured) skipped++;
      continue;
    }
    pair.busy = true;
    placed++;
    if (measured) started++;
    running.push(placeCall(pair).then(
      (latency) => {
        if (!measured) return;
        done++;
        for (const s of STEPS) {
          if (s === "ice") samples.ice.push(...latency.ice);
          else samples[s].push(latency[s]);
        }
      },
      (error) => {
        if (!measured) return;
        const key = error.message;
        errors[key] = (errors[key] ?? 0) + 1;
      },
    ).finally(() => (pair.busy = false)));
  }
  await Promise.all(running);
  const xidAfter = nextXid();
  const seconds = MEASURE_MS / 1000;
  const latency = Object.fromEntries(STEPS.map((s) => [s, { p50: percentile(samples[s], 50), p99: percentile(samples[s], 99), max: percentile(samples[s], 100) }]));
  return {
    scenario: "calls", server: "parley", at: new Date().toISOString(),
    rate, pairs: PAIRS, icePerSide: ICE, seconds, started, completed: done, skipped,
    setupsPerSecond: Number((done / seconds).toFixed(2)),
    errors, setupRetries, latencyMs: latency,
    writeTransactionsPerCall: xidBefore === null ? null : Number(((xidAfter - xidBefore) / Math.max(1, placed)).toFixed(1)),
  };
}

for (const rate of RATES) {
  const result = step(rate);
  const line = JSON.stringify(await result);
  console.log(line);
  if (args.out) appendFileSync(args.out, line + "\n");
  // Let the last calls' CALL messages and sweeps settle before the next rate.
  await sleep(2000);
}
for (const pair of pairs) for (const s of [pair.callerCalls, pair.callerChat, pair.deviceA, pair.deviceB, pair.calleeChat]) s?.close();
process.exit(0);
