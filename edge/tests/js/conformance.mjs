// Drives a running edge with the official socket.io-client (v4) and prints what it saw as one
// JSON document. The Rust test `official_client` starts the system, passes the plan on stdin
// and asserts on the result, so a failure shows in `cargo test` like any other.
//
// Plan: { url, namespaces: [..], validToken, badTokens: [{ reason, token | null }] }
import { io } from "socket.io-client";

import { TIMEOUT_MS, readPlan } from "./lib.mjs";

function open(url, namespace, token, transports) {
  return io(url + namespace, {
    auth: token === null ? {} : { token },
    transports,
    reconnection: false,
    forceNew: true,
  });
}

// Resolves with "connected" or with the connect_error message.
function handshake(socket) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve("connected");
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      resolve(`connect_error:${err.message}`);
    });
  });
}

function nextEvent(socket, name) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), TIMEOUT_MS);
    socket.once(name, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

async function validConnection(plan, namespace, transports) {
  const socket = open(plan.url, namespace, plan.validToken, transports);
  const outcome = await handshake(socket);
  const result = { namespace, transports, outcome };
  if (outcome === "connected") {
    result.ack = await socket.timeout(TIMEOUT_MS).emitWithAck("no-such-event", {}).catch((e) => `no ack: ${e.message}`);
    const error = nextEvent(socket, "error");
    socket.emit("no-such-event", { x: 1 });
    result.errorEvent = await error;
    result.stillConnected = socket.connected;
  }
  socket.close();
  return result;
}

async function refusedConnection(plan, namespace, bad) {
  const socket = open(plan.url, namespace, bad.token, ["polling", "websocket"]);
  const outcome = await handshake(socket);
  socket.close();
  return { namespace, reason: bad.reason, outcome };
}

const plan = await readPlan();
const report = { valid: [], refused: [] };
for (const namespace of plan.namespaces) {
  report.valid.push(await validConnection(plan, namespace, ["websocket"]));
  report.valid.push(await validConnection(plan, namespace, ["polling"]));
  for (const bad of plan.badTokens) {
    report.refused.push(await refusedConnection(plan, namespace, bad));
  }
}
process.stdout.write(JSON.stringify(report));
process.exit(0);
