// What the integration tests share: the plan of the running Parley (PARLEY_TEST_PLAN), clients
// of the built SDK for its users, and waiting for what they hear.
import { readFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

import { Parley } from "../../dist/index.js";

export { Parley };

const planPath = process.env.PARLEY_TEST_PLAN;

/** `{ edgeUrl, mediaUrl, control, users: { name: { id, token } } }`, or undefined without a plan. */
export const plan = planPath ? JSON.parse(readFileSync(planPath, "utf8")) : undefined;

/** The `skip` option of a test that needs a running Parley. */
export const needsParley = plan ? false : "PARLEY_TEST_PLAN is not set (the path of a running Parley's plan)";

export const user = (name) => {
  const found = plan.users[name];
  if (!found) throw new Error(`the plan has no user ${name}`);
  return found;
};

/** A fresh token for `name` from the harness, valid `ttlSeconds`. */
export async function freshToken(name, ttlSeconds = 3600) {
  const response = await fetch(`${plan.control}/token?user=${encodeURIComponent(name)}&ttl=${ttlSeconds}`);
  if (!response.ok) throw new Error(`control /token: HTTP ${response.status}`);
  return (await response.text()).trim();
}

/** `POST <control>/kill/<process>`: kill -9, restarted at once by the harness. */
export async function kill(processName) {
  const response = await fetch(`${plan.control}/kill/${processName}`, { method: "POST" });
  if (!response.ok) throw new Error(`control /kill/${processName}: HTTP ${response.status}`);
}

/** A connected client of `name`, closed by `t.after`; `options` go to `new Parley`. */
export async function connect(t, name, options = {}) {
  const parley = new Parley({ url: plan.edgeUrl, token: () => freshToken(name), ...options });
  const errors = [];
  parley.on("error", (error) => errors.push(error));
  parley.errors = errors;
  t.after(() => parley.close());
  await parley.connect();
  return parley;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something truthy; fails with `what` after `ms`. */
export async function until(check, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Every `event` `on(event, h)` delivers from now, kept in an array. */
export function recorder(emitter, event) {
  const seen = [];
  emitter.on(event, (payload) => seen.push(payload));
  return seen;
}

/** The first recorded payload that `match`es, waiting for it. */
export const heard = (seen, what, match = () => true, ms = 10_000) =>
  until(() => seen.find(match), what, ms);

/** A unique text for this run, so reruns against one database never confuse each other. */
export const unique = (label) => `${label} ${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** Makes `a` and `b` friends (a asks, b accepts), whatever they were before. */
export async function befriend(a, b) {
  const { friends } = await a.friends.list({ limit: 500 });
  if (friends.some((friend) => friend.user.id === b.me.id)) return;
  const { request, friend } = await a.friends.send({ userId: b.me.id });
  if (!friend) await b.friends.accept(request.id);
}

/** Ends any friendship or pending request between `a` and `b`. */
export async function unfriend(a, b) {
  await a.friends.unblock(b.me.id);
  await b.friends.unblock(a.me.id);
  const { friends } = await a.friends.list({ limit: 500 });
  if (friends.some((friend) => friend.user.id === b.me.id)) await a.friends.remove(b.me.id);
  for (const [from, to] of [[a, b], [b, a]]) {
    const { outgoing } = await from.friends.requests({ limit: 500 });
    for (const request of outgoing) if (request.to.id === to.me.id) await from.friends.cancel(request.id);
  }
}

/**
 * A real PNG, `width` x `height`, of a colour gradient (RGB, no filter), encoded here with
 * zlib: big enough that media-svc makes a thumbnail (docs/API.md: it fits 400x400).
 */
export function makePng(width = 640, height = 480) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x += 1) {
      rows[row + 1 + x * 3] = (x * 255) / width;
      rows[row + 2 + x * 3] = (y * 255) / height;
      rows[row + 3 + x * 3] = 160;
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(
    Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]),
  );
}
