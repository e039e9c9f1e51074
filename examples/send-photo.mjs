// Sends a photo from one user to another through Parley, the way an app would: alice reserves
// an upload, PUTs the bytes, completes it and sends a message with it; bob, connected as
// well, receives the message and downloads its thumbnail.
//
//   node examples/send-photo.mjs photo.jpg "$(deploy/local.sh token alice)" "$(deploy/local.sh token bob)"
//
// Environment: PARLEY_URL (default http://127.0.0.1:3000).
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { io } from "socket.io-client";

const [path, aliceToken, bobToken] = process.argv.slice(2);
if (!path || !aliceToken || !bobToken) {
  console.error("usage: node examples/send-photo.mjs PHOTO ALICE_TOKEN BOB_TOKEN");
  process.exit(2);
}
const url = process.env.PARLEY_URL ?? "http://127.0.0.1:3000";

// Every request is answered { ok, data } or { ok: false, error: { code, message } }.
function request(socket, event, payload) {
  return new Promise((resolve, reject) =>
    socket.timeout(30_000).emit(event, payload, (timeout, reply) => {
      if (timeout) reject(new Error(`${event}: no answer`));
      else if (reply.ok) resolve(reply.data);
      else reject(new Error(`${event}: ${reply.error.code} ${reply.error.message}`));
    }),
  );
}
const userId = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url")).sub;
const connect = (token) =>
  new Promise((resolve, reject) => {
    const socket = io(`${url}/chat`, { auth: { token }, transports: ["websocket"] });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(new Error(`connect: ${error.message}`)));
  });

const bob = await connect(bobToken);
const alice = await connect(aliceToken);
const received = new Promise((resolve) => bob.on("new-message", resolve));

// Their direct room (the same one every time).
const { room } = await request(alice, "create-room", { isGroup: false, memberIds: [userId(bobToken)] });

// 1. Reserve: the size is charged to alice's quota before any byte moves.
const bytes = await readFile(path);
const { upload } = await request(alice, "create-upload", {
  chatRoomId: room.id, name: basename(path), size: bytes.length, contentType: "image/jpeg",
});
// 2. PUT the bytes to the signed URL (media-svc's own origin).
const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: bytes });
if (put.status !== 201) throw new Error(`PUT answered ${put.status}`);
// 3. Complete: the type is read from the bytes, metadata stripped, thumbnails made.
const { attachment } = await request(alice, "complete-upload", { uploadId: upload.id });
console.log(`alice uploaded ${attachment.name}: ${attachment.kind} ${attachment.mimeType}, ` +
  `${attachment.width}x${attachment.height}, ${attachment.size} bytes`);
// 4. Send it.
await request(alice, "send-message", {
  chatRoomId: room.id, messageType: attachment.kind, attachmentIds: [attachment.id], content: "look!",
});

const message = await received;
const [photo] = message.attachments;
console.log(`bob received "${message.content}" from ${message.sender.username} with ${photo.name}`);
const thumbnail = await fetch(photo.thumbnailUrl ?? photo.url);
const file = `thumbnail-${photo.id}.jpg`;
await writeFile(file, Buffer.from(await thumbnail.arrayBuffer()));
console.log(`bob downloaded the thumbnail (${thumbnail.status}, ${thumbnail.headers.get("content-type")}) to ${file}`);
alice.close();
bob.close();
