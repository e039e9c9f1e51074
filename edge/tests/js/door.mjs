// The door against what an official socket.io-client may try: a token that expires under an
// open socket (with and without `auth-refresh`), namespace connects churned on one
// connection, and a binary packet. Prints one JSON report for the Rust test.
//
// Plan on stdin: { url, scenario, ... } with scenario one of
//   "expiry":  { shortToken, freshToken, transports? }  connects with shortToken (expiring in
//              ~2 s); its `auth` callback hands over freshToken on reconnect
//   "refresh": { shortToken, freshToken, otherUserToken, waitMs }  refreshes at once, then waits
//   "churn":   { token, connects }  keeps /chat open and connects /friends `connects` times
//   "binary":  { token }  emits a binary attachment on /chat, then connects again
//   "deaf":    { token, waitMs }  connects /chat while chat-svc is down, and reports whether and
//              why the connection closed
import { Manager, io } from "socket.io-client";
import { call, connect, readPlan, sleep, TIMEOUT_MS } from "./lib.mjs";

const plan = await readPlan();

/** Resolves with the first of `events` on `socket`, as { event, payload }. */
const first = (socket, events, ms = TIMEOUT_MS * 2) =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ event: "timeout" }), ms);
    for (const event of events) {
      socket.once(event, (payload) => {
        clearTimeout(timer);
        resolve({ event, payload: payload instanceof Error ? payload.message : payload });
      });
    }
  });

async function expiry() {
  const tokens = [plan.shortToken, plan.freshToken];
  let handedOver = 0;
  const socket = io(plan.url + "/chat", {
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    ...(plan.transports ? { transports: plan.transports } : {}),
    auth: (cb) => cb({ token: tokens[Math.min(handedOver++, 1)] }),
  });
  await first(socket, ["connect"]);
  const errors = [];
  socket.on("error", (event) => errors.push(event));
  const disconnect = await first(socket, ["disconnect"]);
  const reconnect = await first(socket, ["connect"]);
  const ack = reconnect.event === "connect" ? await call(socket, "list-rooms", {}) : null;
  socket.close();
  return { errors, disconnect, reconnected: reconnect.event === "connect", tokensHandedOver: handedOver, ack };
}

async function refresh() {
  const socket = await connect(plan.url, "/chat", { token: plan.shortToken });
  const refreshed = await call(socket, "auth-refresh", { token: plan.freshToken });
  const otherUser = await call(socket, "auth-refresh", { token: plan.otherUserToken });
  const garbage = await call(socket, "auth-refresh", { token: "not a token" });
  const errors = [];
  socket.on("error", (event) => errors.push(event));
  const outcome = await first(socket, ["disconnect"], plan.waitMs);
  const ack = await call(socket, "list-rooms", {});
  socket.close();
  return { refreshed, otherUser, garbage, errors, outcome: outcome.event, ack };
}

async function churn() {
  const manager = new Manager(plan.url, { reconnection: false, forceNew: true });
  const anchor = manager.socket("/chat", { auth: { token: plan.token } });
  await first(anchor, ["connect"]);
  const outcomes = [];
  for (let i = 0; i < plan.connects; i++) {
    const socket = manager.socket("/friends", { auth: { token: plan.token } });
    socket.connect();
    const outcome = await first(socket, ["connect", "connect_error"]);
    outcomes.push(outcome.event === "connect" ? "connected" : outcome.payload);
    socket.disconnect();
  }
  const anchorAck = await call(anchor, "list-rooms", {});
  manager.engine.close();
  return { outcomes, anchorAck };
}

async function binary() {
  const socket = await connect(plan.url, "/chat", { token: plan.token });
  const before = await call(socket, "list-rooms", {});
  const disconnect = first(socket, ["disconnect"]);
  socket.emit("send-message", { content: "hi", attachment: Buffer.alloc(1024 * 1024, 7) });
  const outcome = await disconnect;
  socket.close();
  const again = await connect(plan.url, "/chat", { token: plan.token });
  const after = await call(again, "list-rooms", {});
  again.close();
  return { before, outcome, after };
}

async function deaf() {
  const socket = io(plan.url + "/chat", { auth: { token: plan.token }, reconnection: false, forceNew: true });
  const closed = new Promise((resolve) => {
    const timer = setTimeout(() => resolve("still open"), plan.waitMs);
    socket.io.once("close", (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
  const reason = await closed;
  const connectedAtEnd = socket.connected;
  socket.close();
  return { reason, connectedAtEnd };
}

const scenarios = { expiry, refresh, churn, binary, deaf };
const report = await scenarios[plan.scenario]();
process.stdout.write(JSON.stringify(report));
process.exit(0);
