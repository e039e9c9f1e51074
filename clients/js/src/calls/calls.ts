/**
 * `parley.calls` over `/calls` (docs/API.md "/calls"): places calls, rings for incoming
 * ones, routes the server's signaling to the call sessions, and resumes them after a
 * reconnect.
 */
import type { Channel } from "../channel.js";
import { Emitter } from "../emitter.js";
import { isTransient, ParleyError } from "../errors.js";
import { randomId } from "../ids.js";
import { present } from "../present.js";
import { type AcceptOptions, IncomingCall } from "./incoming.js";
import { IceServerCache } from "./ice.js";
import { CallSession, type SessionContext } from "./session.js";
import {
  type Call,
  type Description,
  type HangupReason,
  type IceServers,
  type Incoming,
  type Media,
  rtcIceServers,
} from "./wire.js";

export type CallsEvents = {
  incoming: [IncomingCall];
};

export type CallTarget = { receiverId: string } | { roomId: string };

export interface StartOptions {
  media: Media;
  /** The local audio (and video) to send; without one, the call only receives. */
  stream?: MediaStream;
}

export interface CallsContext {
  RTCPeerConnection: typeof RTCPeerConnection | undefined;
  report: (error: ParleyError) => void;
}

const INVITE_ATTEMPTS = 3;

export class Calls {
  readonly #channel: Channel<"/calls">;
  readonly #context: CallsContext;
  readonly #events = new Emitter<CallsEvents>();
  readonly #sessions = new Map<string, CallSession>();
  readonly #ringing = new Map<string, IncomingCall>();
  /** Hang-ups that could not be sent (call id -> reason): sent when the socket is back. */
  readonly #unsentHangups = new Map<string, HangupReason>();
  readonly #ice: IceServerCache;
  #connectedBefore = false;

  constructor(channel: Channel<"/calls">, context: CallsContext) {
    this.#channel = channel;
    this.#context = context;
    this.#ice = new IceServerCache(() => channel.request("get-ice-servers", {}));
    channel.listen("call-incoming", (incoming) => this.#onIncoming(incoming));
    channel.listen("call-answered", ({ callId, answer }) => this.#sessions.get(callId)?.answered(answer));
    channel.listen("call-ice", ({ callId, candidates }) => {
      const session = this.#sessions.get(callId);
      if (session) session.remoteCandidates(candidates);
      else this.#ringing.get(callId)?.addCandidates(candidates);
    });
    channel.listen("call-negotiate", ({ callId, description }) => this.#sessions.get(callId)?.negotiate(description));
    channel.listen("call-updated", ({ call }) => {
      if (call) this.#sessions.get(call.id)?.update(call);
    });
    channel.listen("call-ended", ({ call }) => {
      if (!call) return;
      this.#sessions.get(call.id)?.end(call);
      this.#ringing.get(call.id)?.ended(call);
      this.#ringing.delete(call.id);
    });
    channel.listen("call-dismissed", ({ callId, reason }) => {
      this.#ringing.get(callId)?.dismissed(reason);
      this.#ringing.delete(callId);
    });
    channel.listen("calls-state", ({ calls }) => this.#onState(calls));
    channel.onConnect(() => {
      if (this.#connectedBefore) this.#resume();
      this.#connectedBefore = true;
    });
  }

  /** `handler` for every call that rings this device. */
  on<E extends keyof CallsEvents>(event: E, handler: (...args: CallsEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** This device's live call sessions. */
  live(): CallSession[] {
    return [...this.#sessions.values()];
  }

  /** ICE servers (TURN credentials are time-limited: `expiresAt`), cached while fresh. */
  iceServers(): Promise<IceServers> {
    return this.#ice.get();
  }

  /**
   * Calls `target` (a user, or a DM room); resolves once invited, with the session (the callee
   * rings). A callee already in a call ends it at once (`state` `ENDED`, `endReason` `BUSY`).
   * When the callee was calling this user at that very moment, the server merges the two
   * calls and this device answers theirs: the session is that call's.
   */
  async start(target: CallTarget, options: StartOptions): Promise<CallSession> {
    const PeerConnection = this.#peerConnection();
    const { iceServers } = await this.iceServers();
    const pc = new PeerConnection({ iceServers: rtcIceServers(iceServers) });
    const session = this.#session(pc, false);
    addMedia(pc, options.media, options.stream);
    let invite;
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      invite = await this.#invite(target, options.media, { type: "offer", sdp: offer.sdp ?? "" } as Description);
    } catch (error) {
      pc.close();
      throw ParleyError.from(error, "call-invite");
    }
    const call = present(invite.call, "call-invite");
    if (invite.merged) {
      // Their offer wins: this device answers their call, on a connection of its own.
      pc.close();
      const incoming = { ...invite, call, candidates: invite.candidates ?? [], ringRemainingMs: 0 } as Incoming & { call: Call };
      return this.#accept(new IncomingCall(incoming, this.#incomingHandlers()), { stream: options.stream });
    }
    session.bind(call, invite);
    if (call.state === "ENDED") {
      session.end(call);
      return session;
    }
    this.#sessions.set(call.id, session);
    session.invited();
    return session;
  }

  /** Ends every session here (the connections close; the server ends the calls by its deadlines). */
  close(): void {
    for (const session of this.#sessions.values()) session.end({ ...session.info, state: "ENDED" } as Call);
    this.#sessions.clear();
    this.#ringing.clear();
    this.#events.clear();
  }

  #peerConnection(): typeof RTCPeerConnection {
    const PeerConnection = this.#context.RTCPeerConnection;
    if (!PeerConnection) {
      throw new ParleyError(
        "FAILED_PRECONDITION",
        "calls need an RTCPeerConnection: none in this environment, pass options.RTCPeerConnection",
      );
    }
    return PeerConnection;
  }

  #session(pc: RTCPeerConnection, polite: boolean): CallSession {
    const context: SessionContext = {
      channel: this.#channel,
      iceServers: () => this.iceServers(),
      report: this.#context.report,
      hangUpLater: (callId, reason) => this.#unsentHangups.set(callId, reason),
      onEnd: (ended) => {
        if (this.#sessions.get(ended.id) === ended) this.#sessions.delete(ended.id);
      },
    };
    return new CallSession(pc, polite, context);
  }

  /** `call-invite`, retried with its `clientCallId` (the server returns the call it made). */
  async #invite(target: CallTarget, media: Media, offer: Description) {
    const clientCallId = randomId();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#channel.request("call-invite", { ...target, media, offer, clientCallId });
      } catch (error) {
        const failure = ParleyError.from(error, "call-invite");
        if (!isTransient(failure) || failure.code === "DISCONNECTED" || attempt >= INVITE_ATTEMPTS) throw failure;
      }
    }
  }

  #incomingHandlers() {
    return {
      accept: (incoming: IncomingCall, options: AcceptOptions) => this.#accept(incoming, options),
      decline: async (incoming: IncomingCall) => {
        this.#ringing.delete(incoming.id);
        await this.#channel.request("call-decline", { callId: incoming.id });
      },
    };
  }

  #onIncoming(incoming: Incoming): void {
    const call = incoming.call;
    // A call may reach a device twice as it connects (docs/API.md): keyed by id.
    if (!call || this.#ringing.has(call.id) || this.#sessions.has(call.id)) return;
    const ringing = new IncomingCall({ ...incoming, call }, this.#incomingHandlers());
    this.#ringing.set(call.id, ringing);
    this.#events.emit("incoming", ringing);
  }

  async #accept(incoming: IncomingCall, options: AcceptOptions): Promise<CallSession> {
    const PeerConnection = this.#peerConnection();
    this.#ringing.delete(incoming.id);
    const { offer, iceServers, expiresAt, candidates } = incoming.incoming;
    if (!offer) throw new ParleyError("INTERNAL", "call-incoming: no offer", { event: "call-incoming" });
    const pc = new PeerConnection({ iceServers: rtcIceServers(iceServers) });
    const session = this.#session(pc, true);
    session.bind(incoming.info, { iceServers, expiresAt: expiresAt ?? null });
    // From here the caller's candidates (call-ice) go to the session.
    this.#sessions.set(incoming.id, session);
    try {
      session.remoteCandidates(candidates ?? []);
      const answer = await session.answer(offer, options.stream);
      const accepted = await this.#channel.request("call-accept", { callId: incoming.id, answer });
      session.accepted(present(accepted.call, "call-accept"), accepted.candidates ?? [], accepted);
      return session;
    } catch (error) {
      this.#sessions.delete(incoming.id);
      pc.close();
      throw ParleyError.from(error, "call-accept");
    }
  }

  /** `calls-state` on connect: calls that rang here and are no longer live ended meanwhile. */
  #onState(calls: readonly Call[]): void {
    const live = new Set(calls.map((call) => call.id));
    for (const [id, ringing] of this.#ringing) {
      if (!live.has(id)) {
        ringing.ended({ ...ringing.info, state: "ENDED" } as Call);
        this.#ringing.delete(id);
      }
    }
  }

  #resume(): void {
    for (const [callId, reason] of this.#unsentHangups) {
      this.#unsentHangups.delete(callId);
      // Hanging up a call that ended meanwhile answers it as it is (docs/API.md).
      this.#channel.request("call-hangup", { callId, reason }).catch(() => {});
    }
    for (const session of this.#sessions.values()) void session.resume();
  }
}

/**
 * The local tracks, and a receiving transceiver for each kind the call has but the stream
 * does not, so the offer asks for the peer's audio (and video) in any case.
 */
function addMedia(pc: RTCPeerConnection, media: Media, stream: MediaStream | undefined): void {
  const kinds = new Set<string>();
  for (const track of stream?.getTracks() ?? []) {
    pc.addTrack(track, stream as MediaStream);
    kinds.add(track.kind);
  }
  if (!kinds.has("audio")) pc.addTransceiver("audio", { direction: "recvonly" });
  if (media === "VIDEO" && !kinds.has("video")) pc.addTransceiver("video", { direction: "recvonly" });
}
