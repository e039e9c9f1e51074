import { ParleyError } from "./errors.js";

/**
 * An entity a successful ack always carries, though the protocol types it nullable (the server
 * renders it from an optional field): the entity itself, or `INTERNAL` if it is missing.
 */
export function present<T>(value: T | null | undefined, event: string): T {
  if (value === null || value === undefined) {
    throw new ParleyError("INTERNAL", `${event}: the answer lacks what it always carries`, { event });
  }
  return value;
}
