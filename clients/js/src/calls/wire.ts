/**
 * The `/calls` shapes the session code uses, looked up in the generated protocol, and their
 * conversions to and from the WebRTC API's own (docs/API.md "/calls", "Shapes": a description
 * is `RTCSessionDescriptionInit`, a candidate `RTCIceCandidateInit`, an ICE server
 * `RTCIceServer`).
 */
import type { AckData, Payload, ServerPayload } from "../protocol.js";

export type Call = NonNullable<ServerPayload<"/calls", "call-ended">["call"]>;
export type CallState = Call["state"];
export type Media = Payload<"/calls", "call-invite">["media"];
export type HangupReason = NonNullable<Payload<"/calls", "call-hangup">["reason"]>;
export type Candidate = NonNullable<Payload<"/calls", "call-ice">["candidates"]>[number];
/** A candidate of the peer, as the server relays it. */
export type PeerCandidate = ServerPayload<"/calls", "call-ice">["candidates"][number];
/** A description this side sends (`type` `offer` or `answer`). */
export type Description = Payload<"/calls", "call-negotiate">["description"];
/** A description the peer sent, as the server relays it. */
export type PeerDescription = NonNullable<ServerPayload<"/calls", "call-answered">["answer"]>;
export type IceServer = AckData<"/calls", "get-ice-servers">["iceServers"][number];
export type IceServers = AckData<"/calls", "get-ice-servers">;
export type Incoming = ServerPayload<"/calls", "call-incoming">;

/** A local candidate as `call-ice` carries it: no null fields. */
export function candidateOf(candidate: RTCIceCandidate | RTCIceCandidateInit): Candidate {
  return {
    candidate: candidate.candidate ?? "",
    ...(candidate.sdpMid != null ? { sdpMid: candidate.sdpMid } : {}),
    ...(candidate.sdpMLineIndex != null ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}),
    ...(candidate.usernameFragment != null ? { usernameFragment: candidate.usernameFragment } : {}),
  } as Candidate;
}

/** A local description as the protocol carries it (`pranswer` and `rollback` never leave). */
export function descriptionOf(description: RTCSessionDescriptionInit | null): Description {
  return { type: description?.type, sdp: description?.sdp ?? "" } as Description;
}

export function rtcIceServers(servers: readonly IceServer[] | null | undefined): RTCIceServer[] {
  return (servers ?? []).map((server) => ({
    urls: server.urls,
    ...(server.username != null ? { username: server.username } : {}),
    ...(server.credential != null ? { credential: server.credential } : {}),
  }));
}

export function rtcCandidate(candidate: Candidate | PeerCandidate): RTCIceCandidateInit {
  return {
    candidate: candidate.candidate,
    ...(candidate.sdpMid != null ? { sdpMid: candidate.sdpMid } : {}),
    ...(candidate.sdpMLineIndex != null ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}),
    ...(candidate.usernameFragment != null ? { usernameFragment: candidate.usernameFragment } : {}),
  };
}
