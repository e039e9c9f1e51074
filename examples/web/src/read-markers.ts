// How far the other members of a room have read (docs/API.md "/chat": a read pointer per
// member, moved by `mark-read` and by their own sends), shown as "Seen" under the newest
// message each of them read.
import type { Message } from "@parley/client";

import { h } from "./dom";

export class ReadMarkers {
  // A seq once the message read is here; its id until then (a read can outrun the message).
  private readonly seqs = new Map<string, number>();
  private readonly pending = new Map<string, string>();

  constructor(
    private readonly me: string,
    /** Names the readers ("Seen by …") in groups; a DM has one reader, and says "Seen". */
    private readonly names: ((userId: string) => string) | null,
  ) {}

  /** `userId` read up to `messageId`; `messages` are those loaded. */
  read(userId: string, messageId: string, messages: Map<string, Message>): void {
    if (userId === this.me) return;
    const seq = messages.get(messageId)?.seq;
    if (seq === undefined) {
      this.pending.set(userId, messageId);
      return;
    }
    this.pending.delete(userId);
    this.seqs.set(userId, Math.max(this.seqs.get(userId) ?? 0, seq));
  }

  /** Places the reads whose message was not loaded yet, now that more are. */
  resolve(messages: Map<string, Message>): void {
    for (const [userId, messageId] of [...this.pending]) this.read(userId, messageId, messages);
  }

  /**
   * Redraws the markers in `root`: under the newest message each reader read, leaving out
   * their own (that they saw what they wrote tells nothing).
   */
  render(root: Element, messages: Map<string, Message>, elements: Map<string, HTMLElement>): void {
    for (const marker of root.querySelectorAll("[data-testid=seen-marker]")) marker.remove();
    const newestFirst = [...messages.values()].sort((a, b) => b.seq - a.seq);
    const readers = new Map<HTMLElement, string[]>();
    for (const [userId, seq] of this.seqs) {
      const last = newestFirst.find((message) => message.seq <= seq && message.sender?.id !== userId);
      const element = last && elements.get(last.id);
      if (element) readers.set(element, [...(readers.get(element) ?? []), userId]);
    }
    for (const [element, userIds] of readers) {
      const text = this.names ? `Seen by ${userIds.map(this.names).sort().join(", ")}` : "Seen";
      element.append(h("div", { class: "seen muted small", "data-testid": "seen-marker" }, text));
    }
  }
}
