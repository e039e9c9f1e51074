// Attachments end to end with the official socket.io-client and Node's fetch, as an app does:
// alice uploads a phone photo and an SVG to a room she shares with bob, bob receives them and
// fetches the signed URLs; carol, not a member, is refused; tampered and expired URLs, broken
// uploads and an upload past the quota are refused; a deleted message's files are gone; and a
// real browser shows the photo's thumbnail but only downloads the SVG, whose script never runs.
// Prints what everyone saw as one JSON document; the Rust test `media_flow` asserts on it.
//
// Plan on stdin: { url, storeDir, alice, bob, carol: { id, token } }, or with
// `scenario: "expiry"`: { url, alice, bob } on a system whose download URLs last seconds.
import { readdir } from "node:fs/promises";
import { join } from "node:path";

import { imageOnPage, openInTab, startAppOrigin, withBrowser } from "./browser.mjs";
import { call, connect, next, readPlan, sleep } from "./lib.mjs";
import { cleanUp, inspectImage, makePhoto, makeScriptedSvg, makeSmallImage, scratch } from "./media-fixtures.mjs";

/** The response headers the tests look at. */
const HEADERS = [
  "content-type",
  "content-disposition",
  "content-security-policy",
  "x-content-type-options",
  "content-length",
  "content-range",
  "etag",
];

/** `fetch(url, init)` with the body read: { status, headers, bytes }. */
async function request(url, init = {}) {
  const response = await fetch(url, init);
  const bytes = Buffer.from(await response.arrayBuffer());
  const headers = Object.fromEntries(HEADERS.map((name) => [name, response.headers.get(name)]));
  return { status: response.status, headers, bytes };
}

/** The `data` of a successful ack; a failed one stops the scenario, saying which step. */
function data(ack, step) {
  if (!ack?.ok) throw new Error(`${step}: ${JSON.stringify(ack)}`);
  return ack.data;
}

/** A fetch result as the report keeps it: no bytes. */
const seen = ({ status, headers, bytes }) => ({ status, headers, length: bytes.length });

/** PUTs `bytes` to a created upload; `fetch` sends their true length when it is not pinned. */
function put(upload, bytes, { url = upload.url, pinnedLength = true } = {}) {
  const headers = Object.fromEntries(
    Object.entries(upload.headers ?? {}).filter(([name]) => pinnedLength || name.toLowerCase() !== "content-length"),
  );
  return request(url, { method: upload.method ?? "PUT", headers, body: bytes }).then(({ status }) => status);
}

/** `url` with its query parameter `name` changed by `change`. */
function withParam(url, name, change) {
  const changed = new URL(url);
  changed.searchParams.set(name, change(changed.searchParams.get(name) ?? ""));
  return changed.toString();
}

/** One character of a signature flipped: still base64url, no longer the signature. */
const flipFirst = (text) => (text.startsWith("A") ? "B" : "A") + text.slice(1);

/** Every file under `dir`, relative to it, sorted. */
async function filesUnder(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(dir.length + 1))
    .sort();
}

/** Reserves, PUTs and completes `file` for `roomId`: the acks and the PUT's status. */
async function upload(socket, roomId, file) {
  const created = await call(socket, "create-upload", {
    chatRoomId: roomId,
    name: file.name,
    size: file.bytes.length,
    contentType: file.contentType,
  });
  const { upload } = data(created, `create-upload of ${file.name}`);
  const putStatus = await put(upload, file.bytes);
  const completed = await call(socket, "complete-upload", { uploadId: upload.id });
  data(completed, `complete-upload of ${file.name}`);
  return { created, putStatus, completed };
}

/** The main scenario: every step of the contract, in the order an app would meet them. */
async function flow(plan, report, dir) {
  const alice = await connect(plan.url, "/chat", plan.alice);
  const bob = await connect(plan.url, "/chat", plan.bob);
  const carol = await connect(plan.url, "/chat", plan.carol);
  const sockets = [alice, bob, carol];
  try {
    report.create = await call(alice, "create-room", { name: "photos", isGroup: true, memberIds: [plan.bob.id] });
    const roomId = data(report.create, "create-room").room.id;
    report.config = await call(alice, "get-media-config", {});

    // The PUT's refusals, each on an upload of its own (a refused PUT may end its upload).
    const tiny = { name: "tiny.bin", contentType: "application/octet-stream", bytes: Buffer.alloc(10, 7) };
    const reserve = () =>
      call(alice, "create-upload", { chatRoomId: roomId, name: tiny.name, size: tiny.bytes.length }).then(
        (ack) => data(ack, "create-upload").upload,
      );
    const [tooLong, tooShort] = [await reserve(), await reserve()];
    report.quotaWithReservations = (await call(alice, "get-media-config", {})).data?.quota ?? null;
    report.putErrors = {
      tooManyBytes: await put(tooLong, Buffer.alloc(11, 7), { pinnedLength: false }),
      tooFewBytes: await put(tooShort, Buffer.alloc(9, 7), { pinnedLength: false }),
    };
    report.cancels = [
      await call(alice, "cancel-upload", { uploadId: tooLong.id }),
      await call(alice, "cancel-upload", { uploadId: tooShort.id }),
    ];
    report.quotaAfterCancels = (await call(alice, "get-media-config", {})).data?.quota ?? null;

    // The photo: reserve, a forged PUT, the real one, a second one, complete.
    const photo = await makePhoto(dir);
    report.photoDeclaredSize = photo.bytes.length;
    report.photoCreate = await call(alice, "create-upload", {
      chatRoomId: roomId,
      name: photo.name,
      size: photo.bytes.length,
      contentType: photo.contentType,
    });
    const photoUpload = data(report.photoCreate, "create-upload of the photo").upload;
    report.putErrors.badSignature = await put(photoUpload, photo.bytes, {
      url: withParam(photoUpload.url, "s", flipFirst),
    });
    report.photoPut = await put(photoUpload, photo.bytes);
    report.putErrors.again = await put(photoUpload, photo.bytes);
    report.photoComplete = await call(alice, "complete-upload", { uploadId: photoUpload.id });
    report.photoCompleteAgain = await call(alice, "complete-upload", { uploadId: photoUpload.id });
    const photoId = data(report.photoComplete, "complete-upload of the photo").attachment.id;

    // A small image is never upscaled: no variant of it is larger than it is.
    report.small = await upload(alice, roomId, await makeSmallImage(dir));
    const smallThumbnailUrl = report.small.completed.data.attachment.thumbnailUrl;
    report.smallThumbnail = smallThumbnailUrl
      ? (await inspectImage(dir, "small-thumbnail", (await request(smallThumbnailUrl)).bytes)).stored
      : null;

    // Sent with a caption; bob gets it with URLs signed for him.
    const bobsPhoto = next(bob, "new-message");
    report.photoSend = await call(alice, "send-message", {
      chatRoomId: roomId,
      messageType: "IMAGE",
      attachmentIds: [photoId],
      content: "caption",
    });
    report.photoReceived = await bobsPhoto;
    const received = report.photoReceived.attachments[0];

    const original = await request(received.url);
    const thumbnail = await request(received.thumbnailUrl);
    const range = await request(received.url, { headers: { Range: "bytes=0-99" } });
    report.served = {
      original: { ...seen(original), image: await inspectImage(dir, "original.jpg", original.bytes) },
      thumbnail: { ...seen(thumbnail), image: await inspectImage(dir, "thumbnail.jpg", thumbnail.bytes) },
      head: seen(await request(received.url, { method: "HEAD" })),
      range: { ...seen(range), matchesStart: range.bytes.equals(original.bytes.subarray(0, 100)) },
      notModified: original.headers.etag
        ? seen(await request(received.url, { headers: { "If-None-Match": original.headers.etag } }))
        : null,
    };

    // What a reader gets later: history, catch-up, fresh URLs; each URL works.
    report.history = await call(bob, "get-history", { roomId });
    report.sync = await call(bob, "sync", { rooms: { [roomId]: 0 } });
    report.refreshed = await call(bob, "get-attachment-urls", { roomId, attachmentIds: [photoId] });
    const urlFetches = async (urls) => Promise.all(urls.map(async (url) => (url ? (await request(url)).status : null)));
    const historyAttachment = report.history.data?.messages?.[0]?.attachments?.[0];
    const syncAttachment = report.sync.data?.rooms?.[0]?.messages?.[0]?.attachments?.[0];
    const refreshed = report.refreshed.data?.urls?.[photoId];
    report.laterFetches = {
      history: await urlFetches([historyAttachment?.url, historyAttachment?.thumbnailUrl]),
      sync: await urlFetches([syncAttachment?.url, syncAttachment?.thumbnailUrl]),
      refreshed: await urlFetches([refreshed?.url, refreshed?.thumbnailUrl]),
    };

    // Carol is not in the room.
    report.carolUpload = await call(carol, "create-upload", { chatRoomId: roomId, name: "x.jpg", size: 10 });
    report.carolUrls = await call(carol, "get-attachment-urls", { roomId, attachmentIds: [photoId] });

    // Forged URLs.
    const inThePast = String(Math.floor(Date.now() / 1000) - 60);
    report.forged = {
      tampered: (await request(withParam(received.url, "s", flipFirst))).status,
      expiryMovedToThePast: (await request(withParam(received.url, "e", () => inThePast))).status,
    };

    // Over the quota: refused before a byte is stored.
    const quota = data(await call(alice, "get-media-config", {}), "get-media-config").quota;
    report.quotaBefore = quota;
    const filesBefore = await filesUnder(plan.storeDir);
    report.overQuota = await call(alice, "create-upload", {
      chatRoomId: roomId,
      name: "big.bin",
      size: quota.limitBytes - quota.usedBytes + 1,
    });
    report.storeUnchanged = JSON.stringify(await filesUnder(plan.storeDir)) === JSON.stringify(filesBefore);
    report.quotaAfterRefusal = (await call(alice, "get-media-config", {})).data?.quota ?? null;

    // An SVG with a script, sent as a file.
    const app = await startAppOrigin();
    try {
      const svg = makeScriptedSvg(`${app.origin}/beacon`);
      report.svgUpload = await upload(alice, roomId, svg);
      const svgId = report.svgUpload.completed.data.attachment.id;
      const bobsSvg = next(bob, "new-message");
      report.svgSend = await call(alice, "send-message", {
        chatRoomId: roomId,
        messageType: "FILE",
        attachmentIds: [svgId],
      });
      report.svgReceived = await bobsSvg;
      const svgUrl = report.svgReceived.attachments[0].url;
      report.svgServed = seen(await request(svgUrl));
      report.gallery = await call(bob, "list-attachments", { roomId });
      report.imageGallery = await call(bob, "list-attachments", { roomId, kind: "IMAGE" });

      // In a browser: the thumbnail shows on the app's page; the SVG only downloads. The
      // same SVG served inline from the app's own origin shows that a script that ran would
      // have been seen.
      const { urls: fresh } = data(
        await call(bob, "get-attachment-urls", { roomId, attachmentIds: [photoId, svgId] }),
        "get-attachment-urls",
      );
      app.pages["/gallery"] = {
        type: "text/html",
        body: `<!doctype html><img id="shown" src="${fresh[photoId].thumbnailUrl}">`,
      };
      app.pages["/inline.svg"] = { type: "image/svg+xml", body: svg.bytes };
      report.browser = await withBrowser(async (context) => ({
        thumbnail: await imageOnPage(context, `${app.origin}/gallery`),
        svg: await openInTab(context, fresh[svgId].url, app.beacons),
        inlineControl: await openInTab(context, `${app.origin}/inline.svg`, app.beacons),
      }));
    } finally {
      await app.close();
    }

    // Deleting the message takes its files away at once.
    const deleted = next(bob, "message-deleted");
    report.delete = await call(alice, "delete-message", { messageId: data(report.photoSend, "send-message").message.id });
    report.deletedEvent = await deleted;
    const afterDelete = () =>
      Promise.all([received.url, received.thumbnailUrl].map(async (url) => (await request(url)).status));
    const deletedAt = Date.now();
    report.afterDelete = { atOnce: await afterDelete() };
    // Only when the test is failing: how long they stayed, for its message.
    for (let statuses = report.afterDelete.atOnce; statuses.some((status) => status !== 404); ) {
      if (Date.now() - deletedAt > 5000) break;
      await sleep(50);
      statuses = await afterDelete();
      report.afterDelete.notFoundAfterMs = statuses.every((status) => status === 404) ? Date.now() - deletedAt : null;
    }
    report.urlsAfterDelete = await call(bob, "get-attachment-urls", { roomId, attachmentIds: [photoId] });
  } finally {
    for (const socket of sockets) socket.close();
  }
}

/** On a system whose URLs last seconds: a URL that works, then has genuinely expired. */
async function expiry(plan, report, dir) {
  const alice = await connect(plan.url, "/chat", plan.alice);
  const bob = await connect(plan.url, "/chat", plan.bob);
  try {
    const room = await call(alice, "create-room", { name: "short", isGroup: true, memberIds: [plan.bob.id] });
    const roomId = data(room, "create-room").room.id;
    const file = { name: "note.txt", contentType: "text/plain", bytes: Buffer.from("expires soon\n") };
    const uploaded = await upload(alice, roomId, file);
    const attachmentId = uploaded.completed.data.attachment.id;
    const bobsCopy = next(bob, "new-message");
    await call(alice, "send-message", { chatRoomId: roomId, messageType: "FILE", attachmentIds: [attachmentId] });
    const { url } = (await bobsCopy).attachments[0];
    const expiresAt = Number(new URL(url).searchParams.get("e")) * 1000;
    report.fresh = (await request(url)).status;
    report.waitedMs = Math.max(0, expiresAt - Date.now() + 200);
    await sleep(report.waitedMs);
    report.expired = (await request(url)).status;
    const renewed = data(
      await call(bob, "get-attachment-urls", { roomId, attachmentIds: [attachmentId] }),
      "get-attachment-urls",
    );
    report.renewedExpiresLater = Date.parse(renewed.urls[attachmentId].expiresAt) > expiresAt;
  } finally {
    alice.close();
    bob.close();
  }
}

const plan = await readPlan();
const report = {};
const dir = await scratch();
const started = Date.now();
try {
  await (plan.scenario === "expiry" ? expiry : flow)(plan, report, dir);
} catch (error) {
  // The report so far says where it stopped; the Rust test shows both.
  report.failure = error.stack ?? String(error);
} finally {
  await cleanUp(dir);
}
report.elapsedMs = Date.now() - started;
process.stdout.write(JSON.stringify(report));
process.exit(0);
