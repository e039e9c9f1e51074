import { randomId } from "./ids.js";

const STORAGE_KEY = "parley.deviceId";

/**
 * This device's id for `/calls` (docs/API.md "/calls": stable per device and app install, 1-64
 * of `[A-Za-z0-9._~-]`): kept in localStorage where there is one, so calls ring, route and
 * resume per device across page loads; random otherwise (Node, private modes that refuse
 * storage).
 */
export function defaultDeviceId(): string {
  try {
    const storage = globalThis.localStorage;
    if (storage) {
      const kept = storage.getItem(STORAGE_KEY);
      if (kept && /^[A-Za-z0-9._~-]{1,64}$/.test(kept)) return kept;
      const made = randomId();
      storage.setItem(STORAGE_KEY, made);
      return made;
    }
  } catch {
    // Storage exists but refuses access (a sandboxed frame, a privacy setting).
  }
  return randomId();
}
