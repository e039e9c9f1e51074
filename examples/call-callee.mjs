// Answers a video call through Parley, the way an app would: accepts friend requests, waits
// for `call-incoming`, answers with a WebRTC peer (libwebrtc from @roamhq/wrtc) and sends a
// synthetic video track until the call ends. Run examples/call-caller.mjs beside it.
//
//   node examples/call-callee.mjs "$(deploy/local.sh token bob)"
//
// Environment: PARLEY_URL (default http://127.0.0.1:3000).
import wrtc from "@roamhq/wrtc";
import { io } from "socket.io-client";

const [token] = process.argv.slice(2);
if (!token) {
  console.error("usage: node examples/call-callee.mjs TOKEN");
  process.exit(2);
}
const url = process.env.PARLEY_URL ?? "http://127.0.0.1:3000";
const { RTCPeerConnection, nonstandard: { RTCVideoSource, RTCVideoSink } } = wrtc;

// Every request is answered { ok, data } or { ok: false, error: { code, message } }.
const request = (socket, event, payload) =>
  socket.timeout(10_000).emitWithAck(event, payload).then((reply) => {
    if (!reply.ok) throw new Error(`${event}: ${reply.error.code} ${reply.error.message}`);
    return reply.data;
  });
const connect = (namespace) => io(url + namespace, { auth: { token, deviceId: "callee-example" }, transports: ["websocket"] });

// Calls are between friends: accept whoever asks.
const friends = connect("/friends");
friends.on("friend-request-received", ({ request: asked }) =>
  request(friends, "accept-friend-request", { requestId: asked.id })
    .then(() => console.log(`bob accepted ${asked.from.username}'s friend request`)));

const calls = connect("/calls");
calls.on("connect", () => console.log("bob is waiting for a call"));
calls.on("call-incoming", async ({ call, offer, candidates }) => {
  console.log(`${call.media} call from ${call.caller.userId}: answering`);
  const { iceServers } = await request(calls, "get-ice-servers", {});
  const pc = new RTCPeerConnection({ iceServers });
  const source = new RTCVideoSource();
  pc.addTrack(source.createTrack());
  const frame = { width: 160, height: 120, data: new Uint8ClampedArray(160 * 120 * 1.5).fill(128) };
  const feeder = setInterval(() => source.onFrame(frame), 33);
  let frames = 0;
  let sink;
  pc.ontrack = ({ track }) => {
    sink = new RTCVideoSink(track);
    sink.onframe = () => ++frames === 30 && console.log("bob: video frames are arriving");
  };
  pc.onconnectionstatechange = () => pc.connectionState === "connected" && console.log("bob: ICE connected");
  // A callee's candidates go out once it has accepted; those gathered before wait.
  let accepted;
  const early = [];
  const sendIce = (candidates) => request(calls, "call-ice", { callId: call.id, candidates });
  pc.onicecandidate = ({ candidate }) => candidate && (accepted ? sendIce([candidate.toJSON()]) : early.push(candidate.toJSON()));
  const addAll = (list) => list.forEach((c) => pc.addIceCandidate(c).catch(() => {}));
  calls.on("call-ice", (ice) => ice.callId === call.id && addAll(ice.candidates));

  await pc.setRemoteDescription(offer);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  addAll(candidates);
  accepted = await request(calls, "call-accept", { callId: call.id, answer: { type: answer.type, sdp: answer.sdp } });
  addAll(accepted.candidates); // the caller's candidates sent while it rang
  while (early.length) await sendIce(early.splice(0, 20));

  calls.on("call-ended", ({ call: ended }) => {
    if (ended.id !== call.id) return;
    console.log(`bob: call ended (${ended.endReason}) after ${ended.durationMs ?? 0} ms, ${frames} frames received`);
    clearInterval(feeder);
    sink?.stop();
    pc.close();
    process.exit(0);
  });
});
