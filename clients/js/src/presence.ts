/**
 * `parley.presence` over `/status` (docs/API.md "/status"): the heartbeat that keeps this
 * session online, the user's own status, and the friends' statuses as last heard.
 */
import type { Channel } from "./channel.js";
import { Emitter } from "./emitter.js";
import { ParleyError } from "./errors.js";
import type { AckData, Payload, ServerPayload } from "./protocol.js";

export type PresenceStatus = Payload<"/status", "update-status">["status"];
export type FriendStatus = AckData<"/status", "get-friends-status">[number];
type StatusChanged = ServerPayload<"/status", "friend-status-changed">;

/** What is known of a friend's status. */
export interface KnownStatus {
  status: StatusChanged["status"];
  lastSeen: StatusChanged["lastSeen"];
  isOnline: boolean;
}

export type PresenceEvents = {
  "friend-status-changed": [StatusChanged];
};

export class Presence {
  readonly #channel: Channel<"/status">;
  readonly #intervalMs: number;
  readonly #report: (error: ParleyError) => void;
  readonly #events = new Emitter<PresenceEvents>();
  readonly #known = new Map<string, KnownStatus>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(channel: Channel<"/status">, heartbeatIntervalMs: number, report: (error: ParleyError) => void) {
    this.#channel = channel;
    this.#intervalMs = heartbeatIntervalMs;
    this.#report = report;
    channel.onConnect(() => this.#startHeartbeat());
    channel.onDisconnect(() => this.#stopHeartbeat());
    channel.listen("friend-status-changed", (changed) => {
      this.#known.set(changed.userId, {
        status: changed.status,
        lastSeen: changed.lastSeen,
        isOnline: changed.status !== "OFFLINE",
      });
      this.#events.emit("friend-status-changed", changed);
    });
    channel.listen("friends-status", (friends) => this.#keep(friends));
  }

  on<E extends keyof PresenceEvents>(event: E, handler: (...args: PresenceEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** Sets this user's status (kept across sessions); resolves with it. */
  async setStatus(status: PresenceStatus): Promise<AckData<"/status", "update-status">["status"]> {
    return (await this.#channel.request("update-status", { status })).status;
  }

  /** Every friend's status, by name. */
  async friends(): Promise<FriendStatus[]> {
    const friends = await this.#channel.request("get-friends-status", {});
    this.#keep(friends);
    return friends;
  }

  /** The last status heard of `userId` (from `friends()` and the events), if any. */
  status(userId: string): KnownStatus | undefined {
    return this.#known.get(userId);
  }

  close(): void {
    this.#stopHeartbeat();
    this.#events.clear();
  }

  #keep(friends: FriendStatus[]): void {
    for (const friend of friends) {
      this.#known.set(friend.userId, { status: friend.status, lastSeen: friend.lastSeen, isOnline: friend.isOnline });
    }
  }

  /**
   * The connect itself opens the presence session (docs/API.md "/status"), so the first beat
   * waits one interval. (A beat sent at once can also race the edge, which records the
   * session just after acknowledging the connect, and be refused INVALID_ARGUMENT.)
   */
  #startHeartbeat(): void {
    this.#stopHeartbeat();
    this.#timer = setInterval(() => this.#beat(), this.#intervalMs);
  }

  #stopHeartbeat(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #beat(): void {
    this.#channel.request("heartbeat", {}).catch((error: unknown) => {
      const failure = ParleyError.from(error, "heartbeat");
      // A dropped socket restarts the heartbeat when it reconnects.
      if (failure.code !== "DISCONNECTED") this.#report(failure);
    });
  }
}
