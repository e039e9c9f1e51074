// The friends list: each friend with a live status dot and when that status last changed
// (docs/API.md "/status"), and buttons to message or call them.
import type { Friend, Parley, User } from "@parley/client";

import type { Directory } from "./directory";
import { ago, describe, h, replaceChildren } from "./dom";

export interface FriendsPanel {
  element: HTMLElement;
  add(friend: Friend): void;
  /** The friends, by name. */
  list(): User[];
  /** Clears timers; the Parley's own listeners end with it. */
  dispose(): void;
}

interface Actions {
  message(user: User): void;
  call(user: User): void;
}

const LABELS: Record<string, string> = {
  ONLINE: "Online",
  AWAY: "Away",
  DO_NOT_DISTURB: "Do not disturb",
  OFFLINE: "Offline",
};

export function createFriendsPanel(parley: Parley, directory: Directory, actions: Actions): FriendsPanel {
  const friends = new Map<string, User>();
  const list = h("ul", { class: "friends", "data-testid": "friends" });
  const note = h("p", { class: "muted" }, "Loading friends…");
  const element = h("section", { class: "panel" }, h("h2", {}, "Friends"), note, list);

  function row(user: User): HTMLElement {
    const presence = parley.presence.status(user.id);
    const status = presence?.status ?? "OFFLINE";
    const seen =
      status === "OFFLINE" ? `last seen ${ago(presence?.lastSeen)}` : `since ${ago(presence?.lastSeen)}`;
    return h(
      "li",
      { "data-testid": "friend", "data-user-id": user.id, "data-username": user.username, "data-status": status },
      h("span", {
        class: `dot ${status.toLowerCase()}`,
        title: LABELS[status] ?? status,
        "data-testid": "friend-status",
        "data-status": status,
      }),
      h(
        "span",
        { class: "who" },
        h("span", { class: "name" }, user.username),
        h("span", { class: "muted small", "data-testid": "friend-last-seen" }, `${LABELS[status] ?? status}, ${seen}`),
      ),
      h("button", { class: "small", "data-testid": "friend-message", onclick: () => actions.message(user) }, "Message"),
      h("button", { class: "small", "data-testid": "friend-call", onclick: () => actions.call(user) }, "Call"),
    );
  }

  const sorted = () => [...friends.values()].sort((a, b) => a.username.localeCompare(b.username));

  function render(): void {
    const all = sorted();
    replaceChildren(list, ...all.map(row));
    note.textContent = all.length ? "" : "No friends yet: send a request below.";
  }

  function add(friend: Friend): void {
    friends.set(friend.user.id, friend.user);
    directory.learn(friend.user);
    render();
    // The statuses of a new friend arrive by friend-status-changed; ask once more in case
    // that event came before the friendship did here.
    void parley.presence.friends().then(render, () => {});
  }

  async function load(): Promise<void> {
    try {
      let cursor: string | undefined;
      do {
        const page = await parley.friends.list({ limit: 500, cursor });
        for (const friend of page.friends) {
          friends.set(friend.user.id, friend.user);
          directory.learn(friend.user);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      await parley.presence.friends();
      render();
    } catch (error) {
      note.textContent = `Could not load friends: ${describe(error)}`;
    }
  }

  parley.presence.on("friend-status-changed", render);
  parley.friends.on("friend-request-accepted", ({ friend }) => add(friend));
  parley.friends.on("friend-removed", ({ userId }) => {
    friends.delete(userId);
    render();
  });
  // After a reconnect, statuses may have changed unseen.
  parley.on("reconnected", () => void parley.presence.friends().then(render, () => {}));
  // "5 min ago" grows old by itself.
  const timer = setInterval(render, 30_000);
  void load();

  return { element, add, list: sorted, dispose: () => clearInterval(timer) };
}
