// Delivery across failures: alice streams numbered messages into a DM and a group while the
// harness kills the edge, then chat-svc (kill -9, restarted at once). Every send must resolve,
// bob's `chat.on("message")` must get every message exactly once and in seq order, and the
// rooms must hold each message once, with no seq gap.
import assert from "node:assert/strict";
import { test } from "node:test";

import { connect, kill, needsParley, sleep, unique, until } from "./support.mjs";

/** Messages in the stream (alternately DM and group); PARLEY_TEST_STREAM overrides it. */
const COUNT = Number(process.env.PARLEY_TEST_STREAM ?? 150);
/** About 20 messages a second. */
const PACE_MS = 50;
const KILL_EDGE_AT = Math.floor(COUNT * 0.3);
const KILL_CHAT_AT = Math.floor(COUNT * 0.65);

/** Every message of `roomId` newer than `afterSeq`, paging back through history. */
async function storedAfter(parley, roomId, afterSeq) {
  const messages = [];
  let before;
  for (;;) {
    const page = await parley.chat.history(roomId, { limit: 100, ...(before ? { before } : {}) });
    messages.push(...page.messages.filter((m) => m.seq > afterSeq));
    const oldest = page.messages.at(-1);
    if (!page.hasMore || !oldest || oldest.seq <= afterSeq + 1) break;
    before = oldest.id;
  }
  return messages.sort((a, b) => a.seq - b.seq);
}

/** `[first, first + 1, ..., first + n - 1]`. */
const run = (first, n) => Array.from({ length: n }, (_, i) => first + i);

test(
  "recovery: a message stream through an edge kill and a chat-svc kill arrives once, in order, stored once",
  { skip: needsParley, timeout: 10 * 60_000 },
  async (t) => {
    // alice reconnects quickly and bob slowly, so that alice's sends go on while bob is away
    // and what bob missed can only come from his catch-up.
    const alice = await connect(t, "alice", {
      socketOptions: { reconnectionDelay: 200, reconnectionDelayMax: 500, randomizationFactor: 0 },
    });
    const bob = await connect(t, "bob", {
      socketOptions: { reconnectionDelay: 2_500, reconnectionDelayMax: 2_500, randomizationFactor: 0 },
    });
    const carol = await connect(t, "carol");
    const tag = unique("stream");

    // The two rooms, and where bob stands in each before the stream (his baselines).
    const opening = await alice.chat.send({ receiverId: bob.me.id }, { content: `${tag} opening` });
    const dm = opening.roomId;
    const group = (await alice.chat.createRoom({ name: tag, isGroup: true, memberIds: [bob.me.id, carol.me.id] })).id;
    await bob.chat.listRooms();
    await until(() => bob.chat.lastSeq(dm) === opening.seq && bob.chat.lastSeq(group) === 0, "bob's baselines");
    const baseline = { [dm]: opening.seq, [group]: 0 };

    const bobGot = [];
    const aliceGot = [];
    bob.chat.on("message", (m) => bobGot.push(m));
    alice.chat.on("message", (m) => aliceGot.push(m));
    const drops = { alice: 0, bob: 0 };
    alice.on("disconnected", () => (drops.alice += 1));
    bob.on("disconnected", () => (drops.bob += 1));
    // What reached bob live, beside what the SDK delivered (live or caught up).
    const bobLive = new Set();
    bob.listen("/chat", "new-message", (m) => bobLive.add(m.id));
    bob.listen("/chat", "new-private-message", (m) => bobLive.add(m.id));
    let bobCaughtUp = 0;
    bob.on("reconnected", () => (bobCaughtUp += 1));

    const expected = { [dm]: [], [group]: [] };
    const sends = [];
    for (let i = 0; i < COUNT; i += 1) {
      const roomId = i % 2 === 0 ? dm : group;
      const content = `${tag} #${i}`;
      expected[roomId].push(content);
      const target = roomId === dm ? { receiverId: bob.me.id } : { roomId: group };
      sends.push(alice.chat.send(target, { content }));
      if (i === KILL_EDGE_AT) await kill("edge");
      if (i === KILL_CHAT_AT) {
        // Mid-conversation again: both back on the restarted edge, then chat-svc goes.
        await until(() => alice.connected && bob.connected, "both clients back after the edge kill", 60_000);
        await kill("chat-svc");
      }
      await sleep(PACE_MS);
    }

    const stored = await Promise.all(sends);
    assert.equal(alice.chat.pending.length, 0, "nothing left to send");
    assert.ok(drops.alice >= 1 && drops.bob >= 1, "the edge kill disconnected both clients");
    await until(() => bobCaughtUp >= 1, "bob's catch-up after reconnecting");
    assert.deepEqual(
      stored.map((m) => m.content),
      [...Array(COUNT).keys()].map((i) => `${tag} #${i}`),
      "every send resolved with its own message",
    );
    assert.equal(new Set(stored.map((m) => m.id)).size, COUNT, "one stored message per send");

    const inStream = (m) => m.content.startsWith(`${tag} #`);
    await until(() => bobGot.filter(inStream).length >= COUNT, `bob's ${COUNT} messages`, 120_000);
    // A moment for a duplicate, if one were coming.
    await sleep(1_000);
    const caughtUp = bobGot.filter((m) => inStream(m) && !bobLive.has(m.id)).length;
    assert.ok(caughtUp > 0, "some messages reached bob only through his catch-up (the test exercised it)");

    for (const roomId of [dm, group]) {
      const label = roomId === dm ? "DM" : "group";
      const heard = bobGot.filter((m) => m.roomId === roomId);
      assert.deepEqual(
        heard.map((m) => m.seq),
        run(baseline[roomId] + 1, expected[roomId].length),
        `${label}: bob heard every seq once, in order`,
      );
      assert.deepEqual(heard.map((m) => m.content), expected[roomId], `${label}: in the order alice sent`);
      const own = aliceGot.filter((m) => m.roomId === roomId && inStream(m));
      assert.deepEqual(own.map((m) => m.content), expected[roomId], `${label}: alice's own sends, once each, in order`);

      const history = await storedAfter(bob, roomId, baseline[roomId]);
      assert.deepEqual(history.map((m) => m.seq), run(baseline[roomId] + 1, history.length), `${label}: no seq gap`);
      assert.deepEqual(history.map((m) => m.content), expected[roomId], `${label}: each message stored once`);
    }
  },
);
