// What the conformance scripts share: the plan on stdin, and the official client's calls.
import { io } from "socket.io-client";

export const TIMEOUT_MS = 5000;

/** The JSON plan the Rust test writes to stdin. */
export async function readPlan() {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

/** A connected socket of `person` on `namespace`; rejects with the connect_error message. */
export function connect(url, namespace, person) {
  const socket = io(url + namespace, { auth: { token: person.token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(err.message)));
  });
}

/** Emits `event` and resolves with its ack. */
export const call = (socket, event, payload) => socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);

/** The next `event` on `socket`. */
export const next = (socket, event) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event}`)), TIMEOUT_MS);
    socket.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
