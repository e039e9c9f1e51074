// Two friends and a stranger on the official socket.io-client watch /status: alice comes
// online on two devices, goes away, invisible, online, then offline. Prints what bob and
// carol (the stranger) received, in order, as one JSON document for the Rust test.
//
// Plan on stdin: { url, alice: { token }, bob: { token }, carol: { token }, settleMs }
import { io } from "socket.io-client";

const plan = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function connect(person) {
  const socket = io(plan.url + "/status", { auth: { token: person.token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(err.message)));
  });
}
const call = (socket, event, payload) => socket.timeout(5000).emitWithAck(event, payload);

const bob = await connect(plan.bob);
const carol = await connect(plan.carol);
const seenByBob = [];
const seenByCarol = [];
bob.on("friend-status-changed", (event) => seenByBob.push(event));
carol.on("friend-status-changed", (event) => seenByCarol.push(event));

const phone = await connect(plan.alice);
const laptop = await connect(plan.alice);
await sleep(plan.settleMs);
const acks = [];
acks.push(await call(phone, "update-status", { status: "AWAY" }));
await sleep(plan.settleMs);
acks.push(await call(laptop, "update-status", { status: "INVISIBLE" }));
await sleep(plan.settleMs);
acks.push(await call(laptop, "update-status", { status: "ONLINE" }));
await sleep(plan.settleMs);
phone.close();
laptop.close();
await sleep(plan.settleMs * 4);
const bobList = await call(bob, "get-friends-status", {});
const carolList = await call(carol, "get-friends-status", {});

bob.close();
carol.close();
process.stdout.write(JSON.stringify({ seenByBob, seenByCarol, acks, bobList, carolList }));
process.exit(0);
