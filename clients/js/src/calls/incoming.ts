/**
 * A call ringing on this device (`call-incoming`, docs/API.md "/calls"), until it is
 * accepted, declined, answered on another device (`dismissed`) or ended.
 */
import { Emitter } from "../emitter.js";
import { ParleyError } from "../errors.js";
import type { CallSession } from "./session.js";
import type { Call, Incoming, PeerCandidate } from "./wire.js";

export type IncomingCallEvents = {
  /** Another device of this user answered (`ANSWERED_ELSEWHERE`): stop ringing. */
  dismissed: [reason: string];
  /** The call ended before this device answered (the caller hung up, it was missed, ...). */
  ended: [Call];
};

export interface AcceptOptions {
  stream?: MediaStream;
}

export interface IncomingHandlers {
  accept: (incoming: IncomingCall, options: AcceptOptions) => Promise<CallSession>;
  decline: (incoming: IncomingCall) => Promise<void>;
}

export class IncomingCall {
  readonly #events = new Emitter<IncomingCallEvents>();
  readonly #handlers: IncomingHandlers;
  #incoming: Incoming;
  #info: Call;
  /** The caller's candidates so far: those of `call-incoming`, then each `call-ice`. */
  #candidates: PeerCandidate[];
  #done = false;

  constructor(incoming: Incoming & { call: Call }, handlers: IncomingHandlers) {
    this.#incoming = incoming;
    this.#info = incoming.call;
    this.#candidates = [...(incoming.candidates ?? [])];
    this.#handlers = handlers;
  }

  get id(): string {
    return this.#info.id;
  }

  /** The protocol's `call`, as `call-incoming` gave it. */
  get info(): Call {
    return this.#info;
  }

  /** The ring time left when it came, by the server's clock. */
  get ringRemainingMs(): number {
    return this.#incoming.ringRemainingMs;
  }

  /** What `accept` needs: the caller's offer, its candidates, the ICE servers. */
  get incoming(): Incoming {
    return { ...this.#incoming, candidates: [...this.#candidates] };
  }

  on<E extends keyof IncomingCallEvents>(event: E, handler: (...args: IncomingCallEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** Answers on this device; resolves with the call's session once the server took the answer. */
  accept(options: AcceptOptions = {}): Promise<CallSession> {
    if (this.#done) return Promise.reject(this.#over("accept"));
    this.#done = true;
    return this.#handlers.accept(this, options);
  }

  decline(): Promise<void> {
    if (this.#done) return Promise.reject(this.#over("decline"));
    this.#done = true;
    return this.#handlers.decline(this);
  }

  #over(what: string): ParleyError {
    return new ParleyError("FAILED_PRECONDITION", `${what}: this call was already answered, declined or ended here`);
  }

  // What the manager tells it.

  addCandidates(candidates: readonly PeerCandidate[]): void {
    this.#candidates.push(...candidates);
  }

  dismissed(reason: string): void {
    if (!this.#done) this.#events.emit("dismissed", reason);
    this.#finish();
  }

  ended(call: Call): void {
    this.#info = call;
    if (!this.#done) this.#events.emit("ended", call);
    this.#finish();
  }

  #finish(): void {
    this.#done = true;
    this.#events.clear();
  }
}
