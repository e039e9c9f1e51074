// What the fault test's clients share: tokens, acks and small helpers.
import { createHmac } from "node:crypto";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Adds `by` to `counts[key]`. */
export const bump = (counts, key, by = 1) => (counts[key] = (counts[key] ?? 0) + by);

/** A logger whose lines start with `[label <seconds since start>]`. */
export function logger(label) {
  const started = Date.now();
  return (...parts) => console.log(`[${label} ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...parts);
}

/** PARLEY_JWT_SECRET, or the process exits with 2 (a setup failure). */
export function jwtSecret() {
  const secret = process.env.PARLEY_JWT_SECRET ?? "";
  if (!secret) {
    console.error("PARLEY_JWT_SECRET is required");
    process.exit(2);
  }
  return secret;
}

/** An HS256 JWT for `sub`, as the edge accepts (docs/API.md: sub, name, exp). */
export function token(secret, sub, name) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, name, iat: now, exp: now + 3600 })}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** An error ack (its code and retryAfterMs), or TIMEOUT / DISCONNECTED for no ack. */
export class AckError extends Error {
  constructor(code, retryAfterMs) {
    super(code);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** An event with an ack within `timeoutMs`: its data, or throws AckError. */
export async function request(socket, event, payload, timeoutMs) {
  let reply;
  try {
    reply = await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch {
    throw new AckError(socket.connected ? "TIMEOUT" : "DISCONNECTED");
  }
  if (reply?.ok) return reply.data;
  throw new AckError(reply?.error?.code ?? "MALFORMED_ACK", reply?.error?.retryAfterMs);
}
