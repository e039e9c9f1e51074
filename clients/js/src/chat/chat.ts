/**
 * `parley.chat`: rooms, messages and attachments over `/chat` (docs/API.md "/chat"). Sends go
 * through the outbox (retried until stored, outbox.ts), and every stored message reaches
 * `on("message")` through the delivery (once, in seq order, delivery.ts).
 */
import type { Channel } from "../channel.js";
import { Emitter } from "../emitter.js";
import type { ParleyError } from "../errors.js";
import { randomId } from "../ids.js";
import { present } from "../present.js";
import type { AckData, Payload, ServerPayload } from "../protocol.js";
import { type Attachment, uploadFile, type UploadOptions } from "../uploads.js";
import { Delivery, type Message } from "./delivery.js";
import { Outbox, type PendingSend } from "./outbox.js";
import { type Target, targetFields, targetKey } from "./target.js";

export type { Message } from "./delivery.js";
export type { Target } from "./target.js";
export type { UploadOptions } from "../uploads.js";

type SendPayload = Payload<"/chat", "send-message">;
type Room = NonNullable<AckData<"/chat", "get-room">["room"]>;

export interface SendOptions {
  content?: string;
  messageType?: SendPayload["messageType"];
  replyToId?: string;
  attachmentIds?: string[];
  /** Makes the send idempotent (docs/API.md); one is generated when not given. */
  clientMsgId?: string;
}

export interface SendFileOptions extends UploadOptions {
  caption?: string;
}

export interface HistoryOptions {
  limit?: number;
  /** A message id: the page before it. */
  before?: string;
  /** A message id: the page after it, oldest first. */
  after?: string;
}

export interface Page {
  limit?: number;
  cursor?: string;
}

type Relayed<E extends keyof ChatRelayedEvents> = ChatRelayedEvents[E];
interface ChatRelayedEvents {
  "message-updated": ServerPayload<"/chat", "message-updated">;
  "message-deleted": ServerPayload<"/chat", "message-deleted">;
  "messages-read": ServerPayload<"/chat", "messages-read">;
  "user-typing": ServerPayload<"/chat", "user-typing">;
  "user-joined": ServerPayload<"/chat", "user-joined">;
  "user-left": ServerPayload<"/chat", "user-left">;
  "room-created": ServerPayload<"/chat", "room-created">;
}

export type ChatEvents = { message: [Message] } & { [E in keyof ChatRelayedEvents]: [Relayed<E>] };

const RELAYED: ReadonlyArray<keyof ChatRelayedEvents> = [
  "message-updated",
  "message-deleted",
  "messages-read",
  "user-typing",
  "user-joined",
  "user-left",
  "room-created",
];

export interface ChatContext {
  /** The user's id (from the token), to tell their own removal from a room. */
  me: () => string | undefined;
  /** A failure without a caller. */
  report: (error: ParleyError) => void;
}

export class Chat {
  readonly #channel: Channel<"/chat">;
  readonly #context: ChatContext;
  readonly #events = new Emitter<ChatEvents>();
  readonly #delivery: Delivery;
  readonly #outbox: Outbox<SendPayload, Message>;

  constructor(channel: Channel<"/chat">, context: ChatContext) {
    this.#channel = channel;
    this.#context = context;
    this.#delivery = new Delivery({
      channel,
      deliver: (message) => this.#events.emit("message", message),
      report: context.report,
    });
    this.#outbox = new Outbox<SendPayload, Message>({
      send: async (payload) => {
        const stored = present((await this.#channel.request("send-message", payload)).message, "send-message");
        this.#delivery.receive(stored);
        return stored;
      },
      isConnected: () => this.#channel.connected,
    });
    channel.listen("new-message", (message) => this.#delivery.receive(message));
    channel.listen("new-private-message", (message) => this.#delivery.receive(message));
    for (const event of RELAYED) {
      channel.listen(event, (payload: Relayed<typeof event>) => {
        this.#beforeRelay(event, payload);
        (this.#events.emit as (event: string, payload: unknown) => void)(event, payload);
      });
    }
    channel.onConnect(() => {
      this.#outbox.resume();
      this.#delivery.connected();
    });
  }

  /** `handler` for `message` (every stored message, once, in seq order) or a relayed event. */
  on<E extends keyof ChatEvents>(event: E, handler: (...args: ChatEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** The last contiguous seq delivered in `roomId` (undefined for a room not seen yet). */
  lastSeq(roomId: string): number | undefined {
    return this.#delivery.lastSeq(roomId);
  }

  /** Sends not stored yet. */
  get pending(): Array<PendingSend<SendPayload>> {
    return this.#outbox.pending();
  }

  /** Resolves once the catch-up of the latest /chat connect is done. */
  synced(): Promise<void> {
    return this.#delivery.synced();
  }

  // Rooms

  async listRooms(page: Page = {}): Promise<AckData<"/chat", "list-rooms">> {
    const answer = await this.#channel.request("list-rooms", page);
    for (const room of answer.rooms) {
      const roomId = room.id;
      if (!roomId) continue;
      const last = room.lastMessage;
      // A room followed already: its last message may be news; a new one starts there.
      if (last && this.#delivery.lastSeq(roomId) !== undefined) this.#delivery.receive(last);
      else this.#delivery.observe(roomId, last?.seq ?? 0);
    }
    return answer;
  }

  async getRoom(roomId: string): Promise<Room> {
    return present((await this.#channel.request("get-room", { roomId })).room, "get-room");
  }

  async createRoom(room: Payload<"/chat", "create-room">): Promise<Room> {
    return present((await this.#channel.request("create-room", room)).room, "create-room");
  }

  async addMembers(roomId: string, userIds: string[]): Promise<Room> {
    return present((await this.#channel.request("add-members", { roomId, userIds })).room, "add-members");
  }

  async removeMember(roomId: string, userId: string): Promise<void> {
    await this.#channel.request("remove-member", { roomId, userId });
  }

  async joinRoom(roomId: string): Promise<Room> {
    return present((await this.#channel.request("join-room", { roomId })).room, "join-room");
  }

  async leaveRoom(roomId: string): Promise<void> {
    await this.#channel.request("leave-room", { roomId });
    this.#delivery.forget(roomId);
  }

  // Messages

  /**
   * Sends a message; resolves with it once stored. Retried with the same `clientMsgId` after
   * `UNAVAILABLE`, `TIMEOUT` or a disconnect (when connected again) and after `RATE_LIMITED`
   * (after `retryAfterMs`); other errors reject at once.
   */
  send(target: Target, options: SendOptions): Promise<Message> {
    // Without a /chat socket a send would wait for ever: refuse it as every request is.
    if (!this.#channel.enabled) return Promise.reject(this.#channel.notEnabled("send-message"));
    const clientMsgId = options.clientMsgId ?? randomId();
    const payload = {
      ...targetFields(target),
      ...(options.content !== undefined ? { content: options.content } : {}),
      ...(options.messageType !== undefined ? { messageType: options.messageType } : {}),
      ...(options.replyToId !== undefined ? { replyToId: options.replyToId } : {}),
      ...(options.attachmentIds !== undefined ? { attachmentIds: options.attachmentIds } : {}),
      clientMsgId,
    } as SendPayload & { clientMsgId: string };
    return this.#outbox.submit(targetKey(target), payload);
  }

  /** A page of `roomId`'s messages: newest first, or oldest first with `after`. */
  async history(roomId: string, options: HistoryOptions = {}): Promise<AckData<"/chat", "get-history">> {
    const answer = await this.#channel.request("get-history", { roomId, ...options });
    const newest = answer.messages.reduce((seq, message) => Math.max(seq, message.seq), 0);
    if (this.#delivery.lastSeq(roomId) === undefined) {
      // Only the latest page says where the room stands now.
      if (options.before === undefined && options.after === undefined) this.#delivery.observe(roomId, newest);
    } else {
      // A room already followed: what history shows past the last delivered seq is news.
      for (const message of [...answer.messages].sort((a, b) => a.seq - b.seq)) this.#delivery.receive(message);
    }
    return answer;
  }

  async markRead(roomId: string, messageId?: string): Promise<AckData<"/chat", "mark-read">> {
    return this.#channel.request("mark-read", messageId === undefined ? { roomId } : { roomId, messageId });
  }

  async typing(roomId: string, isTyping: boolean): Promise<void> {
    await this.#channel.request("typing", { roomId, isTyping });
  }

  async edit(messageId: string, content: string): Promise<Message> {
    return present((await this.#channel.request("edit-message", { messageId, content })).message, "edit-message");
  }

  async delete(messageId: string): Promise<void> {
    await this.#channel.request("delete-message", { messageId });
  }

  // Attachments

  mediaConfig(): Promise<AckData<"/chat", "get-media-config">> {
    return this.#channel.request("get-media-config", {});
  }

  /**
   * Uploads `file` for `target` (docs/API.md "Attachments", steps 1-3): reserve, PUT with
   * progress, complete. Resolves with the attachment, ready for `send({ attachmentIds })`.
   */
  async upload(target: Target, file: Blob | Uint8Array, options: UploadOptions): Promise<Attachment> {
    return (await uploadFile(this.#channel, target, file, options)).attachment;
  }

  /** Uploads `file` and sends it in a message (`IMAGE` for an image, else `FILE`). */
  async sendFile(target: Target, file: Blob | Uint8Array, options: SendFileOptions): Promise<Message> {
    const { attachment, roomId } = await uploadFile(this.#channel, target, file, options);
    return this.send(roomId ? { roomId } : target, {
      ...(options.caption !== undefined ? { content: options.caption } : {}),
      messageType: attachment.kind === "IMAGE" ? "IMAGE" : "FILE",
      attachmentIds: [attachment.id],
    });
  }

  /** Rejects every pending send with `CLOSED` and stops catching up. */
  close(): void {
    this.#delivery.close();
    this.#outbox.close();
    this.#events.clear();
  }

  #beforeRelay(event: keyof ChatRelayedEvents, payload: unknown): void {
    if (event === "room-created") {
      // A room just made has no messages yet: its first one is seq 1.
      const room = (payload as Relayed<"room-created">).room;
      if (room?.id && this.#delivery.lastSeq(room.id) === undefined) this.#delivery.observe(room.id, 0);
    } else if (event === "user-left") {
      const left = payload as Relayed<"user-left">;
      if (left.userId === this.#context.me()) this.#delivery.forget(left.roomId);
    }
  }
}
