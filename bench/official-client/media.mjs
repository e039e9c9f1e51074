// Uploads under load, with official socket.io-client sockets and Node's fetch: does media-svc
// keep its memory flat while files stream through it, and does chat stay as fast while photos
// are processed? bench/run.sh media calls it; see docs/BENCHMARKS.md.
//
//   node media.mjs --server http://127.0.0.1:3400 --secret S --media-pid PID --photo photo.jpg \
//        [--photos 200] [--big-mib 100] [--concurrency 4] [--chat-every 50] [--quiet 10]
//
// Three phases, one after the other: `quiet` seconds of chat alone (one sender, one other
// member, a message every `chat-every` ms: ack and delivery latency); the same chat while
// `photos` uploads of the photo run, `concurrency` at once (create, PUT, complete, send); then
// one upload of `big-mib` MiB generated on the fly, never in memory whole on either side.
// media-svc's resident memory is sampled every 100 ms throughout. One JSON line on stdout
// and in --out.
import { createHmac } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { io } from "socket.io-client";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, word, i, all) => {
    if (word.startsWith("--")) pairs.push([word.slice(2), all[i + 1]?.startsWith("--") ? "1" : all[i + 1] ?? "1"]);
    return pairs;
  }, []),
);
const SERVER = args.server ?? "http://127.0.0.1:3000";
const SECRET = args.secret ?? process.env.PARLEY_JWT_SECRET ?? "";
const MEDIA_PID = args["media-pid"];
const PHOTO = readFileSync(args.photo);
const PHOTOS = Number(args.photos ?? 200);
const BIG_MIB = Number(args["big-mib"] ?? 100);
const CONCURRENCY = Number(args.concurrency ?? 4);
const CHAT_EVERY_MS = Number(args["chat-every"] ?? 50);
const QUIET_S = Number(args.quiet ?? 10);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
const userId = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

function token(n) {
  const issued = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: userId(n), name: `m${n}`, iat: issued, exp: issued + 86_400 })}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

function connect(n) {
  const socket = io(`${SERVER}/chat`, { auth: { token: token(n) }, transports: ["websocket"], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(new Error(`user ${n}: ${error.message}`)));
  });
}

function request(socket, event, payload) {
  return new Promise((resolve, reject) =>
    socket.timeout(60_000).emit(event, payload, (timeout, reply) => {
      if (timeout) reject(new Error(`${event}: no answer`));
      else if (reply.ok) resolve(reply.data);
      else reject(new Error(`${event}: ${reply.error.code} ${reply.error.message}`));
    }),
  );
}

function rssMiB() {
  const status = readFileSync(`/proc/${MEDIA_PID}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2));
};

// --- the system under test ---
const [sender, receiver, ...uploaders] = await Promise.all(
  Array.from({ length: 2 + CONCURRENCY }, (_, n) => connect(n)),
);
const { room } = await request(sender, "create-room", {
  name: "bench", isGroup: true, memberIds: [userId(1), ...uploaders.map((_, i) => userId(2 + i))],
});
// Uploaders' own messages (with photos) reach the chat pair too: they are ignored there.
const pending = new Map();
receiver.on("new-message", (message) => {
  const sent = pending.get(message.clientMsgId);
  if (sent !== undefined) sent.delivered = now() - sent.at;
});

let rssSamples = [];
let retries = 0;
const sampler = setInterval(() => rssSamples.push(rssMiB()), 100);

/** Chats until `until()` says stop; returns ack and delivery latencies. */
async function chat(label, until) {
  const acks = [];
  const sends = [];
  let i = 0;
  while (!until()) {
    const id = `${label}-${i++}`;
    const sent = { at: now(), delivered: null };
    pending.set(id, sent);
    sends.push(sent);
    const started = now();
    await request(sender, "send-message", { chatRoomId: room.id, content: "ping", clientMsgId: id });
    acks.push(now() - started);
    await sleep(CHAT_EVERY_MS);
  }
  await sleep(200);
  const deliveries = sends.map((s) => s.delivered).filter((d) => d !== null);
  return {
    messages: acks.length,
    ackP50: percentile(acks, 50), ackP99: percentile(acks, 99),
    deliveryP50: percentile(deliveries, 50), deliveryP99: percentile(deliveries, 99),
    lost: sends.length - deliveries.length,
  };
}

async function upload(socket, name, size, body) {
  const { upload } = await request(socket, "create-upload", { chatRoomId: room.id, name, size });
  const put = await fetch(upload.url, { method: "PUT", headers: upload.headers, body, duplex: "half" });
  if (put.status !== 201) throw new Error(`PUT ${name}: ${put.status}`);
  // A full processing queue answers UNAVAILABLE: retry, as a client should.
  let attachment;
  for (let attempt = 0; !attachment; attempt++) {
    try {
      ({ attachment } = await request(socket, "complete-upload", { uploadId: upload.id }));
    } catch (error) {
      if (attempt >= 50 || !String(error.message).includes("UNAVAILABLE")) throw error;
      retries++;
      await sleep(100);
    }
  }
  await request(socket, "send-message", { chatRoomId: room.id, messageType: attachment.kind, attachmentIds: [attachment.id] });
  return attachment;
}

// Phase 1: chat alone.
const quietUntil = now() + QUIET_S * 1000;
const quiet = await chat("quiet", () => now() > quietUntil);
const quietRss = Math.max(...rssSamples);

// Phase 2: chat while photos stream in and are processed. Memory is also read after each
// quarter of the photos: flat means it does not grow with the number of files.
rssSamples = [];
const photosRssAt = [];
let uploaded = 0;
let completed = 0;
let images = 0;
const photosStarted = now();
const workers = uploaders.map(async (socket, w) => {
  while (uploaded < PHOTOS) {
    const n = uploaded++;
    const attachment = await upload(socket, `photo-${w}-${n}.jpg`, PHOTO.length, PHOTO);
    if (attachment.kind === "IMAGE") images++;
    if (++completed % Math.max(1, Math.floor(PHOTOS / 4)) === 0) photosRssAt.push(Number(rssMiB().toFixed(1)));
  }
});
let uploadsDone = false;
const uploading = Promise.all(workers).then(() => (uploadsDone = true));
const busy = await chat("busy", () => uploadsDone);
await uploading;
const photosSeconds = (now() - photosStarted) / 1000;
const photosRss = Math.max(...rssSamples);

// Phase 3: one big file, generated as it is sent.
rssSamples = [];
const bigRssBefore = rssMiB();
const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
let sentMiB = 0;
const big = new ReadableStream({
  pull(controller) {
    if (sentMiB++ < BIG_MIB) controller.enqueue(chunk);
    else controller.close();
  },
});
const bigStarted = now();
const bigAttachment = await upload(uploaders[0], "big.bin", BIG_MIB << 20, big);
const bigSeconds = (now() - bigStarted) / 1000;
const bigRss = Math.max(...rssSamples);
clearInterval(sampler);

const result = {
  scenario: "media", server: "parley", at: new Date().toISOString(),
  photo: { bytes: PHOTO.length, count: PHOTOS, images, concurrency: CONCURRENCY, seconds: Number(photosSeconds.toFixed(1)), busyRetries: retries },
  big: { mib: BIG_MIB, kind: bigAttachment.kind, seconds: Number(bigSeconds.toFixed(1)) },
  chatQuiet: quiet, chatDuringUploads: busy,
  // Peaks per phase; `photosAt`: after each quarter of the photos; `bigBefore`: as the big
  // file starts.
  mediaRssMiB: {
    quiet: Number(quietRss.toFixed(1)), photos: Number(photosRss.toFixed(1)), photosAt: photosRssAt,
    bigBefore: Number(bigRssBefore.toFixed(1)), big: Number(bigRss.toFixed(1)),
  },
};
console.log(JSON.stringify(result));
if (args.out) appendFileSync(args.out, JSON.stringify(result) + "\n");
for (const socket of [sender, receiver, ...uploaders]) socket.close();
