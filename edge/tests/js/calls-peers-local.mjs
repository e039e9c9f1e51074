// Two real WebRTC peers in one process, signaling each other directly (no server): checks
// that the machine can do what the calls tests need before any Parley part is involved.
// Plan on stdin: { turn?: { urls, secret, tamper? }, relayOnly? }; report on stdout.
import { readPlan } from "./lib.mjs";
import { Peer, turnCredential, until } from "./calls-peer.mjs";

const plan = await readPlan();
const report = {};
let iceServers = [];
if (plan.turn) {
  const issued = await turnCredential(plan.turn.secret, "local-check", 600);
  // A tampered credential: one character changed, as a client bug or an attacker would.
  if (plan.turn.tamper) issued.credential = (issued.credential[0] === "A" ? "B" : "A") + issued.credential.slice(1);
  iceServers = [{ urls: plan.turn.urls, ...issued }];
}
const connectMs = plan.connectMs ?? 10_000;

const peers = {};
const make = (name, other) =>
  new Peer({
    name,
    iceServers,
    relayOnly: Boolean(plan.relayOnly),
    onCandidate: (candidate) => peers[other].addCandidate(candidate),
  });
peers.caller = make("caller", "callee");
peers.callee = make("callee", "caller");

try {
  const offer = await peers.caller.offer();
  const answer = await peers.callee.answer(offer);
  await peers.caller.setRemote(answer);
  const started = Date.now();
  await Promise.all([peers.caller.waitConnected(connectMs), peers.callee.waitConnected(connectMs)]);
  report.connectedMs = Date.now() - started;
  await peers.caller.pingPong(5000);
  await peers.callee.pingPong(5000);
  await until(() => peers.caller.framesDecoded >= 30 && peers.callee.framesDecoded >= 30, 10_000, "30 frames each way");
} catch (error) {
  report.failure = error.message;
}
report.caller = await peers.caller.summary();
report.callee = await peers.callee.summary();
peers.caller.close();
peers.callee.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
