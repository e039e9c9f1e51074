/**
 * What reaches `chat.on("message")`: every stored message of the user's rooms exactly once and,
 * per room, in seq order, whatever brought it (a live event, an ack, `history`, `sync`). The
 * sequencer holds back a message past a gap; a short while later `sync` fetches what is
 * missing; after every (re)connect every room seen is caught up (docs/API.md "/chat": "A
 * client that calls `sync` on every reconnect therefore never silently misses a message").
 */
import type { Channel } from "../channel.js";
import { isTransient, ParleyError } from "../errors.js";
import type { ServerPayload } from "../protocol.js";
import { Sequencer } from "./sequencer.js";
import { syncRooms } from "./sync.js";

export type Message = ServerPayload<"/chat", "new-message">;

/** A live message past a gap waits this long for the missing ones to arrive live before `sync`. */
const GAP_GRACE_MS = 200;
/** Fills of one gap before giving up on it (each waits longer). */
const GAP_FILL_ATTEMPTS = 5;
const CATCH_UP_BACKOFF_MS = (attempt: number) => Math.min(250 * 2 ** attempt, 5_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface DeliveryOptions {
  channel: Channel<"/chat">;
  /** Hands a message to the app, when it is due. */
  deliver: (message: Message) => void;
  /** A failure without a caller. */
  report: (error: ParleyError) => void;
}

export class Delivery {
  readonly #channel: Channel<"/chat">;
  readonly #deliver: (message: Message) => void;
  readonly #report: (error: ParleyError) => void;
  readonly #sequencer = new Sequencer<Message>();
  /** Rooms whose gap is being filled, with the connect (generation) the fill belongs to. */
  readonly #filling = new Map<string, number>();
  /** Counts /chat connects, so that the catch-up of an older connection stops. */
  #generation = 0;
  #synced: Promise<void> = Promise.resolve();
  #closed = false;

  constructor({ channel, deliver, report }: DeliveryOptions) {
    this.#channel = channel;
    this.#deliver = deliver;
    this.#report = report;
  }

  /** The last contiguous seq delivered in `roomId` (undefined for a room not seen yet). */
  lastSeq(roomId: string): number | undefined {
    return this.#sequencer.lastSeq(roomId);
  }

  /** An answer shows `newestSeq` as the room's newest message (see Sequencer.observe). */
  observe(roomId: string, newestSeq: number): void {
    this.#sequencer.observe(roomId, newestSeq);
    if (this.#sequencer.hasGap(roomId)) this.#fillLater(roomId);
  }

  /** The user is no longer in `roomId`. */
  forget(roomId: string): void {
    this.#sequencer.forget(roomId);
  }

  /** A stored message: delivered when due; a gap it shows is filled. */
  receive(message: Message): void {
    if (this.#closed) return;
    this.#accept(message);
    if (this.#sequencer.hasGap(message.roomId)) this.#fillLater(message.roomId);
  }

  /** /chat (re)connected: catch up every room seen. */
  connected(): void {
    this.#generation += 1;
    this.#synced = this.#catchUp(this.#generation);
  }

  /** Resolves once the catch-up of the latest connect is done. */
  synced(): Promise<void> {
    return this.#synced;
  }

  close(): void {
    this.#closed = true;
    this.#generation += 1;
  }

  #accept(message: Message): void {
    for (const due of this.#sequencer.accept(message)) this.#deliver(due);
  }

  #skip(roomId: string): void {
    for (const due of this.#sequencer.skip(roomId)) this.#deliver(due);
  }

  #sync(rooms: Map<string, number>): Promise<Set<string>> {
    return syncRooms(rooms, {
      request: (payload) => this.#channel.request("sync", payload),
      accept: (message) => this.#accept(message),
    });
  }

  /** Fills `roomId`'s gap with `sync` after a short grace, unless a fill is under way. */
  #fillLater(roomId: string): void {
    // A fill of an older connection is about to stop: it does not count.
    if (this.#filling.get(roomId) === this.#generation) return;
    this.#filling.set(roomId, this.#generation);
    void this.#fill(roomId, this.#generation);
  }

  async #fill(roomId: string, generation: number): Promise<void> {
    try {
      for (let attempt = 1; attempt <= GAP_FILL_ATTEMPTS; attempt += 1) {
        await sleep(GAP_GRACE_MS * attempt);
        // Disconnected: the next connect's catch-up syncs every room, this one included.
        if (generation !== this.#generation || !this.#channel.connected) return;
        if (!this.#sequencer.hasGap(roomId)) return;
        let leftOut: Set<string>;
        try {
          leftOut = await this.#sync(new Map([[roomId, this.#sequencer.lastSeq(roomId) ?? 0]]));
        } catch (error) {
          const failure = ParleyError.from(error, "sync");
          if (failure.code === "RATE_LIMITED") await sleep(failure.retryAfterMs ?? 0);
          else if (!isTransient(failure)) this.#report(failure);
          continue;
        }
        if (leftOut.has(roomId)) {
          this.#skip(roomId);
          return;
        }
      }
      // What sync cannot give is not coming: deliver what is held rather than hold it for ever.
      if (generation === this.#generation && this.#sequencer.hasGap(roomId)) {
        this.#report(new ParleyError("INTERNAL", `room ${roomId}: missing messages could not be fetched`, { event: "sync" }));
        this.#skip(roomId);
      }
    } finally {
      if (this.#filling.get(roomId) === generation) this.#filling.delete(roomId);
    }
  }

  async #catchUp(generation: number): Promise<void> {
    if (this.#sequencer.rooms().size === 0) return;
    for (let attempt = 0; generation === this.#generation && this.#channel.connected; attempt += 1) {
      try {
        const leftOut = await this.#sync(this.#sequencer.rooms());
        for (const roomId of leftOut) {
          this.#skip(roomId);
          this.#sequencer.forget(roomId);
        }
        // Gaps left are messages that arrived during the catch-up; fill them as usual.
        for (const roomId of this.#sequencer.gaps()) this.#fillLater(roomId);
        return;
      } catch (error) {
        const failure = ParleyError.from(error, "sync");
        if (!isTransient(failure) && failure.code !== "RATE_LIMITED") {
          this.#report(failure);
          return;
        }
        await sleep(failure.retryAfterMs ?? CATCH_UP_BACKOFF_MS(attempt));
      }
    }
  }
}
