// A load generator made of official socket.io-client sockets, so that the load looks like real
// clients (the engine.io handshake, the client's own parser and ack bookkeeping). It measures
// what a user feels: the ack of each send-message and its delivery to the other members.
// bench/run.sh calls it with the same scenarios as the lean generator; see docs/BENCHMARKS.md.
//
//   node load.mjs --server http://127.0.0.1:3400 --label parley --scenario dm \
//        [--pairs 2500 | --rooms 100 --members 10] --rates 1000,2000 [--warmup 3 --measure 10]
//   node load.mjs ... --scenario quiet --spacing 0,5,100 --count 200
//
// Scenarios: dm (pairs of users DMing each other by receiverId), group (rooms of members),
// quiet (one sender and one other member of a room, one message at a time, `spacing` ms after
// the previous one was delivered). Results: one JSON object per line on stdout and in --out.
import { createHmac } from "node:crypto";
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
const LABEL = args.label ?? "parley";
const SCENARIO = args.scenario ?? "dm";
const numbers = (text) => String(text).split(",").map(Number);
const WARMUP_MS = Number(args.warmup ?? 3) * 1000;
const MEASURE_MS = Number(args.measure ?? 10) * 1000;
const ACK_BOUND_MS = 50;
const DELIVERY_BOUND_MS = 100;
// Setup opens this many sockets at once; more would only queue in the server's accept loop.
const CONNECT_AT_ONCE = 200;

if (!SECRET) {
  console.error("--secret or PARLEY_JWT_SECRET is required");
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** User `n`: the same ids as the lean generator (bench/loadgen/src/users.rs). */
const userId = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

function token(n) {
  const issued = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { sub: userId(n), name: `u${n}`, iat: issued, exp: issued + 86_400 };
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

/** Connects user `n` to /chat over WebSocket from its own loopback address. */
function connect(n) {
  const socket = io(`${SERVER}/chat`, {
    auth: { token: token(n) },
    transports: ["websocket"],
    reconnection: false,
    // 127.0.0.2 .. 127.0.0.201, as the lean generator: no single source runs out of ports.
    localAddress: `127.0.0.${2 + (n % 200)}`,
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(new Error(`user ${n}: ${error.message}`)));
  });
}

async function connectAll(count) {
  const sockets = new Array(count);
  for (let first = 0; first < count; first += CONNECT_AT_ONCE) {
    const batch = [];
    for (let n = first; n < Math.min(count, first + CONNECT_AT_ONCE); n++) {
      batch.push(connect(n).then((socket) => (sockets[n] = socket)));
    }
    await Promise.all(batch);
  }
  return sockets;
}

/** A send-message, answered with its ack's `data` or rejected with its error code. */
function send(socket, payload) {
  return new Promise((resolve, reject) => {
    socket.timeout(30_000).emit("send-message", payload, (timeout, reply) => {
      if (timeout) reject(new Error("TIMEOUT"));
      else if (reply?.ok) resolve(reply.data);
      else reject(new Error(reply?.error?.code ?? "NO_ACK"));
    });
  });
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(samples) {
  const sorted = Float64Array.from(samples).sort();
  const round = (ms) => Math.round(ms * 100) / 100;
  return { count: sorted.length, p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)), max: round(quantile(sorted, 1)) };
}

// Tells one run's records from another's in the results file.
const STARTED_AT = Math.floor(Date.now() / 1000);

function write(record) {
  const line = JSON.stringify({ server: LABEL, scenario: SCENARIO, generator: "official-client", startedAt: STARTED_AT, ...record });
  console.log(line);
  if (args.out) appendFileSync(args.out, `${line}\n`);
}

/**
 * Who sends where: for every user, the payload fields of its sends and the event its
 * recipients get. The DM rooms or group rooms exist before the load starts, as in a chat
 * that has been running for a while.
 */
async function layout(sockets) {
  if (SCENARIO === "dm") {
    const targets = sockets.map((_, n) => ({ receiverId: userId(n ^ 1) }));
    for (let n = 0; n < sockets.length; n += 2 * CONNECT_AT_ONCE) {
      const firsts = [];
      for (let m = n; m < Math.min(sockets.length, n + 2 * CONNECT_AT_ONCE); m += 2) {
        firsts.push(send(sockets[m], { ...targets[m], content: "hello" }));
      }
      await Promise.all(firsts);
    }
    return { targets, event: "new-private-message", recipients: 1 };
  }
  const members = SCENARIO === "quiet" ? 2 : Number(args.members ?? 10);
  const rooms = SCENARIO === "quiet" ? 1 : Number(args.rooms ?? 100);
  const targets = [];
  for (let r = 0; r < rooms; r++) {
    const creator = sockets[r * members];
    const memberIds = Array.from({ length: members - 1 }, (_, i) => userId(r * members + i + 1));
    const { room } = await new Promise((resolve, reject) =>
      creator.emit("create-room", { name: `room ${r}`, isGroup: true, memberIds }, (reply) =>
        reply?.ok ? resolve(reply.data) : reject(new Error(reply?.error?.code ?? "NO_ACK")),
      ),
    );
    for (let i = 0; i < members; i++) targets.push({ chatRoomId: room.id });
  }
  return { targets, event: "new-message", recipients: members - 1 };
}

/** Delivery latencies, from the send time each message carries in its content. */
function listen(sockets, event, deliveries) {
  for (const socket of sockets) {
    socket.on(event, (message) => {
      const sentAt = Number(message?.content?.split(" ")[0]);
      if (Number.isFinite(sentAt)) deliveries.push(now() - sentAt);
    });
  }
}

/** Open loop: sends arrive as a Poisson process at `rate`, from senders in turn. */
async function step(sockets, targets, rate, deliveries, recipients) {
  const acks = [];
  let errors = 0;
  let sent = 0;
  let acked = 0;
  let measuring = false;
  const started = now();
  const measureFrom = started + WARMUP_MS;
  const measureTo = measureFrom + MEASURE_MS;
  let next = started;
  let sender = 0;
  let counted = 0;
  while (now() < measureTo) {
    const at = now();
    if (!measuring && at >= measureFrom) {
      measuring = true;
      deliveries.length = 0;
    }
    while (next <= at) {
      const n = sender;
      sender = (sender + 1) % sockets.length;
      const sentAt = now();
      const inWindow = measuring;
      if (inWindow) sent++;
      send(sockets[n], { ...targets[n], content: `${sentAt} load` })
        .then(() => {
          if (inWindow) {
            acked++;
            acks.push(now() - sentAt);
          }
        })
        .catch(() => inWindow && errors++);
      next += -Math.log(1 - Math.random()) * (1000 / rate);
    }
    await sleep(1);
    if (measuring) counted = deliveries.length;
  }
  // Deliveries of the window's last sends are still on their way: they are left uncounted,
  // as the window's first deliveries (of sends before it) were counted.
  const seconds = MEASURE_MS / 1000;
  const ack = summary(acks);
  const delivery = summary(deliveries.slice(0, counted));
  const passed = errors === 0 && acked >= rate * seconds * 0.95 && ack.p99 <= ACK_BOUND_MS && delivery.p99 <= DELIVERY_BOUND_MS;
  write({ rate, sent, acked, errors, achieved: Math.round(acked / seconds), ack, delivery, recipients, passed });
  return passed;
}

/** One message at a time: send, wait for its delivery, wait `spacing` ms, again. */
async function quiet(sockets, targets, event, spacing, count) {
  const [sender, receiver] = sockets;
  const acks = [];
  const deliveries = [];
  for (let i = 0; i < count; i++) {
    const sentAt = now();
    const delivered = new Promise((resolve) => receiver.once(event, resolve));
    const acked = send(sender, { ...targets[0], content: `${sentAt} quiet` }).then(() => acks.push(now() - sentAt));
    await delivered;
    deliveries.push(now() - sentAt);
    await acked;
    if (spacing > 0) await sleep(spacing);
  }
  write({ spacingMs: spacing, ack: summary(acks), delivery: summary(deliveries) });
}

async function main() {
  const users = SCENARIO === "dm" ? 2 * Number(args.pairs ?? 2500) : SCENARIO === "quiet" ? 2 : Number(args.rooms ?? 100) * Number(args.members ?? 10);
  const sockets = await connectAll(users);
  console.error(`connected ${users} users to ${SERVER}`);
  const { targets, event, recipients } = await layout(sockets);
  // Let every process learn the new rooms before the load starts.
  await sleep(2000);
  if (SCENARIO === "quiet") {
    for (const spacing of numbers(args.spacing ?? "0,5,100")) {
      await quiet(sockets, targets, event, spacing, Number(args.count ?? 200));
    }
  } else {
    const deliveries = [];
    listen(sockets, event, deliveries);
    // As the lean generator: the ladder stops after two failing steps in a row.
    let failedInARow = 0;
    for (const rate of numbers(args.rates ?? "1000")) {
      const passed = await step(sockets, targets, rate, deliveries, recipients);
      failedInARow = passed ? 0 : failedInARow + 1;
      if (failedInARow === 2 && !args["keep-going"]) break;
    }
  }
  for (const socket of sockets) socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error.message);
    process.exit(1);
  },
);
