import type { Socket } from "socket.io-client";

import { ParleyError } from "./errors.js";
import type { AckData, ClientEvent, Namespace, Payload, ServerEvent, ServerPayload } from "./protocol.js";
import { request } from "./request.js";

/**
 * One namespace's socket, typed from the generated protocol: what the feature modules (chat,
 * presence, friends, calls) talk through. A namespace left out of `options.namespaces` has no
 * socket: its requests fail with `FAILED_PRECONDITION` and its events never come.
 */
export class Channel<N extends Namespace> {
  readonly namespace: N;
  readonly socket: Socket | undefined;
  readonly #timeoutMs: number;

  constructor(namespace: N, socket: Socket | undefined, timeoutMs: number) {
    this.namespace = namespace;
    this.socket = socket;
    this.#timeoutMs = timeoutMs;
  }

  /** Whether this namespace is among `options.namespaces`. */
  get enabled(): boolean {
    return this.socket !== undefined;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  request<E extends ClientEvent<N>>(event: E, payload: Payload<N, E>): Promise<AckData<N, E>> {
    if (!this.socket) return Promise.reject(this.notEnabled(event));
    return request<AckData<N, E>>(this.socket, event, payload, this.#timeoutMs);
  }

  /** What a request on a namespace left out of `options.namespaces` fails with. */
  notEnabled(event: string): ParleyError {
    return new ParleyError("FAILED_PRECONDITION", `${event}: ${this.namespace} is not among options.namespaces`, { event });
  }

  /** Calls `handler` with every `event` the server emits here; returns the unsubscribe function. */
  listen<E extends ServerEvent<N>>(event: E, handler: (payload: ServerPayload<N, E>) => void): () => void {
    const socket = this.socket;
    if (!socket) return () => {};
    // socket.io-client's Socket is untyped here: the protocol's maps type the payload instead.
    const listener = (payload: unknown) => handler(payload as ServerPayload<N, E>);
    socket.on(event as string, listener);
    return () => {
      socket.off(event as string, listener);
    };
  }

  /** `handler` on every (re)connect of this namespace. */
  onConnect(handler: () => void): void {
    this.socket?.on("connect", handler);
  }

  /** `handler(reason)` whenever this namespace's socket drops. */
  onDisconnect(handler: (reason: string) => void): void {
    this.socket?.on("disconnect", handler);
  }
}
