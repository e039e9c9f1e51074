/**
 * A small typed event emitter (browsers and Node alike, so not `node:events`). A handler that
 * throws does not stop the others nor the SDK's own work: its error is rethrown on a later
 * tick, where the app's usual error reporting sees it.
 */
export type EventMap = Record<string, unknown[]>;

// Handlers of every event live in one map, so their own types are erased there.
type AnyHandler = (...args: any[]) => void;

export class Emitter<Events extends EventMap> {
  #handlers = new Map<keyof Events, Set<AnyHandler>>();

  /** Calls `handler` on every `event`; returns the function that unsubscribes it. */
  on<K extends keyof Events>(event: K, handler: (...args: Events[K]) => void): () => void {
    let handlers = this.#handlers.get(event);
    if (!handlers) {
      handlers = new Set();
      this.#handlers.set(event, handlers);
    }
    handlers.add(handler);
    return () => this.off(event, handler);
  }

  off<K extends keyof Events>(event: K, handler: (...args: Events[K]) => void): void {
    this.#handlers.get(event)?.delete(handler);
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const handlers = this.#handlers.get(event);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      try {
        handler(...args);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  /** Whether anyone listens to `event`. */
  has(event: keyof Events): boolean {
    return (this.#handlers.get(event)?.size ?? 0) > 0;
  }

  clear(): void {
    this.#handlers.clear();
  }
}
