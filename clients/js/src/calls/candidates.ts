/**
 * This device's ICE candidates on their way to the peer through `call-ice` (docs/API.md
 * "/calls"): gathered ones are sent in batches (1-20 a call, `end: true` when gathering is
 * done), and held until `release()`: the caller's until its invite is acknowledged (the call
 * has no id before), the callee's until its `call-accept` is (the server refuses them before,
 * `FAILED_PRECONDITION`).
 */
import { ParleyError } from "../errors.js";
import type { Candidate } from "./wire.js";

/** Candidates one `call-ice` carries at most. */
export const CANDIDATES_PER_CALL = 20;
/** Candidates gathered within this long go out together. */
const BATCH_MS = 30;

export type SendCandidates = (candidates: Candidate[], end: boolean) => Promise<void>;

export class CandidateQueue {
  readonly #send: SendCandidates;
  readonly #report: (error: ParleyError) => void;
  #queue: Candidate[] = [];
  #gathered = false;
  #endSent = false;
  #released = false;
  #closed = false;
  #sending = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: SendCandidates, report: (error: ParleyError) => void) {
    this.#send = send;
    this.#report = report;
  }

  add(candidate: Candidate): void {
    this.#queue.push(candidate);
    this.#schedule();
  }

  /** Gathering is done: the last batch says `end`. */
  end(): void {
    this.#gathered = true;
    this.#schedule();
  }

  /** An ICE restart gathers anew, with an end of its own. */
  restart(): void {
    this.#gathered = false;
    this.#endSent = false;
  }

  release(): void {
    this.#released = true;
    this.#schedule();
  }

  /** Sends what is left after a reconnect (a batch refused as `DISCONNECTED` stays queued). */
  retry(): void {
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#queue = [];
  }

  #due(): boolean {
    return this.#queue.length > 0 || (this.#gathered && !this.#endSent);
  }

  #schedule(): void {
    if (!this.#released || this.#closed || this.#sending || this.#timer !== undefined || !this.#due()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, BATCH_MS);
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    try {
      while (!this.#closed && this.#due()) {
        const batch = this.#queue.slice(0, CANDIDATES_PER_CALL);
        const end = this.#gathered && this.#queue.length <= CANDIDATES_PER_CALL;
        try {
          await this.#send(batch, end);
        } catch (caught) {
          const error = ParleyError.from(caught, "call-ice");
          if (error.code === "RATE_LIMITED") {
            await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs ?? 1_000));
            continue;
          }
          // Disconnected: kept for retry(). Refused (the call ended, ...): nothing more to send.
          if (error.code !== "DISCONNECTED") {
            this.#report(error);
            this.close();
          }
          return;
        }
        this.#queue.splice(0, batch.length);
        if (end) this.#endSent = true;
      }
    } finally {
      this.#sending = false;
    }
    // Candidates that came during the last send.
    this.#schedule();
  }
}
