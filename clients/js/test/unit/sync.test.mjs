// syncRooms alone, against a scripted `sync`: at most 100 rooms a call, again while hasMore.
import assert from "node:assert/strict";
import { test } from "node:test";

import { syncRooms } from "../.build/units.js";

/** A server holding `stored[roomId]` = newest seq, answering `limit` messages a room. */
function server(stored, limit) {
  const calls = [];
  const request = async ({ rooms }) => {
    calls.push(rooms);
    return {
      rooms: Object.entries(rooms)
        .filter(([roomId]) => roomId in stored)
        .map(([roomId, after]) => {
          const last = Math.min(stored[roomId], after + limit);
          const messages = [];
          for (let seq = after + 1; seq <= last; seq += 1) messages.push({ id: `${roomId}:${seq}`, roomId, seq });
          return { roomId, messages, hasMore: last < stored[roomId] };
        }),
    };
  };
  return { calls, request };
}

test("every room is synced from its last seq, 100 rooms a call, again while hasMore", async () => {
  const stored = {};
  const from = new Map();
  for (let i = 0; i < 150; i += 1) {
    stored[`room-${i}`] = 5;
    from.set(`room-${i}`, 2);
  }
  stored["room-0"] = 12; // needs more than one call at 4 a room
  const { calls, request } = server(stored, 4);
  const accepted = [];
  const leftOut = await syncRooms(from, { request, accept: (m) => accepted.push(m) });
  assert.equal(leftOut.size, 0);
  assert.ok(calls.every((rooms) => Object.keys(rooms).length <= 100));
  assert.deepEqual(
    accepted.filter((m) => m.roomId === "room-0").map((m) => m.seq),
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  assert.equal(accepted.filter((m) => m.roomId === "room-149").length, 3);
  assert.equal(calls.filter((rooms) => "room-0" in rooms).length, 3, "room-0 asked from 2, 6 and 10");
});

test("rooms the server leaves out are reported", async () => {
  const { request } = server({ mine: 1 }, 10);
  const leftOut = await syncRooms(new Map([["mine", 0], ["gone", 4]]), { request, accept: () => {} });
  assert.deepEqual([...leftOut], ["gone"]);
});
