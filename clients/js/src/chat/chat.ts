/**
 * `parley.chat`: rooms, messages and attachments over `/chat` (docs/API.md "/chat"), with
 * delivery that survives reconnects: every stored message of the user's rooms reaches
 * `on("message")` exactly once and, per room, in seq order (see sequencer.ts, sync.ts,
 * outbox.ts).
 */
import type { Channel } from "../channel.js";
import { Emitter } from "../emitter.js";
import { isTransient, ParleyError } from "../errors.js";
import { randomId } from "../ids.js";
import type { AckData, Payload, ServerPayload } from "../protocol.js";
import { type Progress, putBytes, sizeOf } from "../uploads.js";
import { present } from "../present.js";
import { Outbox, type PendingSend } from "./outbox.js";
import { Sequencer } from "./sequencer.js";
import { syncRooms } from "./sync.js";

type ChatChannel = Channel<"/chat">;
export type Message = ServerPayload<"/chat", "new-message">;
type SendPayload = Payload<"/chat", "send-message">;
type Attachment = NonNullable<AckData<"/chat", "complete-upload">["attachment"]>;
type Room = NonNullable<AckData<"/chat", "get-room">["room"]>;

/** Where a message or an upload goes: a room, or a user (their direct room, made on first use). */
export type Target = { roomId: string } | { receiverId: string };

export interface SendOptions {
  content?: string;
  messageType?: SendPayload["messageType"];
  replyToId?: string;
  attachmentIds?: string[];
  /** Makes the send idempotent (docs/API.md); one is generated when not given. */
  clientMsgId?: string;
}

export interface UploadOptions {
  /** The file's name (a Blob has none of its own). */
  name: string;
  /** A hint only: the server types the file from its bytes. */
  contentType?: string;
  onProgress?: Progress;
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

/** A live message past a gap waits this long for the missing ones to arrive live before `sync`. */
const GAP_GRACE_MS = 200;
/** Fills of one gap before giving up on it (each waits longer). */
const GAP_FILL_ATTEMPTS = 5;
const RESYNC_BACKOFF_MS = (attempt: number) => Math.min(250 * 2 ** attempt, 5_000);
const COMPLETE_UPLOAD_ATTEMPTS = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ChatContext {
  /** The user's id (from the token), to tell their own removal from a room. */
  me: () => string | undefined;
  /** A failure without a caller. */
  report: (error: ParleyError) => void;
}

export class Chat {
  readonly #channel: ChatChannel;
  readonly #context: ChatContext;
  readonly #events = new Emitter<ChatEvents>();
  readonly #sequencer = new Sequencer<Message>();
  readonly #outbox: Outbox<SendPayload, Message>;
  /** Rooms whose gap is being filled, with the connect (generation) the fill belongs to. */
  readonly #filling = new Map<string, number>();
  /** Counts /chat connects, so that a catch-up of an older connection stops. */
  #generation = 0;
  #synced: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(channel: ChatChannel, context: ChatContext) {
    this.#channel = channel;
    this.#context = context;
    this.#outbox = new Outbox<SendPayload, Message>({
      send: async (payload) => {
        const { message } = await this.#channel.request("send-message", payload);
        const stored = present(message, "send-message");
        this.#receive(stored);
        return stored;
      },
      isConnected: () => this.#channel.connected,
    });
    channel.listen("new-message", (message) => this.#receive(message));
    channel.listen("new-private-message", (message) => this.#receive(message));
    for (const event of RELAYED) {
      channel.listen(event, (payload: Relayed<typeof event>) => {
        this.#beforeRelay(event, payload);
        (this.#events.emit as (event: string, payload: unknown) => void)(event, payload);
      });
    }
    channel.onConnect(() => this.#onConnect());
  }

  /** `handler` for `message` (every stored message, once, in seq order) or a relayed event. */
  on<E extends keyof ChatEvents>(event: E, handler: (...args: ChatEvents[E]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** The last contiguous seq delivered in `roomId` (undefined for a room not seen yet). */
  lastSeq(roomId: string): number | undefined {
    return this.#sequencer.lastSeq(roomId);
  }

  /** Sends not stored yet. */
  get pending(): Array<PendingSend<SendPayload>> {
    return this.#outbox.pending();
  }

  /** Resolves once the catch-up of the latest /chat connect is done. */
  synced(): Promise<void> {
    return this.#synced;
  }

  // Rooms

  async listRooms(page: Page = {}): Promise<AckData<"/chat", "list-rooms">> {
    const answer = await this.#channel.request("list-rooms", page);
    for (const room of answer.rooms) {
      const roomId = room.id;
      if (!roomId) continue;
      const last = room.lastMessage;
      if (last && this.#sequencer.lastSeq(roomId) !== undefined) this.#receive(last);
      else this.#sequencer.observe(roomId, last?.seq ?? 0);
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
    this.#sequencer.forget(roomId);
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
      ...("roomId" in target ? { chatRoomId: target.roomId } : { receiverId: target.receiverId }),
      ...(options.content !== undefined ? { content: options.content } : {}),
      ...(options.messageType !== undefined ? { messageType: options.messageType } : {}),
      ...(options.replyToId !== undefined ? { replyToId: options.replyToId } : {}),
      ...(options.attachmentIds !== undefined ? { attachmentIds: options.attachmentIds } : {}),
      clientMsgId,
    } as SendPayload & { clientMsgId: string };
    const key = "roomId" in target ? target.roomId : `to:${target.receiverId}`;
    return this.#outbox.submit(key, payload);
  }

  /** A page of `roomId`'s messages: newest first, or oldest first with `after`. */
  async history(roomId: string, options: HistoryOptions = {}): Promise<AckData<"/chat", "get-history">> {
    const answer = await this.#channel.request("get-history", { roomId, ...options });
    const newest = answer.messages.reduce((seq, message) => Math.max(seq, message.seq), 0);
    if (this.#sequencer.lastSeq(roomId) === undefined) {
      // Only the latest page says where the room stands now.
      if (options.before === undefined && options.after === undefined) this.#sequencer.observe(roomId, newest);
    } else {
      // A room already followed: what history shows past the last delivered seq is news.
      for (const message of [...answer.messages].sort((a, b) => a.seq - b.seq)) this.#receive(message);
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
   * progress, complete. Resolves with the attachment, ready for `send({ attachmentIds })`. A
   * failure after the reservation cancels it, so the quota gets its bytes back.
   */
  async upload(target: Target, file: Blob | Uint8Array, options: UploadOptions): Promise<Attachment> {
    return (await this.#upload(target, file, options)).attachment;
  }

  /** Uploads `file` and sends it in a message (`IMAGE` for an image, else `FILE`). */
  async sendFile(target: Target, file: Blob | Uint8Array, options: SendFileOptions): Promise<Message> {
    const { attachment, roomId } = await this.#upload(target, file, options);
    return this.send(roomId ? { roomId } : target, {
      ...(options.caption !== undefined ? { content: options.caption } : {}),
      messageType: attachment.kind === "IMAGE" ? "IMAGE" : "FILE",
      attachmentIds: [attachment.id],
    });
  }

  /** Rejects every pending send with `CLOSED` and stops catching up. */
  close(): void {
    this.#closed = true;
    this.#generation += 1;
    this.#outbox.close();
    this.#events.clear();
  }

  async #upload(
    target: Target,
    file: Blob | Uint8Array,
    options: UploadOptions,
  ): Promise<{ attachment: Attachment; roomId: string | undefined }> {
    const contentType = options.contentType ?? (file instanceof Uint8Array ? undefined : file.type || undefined);
    const { upload } = await this.#channel.request("create-upload", {
      ...("roomId" in target ? { chatRoomId: target.roomId } : { receiverId: target.receiverId }),
      name: options.name,
      size: sizeOf(file),
      ...(contentType ? { contentType } : {}),
      clientUploadId: randomId(),
    });
    const reserved = present(upload, "create-upload");
    try {
      await putBytes(reserved, file, options.onProgress);
      const attachment = await this.#complete(reserved.id);
      return { attachment, roomId: reserved.roomId || undefined };
    } catch (error) {
      this.#channel.request("cancel-upload", { uploadId: reserved.id }).catch(() => {});
      throw error;
    }
  }

  /** `complete-upload`, retried while media-svc is too busy (`UNAVAILABLE`, docs/API.md). */
  async #complete(uploadId: string): Promise<Attachment> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return present((await this.#channel.request("complete-upload", { uploadId })).attachment, "complete-upload");
      } catch (error) {
        const failure = ParleyError.from(error, "complete-upload");
        if (!isTransient(failure) || attempt >= COMPLETE_UPLOAD_ATTEMPTS) throw failure;
        await sleep(RESYNC_BACKOFF_MS(attempt));
      }
    }
  }

  /** Every stored message, whatever brought it: delivered when due, gaps filled. */
  #receive(message: Message): void {
    if (this.#closed) return;
    for (const due of this.#sequencer.accept(message)) this.#events.emit("message", due);
    if (this.#sequencer.hasGap(message.roomId)) this.#fillLater(message.roomId);
  }

  #beforeRelay(event: keyof ChatRelayedEvents, payload: unknown): void {
    if (event === "room-created") {
      // A room just made has no messages yet: its first one is seq 1.
      const room = (payload as Relayed<"room-created">).room;
      if (room?.id && this.#sequencer.lastSeq(room.id) === undefined) this.#sequencer.observe(room.id, 0);
    } else if (event === "user-left") {
      const left = payload as Relayed<"user-left">;
      if (left.userId === this.#context.me()) this.#sequencer.forget(left.roomId);
    }
  }

  /** Fills `roomId`'s gap with `sync` after a short grace, unless a fill is under way. */
  #fillLater(roomId: string): void {
    // A fill of an older connection is about to stop: it does not count.
    if (this.#filling.get(roomId) === this.#generation) return;
    this.#filling.set(roomId, this.#generation);
    void this.#fill(roomId, this.#generation);
  }

  async #fill(roomId: string, generation: number): Promise<void> {
    try {
      for (let attempt = 1; attempt <= GAP_FILL_ATTEMPTS; attempt += 1) {
        await sleep(GAP_GRACE_MS * attempt);
        // A reconnect's catch-up syncs every room, this one included.
        if (generation !== this.#generation || !this.#channel.connected) return;
        if (!this.#sequencer.hasGap(roomId)) return;
        const last = this.#sequencer.lastSeq(roomId) ?? 0;
        let leftOut: Set<string>;
        try {
          leftOut = await this.#sync(new Map([[roomId, last]]));
        } catch (error) {
          const failure = ParleyError.from(error, "sync");
          if (failure.code === "RATE_LIMITED") await sleep(failure.retryAfterMs ?? 0);
          else if (!isTransient(failure)) this.#context.report(failure);
          continue;
        }
        if (leftOut.has(roomId)) {
          this.#skip(roomId);
          return;
        }
      }
      // What sync cannot give is not coming: deliver what is held rather than hold it for ever.
      if (generation === this.#generation && this.#sequencer.hasGap(roomId)) {
        this.#context.report(new ParleyError("INTERNAL", `room ${roomId}: missing messages could not be fetched`, { event: "sync" }));
        this.#skip(roomId);
      }
    } finally {
      if (this.#filling.get(roomId) === generation) this.#filling.delete(roomId);
    }
  }

  #skip(roomId: string): void {
    for (const due of this.#sequencer.skip(roomId)) this.#events.emit("message", due);
  }

  #sync(rooms: Map<string, number>): Promise<Set<string>> {
    return syncRooms(rooms, {
      request: (payload) => this.#channel.request("sync", payload),
      accept: (message) => {
        for (const due of this.#sequencer.accept(message)) this.#events.emit("message", due);
      },
    });
  }

  /** Every (re)connect: resend what waits, and catch up every room seen. */
  #onConnect(): void {
    this.#generation += 1;
    this.#outbox.resume();
    this.#synced = this.#catchUp(this.#generation);
  }

  async #catchUp(generation: number): Promise<void> {
    const rooms = this.#sequencer.rooms();
    if (rooms.size === 0) return;
    for (let attempt = 0; generation === this.#generation && this.#channel.connected; attempt += 1) {
      try {
        const leftOut = await this.#sync(this.#sequencer.rooms());
        for (const roomId of leftOut) {
          this.#skip(roomId);
          this.#sequencer.forget(roomId);
        }
        // Gaps left are messages that arrived during the catch-up; fill them as usual.
        for (const roomId of this.#sequencer.gaps()) this.#fillLater(roomId);
        return;
      } catch (error) {
        const failure = ParleyError.from(error, "sync");
        if (!isTransient(failure) && failure.code !== "RATE_LIMITED") {
          this.#context.report(failure);
          return;
        }
        await sleep(failure.retryAfterMs ?? RESYNC_BACKOFF_MS(attempt));
      }
    }
  }
}
