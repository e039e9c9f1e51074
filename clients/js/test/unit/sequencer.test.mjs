// The sequencer alone: per-room order, hold-back past a gap, duplicates by seq and by id.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Sequencer } from "../.build/units.js";

const message = (seq, roomId = "r1", id = `${roomId}-m${seq}`) => ({ id, roomId, seq });
const seqs = (messages) => messages.map((m) => m.seq);

test("a room never seen starts at its first live message", () => {
  const sequencer = new Sequencer();
  assert.equal(sequencer.lastSeq("r1"), undefined);
  assert.deepEqual(seqs(sequencer.accept(message(7))), [7]);
  assert.equal(sequencer.lastSeq("r1"), 7);
  assert.deepEqual(seqs(sequencer.accept(message(8))), [8]);
  assert.equal(sequencer.hasGap("r1"), false);
});

test("a message past a gap is held until the gap fills, then all come in seq order", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 3);
  assert.deepEqual(seqs(sequencer.accept(message(6))), []);
  assert.deepEqual(seqs(sequencer.accept(message(5))), []);
  assert.equal(sequencer.hasGap("r1"), true);
  assert.deepEqual(sequencer.gaps(), ["r1"]);
  assert.equal(sequencer.lastSeq("r1"), 3);
  assert.deepEqual(seqs(sequencer.accept(message(4))), [4, 5, 6]);
  assert.equal(sequencer.lastSeq("r1"), 6);
  assert.equal(sequencer.hasGap("r1"), false);
});

test("duplicates are dropped: by seq once delivered or held, by id while held", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 0);
  assert.deepEqual(seqs(sequencer.accept(message(1))), [1]);
  assert.deepEqual(seqs(sequencer.accept(message(1))), [], "the same message again");
  assert.deepEqual(seqs(sequencer.accept(message(3))), []);
  assert.deepEqual(seqs(sequencer.accept(message(3))), [], "held twice");
  assert.deepEqual(seqs(sequencer.accept({ id: "r1-m3", roomId: "r1", seq: 4 })), [], "a held id under another seq");
  assert.deepEqual(seqs(sequencer.accept(message(2))), [2, 3]);
  assert.deepEqual(seqs(sequencer.accept(message(2))), []);
});

test("rooms are independent", () => {
  const sequencer = new Sequencer();
  sequencer.observe("a", 0);
  sequencer.observe("b", 10);
  assert.deepEqual(seqs(sequencer.accept(message(2, "a"))), []);
  assert.deepEqual(seqs(sequencer.accept(message(11, "b"))), [11]);
  assert.deepEqual([...sequencer.rooms()], [["a", 0], ["b", 11]]);
  assert.deepEqual(sequencer.gaps(), ["a"]);
});

test("a baseline from history or listRooms: a new room starts there, a known room behind it has a gap", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 40);
  assert.equal(sequencer.lastSeq("r1"), 40);
  assert.equal(sequencer.hasGap("r1"), false);
  assert.deepEqual(seqs(sequencer.accept(message(40))), [], "history is not news");
  sequencer.observe("r1", 42);
  assert.equal(sequencer.lastSeq("r1"), 40, "a baseline never moves a known room");
  assert.equal(sequencer.hasGap("r1"), true, "41 and 42 exist but were not delivered");
  assert.deepEqual(seqs(sequencer.accept(message(41))), [41]);
  assert.equal(sequencer.hasGap("r1"), true);
  assert.deepEqual(seqs(sequencer.accept(message(42))), [42]);
  assert.equal(sequencer.hasGap("r1"), false);
});

test("skip gives up on a gap: what is held comes out in order, later messages follow it", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 1);
  sequencer.accept(message(5));
  sequencer.accept(message(3));
  assert.deepEqual(seqs(sequencer.skip("r1")), [3, 5]);
  assert.equal(sequencer.lastSeq("r1"), 5);
  assert.equal(sequencer.hasGap("r1"), false);
  assert.deepEqual(seqs(sequencer.accept(message(4))), [], "older than what was delivered");
  assert.deepEqual(seqs(sequencer.accept(message(6))), [6]);
});

test("a forgotten room starts afresh", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 9);
  sequencer.forget("r1");
  assert.equal(sequencer.lastSeq("r1"), undefined);
  assert.deepEqual(seqs(sequencer.accept(message(30))), [30]);
});

test("a shuffled stream comes out whole, in order, once", () => {
  const sequencer = new Sequencer();
  sequencer.observe("r1", 0);
  const stream = Array.from({ length: 200 }, (_, i) => message(i + 1));
  // Every message twice, in a fixed scrambled order (a deterministic shuffle).
  const arrivals = [...stream, ...stream].map((m, i) => ({ m, key: (i * 7919) % 401 })).sort((a, b) => a.key - b.key);
  const delivered = arrivals.flatMap(({ m }) => sequencer.accept(m));
  assert.deepEqual(seqs(delivered), stream.map((m) => m.seq));
});
