// One open conversation: its history (scrolling up loads older messages), live messages,
// who is typing, how far the others have read ("seen"), and the composer with photo upload
// (docs/API.md "/chat" and "Attachments").
import type { Message, Parley, Room } from "@parley/client";

import type { Directory } from "./directory";
import { describe, h, replaceChildren } from "./dom";
import { renderMessage, type RefreshUrls } from "./message-view";
import { typingSignal } from "./typing";

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

export function openConversation(parley: Parley, room: Room, context: Context): Conversation {
  const { directory } = context;
  const me = directory.me.id;
  const messages = new Map<string, Message>();
  const elements = new Map<string, HTMLElement>();
  // How far each other member has read: a seq once their message is here, else the id.
  const readSeq = new Map<string, number>();
  const readPending = new Map<string, string>();
  const typers = new Map<string, string>();
  let hasMore = false;
  let loadingOlder = false;
  let disposed = false;

  const list = h("ol", { class: "messages", "data-testid": "messages" });
  const older = h("button", { class: "small link", hidden: true, "data-testid": "load-older" }, "Load older messages");
  const scroller = h("div", { class: "scroller", "data-testid": "message-scroller" }, older, list);
  const typingLine = h("p", { class: "typing muted small", "data-testid": "typing-indicator", "aria-live": "polite" });
  const status = h("p", { class: "muted small", "data-testid": "conversation-status", role: "status" });

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

  function nearBottom(): boolean {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICKY_PX;
  }
  const toBottom = () => (scroller.scrollTop = scroller.scrollHeight);

  // -- read markers ----------------------------------------------------------------------

  function noteRead(userId: string, messageId: string): void {
    if (userId === me) return;
    const seq = messages.get(messageId)?.seq;
    if (seq === undefined) {
      readPending.set(userId, messageId);
      return;
    }
    readPending.delete(userId);
    readSeq.set(userId, Math.max(readSeq.get(userId) ?? 0, seq));
  }

  /**
   * "Seen" under the newest message each other member has read, leaving out their own: that
   * they saw what they wrote tells nothing.
   */
  function renderSeen(): void {
    for (const marker of list.querySelectorAll("[data-testid=seen-marker]")) marker.remove();
    const byMessage = new Map<HTMLElement, string[]>();
    const loaded = [...messages.values()].sort((a, b) => b.seq - a.seq);
    for (const [userId, seq] of readSeq) {
      const last = loaded.find((message) => message.seq <= seq && message.sender?.id !== userId);
      const element = last && elements.get(last.id);
      if (!element) continue;
      byMessage.set(element, [...(byMessage.get(element) ?? []), directory.name(userId)]);
    }
    for (const [element, names] of byMessage) {
      const text = context.peerId ? "Seen" : `Seen by ${names.sort().join(", ")}`;
      element.append(h("div", { class: "seen muted small", "data-testid": "seen-marker" }, text));
    }
  }

  // -- our own read pointer --------------------------------------------------------------

  let readSent = 0;
  let reading: Promise<unknown> | null = null;
  /** Tells the server we read up to the newest message, when this tab is being looked at. */
  function markRead(): void {
    if (disposed || document.visibilityState !== "visible" || reading) return;
    const newest = [...messages.values()].reduce<Message | undefined>((a, b) => (!a || b.seq > a.seq ? b : a), undefined);
    if (!newest || newest.seq <= readSent) return;
    const seq = newest.seq;
    reading = parley.chat
      .markRead(room.id, newest.id)
      .then(() => (readSent = Math.max(readSent, seq)))
      .catch(() => {})
      .finally(() => {
        reading = null;
        // Something newer came while that one was on its way.
        markRead();
      });
  }
  const onVisible = () => markRead();
  document.addEventListener("visibilitychange", onVisible);

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
      resolvePendingReads();
      renderSeen();
      toBottom();
      markRead();
    } catch (error) {
      status.textContent = `Could not load messages: ${describe(error)}`;
    }
  }

  async function loadOlder(): Promise<void> {
    if (loadingOlder || !hasMore) return;
    const oldest = [...messages.values()].reduce<Message | undefined>((a, b) => (!a || b.seq < a.seq ? b : a), undefined);
    if (!oldest) return;
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

  function resolvePendingReads(): void {
    for (const [userId, messageId] of [...readPending]) noteRead(userId, messageId);
  }

  older.addEventListener("click", () => void loadOlder());
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 40) void loadOlder();
  });

  // -- composer --------------------------------------------------------------------------

  const typing = typingSignal((isTyping) => parley.chat.typing(room.id, isTyping));
  const input = h("input", {
    name: "message",
    autocomplete: "off",
    maxlength: 4000,
    placeholder: `Message ${context.title}`,
    "data-testid": "composer-input",
  });
  const composerError = h("p", { class: "error small", "data-testid": "composer-error", role: "alert" });
  const uploadStatus = h("p", { class: "muted small", "data-testid": "upload-status", role: "status" });
  const file = h("input", { type: "file", class: "visually-hidden", "data-testid": "composer-file" });
  input.addEventListener("input", () => typing.input(input.value !== ""));
  input.addEventListener("blur", () => typing.stop());

  const composer = h(
    "form",
    { class: "composer" },
    h("label", { class: "button small", title: "Send a photo or a file" }, "Photo…", file),
    input,
    h("button", { type: "submit", "data-testid": "composer-send" }, "Send"),
  );
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    typing.stop();
    composerError.textContent = "";
    // The SDK retries a send until it is stored; the message shows when it is.
    parley.chat.send({ roomId: room.id }, { content }).catch((error: unknown) => {
      composerError.textContent = `Not sent ("${content}"): ${describe(error)}`;
    });
  });
  file.addEventListener("change", () => {
    const chosen = file.files?.[0];
    file.value = "";
    if (!chosen) return;
    uploadStatus.textContent = `Uploading ${chosen.name}…`;
    parley.chat
      .sendFile({ roomId: room.id }, chosen, {
        name: chosen.name,
        contentType: chosen.type || undefined,
        onProgress: (sent, total) => {
          uploadStatus.textContent = `Uploading ${chosen.name}: ${Math.round((100 * sent) / Math.max(total, 1))} %`;
        },
      })
      .then(() => (uploadStatus.textContent = ""))
      .catch((error: unknown) => (uploadStatus.textContent = `Upload of ${chosen.name} failed: ${describe(error)}`));
  });

  // -- the header ------------------------------------------------------------------------

  const peerId = context.peerId;
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
    composerError,
    uploadStatus,
    composer,
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
      // Sending moves the sender's read pointer to their message (docs/API.md "/chat").
      if (message.sender) {
        noteRead(message.sender.id, message.id);
        typers.delete(message.sender.id);
        renderTyping();
      }
      resolvePendingReads();
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
      noteRead(userId, messageId);
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
      typing.stop();
      document.removeEventListener("visibilitychange", onVisible);
      replaceChildren(element);
    },
  };
}
