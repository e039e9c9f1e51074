/** `parley.friends` over `/friends` (docs/API.md "/friends"). */
import type { Channel } from "./channel.js";
import { present } from "./present.js";
import type { AckData, Payload, ServerPayload } from "./protocol.js";

type FriendsEventName =
  | "friend-request-received"
  | "friend-request-accepted"
  | "friend-request-cancelled"
  | "friend-removed";

export type FriendsEvents = { [E in FriendsEventName]: ServerPayload<"/friends", E> };
export type FriendsPage = Payload<"/friends", "list-friends">;
type Requested = AckData<"/friends", "send-friend-request">;
/** `send`'s answer: the request, and the friend when it accepted their earlier request. */
export type SentRequest = Omit<Requested, "request"> & { request: NonNullable<Requested["request"]> };
type Friend = NonNullable<AckData<"/friends", "accept-friend-request">["friend"]>;

export class Friends {
  readonly #channel: Channel<"/friends">;

  constructor(channel: Channel<"/friends">) {
    this.#channel = channel;
  }

  /** `handler` for a `/friends` event; returns the unsubscribe function. */
  on<E extends FriendsEventName>(event: E, handler: (payload: FriendsEvents[E]) => void): () => void {
    return this.#channel.listen(event, handler as (payload: ServerPayload<"/friends", E>) => void);
  }

  /** A page of friends, by name: `{ friends, nextCursor }`. */
  list(page: FriendsPage = {}): Promise<AckData<"/friends", "list-friends">> {
    return this.#channel.request("list-friends", page);
  }

  /** A page of pending requests, newest first: `{ incoming, outgoing, nextCursor }`. */
  requests(page: Payload<"/friends", "list-friend-requests"> = {}): Promise<AckData<"/friends", "list-friend-requests">> {
    return this.#channel.request("list-friend-requests", page);
  }

  /** A page of the users this user blocked: `{ users, nextCursor }`. */
  blocked(page: Payload<"/friends", "list-blocked"> = {}): Promise<AckData<"/friends", "list-blocked">> {
    return this.#channel.request("list-blocked", page);
  }

  /** Users whose name starts with `query` (any case or width). */
  async search(query: string, limit?: number): Promise<AckData<"/friends", "search-users">["users"]> {
    return (await this.#channel.request("search-users", limit === undefined ? { query } : { query, limit })).users;
  }

  /** Asks `{ userId }` or `{ username }`: `{ request }`, plus `friend` when it accepted their request. */
  async send(to: { userId: string } | { username: string }): Promise<SentRequest> {
    const answer = await this.#channel.request("send-friend-request", to);
    return { ...answer, request: present(answer.request, "send-friend-request") };
  }

  /** Accepts a request made to this user; resolves with the new friend. */
  async accept(requestId: string): Promise<Friend> {
    return present((await this.#channel.request("accept-friend-request", { requestId })).friend, "accept-friend-request");
  }

  async decline(requestId: string): Promise<void> {
    await this.#channel.request("decline-friend-request", { requestId });
  }

  async cancel(requestId: string): Promise<void> {
    await this.#channel.request("cancel-friend-request", { requestId });
  }

  async remove(userId: string): Promise<void> {
    await this.#channel.request("remove-friend", { userId });
  }

  async block(userId: string): Promise<void> {
    await this.#channel.request("block-user", { userId });
  }

  async unblock(userId: string): Promise<void> {
    await this.#channel.request("unblock-user", { userId });
  }
}
