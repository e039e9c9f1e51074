// Two people on the official socket.io-client go through the /friends flow: find each
// other, become friends, block and unblock. Prints every answer and event it saw as one JSON
// document; the Rust test `official_client` asserts on it.
//
// Plan on stdin: { url, alice: { id, token }, bob: { id, token } }
import { io } from "socket.io-client";

const TIMEOUT_MS = 5000;

const plan = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

function connect(person) {
  const socket = io(plan.url + "/friends", { auth: { token: person.token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(err.message)));
  });
}

const call = (socket, event, payload) => socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);
const next = (socket, event) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event}`)), TIMEOUT_MS);
    socket.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });

const alice = await connect(plan.alice);
const bob = await connect(plan.bob);
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
