// Makes a video call through Parley, the way an app would: befriends the callee, invites them
// with a WebRTC offer (libwebrtc from @roamhq/wrtc), sends a synthetic video track, hangs up
// after a few seconds and prints the CALL message the call left in their chat.
// Start examples/call-callee.mjs first.
//
//   node examples/call-caller.mjs "$(deploy/local.sh token alice)" bob
//
// Environment: PARLEY_URL (default http://127.0.0.1:3000), CALL_SECONDS (5).
import wrtc from "@roamhq/wrtc";
import { io } from "socket.io-client";

const [token, callee] = process.argv.slice(2);
if (!token || !callee) {
  console.error("usage: node examples/call-caller.mjs TOKEN CALLEE_USERNAME");
  process.exit(2);
}
const url = process.env.PARLEY_URL ?? "http://127.0.0.1:3000";
const seconds = Number(process.env.CALL_SECONDS ?? 5);
const { RTCPeerConnection, nonstandard: { RTCVideoSource, RTCVideoSink } } = wrtc;

// Every request is answered { ok, data } or { ok: false, error: { code, message } }.
const request = (socket, event, payload) =>
  socket.timeout(10_000).emitWithAck(event, payload).then((reply) => {
    if (!reply.ok) throw new Error(`${event}: ${reply.error.code} ${reply.error.message}`);
    return reply.data;
  });
const connect = (namespace) => io(url + namespace, { auth: { token, deviceId: "caller-example" }, transports: ["websocket"] });
const [friends, calls, chat] = ["/friends", "/calls", "/chat"].map(connect);

// 1. Calls are between friends: ask, and wait until the callee's script accepts.
const friendOf = async () =>
  (await request(friends, "list-friends", {})).friends.find((f) => f.user.username === callee)?.user;
let peer = await friendOf();
if (!peer) {
  const accepted = new Promise((resolve) => friends.once("friend-request-accepted", ({ friend }) => resolve(friend.user)));
  await request(friends, "send-friend-request", { username: callee });
  peer = await accepted;
  console.log(`alice and ${callee} are friends`);
}

// 2. A peer connection with a video track; candidates go out once the call has an id.
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
  sink.onframe = () => ++frames === 30 && console.log("alice: video frames are arriving");
};
let wasConnected = false;
pc.onconnectionstatechange = () => pc.connectionState === "connected" && !wasConnected && connected();
let callId;
const early = [];
const sendIce = (candidates) => request(calls, "call-ice", { callId, candidates });
pc.onicecandidate = ({ candidate }) => candidate && (callId ? sendIce([candidate.toJSON()]) : early.push(candidate.toJSON()));

// 3. Invite: every device of the callee rings.
const offer = await pc.createOffer();
await pc.setLocalDescription(offer);
const { call } = await request(calls, "call-invite", {
  receiverId: peer.id, media: "VIDEO", offer: { type: offer.type, sdp: offer.sdp },
});
callId = call.id;
console.log(`alice: calling ${callee} (${call.state})`);
while (early.length) await sendIce(early.splice(0, 20));
calls.on("call-ice", (ice) => ice.callId === callId && ice.candidates.forEach((c) => pc.addIceCandidate(c).catch(() => {})));
calls.on("call-answered", ({ answer, by }) => {
  console.log(`alice: answered on ${by.deviceId}`);
  pc.setRemoteDescription(answer);
});
calls.on("call-ended", ({ call: ended }) => ended.id === callId && finish(ended));

// 4. Connected: tell the server, talk for a while, hang up.
async function connected() {
  wasConnected = true;
  console.log("alice: ICE connected");
  await request(calls, "call-connected", { callId });
  setTimeout(async () => finish((await request(calls, "call-hangup", { callId })).call), seconds * 1000);
}

// 5. The call is over: its one CALL message in the chat.
let finished = false;
async function finish(ended) {
  if (finished) return;
  finished = true;
  clearInterval(feeder);
  sink?.stop();
  pc.close();
  console.log(`alice: call ended (${ended.endReason}), ${frames} frames received`);
  for (let tries = 0; tries < 20; tries++) {
    const { messages } = await request(chat, "get-history", { roomId: ended.roomId, limit: 20 });
    const logged = messages.find((m) => m.messageType === "CALL" && m.call?.callId === callId);
    if (logged) {
      console.log(`in the chat: "${logged.content}"`, logged.call);
      process.exit(0);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.error("no CALL message in the chat");
  process.exit(1);
}
