import type { Socket } from "socket.io-client";

import { fromWireError, ParleyError } from "./errors.js";

/**
 * Emits `event` with `payload` and resolves with the ack's `data`, or rejects with a
 * ParleyError: the ack's error (docs/API.md "Answers and errors"), `TIMEOUT` when no ack came
 * within `timeoutMs`, `DISCONNECTED` when the socket is not connected or drops first.
 *
 * A disconnected socket is refused at once rather than buffered by socket.io-client: a
 * buffered emit would go out on the next connect, after the caller was told it failed.
 */
export function request<T>(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<T> {
  if (!socket.connected) {
    return Promise.reject(new ParleyError("DISCONNECTED", `${event}: not connected`, { event }));
  }
  return new Promise<T>((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (error: Error | null, ack: unknown) => {
      if (error) {
        // socket.io-client fails a pending ack with "socket has been disconnected" when the
        // socket drops, and with "operation has timed out" when the timeout passes.
        const dropped = /disconnected/.test(error.message);
        const code = dropped ? "DISCONNECTED" : "TIMEOUT";
        reject(new ParleyError(code, `${event}: ${error.message}`, { event, cause: error }));
        return;
      }
      const answer = (typeof ack === "object" && ack !== null ? ack : {}) as { ok?: unknown; data?: unknown; error?: unknown };
      if (answer.ok === true) resolve(answer.data as T);
      else if (answer.ok === false) reject(fromWireError(answer.error, event));
      else reject(new ParleyError("INTERNAL", `${event}: an ack without "ok"`, { event }));
    });
  });
}
