// A real WebRTC peer for the calls tests: libwebrtc through @roamhq/wrtc, sending a synthetic
// video track (I420 frames from `nonstandard.RTCVideoSource`), counting the frames it decodes
// from the remote track (`RTCVideoSink`), a data channel for a ping/pong, trickle ICE, and
// `getStats()` for the candidate pair ICE selected. Signaling is the caller's business: the
// peer hands out its description and candidates and takes the other side's.
import wrtc from "@roamhq/wrtc";

const { RTCPeerConnection, nonstandard } = wrtc;
const { RTCVideoSource, RTCVideoSink } = nonstandard;

const WIDTH = 160;
const HEIGHT = 120;
const FPS = 30;

/** A frame of flat grey whose brightness changes, so the encoder has something to send. */
function frame(n) {
  const data = new Uint8ClampedArray(WIDTH * HEIGHT * 1.5);
  data.fill((n * 7) % 256, 0, WIDTH * HEIGHT);
  data.fill(128, WIDTH * HEIGHT);
  return { width: WIDTH, height: HEIGHT, data };
}

/** Waits until `check()` is true, polling; rejects with `what` after `ms`. */
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export class Peer {
  /**
   * `iceServers` as RTCPeerConnection takes them; `relayOnly` gathers and uses relay
   * candidates only; `onCandidate(candidate | null)` gets every local candidate (null at the
   * end of gathering), to be sent to the other side.
   */
  constructor({ name, iceServers = [], relayOnly = false, onCandidate = () => {} }) {
    this.name = name;
    this.pc = new RTCPeerConnection({
      iceServers,
      iceTransportPolicy: relayOnly ? "relay" : "all",
    });
    this.gathered = []; // the candidateType of every local candidate
    this.framesDecoded = 0;
    this.messages = []; // data-channel messages received
    this.states = []; // every iceConnectionState, in order
    this.pendingRemote = []; // remote candidates that came before the remote description
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) {
        const type = / typ (\w+)/.exec(candidate.candidate)?.[1];
        if (type) this.gathered.push(type);
        onCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex });
      } else {
        onCandidate(null);
      }
    };
    this.pc.oniceconnectionstatechange = () => this.states.push(this.pc.iceConnectionState);
    this.pc.ontrack = ({ track }) => {
      if (track.kind !== "video") return;
      this.sink = new RTCVideoSink(track);
      this.sink.onframe = () => {
        this.framesDecoded += 1;
      };
    };
    this.pc.ondatachannel = ({ channel }) => this.#useChannel(channel);

    // The outgoing video: a track fed at FPS frames a second until close().
    this.source = new RTCVideoSource();
    this.track = this.source.createTrack();
    this.pc.addTrack(this.track);
    let n = 0;
    this.feeder = setInterval(() => this.source.onFrame(frame(n++)), 1000 / FPS);
  }

  #useChannel(channel) {
    this.channel = channel;
    channel.onmessage = ({ data }) => {
      this.messages.push(String(data));
      // Every ping is answered, so that one side's ping proves both directions.
      if (String(data).startsWith("ping ")) channel.send(`pong ${this.name}`);
    };
  }

  /** The caller's side: a data channel, then the offer. */
  async offer() {
    this.#useChannel(this.pc.createDataChannel("parley-test"));
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return { type: offer.type, sdp: offer.sdp };
  }

  /** The callee's side: takes the offer, returns the answer. */
  async answer(offer) {
    await this.setRemote(offer);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return { type: answer.type, sdp: answer.sdp };
  }

  /** Takes the other side's description, then the candidates that came before it. */
  async setRemote(description) {
    await this.pc.setRemoteDescription(description);
    const pending = this.pendingRemote.splice(0);
    for (const candidate of pending) await this.pc.addIceCandidate(candidate);
  }

  /** Takes one remote candidate (kept until the remote description is there). */
  async addCandidate(candidate) {
    if (!candidate || !candidate.candidate) return;
    if (!this.pc.remoteDescription) this.pendingRemote.push(candidate);
    else await this.pc.addIceCandidate(candidate);
  }

  get connected() {
    return ["connected", "completed"].includes(this.pc.iceConnectionState);
  }

  /** Resolves once ICE connected; rejects if it failed or `ms` passed. */
  async waitConnected(ms) {
    await until(() => {
      if (this.pc.iceConnectionState === "failed") throw new Error(`${this.name}: ICE failed`);
      return this.connected;
    }, ms, `${this.name}: ICE connected (states: ${this.states.join(",")})`);
  }

  /** Sends a ping and waits for the other side's pong. */
  async pingPong(ms) {
    await until(() => this.channel?.readyState === "open", ms, `${this.name}: data channel open`);
    const before = this.messages.length;
    this.channel.send(`ping ${this.name}`);
    await until(
      () => this.messages.slice(before).some((m) => m.startsWith("pong ")),
      ms,
      `${this.name}: pong`,
    );
  }

  /** The candidate types of the pair ICE selected: `{ local, remote }`, or null. */
  async selectedPair() {
    const stats = await this.pc.getStats();
    const all = [...stats.values()];
    const transport = all.find((s) => s.type === "transport" && s.selectedCandidatePairId);
    const pair =
      (transport && stats.get(transport.selectedCandidatePairId)) ??
      all.find((s) => s.type === "candidate-pair" && s.state === "succeeded" && s.nominated);
    if (!pair) return null;
    return {
      local: stats.get(pair.localCandidateId)?.candidateType,
      remote: stats.get(pair.remoteCandidateId)?.candidateType,
    };
  }

  /** What a report says about this peer. */
  async summary() {
    return {
      iceState: this.pc.iceConnectionState,
      connectionState: this.pc.connectionState,
      states: this.states,
      gathered: [...new Set(this.gathered)],
      framesDecoded: this.framesDecoded,
      messages: this.messages,
      selectedPair: await this.selectedPair(),
    };
  }

  close() {
    clearInterval(this.feeder);
    this.sink?.stop();
    this.track.stop();
    this.pc.close();
  }
}

/** The TURN REST credential coturn checks: base64(HMAC-SHA1(secret, "<expiry>:<user>")). */
export async function turnCredential(secret, user, ttlSeconds) {
  const { createHmac } = await import("node:crypto");
  const username = `${Math.floor(Date.now() / 1000) + ttlSeconds}:${user}`;
  return { username, credential: createHmac("sha1", secret).update(username).digest("base64") };
}
