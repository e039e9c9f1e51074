// The signed-in page: a header (who, connection, own status), the friends, requests and
// conversations on the left, the open conversation on the right, and the call panel. The
// Parley's events are routed from here, once, to whichever part shows them.
import type { Parley, Room, User } from "@parley/client";

import { createCallPanel } from "./calls";
import { type Conversation, openConversation } from "./conversation";
import { Directory } from "./directory";
import { describe, h, replaceChildren } from "./dom";
import { createFriendsPanel } from "./friends";
import { createRequestsPanel } from "./requests";
import { createRoomsPanel } from "./rooms";

const STATUSES = [
  ["ONLINE", "Online"],
  ["AWAY", "Away"],
  ["DO_NOT_DISTURB", "Do not disturb"],
  ["INVISIBLE", "Invisible"],
] as const;

export function mountApp(root: HTMLElement, parley: Parley, signOut: () => void): void {
  const directory = new Directory(parley.me);
  const calls = createCallPanel(parley, directory);
  const friends = createFriendsPanel(parley, directory, {
    message: (user) => void openDm(user),
    call: (user) => calls.start(user.id, "VIDEO"),
  });
  const requests = createRequestsPanel(parley, directory, { befriended: (friend) => friends.add(friend) });
  const rooms = createRoomsPanel(parley, directory, {
    open: (roomId) => void openRoom(roomId),
    friends: () => friends.list(),
  });
  const main = h("main", { class: "main" }, h("p", { class: "empty muted" }, "Pick a conversation, or message a friend."));
  let open: Conversation | null = null;

  function show(room: Room): void {
    open?.dispose();
    const peerId = rooms.peer(room);
    open = openConversation(parley, room, {
      directory,
      title: rooms.title(room),
      peerId,
      call: (userId, media) => calls.start(userId, media),
    });
    rooms.setActive(room.id);
    replaceChildren(main, open.element);
  }

  async function openRoom(roomId: string): Promise<void> {
    const known = rooms.get(roomId);
    try {
      // A listed room may lack its members (groups): get-room brings them.
      show(known?.members ? known : rooms.add(await parley.chat.getRoom(roomId)));
    } catch (error) {
      replaceChildren(main, h("p", { class: "error" }, `Could not open the room: ${describe(error)}`));
    }
  }

  async function openDm(user: User): Promise<void> {
    try {
      // The pair's one direct room: made on first use, the same one after (docs/API.md "/chat").
      const room = await parley.chat.createRoom({ isGroup: false, memberIds: [user.id] });
      show(rooms.add(room));
    } catch (error) {
      replaceChildren(main, h("p", { class: "error" }, `Could not open the conversation: ${describe(error)}`));
    }
  }

  parley.chat.on("message", (message) => {
    const here = open?.roomId === message.roomId;
    rooms.onMessage(message, here && document.visibilityState === "visible");
    if (here) open?.onMessage(message);
  });
  // Looking at the open conversation again reads it (conversation.ts marks it read).
  const onVisible = () => {
    if (open && document.visibilityState === "visible") rooms.setActive(open.roomId);
  };
  document.addEventListener("visibilitychange", onVisible);
  parley.chat.on("message-updated", ({ message }) => {
    // The schema allows a missing message (the server's types are optional there); skip it.
    if (message && open?.roomId === message.roomId) open.onUpdated(message);
  });
  parley.chat.on("message-deleted", ({ roomId, messageId }) => {
    if (open?.roomId === roomId) open.onDeleted(messageId);
  });
  parley.chat.on("messages-read", (read) => {
    if (open?.roomId === read.roomId) open.onRead(read);
  });
  parley.chat.on("user-typing", (typing) => {
    if (open?.roomId === typing.roomId) open.onTyping(typing);
  });

  // -- the header ------------------------------------------------------------------------

  const connection = h("span", { class: "connection online", "data-testid": "connection" }, "connected");
  const setConnection = (online: boolean, text: string) => {
    connection.className = `connection ${online ? "online" : "offline"}`;
    connection.textContent = text;
  };
  parley.on("connected", () => setConnection(true, "connected"));
  parley.on("disconnected", () => {
    setConnection(false, "reconnecting…");
    open?.clearTyping();
  });
  parley.on("error", (error) => setConnection(parley.connected, describe(error)));

  const status = h(
    "select",
    { "data-testid": "my-status", title: "What your friends see" },
    // Parley tells no one their own status (it is kept across sessions), so none is claimed.
    h("option", { value: "", disabled: true, selected: true }, "Set status…"),
    ...STATUSES.map(([value, label]) => h("option", { value }, label)),
  );
  status.addEventListener("change", () => {
    void parley.presence.setStatus(status.value as (typeof STATUSES)[number][0]).catch((error: unknown) => {
      setConnection(parley.connected, `status: ${describe(error)}`);
    });
  });

  const header = h(
    "header",
    { class: "top" },
    h("strong", {}, "Parley"),
    h("span", {}, "Signed in as ", h("strong", { "data-testid": "me", "data-user-id": parley.me.id }, parley.me.username)),
    status,
    connection,
    h(
      "button",
      {
        class: "small",
        "data-testid": "sign-out",
        onclick: () => {
          // The Parley's listeners end with it (signOut closes it); the page's own do not.
          document.removeEventListener("visibilitychange", onVisible);
          calls.dispose();
          friends.dispose();
          open?.dispose();
          signOut();
        },
      },
      "Sign out",
    ),
  );

  replaceChildren(
    root,
    h(
      "div",
      { class: "layout", "data-testid": "app" },
      header,
      h("nav", { class: "side" }, friends.element, requests, rooms.element),
      main,
      calls.element,
    ),
  );
}
