// One message as the conversation shows it: sender, time, text, and its photos (thumbnails
// that open the full image) or files (downloads), per docs/API.md "Attachments".
import type { Attachment, AttachmentUrls, Message } from "@parley/client";

import { clockTime, h } from "./dom";

/** Fresh URLs for a message's attachments, when the ones it came with have expired. */
export type RefreshUrls = (message: Message) => Promise<Record<string, AttachmentUrls | undefined>>;

export function renderMessage(message: Message, meId: string, refresh: RefreshUrls): HTMLElement {
  const mine = message.sender?.id === meId;
  const base = {
    "data-testid": "message",
    "data-message-id": message.id,
    "data-seq": message.seq,
    "data-type": message.messageType,
    "data-mine": mine,
  };
  // The server's own lines (a call's outcome, room events) stand apart from what people say.
  if (message.messageType === "CALL" || message.messageType === "SYSTEM") {
    return h(
      "li",
      { ...base, class: "message system" },
      h("span", { "data-testid": "message-content" }, message.content),
      h("span", { class: "muted small" }, ` · ${clockTime(message.timestamp)}`),
    );
  }
  return h(
    "li",
    { ...base, class: `message ${mine ? "mine" : "theirs"}` },
    h(
      "div",
      { class: "meta muted small" },
      h("span", { class: "sender" }, mine ? "You" : message.sender?.username ?? "?"),
      ` · ${clockTime(message.timestamp)}`,
      message.editedAt && !message.deleted ? " · edited" : "",
    ),
    message.deleted
      ? h("div", { class: "content muted", "data-testid": "message-content" }, "Message deleted")
      : message.content && h("div", { class: "content", "data-testid": "message-content" }, message.content),
    !message.deleted && (message.attachments?.length ?? 0) > 0 && renderAttachments(message, refresh),
  );
}

function renderAttachments(message: Message, refresh: RefreshUrls): HTMLElement {
  return h(
    "div",
    { class: "attachments" },
    ...(message.attachments ?? []).map((attachment) =>
      attachment.kind === "IMAGE" ? renderImage(message, attachment, refresh) : renderFile(attachment),
    ),
  );
}

function renderImage(message: Message, attachment: Attachment, refresh: RefreshUrls): HTMLElement {
  // The thumbnail fits 400×400; an image that already fits has none: its own URL serves.
  const img = h("img", {
    src: attachment.thumbnailUrl ?? attachment.url,
    alt: attachment.name,
    width: attachment.width ? Math.min(attachment.width, 240) : null,
    loading: "lazy",
    "data-testid": "message-image",
    "data-attachment-id": attachment.id,
  });
  const link = h("a", { href: attachment.previewUrl ?? attachment.url, target: "_blank", rel: "noopener" }, img);
  // Signed URLs expire (`urlExpiresAt`): a page left open for hours asks for fresh ones, once.
  let retried = false;
  img.addEventListener("error", () => {
    if (retried) return;
    retried = true;
    void refresh(message).then((urls) => {
      const fresh = urls[attachment.id];
      if (!fresh) return;
      img.src = fresh.thumbnailUrl ?? fresh.url;
      link.href = fresh.previewUrl ?? fresh.url;
    });
  });
  return link;
}

function renderFile(attachment: Attachment): HTMLElement {
  return h(
    "a",
    { class: "file", href: attachment.url, "data-testid": "message-file" },
    `${attachment.name} (${size(attachment.size)})`,
  );
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
