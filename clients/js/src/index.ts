export { Parley } from "./parley.js";
export type { Me, ParleyEvents, ParleyOptions } from "./parley.js";
export { ParleyError } from "./errors.js";
export type { ClientErrorCode, ParleyErrorCode } from "./errors.js";
export type { TokenSource } from "./token.js";

export type { Chat, ChatEvents, HistoryOptions, Page, SendFileOptions, SendOptions, Target, UploadOptions } from "./chat/chat.js";
export type { PendingSend } from "./chat/outbox.js";
export type { Progress } from "./uploads.js";
export type { Presence, PresenceEvents, PresenceStatus, KnownStatus } from "./presence.js";
export type { Friends, FriendsEvents, SentRequest } from "./friends.js";
export type { Calls, CallsEvents, CallTarget, StartOptions } from "./calls/calls.js";
export type { CallSession, CallSessionEvents } from "./calls/session.js";
export type { AcceptOptions, IncomingCall, IncomingCallEvents } from "./calls/incoming.js";
export type { CallState, HangupReason, Media } from "./calls/wire.js";

// The protocol, generated from the server's schema (protocol/schema.json).
export type { AckData, ClientEvent, Namespace, NamespaceName, Payload, ServerEvent, ServerPayload } from "./protocol.js";
export type {
  Attachment,
  AttachmentUrls,
  Call,
  CallIncoming,
  CallLog,
  Device,
  ErrorCode,
  Friend,
  FriendRequest,
  FriendStatus,
  FriendStatusChanged,
  IceCandidate,
  IceServer,
  MediaConfig,
  Member,
  Message,
  MessageType,
  Protocol,
  Room,
  RoomSummary,
  SessionDescription,
  Upload,
  User,
} from "./generated/protocol.js";
