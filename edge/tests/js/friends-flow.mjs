// Two people on the official socket.io-client go through the /friends flow: find each
// other, become friends, block and unblock. Prints every answer and event it saw as one JSON
// document; the Rust test `official_client` asserts on it.
//
// Plan on stdin: { url, alice: { id, token }, bob: { id, token } }
import { call, connect, next, readPlan } from "./lib.mjs";

const plan = await readPlan();
const join = (person) => connect(plan.url, "/friends", person);

const alice = await join(plan.alice);
const bob = await join(plan.bob);
const report = {};

report.search = await call(alice, "search-users", { query: "BO" });
const received = next(bob, "friend-request-received");
report.sent = await call(alice, "send-friend-request", { userId: plan.bob.id });
report.received = await received;
const accepted = next(alice, "friend-request-accepted");
report.accept = await call(bob, "accept-friend-request", { requestId: report.received.request.id });
report.acceptedEvent = await accepted;
report.aliceFriends = await call(alice, "list-friends", {});
report.bobFriends = await call(bob, "list-friends", {});

const removed = next(bob, "friend-removed");
report.block = await call(alice, "block-user", { userId: plan.bob.id });
report.removedEvent = await removed;
report.blockedRequest = await call(bob, "send-friend-request", { userId: plan.alice.id });
report.blockedSearch = await call(bob, "search-users", { query: "ali" });
report.listBlocked = await call(alice, "list-blocked", {});
report.unblock = await call(alice, "unblock-user", { userId: plan.bob.id });
report.friendsAfterUnblock = await call(alice, "list-friends", {});

alice.close();
bob.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
