/**
 * Catching up with `sync` (docs/API.md "/chat"): the last seq seen per room in, what was missed
 * out, oldest first. One call names at most 100 rooms and returns at most `limit` messages a
 * room (500 a call); `hasMore` says to ask again from the last one returned.
 */
import type { AckData, Payload } from "../protocol.js";

export type SyncPayload = Payload<"/chat", "sync">;
export type SyncAnswer = AckData<"/chat", "sync">;
type SyncedMessage = SyncAnswer["rooms"][number]["messages"][number];

/** Rooms one `sync` may name. */
export const SYNC_ROOMS_PER_CALL = 100;

export interface SyncOptions {
  request: (payload: SyncPayload) => Promise<SyncAnswer>;
  /** Every message returned, in the order returned (oldest first per room). */
  accept: (message: SyncedMessage) => void;
}

/**
 * Syncs every room of `from` (room id -> last seq seen) until none has more. Resolves with
 * the rooms the server left out (no longer the user's); rejects when a call fails.
 */
export async function syncRooms(from: Map<string, number>, { request, accept }: SyncOptions): Promise<Set<string>> {
  const cursor = new Map(from);
  const leftOut = new Set<string>();
  let todo = [...cursor.keys()];
  while (todo.length > 0) {
    const batch = todo.slice(0, SYNC_ROOMS_PER_CALL);
    todo = todo.slice(SYNC_ROOMS_PER_CALL);
    const rooms: Record<string, number> = {};
    for (const roomId of batch) rooms[roomId] = cursor.get(roomId) ?? 0;
    const answer = await request({ rooms } as SyncPayload);
    const answered = new Set<string>();
    for (const room of answer.rooms) {
      answered.add(room.roomId);
      for (const message of room.messages) {
        accept(message);
        cursor.set(room.roomId, Math.max(cursor.get(room.roomId) ?? 0, message.seq));
      }
      // A room that says `hasMore` but returned nothing would loop for ever; it is asked
      // again only when it moved.
      if (room.hasMore && room.messages.length > 0) todo.push(room.roomId);
    }
    for (const roomId of batch) if (!answered.has(roomId)) leftOut.add(roomId);
  }
  return leftOut;
}
