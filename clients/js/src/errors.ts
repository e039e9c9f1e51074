import type { ErrorCode } from "./generated/protocol.js";

/**
 * Codes the SDK itself gives: `TIMEOUT` (no ack within `requestTimeoutMs`), `CLOSED`
 * (`parley.close()` was called), `DISCONNECTED` (the socket was not connected, or dropped
 * before the ack came).
 */
export type ClientErrorCode = "TIMEOUT" | "CLOSED" | "DISCONNECTED";
export type ParleyErrorCode = ErrorCode | ClientErrorCode;

export interface ParleyErrorDetails {
  event?: string;
  retryAfterMs?: number;
  limitBytes?: number;
  usedBytes?: number;
  cause?: unknown;
}

/** Every failure the SDK reports: a protocol error code (docs/API.md) or a client-side one. */
export class ParleyError extends Error {
  readonly code: ParleyErrorCode;
  /** The event that failed, when there is one. */
  readonly event?: string;
  /** `RATE_LIMITED`: when to try again. */
  readonly retryAfterMs?: number;
  /** `QUOTA_EXCEEDED`: the quota and what is used of it. */
  readonly limitBytes?: number;
  readonly usedBytes?: number;

  constructor(code: ParleyErrorCode, message: string, details: ParleyErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ParleyError";
    this.code = code;
    if (details.event !== undefined) this.event = details.event;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.limitBytes !== undefined) this.limitBytes = details.limitBytes;
    if (details.usedBytes !== undefined) this.usedBytes = details.usedBytes;
  }

  /** `error` as a ParleyError (an unexpected exception becomes `INTERNAL`). */
  static from(error: unknown, event?: string): ParleyError {
    if (error instanceof ParleyError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new ParleyError("INTERNAL", message, { event, cause: error });
  }
}

const numberOr = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

/**
 * The error of a failed ack (`{ ok: false, error: { code, message, ... } }`) or of the
 * server's `error` event (`{ event, code, message, ... }`), as docs/API.md "Answers and
 * errors" writes them.
 */
export function fromWireError(wire: unknown, event?: string): ParleyError {
  const error = (typeof wire === "object" && wire !== null ? wire : {}) as Record<string, unknown>;
  const code = typeof error.code === "string" ? (error.code as ErrorCode) : "INTERNAL";
  const message = typeof error.message === "string" ? error.message : code;
  return new ParleyError(code, message, {
    event: typeof error.event === "string" ? error.event : event,
    retryAfterMs: numberOr(error.retryAfterMs),
    limitBytes: numberOr(error.limitBytes),
    usedBytes: numberOr(error.usedBytes),
  });
}

/** Codes after which the same request may succeed later, unchanged. */
export const isTransient = (error: ParleyError): boolean =>
  error.code === "UNAVAILABLE" || error.code === "TIMEOUT" || error.code === "DISCONNECTED";
