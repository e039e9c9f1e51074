/**
 * One call on this device: its RTCPeerConnection and the signaling around it (docs/API.md
 * "/calls"). The first offer and answer travel with `call-invite` and `call-accept`; later
 * renegotiation (`call-negotiate`) follows the "perfect negotiation" pattern, the callee
 * being the polite side; `call-connected` goes out when ICE connects; after a reconnect,
 * `resume()` carries the call on (`call-resume`) and restarts ICE when it failed.
 */
import type { Channel } from "../channel.js";
import { Emitter } from "../emitter.js";
import { ParleyError } from "../errors.js";
import { CandidateQueue } from "./candidates.js";
import { type IceInfo, IceRefresh } from "./ice.js";
import {
  type Call,
  type CallState,
  type Candidate,
  candidateOf,
  type Description,
  descriptionOf,
  type HangupReason,
  type PeerCandidate,
  type PeerDescription,
  rtcCandidate,
} from "./wire.js";

export type CallSessionEvents = {
  state: [CallState];
  track: [RTCTrackEvent];
  ended: [Call];
};

export interface SessionContext {
  channel: Channel<"/calls">;
  /** Fresh ICE servers (`get-ice-servers`), for a session whose credentials run out. */
  iceServers: () => Promise<IceInfo>;
  report: (error: ParleyError) => void;
  /** A hang-up that could not be sent now: the manager sends it once the socket is back. */
  hangUpLater: (callId: string, reason: HangupReason) => void;
  /** The session ended: the manager forgets it. */
  onEnd: (session: CallSession) => void;
}

/** How long after a reconnect a resume is worth asking for (the server's window is 30 s). */
const RESUME_WINDOW_MS = 25_000;
/** An offer still unanswered this long is sent again (its answer, or itself, may be lost). */
const OFFER_RESEND_MS = 3_000;
const OFFER_RESENDS = 5;

export class CallSession {
  readonly pc: RTCPeerConnection;
  readonly #context: SessionContext;
  readonly #polite: boolean;
  readonly #events = new Emitter<CallSessionEvents>();
  readonly #candidates: CandidateQueue;
  #info: Call | undefined;
  #state: CallState = "RINGING";
  /** Remote candidates that came before the remote description. */
  #pendingRemote: PeerCandidate[] = [];
  #remoteReady = false;
  /** Set once the first offer/answer is done: from then on `negotiationneeded` renegotiates. */
  #negotiating = false;
  #makingOffer = false;
  #ignoreOffer = false;
  /** Signaling steps run one at a time, in the order they came. */
  #ops: Promise<void> = Promise.resolve();
  #everConnected = false;
  #reportedConnected = false;
  readonly #ice: IceRefresh;
  /** A description whose `call-negotiate` found the socket down: sent again on resume. */
  #unsent: Description | undefined;
  #ended = false;

  constructor(pc: RTCPeerConnection, polite: boolean, context: SessionContext) {
    this.pc = pc;
    this.#polite = polite;
    this.#context = context;
    this.#ice = new IceRefresh(pc, context.iceServers, context.report);
    this.#candidates = new CandidateQueue(async (candidates, end) => {
      await context.channel.request("call-ice", { callId: this.id, candidates, ...(end ? { end } : {}) });
    }, context.report);
    pc.onicecandidate = ({ candidate }) => {
      // `null`, or an empty candidate in some browsers, is the end of gathering.
      if (candidate && candidate.candidate) this.#candidates.add(candidateOf(candidate));
      else this.#candidates.end();
    };
    pc.ontrack = (event) => this.#events.emit("track", event);
    pc.oniceconnectionstatechange = () => this.#onIceState();
    pc.onnegotiationneeded = () => {
      if (this.#negotiating) this.#run(() => this.#offer(false));
    };
  }

  get id(): string {
    return this.#info?.id ?? "";
  }

  /** The call as the server last described it. */
  get info(): Call {
    if (!this.#info) throw new ParleyError("FAILED_PRECONDITION", "the call has no id yet");
    return this.#info;
  }

  get state(): CallState {
    return this.#state;
  }

  on<E extends keyof CallSessionEvents>(event: E, handler: (...args: CallSessionEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** Hangs up (`HANGUP` unless told otherwise); resolves with the ended call. */
  async hangup(reason: HangupReason = "HANGUP" as HangupReason): Promise<Call> {
    if (this.#ended) return this.info;
    try {
      const { call } = await this.#context.channel.request("call-hangup", { callId: this.id, reason });
      this.end(call ?? this.#endedLocally(reason));
    } catch (error) {
      // Not connected: the call ends here now; the hang-up goes out when the socket is back.
      this.end(this.#endedLocally(reason));
      const failure = ParleyError.from(error, "call-hangup");
      if (failure.code !== "DISCONNECTED") throw failure;
      this.#context.hangUpLater(this.id, reason);
    }
    return this.info;
  }

  // What the manager tells the session.

  /** The call now has its id (the invite's or the incoming call's); `ice` from its ack. */
  bind(call: Call, ice?: IceInfo): void {
    this.#update(call);
    this.#ice.use(ice);
  }

  /** The caller's side: the invite is acknowledged, candidates may go. */
  invited(): void {
    this.#candidates.release();
  }

  /** The caller's side: the callee answered. */
  answered(answer: PeerDescription | null | undefined): void {
    if (!answer) return;
    this.#run(async () => {
      await this.pc.setRemoteDescription(answer as RTCSessionDescriptionInit);
      this.#remoteIsSet();
      this.#negotiating = true;
      if (this.#state === "RINGING") this.#setState("CONNECTING");
      this.#reportConnected();
    });
  }

  /** The callee's side: takes the caller's offer and makes the answer (`call-accept` sends it). */
  async answer(offer: PeerDescription, stream: MediaStream | undefined): Promise<Description> {
    await this.pc.setRemoteDescription(offer as RTCSessionDescriptionInit);
    this.#remoteIsSet();
    // After the offer, so the tracks take the transceivers it made instead of adding more.
    if (stream) for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return descriptionOf(answer);
  }

  /** The callee's side: the accept is acknowledged, with the caller's candidates so far. */
  accepted(call: Call, candidates: readonly PeerCandidate[], ice?: IceInfo): void {
    this.#update(call);
    this.#ice.use(ice);
    this.remoteCandidates(candidates);
    this.#negotiating = true;
    this.#candidates.release();
    this.#reportConnected();
  }

  /** Candidates of the peer (`call-ice`, or an ack's `candidates`). */
  remoteCandidates(candidates: readonly PeerCandidate[]): void {
    for (const candidate of candidates) {
      if (!candidate.candidate) continue;
      if (!this.#remoteReady) this.#pendingRemote.push(candidate);
      else this.#addRemote(candidate);
    }
  }

  /** A renegotiation step from the peer (`call-negotiate`). */
  negotiate(description: PeerDescription | null | undefined): void {
    if (!description) return;
    this.#run(async () => {
      // An answer to an offer that was already answered (a resent offer's second answer).
      if (description.type === "answer" && this.pc.signalingState !== "have-local-offer") return;
      const collision = description.type === "offer" && (this.#makingOffer || this.pc.signalingState !== "stable");
      this.#ignoreOffer = !this.#polite && collision;
      if (this.#ignoreOffer) return;
      // The polite side gives way: its own offer is rolled back (explicitly, for WebRTC stacks
      // without the implicit rollback).
      if (collision) await this.pc.setLocalDescription({ type: "rollback" });
      await this.pc.setRemoteDescription(description as RTCSessionDescriptionInit);
      this.#remoteIsSet();
      if (description.type === "offer") {
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        await this.#sendDescription(descriptionOf(answer));
      }
    });
  }

  /** The server's newer view of the call (`call-updated`, acks). */
  update(call: Call | null | undefined): void {
    if (!call) return;
    if (call.state === "ENDED") this.end(call);
    else this.#update(call);
  }

  /** The /calls socket is back: carry the call on, restarting ICE if it failed meanwhile. */
  async resume(): Promise<void> {
    if (this.#ended || !this.#info) return;
    // The server keeps the call RESUME_WINDOW_MS for this device (docs/API.md: 30 s without a
    // socket); a resume answered UNAVAILABLE or not at all is asked again within it.
    const deadline = Date.now() + RESUME_WINDOW_MS;
    for (let attempt = 1; !this.#ended && this.#context.channel.connected; attempt += 1) {
      try {
        const resumed = await this.#context.channel.request("call-resume", { callId: this.id });
        if (resumed.call?.state === "ENDED") {
          this.end(resumed.call);
          return;
        }
        this.update(resumed.call);
        this.#ice.use(resumed);
        this.remoteCandidates(resumed.candidates ?? []);
        this.#candidates.retry();
        this.#resendMissed();
        if (this.pc.iceConnectionState === "failed") this.#restartIce();
        return;
      } catch (error) {
        const failure = ParleyError.from(error, "call-resume");
        if (failure.code === "NOT_FOUND") {
          this.end(this.#endedLocally("CONNECTION_LOST" as HangupReason));
          return;
        }
        if (failure.code === "DISCONNECTED") return; // the next connect resumes again
        const retryable = failure.code === "UNAVAILABLE" || failure.code === "TIMEOUT" || failure.code === "RATE_LIMITED";
        if (!retryable || Date.now() > deadline) {
          this.#context.report(failure);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, failure.retryAfterMs ?? Math.min(500 * attempt, 3_000)));
      }
    }
  }

  /** The call is over (`call-ended`, a hang-up, a failed resume): closes the connection. */
  end(call: Call): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#info = call;
    this.#candidates.close();
    this.#ice.stop();
    this.pc.onicecandidate = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.onnegotiationneeded = null;
    this.pc.close();
    this.#setState("ENDED");
    this.#events.emit("ended", call);
    this.#events.clear();
    this.#context.onEnd(this);
  }

  #endedLocally(reason: string): Call {
    return { ...this.info, state: "ENDED", endReason: reason, endedAt: new Date().toISOString() } as Call;
  }

  #update(call: Call): void {
    this.#info = call;
    this.#setState(call.state);
  }

  #setState(state: CallState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#events.emit("state", state);
  }

  #run(step: () => Promise<void>): void {
    this.#ops = this.#ops.then(step).catch((error: unknown) => {
      if (!this.#ended) this.#context.report(ParleyError.from(error, "call-negotiate"));
    });
  }

  #remoteIsSet(): void {
    this.#remoteReady = true;
    const pending = this.#pendingRemote;
    this.#pendingRemote = [];
    for (const candidate of pending) this.#addRemote(candidate);
  }

  #addRemote(candidate: PeerCandidate): void {
    this.pc.addIceCandidate(rtcCandidate(candidate)).catch((error: unknown) => {
      // A candidate of an offer this side ignored (perfect negotiation) is expected to fail.
      if (!this.#ignoreOffer && !this.#ended) this.#context.report(ParleyError.from(error, "call-ice"));
    });
  }

  async #offer(iceRestart: boolean): Promise<void> {
    this.#makingOffer = true;
    try {
      const offer = await this.pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      if (this.pc.signalingState !== "stable") return;
      await this.pc.setLocalDescription(offer);
      if (iceRestart) this.#candidates.restart();
      const sent = descriptionOf(offer);
      await this.#sendDescription(sent);
      this.#watchOffer(sent, 1);
    } finally {
      this.#makingOffer = false;
    }
  }

  /** `call-negotiate`; one that finds the socket down waits for `resume()`. */
  async #sendDescription(description: Description): Promise<void> {
    this.#unsent = undefined;
    try {
      await this.#context.channel.request("call-negotiate", { callId: this.id, description });
    } catch (error) {
      const failure = ParleyError.from(error, "call-negotiate");
      if (failure.code !== "DISCONNECTED") throw failure;
      this.#unsent = description;
    }
  }

  /**
   * Sends `offer` again while it stays unanswered: a signaling message relayed while the peer
   * was reconnecting can be lost, and the peer answers a repeated offer again.
   */
  #watchOffer(offer: Description, attempt: number): void {
    if (attempt > OFFER_RESENDS) return;
    setTimeout(() => {
      const waiting = this.pc.signalingState === "have-local-offer" && this.pc.localDescription?.sdp === offer.sdp;
      if (this.#ended || !waiting) return;
      if (this.#context.channel.connected) this.#run(() => this.#sendDescription(offer));
      this.#watchOffer(offer, attempt + 1);
    }, OFFER_RESEND_MS * attempt);
  }

  /** After a reconnect: what the peer may have missed of this side's signaling. */
  #resendMissed(): void {
    const unsent = this.#unsent;
    // Only the current local description still matters to the peer.
    if (unsent && this.pc.localDescription?.sdp === unsent.sdp) this.#run(() => this.#sendDescription(unsent));
    else this.#unsent = undefined;
    this.#reportConnected();
  }

  #restartIce(): void {
    if (!this.#negotiating) return;
    this.#run(() => this.#offer(true));
  }

  #onIceState(): void {
    const state = this.pc.iceConnectionState;
    if (state === "connected" || state === "completed") {
      this.#everConnected = true;
      this.#reportConnected();
    } else if (state === "failed") {
      // Never connected: the call cannot work (docs/API.md: reported as ICE_FAILED). Connected
      // before: a network change, worth an ICE restart (when the socket is up; else resume does it).
      if (!this.#everConnected) void this.hangup("ICE_FAILED" as HangupReason).catch(() => {});
      else if (this.#context.channel.connected) this.#restartIce();
    }
  }

  /**
   * `call-connected` once ICE connected, and only once this device is in the call: the callee's
   * ICE may connect before its `call-accept` is acknowledged, and until then the server does
   * not know this device answered (`PERMISSION_DENIED`).
   */
  #reportConnected(): void {
    const ice = this.pc.iceConnectionState;
    const connected = ice === "connected" || ice === "completed";
    if (!connected || !this.#negotiating || this.#reportedConnected || this.#state === "ACTIVE") return;
    this.#reportedConnected = true;
    this.#context.channel
      .request("call-connected", { callId: this.id })
      .then(({ call }) => this.update(call))
      .catch((error: unknown) => {
        this.#reportedConnected = false;
        const failure = ParleyError.from(error, "call-connected");
        if (failure.code !== "DISCONNECTED") this.#context.report(failure);
      });
  }
}
