// One open conversation: its history (scrolling up loads older messages), live messages in
// seq order, who is typing, the read markers and the composer (docs/API.md "/chat").
import type { Message, Parley, Room } from "@parley/client";

import { createComposer } from "./composer";
import type { Directory } from "./directory";
import { describe, h, replaceChildren } from "./dom";
import { renderMessage, type RefreshUrls } from "./message-view";
import { ReadMarkers } from "./read-markers";

export interface Conversation {
  roomId: string;
  element: HTMLElement;
  onMessage(message: Message): void;
  onUpdated(message: Message): void;
  onDeleted(messageId: string): void;
  onRead(read: { userId: string; messageId: string }): void;
  onTyping(typing: { userId: string; username: string; isTyping: boolean }): void;
  /** Forgets who was typing (after a disconnect their `false` may never come). */
  clearTyping(): void;
  dispose(): void;
}

interface Context {
  directory: Directory;
  title: string;
  /** The other member of a direct room. */
  peerId?: string;
  call(userId: string, media: "AUDIO" | "VIDEO"): void;
}

const PAGE = 30;
// Within this many pixels of the bottom, a new message scrolls into view; further up, the
// reader is reading history and stays where they are.
const STICKY_PX = 80;
// This close to the top, scrolling loads older messages.
const LOAD_OLDER_PX = 40;

export function openConversation(parley: Parley, room: Room, context: Context): Conversation {
  const { directory, peerId } = context;
  const me = directory.me.id;
  const messages = new Map<string, Message>();
  const elements = new Map<string, HTMLElement>();
  const reads = new ReadMarkers(me, peerId ? null : (userId) => directory.name(userId));
  const typers = new Map<string, string>();
  let hasMore = false;
  let loadingOlder = false;
  let disposed = false;

  const list = h("ol", { class: "messages", "data-testid": "messages" });
  const older = h("button", { class: "small link", hidden: true, "data-testid": "load-older" }, "Load older messages");
  const scroller = h("div", { class: "scroller", "data-testid": "message-scroller" }, older, list);
  const typingLine = h("p", { class: "typing muted small", "data-testid": "typing-indicator", "aria-live": "polite" });
  const status = h("p", { class: "muted small", "data-testid": "conversation-status", role: "status" });
  const composer = createComposer(parley, room.id, `Message ${context.title}`);

  // -- messages, in seq order ------------------------------------------------------------

  const refreshUrls: RefreshUrls = async (message) => {
    const ids = (message.attachments ?? []).map((attachment) => attachment.id);
    return (await parley.request("/chat", "get-attachment-urls", { roomId: room.id, attachmentIds: ids })).urls;
  };

  function place(message: Message): void {
    const element = renderMessage(message, me, refreshUrls);
    const old = elements.get(message.id);
    elements.set(message.id, element);
    messages.set(message.id, message);
    if (old) {
      old.replaceWith(element);
      return;
    }
    // Usually the newest (live) or the oldest (history): look from the end.
    const children = [...list.children] as HTMLElement[];
    const after = children.reverse().find((child) => Number(child.dataset.seq) < message.seq);
    if (after) after.after(element);
    else list.prepend(element);
  }

  const extreme = (newest: boolean) =>
    [...messages.values()].reduce<Message | undefined>(
      (best, message) => (!best || (newest ? message.seq > best.seq : message.seq < best.seq) ? message : best),
      undefined,
    );
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICKY_PX;
  const toBottom = () => (scroller.scrollTop = scroller.scrollHeight);
  const renderSeen = () => {
    reads.resolve(messages);
    reads.render(list, messages, elements);
  };

  // -- our own read pointer --------------------------------------------------------------

  let readSent = 0;
  let reading = false;
  /** Tells the server we read up to the newest message, when this tab is being looked at. */
  function markRead(): void {
    if (disposed || reading || document.visibilityState !== "visible") return;
    const newest = extreme(true);
    if (!newest || newest.seq <= readSent) return;
    reading = true;
    parley.chat
      .markRead(room.id, newest.id)
      .then(() => (readSent = Math.max(readSent, newest.seq)))
      .catch(() => {})
      .finally(() => {
        reading = false;
        // Something newer came while that one was on its way.
        markRead();
      });
  }
  document.addEventListener("visibilitychange", markRead);

  // -- history ---------------------------------------------------------------------------

  function showOlder(more: boolean): void {
    hasMore = more;
    older.hidden = !more;
  }

  async function loadLatest(): Promise<void> {
    status.textContent = "Loading…";
    try {
      const page = await parley.chat.history(room.id, { limit: PAGE });
      for (const message of page.messages) place(message);
      showOlder(page.hasMore);
      status.textContent = messages.size ? "" : "No messages yet: say hello.";
      renderSeen();
      toBottom();
      markRead();
    } catch (error) {
      status.textContent = `Could not load messages: ${describe(error)}`;
    }
  }

  async function loadOlder(): Promise<void> {
    const oldest = extreme(false);
    if (loadingOlder || !hasMore || !oldest) return;
    loadingOlder = true;
    older.textContent = "Loading…";
    try {
      const page = await parley.chat.history(room.id, { limit: PAGE, before: oldest.id });
      // Keep the message being read where it is on screen while older ones go above it.
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      for (const message of page.messages) place(message);
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      showOlder(page.hasMore);
      renderSeen();
    } catch (error) {
      status.textContent = `Could not load older messages: ${describe(error)}`;
    } finally {
      loadingOlder = false;
      older.textContent = "Load older messages";
    }
  }

  older.addEventListener("click", () => void loadOlder());
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < LOAD_OLDER_PX) void loadOlder();
  });

  // -- the page --------------------------------------------------------------------------

  const header = h(
    "header",
    { class: "conversation-header" },
    h("h2", { "data-testid": "conversation-title" }, context.title),
    peerId &&
      h("button", { class: "small", "data-testid": "call-audio", onclick: () => context.call(peerId, "AUDIO") }, "Voice call"),
    peerId &&
      h("button", { class: "small", "data-testid": "call-start", onclick: () => context.call(peerId, "VIDEO") }, "Video call"),
  );
  const element = h(
    "section",
    { class: "conversation", "data-testid": "conversation", "data-room-id": room.id },
    header,
    status,
    scroller,
    typingLine,
    composer.element,
  );

  function renderTyping(): void {
    const names = [...typers.values()].sort();
    typingLine.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  function update(message: Message): void {
    if (!messages.has(message.id)) return;
    place(message);
    renderSeen();
  }

  void loadLatest();

  return {
    roomId: room.id,
    element,
    onMessage(message) {
      const stick = nearBottom() || message.sender?.id === me;
      place(message);
      status.textContent = "";
      if (message.sender) {
        // Sending moves the sender's read pointer to their message (docs/API.md "/chat").
        reads.read(message.sender.id, message.id, messages);
        typers.delete(message.sender.id);
        renderTyping();
      }
      renderSeen();
      if (stick) toBottom();
      markRead();
    },
    onUpdated: update,
    onDeleted(messageId) {
      const message = messages.get(messageId);
      // What a deleted message reads as in history (docs/API.md "/chat").
      if (message) update({ ...message, deleted: true, content: "", attachments: [] });
    },
    onRead({ userId, messageId }) {
      reads.read(userId, messageId, messages);
      renderSeen();
    },
    onTyping({ userId, username, isTyping }) {
      if (userId === me) return;
      if (isTyping) typers.set(userId, username);
      else typers.delete(userId);
      renderTyping();
    },
    clearTyping() {
      typers.clear();
      renderTyping();
    },
    dispose() {
      disposed = true;
      composer.stop();
      document.removeEventListener("visibilitychange", markRead);
      replaceChildren(element);
    },
  };
}
