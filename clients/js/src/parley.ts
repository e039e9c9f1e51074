/**
 * `Parley`: one socket.io-client Manager (one connection) carrying `/chat`, `/status`,
 * `/friends` and `/calls` (docs/API.md "Connecting"), the token kept fresh on it, and the
 * feature modules on top.
 */
import { Manager, type ManagerOptions, type Socket } from "socket.io-client";

import { Calls } from "./calls/calls.js";
import { Channel } from "./channel.js";
import { Chat } from "./chat/chat.js";
import { defaultDeviceId } from "./device.js";
import { Emitter } from "./emitter.js";
import { fromWireError, ParleyError } from "./errors.js";
import { Friends } from "./friends.js";
import { Presence } from "./presence.js";
import {
  type AckData,
  type ClientEvent,
  NAMESPACE_NAMES,
  type Namespace,
  type NamespaceName,
  namespaceOf,
  type Payload,
  type ServerEvent,
  type ServerPayload,
} from "./protocol.js";
import { request } from "./request.js";
import { claimsOf, type TokenSource, Tokens } from "./token.js";

export interface ParleyOptions {
  /** The edge, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Called on connect, on every reconnect, and before the current token expires. */
  token: TokenSource;
  /** The `/calls` device; default: kept in localStorage ("parley.deviceId"), else random. */
  deviceId?: string;
  /** Default: all four. */
  namespaces?: NamespaceName[];
  /** The `/status` heartbeat; default 30 000. */
  heartbeatIntervalMs?: number;
  /** `auth-refresh` this long before the token's `exp`; default 60 000. */
  refreshBeforeExpiryMs?: number;
  /** Ack timeout per request; default 10 000. */
  requestTimeoutMs?: number;
  /** Default: `globalThis.RTCPeerConnection` (Node has none: pass e.g. @roamhq/wrtc's). */
  RTCPeerConnection?: typeof RTCPeerConnection;
  /** Passed to the one Manager (transports, reconnection delays, ...). */
  socketOptions?: Partial<ManagerOptions>;
}

export type ParleyEvents = {
  /** Every namespace is connected (the first connect and every reconnect). */
  connected: [];
  /** A namespace dropped (with socket.io's reason); the client reconnects by itself. */
  disconnected: [reason: string];
  /** Connected again after a drop, and chat caught up (`sync` done). */
  reconnected: [];
  /** A failure no caller waits for (a refresh that failed, a gap that could not be filled, ...). */
  error: [error: ParleyError];
};

export interface Me {
  id: string;
  username: string;
}

/** A namespace refused by the server is asked again after this long (doubling, capped). */
const RETRY_CONNECT_MS = (attempt: number) => Math.min(1_000 * 2 ** attempt, 30_000);

type Channels = { [N in Namespace]: Channel<N> };

export class Parley {
  readonly chat: Chat;
  readonly presence: Presence;
  readonly friends: Friends;
  readonly calls: Calls;

  readonly #manager: Manager;
  readonly #sockets = new Map<NamespaceName, Socket>();
  readonly #channels: Channels;
  readonly #events = new Emitter<ParleyEvents>();
  readonly #tokens: Tokens;
  readonly #deviceId: string;
  readonly #timeoutMs: number;
  /** The token each namespace's latest handshake carried. */
  readonly #handshakeTokens = new Map<NamespaceName, string>();
  readonly #retries = new Map<NamespaceName, { attempt: number; timer?: ReturnType<typeof setTimeout> }>();
  #me: Me | undefined;
  #connecting: { promise: Promise<void>; resolve: () => void; reject: (error: ParleyError) => void } | undefined;
  #allConnected = false;
  #everConnected = false;
  #closed = false;

  constructor(options: ParleyOptions) {
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#deviceId = options.deviceId ?? defaultDeviceId();
    this.#tokens = new Tokens(options.token, {
      refreshBeforeExpiryMs: options.refreshBeforeExpiryMs ?? 60_000,
      refresh: (token) => this.#refresh(token),
      onError: (error) => this.#report(ParleyError.from(error, "auth-refresh")),
    });
    // The namespaces connect when `connect()` says so, all over this one Manager.
    this.#manager = new Manager(options.url, { ...options.socketOptions, autoConnect: false });
    for (const name of new Set(options.namespaces ?? NAMESPACE_NAMES)) {
      const socket = this.#manager.socket(namespaceOf(name), { auth: (cb) => this.#auth(name, cb) });
      this.#sockets.set(name, socket);
      this.#watch(name, socket);
    }
    const channel = <N extends Namespace>(namespace: N) =>
      new Channel(namespace, this.#sockets.get(namespace.slice(1) as NamespaceName), this.#timeoutMs);
    this.#channels = {
      "/chat": channel("/chat"),
      "/status": channel("/status"),
      "/friends": channel("/friends"),
      "/calls": channel("/calls"),
    };
    const report = (error: ParleyError) => this.#report(error);
    this.chat = new Chat(this.#channels["/chat"], { me: () => this.#me?.id, report });
    this.presence = new Presence(this.#channels["/status"], options.heartbeatIntervalMs ?? 30_000, report);
    this.friends = new Friends(this.#channels["/friends"]);
    this.calls = new Calls(this.#channels["/calls"], {
      RTCPeerConnection: options.RTCPeerConnection ?? globalThis.RTCPeerConnection,
      report,
    });
  }

  /**
   * Connects every namespace; resolves once all are connected. Rejects with a ParleyError
   * when the first connect fails: the server's code (`UNAUTHENTICATED`, `RATE_LIMITED`,
   * `INVALID_ARGUMENT` for a bad deviceId), or `UNAVAILABLE` when the edge cannot be reached.
   * After a rejection, `connect()` may be called again.
   */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new ParleyError("CLOSED", "the client was closed"));
    if (this.connected) return Promise.resolve();
    if (this.#connecting) return this.#connecting.promise;
    let resolve!: () => void;
    let reject!: (error: ParleyError) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#connecting = { promise, resolve, reject };
    for (const socket of this.#sockets.values()) socket.connect();
    return promise;
  }

  /** Disconnects, stops the timers, rejects pending sends with `CLOSED`. Final. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tokens.stop();
    for (const retry of this.#retries.values()) if (retry.timer !== undefined) clearTimeout(retry.timer);
    this.chat.close();
    this.presence.close();
    this.calls.close();
    this.#connecting?.reject(new ParleyError("CLOSED", "the client was closed"));
    this.#connecting = undefined;
    for (const socket of this.#sockets.values()) socket.disconnect();
    this.#events.clear();
  }

  /** The user, from the token's claims (`sub`, `name`). Known once `connect()` resolved. */
  get me(): Me {
    if (!this.#me) throw new ParleyError("DISCONNECTED", "parley.me is known once connect() resolved");
    return this.#me;
  }

  /** Whether every namespace is connected. */
  get connected(): boolean {
    return [...this.#sockets.values()].every((socket) => socket.connected);
  }

  /** This device's id on `/calls`. */
  get deviceId(): string {
    return this.#deviceId;
  }

  on<E extends keyof ParleyEvents>(event: E, handler: (...args: ParleyEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** Any event of the protocol, typed from it; resolves with the ack's `data`. */
  request<N extends Namespace, E extends ClientEvent<N>>(
    namespace: N,
    event: E,
    payload: Payload<N, E>,
  ): Promise<AckData<N, E>> {
    return (this.#channels[namespace] as Channel<N>).request(event, payload);
  }

  /** Any server event, typed from the protocol; returns the unsubscribe function. */
  listen<N extends Namespace, E extends ServerEvent<N>>(
    namespace: N,
    event: E,
    handler: (payload: ServerPayload<N, E>) => void,
  ): () => void {
    return (this.#channels[namespace] as Channel<N>).listen(event, handler);
  }

  /** The handshake's `auth`: a fresh token each time (so a reconnect replaces an expired one). */
  #auth(name: NamespaceName, cb: (auth: object) => void): void {
    this.#tokens.fetch().then(
      (token) => {
        this.#handshakeTokens.set(name, token);
        const claims = claimsOf(token);
        if (claims.sub) {
          this.#me = { id: claims.sub, username: claims.name ?? `user-${claims.sub.replace(/-/g, "").slice(0, 8)}` };
        }
        cb(name === "calls" ? { token, deviceId: this.#deviceId } : { token });
      },
      (error: unknown) => {
        this.#report(new ParleyError("UNAUTHENTICATED", `the token callback failed: ${String(error)}`, { cause: error }));
        // The server refuses it (UNAUTHENTICATED), which retries or fails connect().
        cb({ token: "" });
      },
    );
  }

  #watch(name: NamespaceName, socket: Socket): void {
    socket.on("connect", () => {
      const token = this.#handshakeTokens.get(name);
      if (token) this.#tokens.accepted(token);
      this.#retries.delete(name);
      this.#onConnected();
    });
    socket.on("disconnect", (reason) => {
      if (this.#allConnected) {
        this.#allConnected = false;
        this.#events.emit("disconnected", reason);
      }
      // The server ended this namespace itself (docs/API.md says it never does): ask again.
      if (reason === "io server disconnect" && !this.#closed) this.#retryLater(name, socket);
    });
    socket.on("connect_error", (error: Error) => this.#onConnectError(name, socket, error));
    socket.on("error", (payload: unknown) => {
      // `error { event: "auth" }`: the token expired; the transport closes and the reconnect
      // brings a fresh one, nothing to tell.
      const failure = fromWireError(payload);
      if (failure.event !== "auth") this.#report(failure);
    });
  }

  #onConnected(): void {
    if (this.#allConnected || !this.connected) return;
    this.#allConnected = true;
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    this.#connecting?.resolve();
    this.#connecting = undefined;
    this.#events.emit("connected");
    if (reconnect) {
      void this.chat.synced().then(() => {
        if (this.#allConnected && !this.#closed) this.#events.emit("reconnected");
      });
    }
  }

  #onConnectError(name: NamespaceName, socket: Socket, error: Error): void {
    // A namespace the server refused (its code as the message) is not retried by
    // socket.io-client (`socket.active` is false); a transport error is, by the Manager.
    const refused = !socket.active;
    const code = refused && /^[A-Z_]+$/.test(error.message) ? (error.message as ParleyError["code"]) : "UNAVAILABLE";
    const failure = new ParleyError(code, `connect /${name}: ${error.message}`, { cause: error });
    if (this.#connecting && !this.#everConnected) {
      const { reject } = this.#connecting;
      this.#connecting = undefined;
      for (const each of this.#sockets.values()) each.disconnect();
      reject(failure);
      return;
    }
    if (refused) {
      this.#report(failure);
      this.#retryLater(name, socket);
    }
  }

  #retryLater(name: NamespaceName, socket: Socket): void {
    const retry = this.#retries.get(name) ?? { attempt: 0 };
    if (retry.timer !== undefined) return;
    const ms = RETRY_CONNECT_MS(retry.attempt);
    retry.attempt += 1;
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      if (!this.#closed && !socket.connected) socket.connect();
    }, ms);
    this.#retries.set(name, retry);
  }

  /** `auth-refresh` on every connected namespace; fails only when none took the token. */
  async #refresh(token: string): Promise<void> {
    const sockets = [...this.#sockets.values()].filter((socket) => socket.connected);
    if (sockets.length === 0) throw new ParleyError("DISCONNECTED", "auth-refresh: not connected", { event: "auth-refresh" });
    const results = await Promise.allSettled(
      sockets.map((socket) => request(socket, "auth-refresh", { token }, this.#timeoutMs)),
    );
    if (!results.some((result) => result.status === "fulfilled")) {
      const failed = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
      throw ParleyError.from(failed?.reason, "auth-refresh");
    }
  }

  #report(error: ParleyError): void {
    if (!this.#closed) this.#events.emit("error", error);
  }
}
