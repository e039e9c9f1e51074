/**
 * Sends that are retried until stored. docs/API.md "/chat": a `clientMsgId` makes a send
 * idempotent per sender and room (a retry returns the stored message, emits nothing and is
 * never rate limited), so a send whose answer was lost can be sent again safely.
 *
 * Sends to one target go out one at a time, in the order they were made, so a retried send
 * is never overtaken by a later one and the room's seq order is the order the app sent in.
 */
import { ParleyError } from "../errors.js";

export interface OutboxOptions<P, M> {
  /** One attempt: resolves with the stored message or rejects with a ParleyError. */
  send: (payload: P) => Promise<M>;
  /** Whether a send could go out now. */
  isConnected: () => boolean;
  /** The wait before retry `attempt` (1, 2, ...) after `UNAVAILABLE` or `TIMEOUT`. */
  backoffMs?: (attempt: number) => number;
}

/** A send not stored yet, as `chat.pending` lists it. */
export interface PendingSend<P> {
  clientMsgId: string;
  /** The room (`roomId`) or the receiver (`to:<userId>`) the send is queued for. */
  target: string;
  payload: P;
  /** Attempts made so far. */
  attempts: number;
  /** Why the last attempt failed. */
  lastError?: ParleyError;
  createdAt: number;
}

interface Entry<P, M> extends PendingSend<P> {
  resolve: (message: M) => void;
  reject: (error: ParleyError) => void;
  settled: boolean;
}

const defaultBackoff = (attempt: number) => Math.min(250 * 2 ** (attempt - 1), 8_000);

export class Outbox<P extends { clientMsgId?: string | null }, M> {
  readonly #options: OutboxOptions<P, M>;
  readonly #backoff: (attempt: number) => number;
  readonly #queues = new Map<string, Array<Entry<P, M>>>();
  readonly #pumping = new Set<string>();
  /** Wakes every send waiting for a connection (or for the outbox to close). */
  #wake: Array<() => void> = [];
  #timers = new Set<{ timer: ReturnType<typeof setTimeout>; done: () => void }>();
  #closedWith: ParleyError | undefined;

  constructor(options: OutboxOptions<P, M>) {
    this.#options = options;
    this.#backoff = options.backoffMs ?? defaultBackoff;
  }

  /** Queues `payload` (which must carry its `clientMsgId`) for `target`; resolves once stored. */
  submit(target: string, payload: P & { clientMsgId: string }): Promise<M> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    return new Promise<M>((resolve, reject) => {
      const entry: Entry<P, M> = {
        clientMsgId: payload.clientMsgId,
        target,
        payload,
        attempts: 0,
        createdAt: Date.now(),
        settled: false,
        resolve: (message) => {
          entry.settled = true;
          resolve(message);
        },
        reject: (error) => {
          entry.settled = true;
          reject(error);
        },
      };
      const queue = this.#queues.get(target) ?? [];
      queue.push(entry);
      this.#queues.set(target, queue);
      void this.#pump(target);
    });
  }

  /** The sends not stored yet, oldest first. */
  pending(): Array<PendingSend<P>> {
    return [...this.#queues.values()]
      .flat()
      .filter((entry) => !entry.settled)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(({ clientMsgId, target, payload, attempts, lastError, createdAt }) => ({
        clientMsgId,
        target,
        payload,
        attempts,
        createdAt,
        ...(lastError ? { lastError } : {}),
      }));
  }

  /** The connection is back: sends waiting for it go out now. */
  resume(): void {
    const waiting = this.#wake;
    this.#wake = [];
    for (const wake of waiting) wake();
  }

  /** Rejects every send not stored yet with `error` (code `CLOSED`) and refuses new ones. */
  close(error = new ParleyError("CLOSED", "the client was closed")): void {
    this.#closedWith = error;
    for (const queue of this.#queues.values()) for (const entry of queue) if (!entry.settled) entry.reject(error);
    this.#queues.clear();
    for (const { timer, done } of this.#timers) {
      clearTimeout(timer);
      done();
    }
    this.#timers.clear();
    this.resume();
  }

  async #pump(target: string): Promise<void> {
    if (this.#pumping.has(target)) return;
    this.#pumping.add(target);
    try {
      for (let queue = this.#queues.get(target); queue?.length; queue = this.#queues.get(target)) {
        const entry = queue[0];
        if (entry) await this.#deliver(entry);
        queue.shift();
      }
      this.#queues.delete(target);
    } finally {
      this.#pumping.delete(target);
    }
  }

  /** Attempts `entry` until it is stored, refused for good, or the outbox closes. */
  async #deliver(entry: Entry<P, M>): Promise<void> {
    while (!entry.settled) {
      if (!this.#options.isConnected()) {
        await new Promise<void>((wake) => this.#wake.push(wake));
        continue;
      }
      entry.attempts += 1;
      try {
        const message = await this.#options.send(entry.payload);
        if (!entry.settled) entry.resolve(message);
        return;
      } catch (caught) {
        const error = ParleyError.from(caught, "send-message");
        entry.lastError = error;
        if (entry.settled) return;
        switch (error.code) {
          case "RATE_LIMITED":
            await this.#sleep(error.retryAfterMs ?? this.#backoff(entry.attempts));
            break;
          case "UNAVAILABLE":
          case "TIMEOUT":
            await this.#sleep(this.#backoff(entry.attempts));
            break;
          case "DISCONNECTED":
            // Waits for the connection at the top of the loop.
            break;
          default:
            entry.reject(error);
        }
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((done) => {
      const handle = {
        done,
        timer: setTimeout(() => {
          this.#timers.delete(handle);
          done();
        }, ms),
      };
      this.#timers.add(handle);
    });
  }
}
