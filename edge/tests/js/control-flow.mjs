// The test harness's control endpoint under the official socket.io-client
// (edge/tests/it/stack_control.rs): alice sends bob DMs while the edge, then chat-svc, is
// killed and started again on the same address. Both reconnect by themselves, fetching a fresh
// token from the control endpoint on every connect, as the SDK does. Prints what happened as
// one JSON document.
//
// Plan on stdin: { edgeUrl, control, users: { alice, bob: { id, token } } }
import { io } from "socket.io-client";

import { TIMEOUT_MS, readPlan, sleep } from "./lib.mjs";

const plan = await readPlan();
const report = { kills: {}, sends: [], disconnects: { alice: [], bob: [] } };

/** `name`'s /chat socket, reconnecting with a token fetched for every connect. */
function join(name) {
  const socket = io(plan.edgeUrl + "/chat", {
    auth: (cb) =>
      fetch(`${plan.control}/token?user=${name}&ttl=600`)
        .then((response) => response.text())
        .then((token) => cb({ token })),
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  socket.on("disconnect", (reason) => report.disconnects[name].push(reason));
  return socket;
}

const connected = (socket) =>
  socket.connected ? Promise.resolve() : new Promise((resolve) => socket.once("connect", resolve));

/**
 * `event`'s ack data, asked again after a failure or a lost connection until it succeeds (for
 * a send, with the same clientMsgId every time, so a retry never stores it twice); the
 * failures on the way are kept in `failures`.
 */
async function retried(socket, event, payload, failures = []) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await connected(socket);
    try {
      const ack = await socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);
      if (ack.ok) return ack.data;
      failures.push(ack.error.code);
    } catch (error) {
      failures.push(error.message);
    }
    await sleep(200);
  }
  throw new Error(`${event} never succeeded: ${failures.join(", ")}`);
}

async function send(socket, content, clientMsgId) {
  const failures = [];
  const payload = { receiverId: plan.users.bob.id, content, clientMsgId };
  const { message } = await retried(socket, "send-message", payload, failures);
  report.sends.push({ content, seq: message.seq, failures });
}

/** True once `promise` settles, false after `ms`. */
const within = (ms, promise) =>
  Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

/**
 * POSTs /kill/<name>, and records whether both sockets lost their connection: within 45 s, or
 * within 10 s for the processes in `plan.keepsConnections` (chat-svc on the NATS bus, where
 * the edge resumes its stream and closes nothing).
 */
async function kill(name, sockets) {
  // Both connected first: a socket still reconnecting from the previous kill has no
  // connection to lose (seen: bob reconnected while chat-svc was down, 0.1 s after the edge
  // came back).
  await Promise.all(sockets.map(connected));
  const lost = sockets.map((socket) => new Promise((resolve) => socket.once("disconnect", resolve)));
  const response = await fetch(`${plan.control}/kill/${name}`, { method: "POST" });
  report.kills[name] = { status: response.status, text: await response.text() };
  // A chat-svc death reaches the clients once the edge notices the gap in its event stream,
  // which takes longer on a loaded machine: 45 s, well inside the suite timeout.
  const patience = (plan.keepsConnections ?? []).includes(name) ? 10_000 : 45_000;
  report.kills[name].bothDisconnected = await within(patience, Promise.all(lost));
}

const alice = join("alice");
const bob = join("bob");
await Promise.all([connected(alice), connected(bob)]);

await send(alice, "before", "m1");
await kill("edge", [alice, bob]);
await send(alice, "after the edge restarted", "m2");
await kill("chat-svc", [alice, bob]);
await send(alice, "after chat-svc restarted", "m3");

const roomId = (await retried(alice, "list-rooms", {})).rooms[0].id;
report.history = await retried(bob, "get-history", { roomId });

alice.close();
bob.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
