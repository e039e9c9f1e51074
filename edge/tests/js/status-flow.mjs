// Two friends and a stranger on the official socket.io-client watch /status: alice comes
// online on two devices, goes away, invisible, online, then offline. Prints what bob and
// carol (the stranger) received, in order, as one JSON document for the Rust test.
//
// Plan on stdin: { url, alice: { token }, bob: { token }, carol: { token }, settleMs }
import { call, connect, readPlan, sleep } from "./lib.mjs";

const plan = await readPlan();
const join = (person) => connect(plan.url, "/status", person);

const bob = await join(plan.bob);
const carol = await join(plan.carol);
const seenByBob = [];
const seenByCarol = [];
bob.on("friend-status-changed", (event) => seenByBob.push(event));
carol.on("friend-status-changed", (event) => seenByCarol.push(event));

const phone = await join(plan.alice);
const laptop = await join(plan.alice);
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
