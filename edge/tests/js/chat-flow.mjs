// Three people on the official socket.io-client use /chat: a group, messages, history,
// read state, typing, edits, deletes, a DM by receiver, and catch-up after a reconnect.
// Prints what they saw as one JSON document; the Rust test `official_client` asserts on it.
//
// Plan on stdin: { url, alice, bob, carol, eve: { id, token } }
import { call, connect, next, readPlan, sleep } from "./lib.mjs";

const plan = await readPlan();
const join = (person) => connect(plan.url, "/chat", person);

const alice = await join(plan.alice);
const alice2 = await join(plan.alice);
const bob = await join(plan.bob);
let carol = await join(plan.carol);
const eve = await join(plan.eve);
const report = {};

const created = next(carol, "room-created");
report.create = await call(alice, "create-room", { name: "trio", isGroup: true, memberIds: [plan.bob.id, plan.carol.id] });
report.created = await created;
const roomId = report.create.data.room.id;

const received = { bob: [], carol: [] };
bob.on("new-message", (m) => received.bob.push(m.seq));
carol.on("new-message", (m) => received.carol.push(m.seq));
report.sends = [];
for (const [socket, text] of [[alice, "hi all"], [bob, "hi alice"], [carol, "hey"], [alice, "lunch?"]]) {
  report.sends.push(await call(socket, "send-message", { chatRoomId: roomId, content: text }));
}
await sleep(200);
report.received = { bob: [...received.bob], carol: [...received.carol] };

report.history = await call(bob, "get-history", { roomId, limit: 2 });
report.older = await call(bob, "get-history", { roomId, limit: 2, before: report.history.data.messages[1].id });
report.unreadBefore = (await call(bob, "list-rooms", {})).data.rooms[0].unreadCount;
const read = next(alice, "messages-read");
report.markRead = await call(bob, "mark-read", { roomId });
report.readEvent = await read;
report.unreadAfter = (await call(bob, "list-rooms", {})).data.rooms[0].unreadCount;

const typing = next(bob, "user-typing");
await call(carol, "typing", { roomId, isTyping: true });
report.typing = await typing;

const updated = next(bob, "message-updated");
report.edit = await call(alice, "edit-message", { messageId: report.sends[0].data.message.id, content: "hi everyone" });
report.updated = await updated;
const deleted = next(bob, "message-deleted");
report.delete = await call(alice, "delete-message", { messageId: report.sends[3].data.message.id });
report.deleted = await deleted;

const dmToBob = next(bob, "new-private-message");
const dmToAliceLaptop = next(alice2, "new-private-message");
report.dm = await call(alice, "send-message", { receiverId: plan.bob.id, content: "just you" });
report.dmReceived = await dmToBob;
report.dmOtherDevice = await dmToAliceLaptop;

const lastSeen = report.sends[2].data.message.seq;
carol.close();
await call(alice, "send-message", { chatRoomId: roomId, content: "while you were away" });
carol = await join(plan.carol);
report.sync = await call(carol, "sync", { rooms: { [roomId]: lastSeen } });

report.eveSend = await call(eve, "send-message", { chatRoomId: roomId, content: "let me in" });
report.eveHistory = await call(eve, "get-history", { roomId });

for (const socket of [alice, alice2, bob, carol, eve]) socket.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
