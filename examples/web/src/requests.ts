// Friend requests: send one by username, accept or decline those received, cancel those sent
// (docs/API.md "/friends").
import type { Friend, FriendRequest, Parley } from "@parley/client";

import type { Directory } from "./directory";
import { describe, h, replaceChildren } from "./dom";

interface Actions {
  /** A request became a friendship (accepted by either side). */
  befriended(friend: Friend): void;
}

export function createRequestsPanel(parley: Parley, directory: Directory, actions: Actions): HTMLElement {
  const incoming = new Map<string, FriendRequest>();
  const outgoing = new Map<string, FriendRequest>();
  const incomingList = h("ul", { class: "requests", "data-testid": "incoming-requests" });
  const outgoingList = h("ul", { class: "requests", "data-testid": "outgoing-requests" });
  const feedback = h("p", { class: "muted small", "data-testid": "request-feedback", role: "status" });
  const username = h("input", {
    name: "username",
    required: true,
    placeholder: "username",
    "data-testid": "request-username",
  });
  const form = h(
    "form",
    { class: "inline" },
    username,
    h("button", { type: "submit", "data-testid": "request-send" }, "Add friend"),
  );

  function render(): void {
    replaceChildren(
      incomingList,
      ...[...incoming.values()].map((request) =>
        h(
          "li",
          {
            "data-testid": "incoming-request",
            "data-request-id": request.id,
            "data-user-id": request.from.id,
            "data-username": request.from.username,
          },
          h("span", { class: "name" }, request.from.username),
          h("button", { class: "small", "data-testid": "request-accept", onclick: () => void accept(request) }, "Accept"),
          h("button", { class: "small", "data-testid": "request-decline", onclick: () => void decline(request) }, "Decline"),
        ),
      ),
    );
    replaceChildren(
      outgoingList,
      ...[...outgoing.values()].map((request) =>
        h(
          "li",
          {
            "data-testid": "outgoing-request",
            "data-request-id": request.id,
            "data-user-id": request.to.id,
            "data-username": request.to.username,
          },
          h("span", { class: "name" }, request.to.username),
          h("span", { class: "muted small" }, "asked"),
          h("button", { class: "small", "data-testid": "request-cancel", onclick: () => void cancel(request) }, "Cancel"),
        ),
      ),
    );
  }

  function forget(requestId: string): void {
    incoming.delete(requestId);
    outgoing.delete(requestId);
    render();
  }

  async function act(what: string, run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      feedback.textContent = `${what} failed: ${describe(error)}`;
    }
  }

  const accept = (request: FriendRequest) =>
    act("Accept", async () => {
      const friend = await parley.friends.accept(request.id);
      forget(request.id);
      actions.befriended(friend);
      feedback.textContent = `You and ${friend.user.username} are friends.`;
    });
  const decline = (request: FriendRequest) =>
    act("Decline", async () => {
      await parley.friends.decline(request.id);
      forget(request.id);
    });
  const cancel = (request: FriendRequest) =>
    act("Cancel", async () => {
      await parley.friends.cancel(request.id);
      forget(request.id);
    });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = username.value.trim();
    void act("Request", async () => {
      const answer = await parley.friends.send({ username: name });
      username.value = "";
      if (answer.friend) {
        // They had asked first: asking back accepted theirs.
        forget(answer.request.id);
        actions.befriended(answer.friend);
        feedback.textContent = `You and ${answer.friend.user.username} are friends.`;
      } else {
        outgoing.set(answer.request.id, answer.request);
        render();
        feedback.textContent = `Asked ${answer.request.to.username}.`;
      }
    });
  });

  parley.friends.on("friend-request-received", ({ request }) => {
    if (!request) return;
    directory.learn(request.from);
    incoming.set(request.id, request);
    render();
  });
  parley.friends.on("friend-request-accepted", ({ requestId }) => forget(requestId));
  parley.friends.on("friend-request-cancelled", ({ requestId }) => forget(requestId));

  void act("Loading requests", async () => {
    const page = await parley.friends.requests({ limit: 100 });
    for (const request of page.incoming) incoming.set(request.id, request);
    for (const request of page.outgoing) outgoing.set(request.id, request);
    render();
  });

  return h(
    "section",
    { class: "panel" },
    h("h2", {}, "Friend requests"),
    form,
    feedback,
    h("h3", {}, "Received"),
    incomingList,
    h("h3", {}, "Sent"),
    outgoingList,
  );
}
