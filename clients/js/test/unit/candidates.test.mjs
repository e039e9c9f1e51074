// The queue of this device's ICE candidates: held until released, sent 20 at most a call, the
// end of gathering on the last batch, and kept through a disconnect.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CandidateQueue, ParleyError } from "../.build/units.js";

const candidate = (n) => ({ candidate: `candidate:${n} 1 udp 1 127.0.0.1 ${4000 + n} typ host` });
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

test("candidates wait for release, then go in batches of 20 with end on the last", async () => {
  const sent = [];
  const queue = new CandidateQueue(async (candidates, end) => void sent.push({ n: candidates.length, end }), assert.fail);
  for (let n = 0; n < 45; n += 1) queue.add(candidate(n));
  queue.end();
  await settle();
  assert.deepEqual(sent, [], "nothing before release (the call has no id / the accept is not acknowledged)");
  queue.release();
  await settle();
  assert.deepEqual(sent, [{ n: 20, end: false }, { n: 20, end: false }, { n: 5, end: true }]);
});

test("an end of gathering with nothing left goes alone; an ICE restart ends again", async () => {
  const sent = [];
  const queue = new CandidateQueue(async (candidates, end) => void sent.push({ n: candidates.length, end }), assert.fail);
  queue.release();
  queue.add(candidate(1));
  await settle();
  queue.end();
  await settle();
  queue.restart();
  queue.add(candidate(2));
  queue.end();
  await settle();
  assert.deepEqual(sent, [{ n: 1, end: false }, { n: 0, end: true }, { n: 1, end: true }]);
});

test("a batch refused as DISCONNECTED stays queued for retry(); another refusal stops the queue", async () => {
  const sent = [];
  const reported = [];
  let down = true;
  const queue = new CandidateQueue(async (candidates) => {
    if (down) throw new ParleyError("DISCONNECTED", "down");
    sent.push(candidates.map((c) => c.candidate));
  }, (error) => reported.push(error.code));
  queue.release();
  queue.add(candidate(1));
  await settle();
  assert.deepEqual(sent, []);
  down = false;
  queue.retry();
  await settle();
  assert.equal(sent.length, 1, "sent after the reconnect");
  assert.deepEqual(reported, []);

  const refusing = new CandidateQueue(async () => {
    throw new ParleyError("FAILED_PRECONDITION", "the call ended");
  }, (error) => reported.push(error.code));
  refusing.release();
  refusing.add(candidate(2));
  await settle();
  refusing.add(candidate(3));
  refusing.retry();
  await settle();
  assert.deepEqual(reported, ["FAILED_PRECONDITION"], "reported once, then nothing more is sent");
});
