/**
 * Type helpers over the generated protocol: every payload, ack and event type the SDK uses
 * is looked up here through `Protocol`, never written by hand.
 */
import type { Protocol } from "./generated/protocol.js";

export type Namespace = keyof Protocol;
export type ClientEvent<N extends Namespace> = keyof Protocol[N]["client"] & string;
export type ServerEvent<N extends Namespace> = keyof Protocol[N]["server"] & string;

type ClientSpec<N extends Namespace, E extends ClientEvent<N>> = Protocol[N]["client"][E] extends {
  payload: infer P;
  ack: infer A;
}
  ? { payload: P; ack: A }
  : never;

/** What a client emits with `event` on `namespace`. */
export type Payload<N extends Namespace, E extends ClientEvent<N>> = ClientSpec<N, E>["payload"];
/** The `data` of `event`'s successful ack. */
export type AckData<N extends Namespace, E extends ClientEvent<N>> = ClientSpec<N, E>["ack"];
/** What the server emits as `event` on `namespace`. */
export type ServerPayload<N extends Namespace, E extends ServerEvent<N>> = Protocol[N]["server"][E];

/** The short names the options use for the namespaces. */
export type NamespaceName = "chat" | "status" | "friends" | "calls";
export const NAMESPACE_NAMES: readonly NamespaceName[] = ["chat", "status", "friends", "calls"];
export const namespaceOf = (name: NamespaceName): Namespace => `/${name}`;
