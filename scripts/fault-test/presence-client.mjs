// The fault test's presence clients: FAULT_PRESENCE_USERS users of their own, each with one
// official socket.io-client socket on /status (edges alternating) and one on /friends, each
// a friend of the next two (a ring), sending `heartbeat` and `get-friends-status` every few
// seconds while run.sh kills processes.
//
// What must hold (docs/API.md "/status"): a user is announced OFFLINE only when they went
// (their /status socket was down within the last JUSTIFIED_MS, or is down now). Any other
// OFFLINE, a false one, is counted by the fault during which it was heard; one during a fault
// named in FAULT_NO_FALSE_OFFLINE_FAULTS fails the run. A `get-friends-status` listing a
// connected friend as OFFLINE is counted as a false read (reported, not failed: a replica
// that just took a shard over reads users not re-registered yet from what is stored).
// Heartbeat failures and /status reconnects are counted per fault too.
//
// Protocol with run.sh: READY_FILE once everyone is connected and befriended; FAULT_FILE holds
// the fault under way (read every 200 ms); SIGUSR2 ends it: the summary is printed, RESULT_FILE
// (JSON) written, exit 0 (pass), 1 (a check failed) or 2 (setup failed).
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { bump, jwtSecret, logger, request as ackedRequest, sleep, token } from "./lib.mjs";

const setting = (name, fallback) => process.env[name] ?? fallback;
const EDGE_URLS = setting("FAULT_EDGE_URLS", "http://127.0.0.1:4000,http://127.0.0.1:4010").split(",");
const USERS = Number(setting("FAULT_PRESENCE_USERS", 12));
const SECRET = jwtSecret();
const READY_FILE = setting("READY_FILE", "");
const RESULT_FILE = setting("RESULT_FILE", "");
const FAULT_FILE = setting("FAULT_FILE", "");
const STRICT_FAULTS = setting("FAULT_NO_FALSE_OFFLINE_FAULTS", "presence").split(/[\s,]+/).filter(Boolean);
const ACK_TIMEOUT_MS = 8000;
const EVERY_MS = 5000; // heartbeat and get-friends-status, per user
// An OFFLINE is justified when the user's socket went down this recently (the server's grace
// period is 5 s; a reconnected user has a new session at once).
const JUSTIFIED_MS = 15_000;

const log = logger("presence");

let fault = "warmup";
const readFault = () => {
  if (!FAULT_FILE) return;
  try {
    const name = readFileSync(FAULT_FILE, "utf8").trim();
    if (name) fault = name;
  } catch {
    // not written yet: still the warm-up
  }
};
const byFault = {};
const slot = () => (byFault[fault] ??= { falseOffline: 0, falseReads: 0, heartbeatFailures: {}, reconnects: 0, offlineHeard: 0 });
const falseOffline = [];

const request = (socket, event, payload) => ackedRequest(socket, event, payload, ACK_TIMEOUT_MS);

/** `request`, retried while the stack recovers, for up to 30 s. */
async function retried(socket, event, payload) {
  const until = Date.now() + 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(socket, event, payload);
    } catch (error) {
      if (Date.now() >= until) throw error;
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)));
    }
  }
}

const users = [];
const byId = new Map();

class User {
  constructor(index) {
    this.index = index;
    this.name = `presence${String(index).padStart(2, "0")}`;
    this.id = randomUUID();
    this.url = EDGE_URLS[index % EDGE_URLS.length];
    const options = { auth: { token: token(SECRET, this.id, this.name) }, forceNew: true, reconnectionDelay: 500, reconnectionDelayMax: 2000 };
    this.friends = io(`${this.url}/friends`, options);
    this.status = io(`${this.url}/status`, options);
    this.lastDown = null; // when the /status socket last went down
    this.connects = 0;
    this.status.on("connect", () => {
      this.connects += 1;
      if (this.connects > 1) slot().reconnects += 1;
    });
    this.status.on("disconnect", () => {
      this.lastDown = Date.now();
    });
    this.status.on("friend-status-changed", (change) => this.heard(change));
  }

  /** Whether this user's socket has been up for all of the last JUSTIFIED_MS. */
  steadilyUp() {
    return this.status.connected && (this.lastDown === null || Date.now() - this.lastDown > JUSTIFIED_MS);
  }

  heard({ userId, status }) {
    if (status !== "OFFLINE") return;
    slot().offlineHeard += 1;
    const friend = byId.get(userId);
    if (friend?.steadilyUp()) {
      slot().falseOffline += 1;
      falseOffline.push({ fault, at: new Date().toISOString(), to: this.name, about: friend.name });
      log(`false OFFLINE: ${this.name} heard ${friend.name} go OFFLINE during "${fault}"`);
    }
  }

  /** A heartbeat and a look at the friends, every EVERY_MS, until stopped. */
  async beat(stopped) {
    await sleep(Math.random() * EVERY_MS);
    while (!stopped()) {
      if (this.status.connected) {
        try {
          await request(this.status, "heartbeat", {});
        } catch (error) {
          bump(slot().heartbeatFailures, error.code);
        }
        try {
          const listed = await request(this.status, "get-friends-status", {});
          for (const friend of listed) {
            if (friend.status === "OFFLINE" && byId.get(friend.userId)?.steadilyUp()) slot().falseReads += 1;
          }
        } catch (error) {
          bump(slot().heartbeatFailures, `get-friends-status:${error.code}`);
        }
      }
      await sleep(EVERY_MS);
    }
  }
}

const connected = (socket) => (socket.connected ? Promise.resolve() : new Promise((resolve) => socket.once("connect", resolve)));

async function setUp() {
  for (let index = 0; index < USERS; index++) {
    const user = new User(index);
    users.push(user);
    byId.set(user.id, user);
  }
  await Promise.all(users.flatMap((user) => [connected(user.friends), connected(user.status)]));
  // Each with the next two: everyone has four friends.
  for (const user of users) {
    for (const step of [1, 2]) {
      const friend = users[(user.index + step) % users.length];
      const { request: asked } = await retried(user.friends, "send-friend-request", { userId: friend.id });
      await retried(friend.friends, "accept-friend-request", { requestId: asked.id });
    }
  }
}

function finish() {
  const strict = Object.entries(byFault).filter(([name, counts]) => STRICT_FAULTS.includes(name) && counts.falseOffline > 0);
  const total = Object.values(byFault).reduce((sum, counts) => sum + counts.falseOffline, 0);
  const pass = strict.length === 0;
  const result = { pass, users: USERS, byFault, falseOffline };
  console.log("");
  console.log("---- presence fault test summary ----");
  for (const [name, counts] of Object.entries(byFault)) {
    console.log(`"${name}": OFFLINE heard ${counts.offlineHeard}, false ${counts.falseOffline}; false reads ${counts.falseReads}; /status reconnects ${counts.reconnects}; failures ${JSON.stringify(counts.heartbeatFailures)}`);
  }
  for (const entry of falseOffline.slice(0, 20)) console.log(`  ! ${entry.to} heard ${entry.about} go OFFLINE during "${entry.fault}" at ${entry.at}`);
  console.log(`PRESENCE ${pass ? "PASS" : "FAIL"}: users=${USERS} false-offline=${total} (failing for: ${STRICT_FAULTS.join(" ") || "none"})`);
  if (RESULT_FILE) writeFileSync(RESULT_FILE, JSON.stringify(result, null, 2));
  return pass;
}

async function main() {
  let stop;
  const stoppedSignal = new Promise((resolve) => (stop = resolve));
  let stopped = false;
  process.on("SIGUSR2", () => {
    stopped = true;
    stop();
  });
  try {
    await setUp();
  } catch (error) {
    log(`setup failed: ${error.code ?? ""} ${error.message}`);
    process.exit(2);
  }
  const poll = setInterval(readFault, 200);
  const beats = users.map((user) => user.beat(() => stopped));
  log(`${USERS} users on /status, each with four friends`);
  if (READY_FILE) writeFileSync(READY_FILE, "ready\n");
  await stoppedSignal;
  clearInterval(poll);
  await Promise.all(beats);
  const pass = finish();
  for (const user of users) for (const socket of [user.friends, user.status]) socket.disconnect();
  process.exit(pass ? 0 : 1);
}

main();
