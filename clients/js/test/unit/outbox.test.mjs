// The outbox alone, against a scripted `send`: what is retried, what is not, in what order.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Outbox, ParleyError } from "../.build/units.js";

/** A connection the test turns on and off, and a `send` that answers from a script. */
function harness(script) {
  const state = { connected: true, calls: [] };
  const outbox = new Outbox({
    isConnected: () => state.connected,
    backoffMs: () => 1,
    send: async (payload) => {
      state.calls.push(payload.clientMsgId);
      const step = script.shift();
      if (step instanceof Error) throw step;
      return { id: `stored-${payload.clientMsgId}`, clientMsgId: payload.clientMsgId, content: payload.content };
    },
  });
  return { outbox, state };
}

const error = (code, details) => new ParleyError(code, code, details);

test("a send that fails with UNAVAILABLE or TIMEOUT is retried with the same clientMsgId", async () => {
  const { outbox, state } = harness([error("UNAVAILABLE"), error("TIMEOUT"), "ok"]);
  const stored = await outbox.submit("room", { clientMsgId: "c1", content: "hi" });
  assert.equal(stored.id, "stored-c1");
  assert.deepEqual(state.calls, ["c1", "c1", "c1"]);
  assert.deepEqual(outbox.pending(), []);
});

test("RATE_LIMITED waits retryAfterMs and retries", async () => {
  const { outbox, state } = harness([error("RATE_LIMITED", { retryAfterMs: 20 }), "ok"]);
  const stored = await outbox.submit("room", { clientMsgId: "c1" });
  assert.equal(stored.clientMsgId, "c1");
  assert.equal(state.calls.length, 2);
});

test("other errors reject at once, without a retry", async () => {
  const { outbox, state } = harness([error("PERMISSION_DENIED")]);
  await assert.rejects(outbox.submit("room", { clientMsgId: "c1" }), (e) => e.code === "PERMISSION_DENIED");
  assert.equal(state.calls.length, 1);
});

test("a disconnected send waits for the connection, then goes out", async () => {
  const { outbox, state } = harness([error("DISCONNECTED"), "ok"]);
  const sent = outbox.submit("room", { clientMsgId: "c1", content: "x" });
  state.connected = false;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(state.calls.length, 1, "no retry while disconnected");
  assert.deepEqual(outbox.pending().map((p) => [p.clientMsgId, p.attempts, p.lastError?.code]), [["c1", 1, "DISCONNECTED"]]);
  state.connected = true;
  outbox.resume();
  assert.equal((await sent).id, "stored-c1");
  assert.deepEqual(state.calls, ["c1", "c1"]);
});

test("sends to one target keep their order, even when the first is retried", async () => {
  const { outbox, state } = harness([error("UNAVAILABLE"), "ok", "ok", "ok"]);
  const results = await Promise.all([
    outbox.submit("room", { clientMsgId: "a" }),
    outbox.submit("room", { clientMsgId: "b" }),
    outbox.submit("room", { clientMsgId: "c" }),
  ]);
  assert.deepEqual(state.calls, ["a", "a", "b", "c"]);
  assert.deepEqual(results.map((m) => m.clientMsgId), ["a", "b", "c"]);
});

test("a refused send does not hold up the next one", async () => {
  const { outbox, state } = harness([error("INVALID_ARGUMENT"), "ok"]);
  const first = outbox.submit("room", { clientMsgId: "a" });
  const second = outbox.submit("room", { clientMsgId: "b" });
  await assert.rejects(first, (e) => e.code === "INVALID_ARGUMENT");
  assert.equal((await second).clientMsgId, "b");
  assert.deepEqual(state.calls, ["a", "b"]);
});

test("close rejects what is pending with CLOSED and refuses new sends", async () => {
  const { outbox, state } = harness([]);
  state.connected = false;
  const waiting = outbox.submit("room", { clientMsgId: "a" });
  assert.equal(outbox.pending().length, 1);
  outbox.close();
  await assert.rejects(waiting, (e) => e.code === "CLOSED");
  await assert.rejects(outbox.submit("room", { clientMsgId: "b" }), (e) => e.code === "CLOSED");
  assert.deepEqual(outbox.pending(), []);
  assert.equal(state.calls.length, 0);
});
