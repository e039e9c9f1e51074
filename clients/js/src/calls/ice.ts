/**
 * ICE servers and their time-limited TURN credentials (docs/API.md "/calls": `expiresAt`, ask
 * `get-ice-servers` again for fresh ones): one cache for the device, and for each call a
 * timer that puts fresh credentials on its connection before the old ones expire.
 */
import { ParleyError } from "../errors.js";
import { type IceServer, type IceServers, rtcIceServers } from "./wire.js";

/** What acks carry about ICE servers (`call-invite`, `call-accept`, `call-resume`, `call-incoming`). */
export interface IceInfo {
  iceServers?: IceServer[] | null;
  expiresAt?: string | null;
}

/** Cached servers are fetched again when they expire within this long. */
const FRESH_FOR_MS = 5 * 60_000;
/** A call's credentials are replaced this long before they expire. */
const REFRESH_BEFORE_MS = 60_000;

const expiryOf = (ice: IceInfo): number => (ice.expiresAt ? Date.parse(ice.expiresAt) : Number.POSITIVE_INFINITY);

/** `get-ice-servers`, asked again only when what it gave runs out soon. */
export class IceServerCache {
  readonly #fetch: () => Promise<IceServers>;
  #cached: IceServers | undefined;

  constructor(fetch: () => Promise<IceServers>) {
    this.#fetch = fetch;
  }

  async get(): Promise<IceServers> {
    if (this.#cached && expiryOf(this.#cached) - Date.now() > FRESH_FOR_MS) return this.#cached;
    this.#cached = await this.#fetch();
    return this.#cached;
  }
}

/** Keeps one call's connection on credentials that have not expired. */
export class IceRefresh {
  readonly #pc: RTCPeerConnection;
  readonly #fresh: () => Promise<IceInfo>;
  readonly #report: (error: ParleyError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(pc: RTCPeerConnection, fresh: () => Promise<IceInfo>, report: (error: ParleyError) => void) {
    this.#pc = pc;
    this.#fresh = fresh;
    this.#report = report;
  }

  /** Puts `ice`'s servers on the connection (for its next gathering) and times their refresh. */
  use(ice: IceInfo | undefined): void {
    if (!ice || this.#stopped) return;
    if (ice.iceServers && ice.iceServers.length > 0) {
      try {
        this.#pc.setConfiguration({ ...this.#pc.getConfiguration(), iceServers: rtcIceServers(ice.iceServers) });
      } catch (error) {
        this.#report(ParleyError.from(error, "get-ice-servers"));
      }
    }
    const expiresAt = expiryOf(ice);
    if (!Number.isFinite(expiresAt)) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#fresh()
        .then((fresh) => this.use(fresh))
        .catch((error: unknown) => this.#report(ParleyError.from(error, "get-ice-servers")));
    }, Math.max(1_000, expiresAt - Date.now() - REFRESH_BEFORE_MS));
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
