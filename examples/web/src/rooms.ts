// The conversations: group rooms and direct messages, most recently active first, with what
// is unread; and a form to start a group with friends (docs/API.md "/chat").
import type { Message, Parley, Room, User } from "@parley/client";

import type { Directory } from "./directory";
import { clockTime, describe, h, replaceChildren } from "./dom";

export interface RoomsPanel {
  element: HTMLElement;
  /** A message of any room, live or caught up. `open`: its room is the one shown. */
  onMessage(message: Message, open: boolean): void;
  /** Knows the room (e.g. a DM just made) and returns it. */
  add(room: Room): Room;
  get(roomId: string): Room | undefined;
  /** Marks the room shown: its unread count is cleared. */
  setActive(roomId: string | null): void;
  title(room: Room): string;
  /** The other member of a direct room. */
  peer(room: Room): string | undefined;
}

interface Entry {
  room: Room;
  unread: number;
  last?: Message;
}

interface Actions {
  open(roomId: string): void;
  /** The friends a group may be made with. */
  friends(): User[];
}

export function createRoomsPanel(parley: Parley, directory: Directory, actions: Actions): RoomsPanel {
  const entries = new Map<string, Entry>();
  let active: string | null = null;
  const list = h("ul", { class: "rooms", "data-testid": "rooms" });
  const note = h("p", { class: "muted" }, "Loading conversations…");
  const groupForm = createGroupForm();

  function peer(room: Room): string | undefined {
    if (room.isGroup) return undefined;
    return room.members?.map((member) => member.user?.id).find((id) => id && id !== directory.me.id) ?? undefined;
  }

  function title(room: Room): string {
    if (room.isGroup) return room.name || "Unnamed group";
    const other = peer(room);
    return other ? directory.name(other) : room.name || "Direct messages";
  }

  function preview(message: Message | undefined): string {
    if (!message) return "No messages yet";
    if (message.deleted) return "Message deleted";
    const who = message.sender?.id === directory.me.id ? "You" : message.sender?.username ?? "";
    const what =
      message.messageType === "IMAGE" ? "sent a photo" : message.messageType === "FILE" ? "sent a file" : message.content;
    return `${who}: ${what}`;
  }

  function render(): void {
    const sorted = [...entries.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
    replaceChildren(
      list,
      ...sorted.map((entry) => {
        const kind = entry.room.isGroup ? "group" : "dm";
        return h(
          "li",
          {
            class: entry.room.id === active ? "active" : "",
            "data-testid": "room",
            "data-room-id": entry.room.id,
            "data-kind": kind,
            "data-title": title(entry.room),
            onclick: () => actions.open(entry.room.id),
          },
          h(
            "div",
            { class: "line" },
            h("span", { class: "name" }, kind === "group" ? `# ${title(entry.room)}` : `@ ${title(entry.room)}`),
            entry.unread > 0 && h("span", { class: "badge", "data-testid": "room-unread" }, String(entry.unread)),
          ),
          h(
            "div",
            { class: "line muted small" },
            h("span", { class: "preview" }, preview(entry.last)),
            h("span", {}, clockTime(entry.last?.timestamp)),
          ),
        );
      }),
    );
    note.textContent = entries.size ? "" : "No conversations yet: message a friend.";
  }

  const activity = (entry: Entry) => entry.last?.timestamp ?? entry.room.createdAt ?? "";

  function upsert(room: Room): Entry {
    for (const member of room.members ?? []) directory.learn(member.user);
    let entry = entries.get(room.id);
    // A room without its members (a listed group) keeps those already known.
    if (entry) entry.room = { ...entry.room, ...room, members: room.members ?? entry.room.members };
    else entries.set(room.id, (entry = { room, unread: 0 }));
    return entry;
  }

  function add(room: Room): Room {
    const { room: known } = upsert(room);
    render();
    return known;
  }

  // A message of a room this page does not know yet (a DM someone just started): fetched once.
  const fetching = new Map<string, Promise<void>>();
  function learnRoom(roomId: string): Promise<void> {
    const known = fetching.get(roomId);
    if (known) return known;
    const pending = parley.chat.getRoom(roomId).then(
      (room) => void add(room),
      // Asked again with the room's next message.
      () => void fetching.delete(roomId),
    );
    fetching.set(roomId, pending);
    return pending;
  }

  function onMessage(message: Message, open: boolean): void {
    directory.learn(message.sender);
    const update = () => {
      const entry = entries.get(message.roomId);
      if (!entry) return;
      if (!entry.last || entry.last.seq <= message.seq) entry.last = message;
      if (!open && message.sender?.id !== directory.me.id) entry.unread += 1;
      render();
    };
    if (entries.has(message.roomId)) update();
    else void learnRoom(message.roomId).then(update);
  }

  async function load(): Promise<void> {
    try {
      let cursor: string | undefined;
      do {
        const page = await parley.chat.listRooms({ limit: 100, cursor });
        for (const { unreadCount, lastMessage, ...room } of page.rooms) {
          const entry = upsert(room);
          entry.unread = unreadCount;
          entry.last = lastMessage ?? undefined;
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      render();
    } catch (error) {
      note.textContent = `Could not load conversations: ${describe(error)}`;
    }
  }

  function createGroupForm(): HTMLElement {
    const name = h("input", { name: "name", required: true, maxlength: 100, placeholder: "group name", "data-testid": "group-name" });
    const picks = h("div", { class: "picks", "data-testid": "group-members" });
    const feedback = h("p", { class: "muted small", role: "status" });
    const details = h(
      "details",
      {},
      h("summary", {}, "New group"),
      h(
        "form",
        {
          onsubmit: (event: Event) => {
            event.preventDefault();
            const memberIds = [...picks.querySelectorAll<HTMLInputElement>("input:checked")].map((box) => box.value);
            parley.chat
              .createRoom({ name: name.value.trim(), isGroup: true, memberIds })
              .then((room) => {
                add(room);
                name.value = "";
                details.open = false;
                actions.open(room.id);
              })
              .catch((error: unknown) => (feedback.textContent = describe(error)));
          },
        },
        name,
        picks,
        h("button", { type: "submit", "data-testid": "group-create" }, "Create"),
        feedback,
      ),
    );
    // The friends may have changed since the form was last opened.
    details.addEventListener("toggle", () => {
      if (!details.open) return;
      const friends = actions.friends();
      replaceChildren(
        picks,
        ...friends.map((friend) =>
          h("label", { class: "small" }, h("input", { type: "checkbox", value: friend.id }), ` ${friend.username}`),
        ),
        !friends.length && h("span", { class: "muted small" }, "Add friends first, or make a group of one."),
      );
    });
    return details;
  }

  parley.chat.on("room-created", ({ room }) => {
    if (room) void add(room);
  });
  parley.chat.on("user-left", ({ roomId, userId }) => {
    if (userId !== directory.me.id) return;
    entries.delete(roomId);
    render();
  });
  void load();

  return {
    element: h("section", { class: "panel" }, h("h2", {}, "Conversations"), note, list, groupForm),
    onMessage,
    add,
    get: (roomId) => entries.get(roomId)?.room,
    setActive(roomId) {
      active = roomId;
      const entry = roomId ? entries.get(roomId) : undefined;
      if (entry) entry.unread = 0;
      render();
    },
    title,
    peer,
  };
}
