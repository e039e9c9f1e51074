// When to tell the room we are typing (docs/API.md "/chat": `typing: true` lasts 6 s unless
// refreshed): `true` on the first keystroke and again every few seconds while keys keep
// coming, `false` after a pause, on send and on leaving the field.

const REFRESH_MS = 3_000;
const PAUSE_MS = 4_000;

export interface TypingSignal {
  /** A keystroke; `hasText`: the field is not empty. */
  input(hasText: boolean): void;
  stop(): void;
}

export function typingSignal(send: (isTyping: boolean) => Promise<unknown>): TypingSignal {
  let sentAt = 0;
  let typing = false;
  let pause: ReturnType<typeof setTimeout> | undefined;
  // Typing is a hint: a lost one costs nothing, so failures are not shown.
  const tell = (isTyping: boolean) => void send(isTyping).catch(() => {});

  function stop(): void {
    clearTimeout(pause);
    if (!typing) return;
    typing = false;
    tell(false);
  }

  return {
    input(hasText) {
      if (!hasText) {
        stop();
        return;
      }
      const now = Date.now();
      if (!typing || now - sentAt >= REFRESH_MS) {
        typing = true;
        sentAt = now;
        tell(true);
      }
      clearTimeout(pause);
      pause = setTimeout(stop, PAUSE_MS);
    },
    stop,
  };
}
