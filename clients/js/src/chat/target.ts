/** Where a message or an upload goes: a room, or a user (their direct room, made on first use). */
export type Target = { roomId: string } | { receiverId: string };

/** The target as `send-message` and `create-upload` name it (docs/API.md: `chatRoomId` or `receiverId`). */
export function targetFields(target: Target): { chatRoomId: string } | { receiverId: string } {
  return "roomId" in target ? { chatRoomId: target.roomId } : { receiverId: target.receiverId };
}

/** The key sends to one target are queued under: the room, or the receiver's direct room to be. */
export const targetKey = (target: Target): string => ("roomId" in target ? target.roomId : `to:${target.receiverId}`);
