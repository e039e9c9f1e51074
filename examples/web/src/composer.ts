// What one writes in a conversation: a text field that tells the room we are typing, Send,
// and a photo (or file) upload with progress (docs/API.md "Attachments"). What was sent shows
// when the SDK delivers it as a message, not here.
import type { Parley } from "@parley/client";

import { describe, h } from "./dom";
import { typingSignal } from "./typing";

export interface Composer {
  element: HTMLElement;
  /** Ends "typing" (the conversation is closing). */
  stop(): void;
}

export function createComposer(parley: Parley, roomId: string, placeholder: string): Composer {
  const typing = typingSignal((isTyping) => parley.chat.typing(roomId, isTyping));
  const input = h("input", {
    name: "message",
    autocomplete: "off",
    maxlength: 4000,
    placeholder,
    "data-testid": "composer-input",
  });
  const error = h("p", { class: "error small", "data-testid": "composer-error", role: "alert" });
  const upload = h("p", { class: "muted small", "data-testid": "upload-status", role: "status" });
  const file = h("input", { type: "file", class: "visually-hidden", "data-testid": "composer-file" });
  const form = h(
    "form",
    { class: "composer" },
    h("label", { class: "button small", title: "Send a photo or a file" }, "Photo…", file),
    input,
    h("button", { type: "submit", "data-testid": "composer-send" }, "Send"),
  );

  input.addEventListener("input", () => typing.input(input.value !== ""));
  input.addEventListener("blur", () => typing.stop());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    typing.stop();
    error.textContent = "";
    // The SDK retries a send until it is stored; only a refusal comes back here.
    parley.chat.send({ roomId }, { content }).catch((failure: unknown) => {
      error.textContent = `Not sent ("${content}"): ${describe(failure)}`;
    });
  });
  file.addEventListener("change", () => {
    const chosen = file.files?.[0];
    file.value = "";
    if (!chosen) return;
    upload.textContent = `Uploading ${chosen.name}…`;
    parley.chat
      .sendFile({ roomId }, chosen, {
        name: chosen.name,
        contentType: chosen.type || undefined,
        onProgress: (sent, total) => {
          upload.textContent = `Uploading ${chosen.name}: ${Math.round((100 * sent) / Math.max(total, 1))} %`;
        },
      })
      .then(() => (upload.textContent = ""))
      .catch((failure: unknown) => (upload.textContent = `Upload of ${chosen.name} failed: ${describe(failure)}`));
  });

  return { element: h("div", { class: "composer-area" }, error, upload, form), stop: () => typing.stop() };
}
