// An app on the built package, type-checked by test/unit/types.test.mjs as ESM (this file,
// against dist/index.d.ts) and as CommonJS (app.cts, a link to it: dist/index.d.cts).
import { Parley, ParleyError, type Message, type Room } from "@parley/client";
const parley = new Parley({ url: "http://x", token: async () => "t" });
async function main() {
  await parley.connect();
  const m: Message = await parley.chat.send({ roomId: "r" }, { content: "hi" });
  const room: Room = await parley.chat.getRoom(m.roomId);
  const { messages, hasMore } = await parley.chat.history(room.id, { limit: 10 });
  parley.chat.on("message", (message) => message.seq.toFixed());
  parley.chat.on("user-typing", ({ isTyping, username }) => String(isTyping) + username);
  const users = await parley.friends.search("bo");
  users[0]?.username.toUpperCase();
  const status = await parley.presence.setStatus("AWAY");
  const call = await parley.calls.start({ receiverId: "u" }, { media: "VIDEO" });
  call.on("state", (s) => s === "ACTIVE");
  const data = await parley.request("/chat", "get-room", { roomId: "r" });
  data.room?.id;
  try { await parley.friends.accept("x"); } catch (e) { if (e instanceof ParleyError) e.code === "RATE_LIMITED"; }
  // @ts-expect-error: not an event of /chat
  await parley.request("/chat", "no-such-event", {});
  // @ts-expect-error: the payload needs roomId
  await parley.request("/chat", "get-room", {});
  return [messages, hasMore, status];
}
void main;
