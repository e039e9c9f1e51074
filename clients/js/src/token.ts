/**
 * The app's token: fetched through its callback on connect and every reconnect (so an
 * expired token is replaced by the reconnect itself, docs/API.md "Token lifetime"), and
 * refreshed on the open sockets with `auth-refresh` a little before its `exp`.
 */
export type TokenSource = string | (() => string | Promise<string>);

/** What the SDK reads from a token's claims (it never verifies them: the server does). */
export interface TokenClaims {
  sub?: string;
  name?: string;
  exp?: number;
}

/** The JWT's claims, or `{}` when `token` is not a readable JWT. A `Bearer ` prefix is allowed. */
export function claimsOf(token: string): TokenClaims {
  const payload = token.replace(/^Bearer\s+/i, "").split(".")[1];
  if (!payload) return {};
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== "object" || claims === null) return {};
    const { sub, name, exp } = claims as Record<string, unknown>;
    return {
      ...(typeof sub === "string" ? { sub } : {}),
      ...(typeof name === "string" ? { name } : {}),
      ...(typeof exp === "number" ? { exp } : {}),
    };
  } catch {
    return {};
  }
}

/** When to refresh a token that expires at `expMs`: `beforeMs` ahead, or halfway for a short one. */
export function refreshDelayMs(expMs: number, nowMs: number, beforeMs: number): number {
  const left = expMs - nowMs;
  const delay = left > beforeMs * 2 ? left - beforeMs : left / 2;
  return Math.max(1_000, delay);
}

const RETRY_MS = 5_000;

export interface TokensOptions {
  refreshBeforeExpiryMs: number;
  /** Hands a fresh token to the server (`auth-refresh` on the connected sockets). */
  refresh: (token: string) => Promise<void>;
  /** A refresh that failed; the next reconnect fetches a token anyway. */
  onError: (error: unknown) => void;
}

export class Tokens {
  readonly #source: TokenSource;
  readonly #options: TokensOptions;
  #inFlight: Promise<string> | undefined;
  /** The token the server holds (the last one a handshake or an `auth-refresh` took). */
  #accepted: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(source: TokenSource, options: TokensOptions) {
    this.#source = source;
    this.#options = options;
  }

  /**
   * A fresh token from the app's source. Calls made while one is being fetched share it (one
   * reconnect asks once for its four namespaces).
   */
  fetch(): Promise<string> {
    if (this.#inFlight) return this.#inFlight;
    const source = this.#source;
    const fetched = Promise.resolve()
      .then(() => (typeof source === "function" ? source() : source))
      .then((token) => {
        if (typeof token !== "string" || token === "") throw new Error("the token callback gave no token");
        return token;
      })
      .finally(() => {
        this.#inFlight = undefined;
      });
    this.#inFlight = fetched;
    return fetched;
  }

  /** The server took `token` (a handshake or an `auth-refresh`): refresh it before it expires. */
  accepted(token: string): void {
    if (this.#stopped || token === this.#accepted) return;
    this.#accepted = token;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const { exp } = claimsOf(token);
    // A plain string cannot be refreshed by the SDK; neither can a token without `exp`.
    if (exp === undefined || typeof this.#source !== "function") return;
    this.#arm(refreshDelayMs(exp * 1000, Date.now(), this.#options.refreshBeforeExpiryMs), token, exp * 1000);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number, held: string, expMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.fetch()
        .then(async (token) => {
          await this.#options.refresh(token);
          this.accepted(token);
        })
        .catch((error: unknown) => {
          if (this.#stopped) return;
          this.#options.onError(error);
          // Try again while the held token lives (unless another handshake replaced it); past
          // it, the server closes the transport and the reconnect fetches a token by itself.
          if (this.#accepted === held && this.#timer === undefined && Date.now() + RETRY_MS < expMs) {
            this.#arm(RETRY_MS, held, expMs);
          }
        });
    }, delayMs);
  }
}
