/**
 * Per room, the last contiguous `seq` delivered to the app, and the messages held back past
 * a gap until it is filled. Pure bookkeeping: no I/O, no timers.
 *
 * docs/API.md "/chat": `seq` starts at 1 in each room and grows by one per stored message with
 * no gaps, so a message whose seq is not the next one means that something was missed.
 */
export interface Sequenced {
  id: string;
  roomId: string;
  seq: number;
}

interface RoomState<M> {
  /** The last seq delivered, with every seq before it delivered or known to precede the baseline. */
  last: number;
  /** Messages past a gap, by seq. */
  held: Map<number, M>;
  /** The newest seq some answer showed for the room (it may be ahead of `last`). */
  newest: number;
}

export class Sequencer<M extends Sequenced> {
  readonly #rooms = new Map<string, RoomState<M>>();

  /** The last contiguous seq delivered in `roomId`; `undefined` for a room never seen. */
  lastSeq(roomId: string): number | undefined {
    return this.#rooms.get(roomId)?.last;
  }

  /** Every room seen, with its last contiguous seq. */
  rooms(): Map<string, number> {
    return new Map([...this.#rooms].map(([roomId, room]) => [roomId, room.last]));
  }

  /**
   * An answer shows `newestSeq` as the newest message of `roomId` (`history()`'s newest,
   * `listRooms()`' `lastMessage`, 0 for a room without messages). A room never seen starts
   * there: what came before is history, not news. A room seen before and behind it has a gap.
   */
  observe(roomId: string, newestSeq: number): void {
    const room = this.#rooms.get(roomId);
    if (!room) this.#rooms.set(roomId, { last: newestSeq, held: new Map(), newest: newestSeq });
    else room.newest = Math.max(room.newest, newestSeq);
  }

  /**
   * A stored message, from wherever it came (live event, an ack, `sync`, `history`). Returns
   * the messages now due, in seq order: none for a duplicate or one held past a gap; the
   * message and every held one it makes contiguous otherwise. The first message of a room
   * never seen is its baseline, delivered at once.
   */
  accept(message: M): M[] {
    const room = this.#rooms.get(message.roomId);
    if (!room) {
      this.#rooms.set(message.roomId, { last: message.seq, held: new Map(), newest: message.seq });
      return [message];
    }
    room.newest = Math.max(room.newest, message.seq);
    if (message.seq <= room.last || room.held.has(message.seq) || this.#holds(room, message.id)) return [];
    if (message.seq !== room.last + 1) {
      room.held.set(message.seq, message);
      return [];
    }
    room.last = message.seq;
    return [message, ...this.#drain(room)];
  }

  /** Whether `roomId` misses messages: some are held past a gap, or an answer showed newer ones. */
  hasGap(roomId: string): boolean {
    const room = this.#rooms.get(roomId);
    return room !== undefined && (room.held.size > 0 || room.newest > room.last);
  }

  /** The rooms that miss messages. */
  gaps(): string[] {
    return [...this.#rooms.keys()].filter((roomId) => this.hasGap(roomId));
  }

  /**
   * Gives up on `roomId`'s gap (the server no longer has what is missing for this user, e.g.
   * they left the room): delivers what is held, in seq order, and moves on from there.
   */
  skip(roomId: string): M[] {
    const room = this.#rooms.get(roomId);
    if (!room) return [];
    const held = [...room.held.values()].sort((a, b) => a.seq - b.seq);
    room.held.clear();
    const last = held.at(-1);
    if (last) room.last = last.seq;
    room.newest = Math.max(room.newest, room.last);
    if (room.newest > room.last) room.last = room.newest;
    return held;
  }

  /** Forgets `roomId` (the user left it): a later message starts it afresh. */
  forget(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  #holds(room: RoomState<M>, id: string): boolean {
    for (const held of room.held.values()) if (held.id === id) return true;
    return false;
  }

  #drain(room: RoomState<M>): M[] {
    const due: M[] = [];
    for (let next = room.held.get(room.last + 1); next; next = room.held.get(room.last + 1)) {
      room.held.delete(next.seq);
      room.last = next.seq;
      due.push(next);
    }
    return due;
  }
}
