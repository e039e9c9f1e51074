// 1:1 calls (docs/API.md "/calls"): an incoming call rings with Accept and Decline; a call
// shows its state, this tab's camera and the other's video, and hangs up. One call at a time.
import type { CallSession, IncomingCall, Parley } from "@parley/client";

import type { Directory } from "./directory";
import { describe, h, replaceChildren } from "./dom";

type Media = "AUDIO" | "VIDEO";

export interface CallPanel {
  element: HTMLElement;
  start(userId: string, media: Media): void;
  /** Hangs up and lets go of the camera (signing out). */
  dispose(): void;
}

const STATE_TEXT: Record<string, string> = {
  RINGING: "Ringing…",
  CONNECTING: "Connecting…",
  ACTIVE: "Connected",
  ENDED: "Call ended",
};

export function createCallPanel(parley: Parley, directory: Directory): CallPanel {
  const title = h("h2", { "data-testid": "call-title" });
  const state = h("p", { class: "call-state", "data-testid": "call-state" });
  const note = h("p", { class: "muted small", "data-testid": "call-note", role: "status" });
  const local = h("video", { class: "local", autoplay: true, playsinline: true, "data-testid": "local-video" });
  // Muted as a property: the attribute only sets the default, and our own voice must not echo.
  local.muted = true;
  const remote = h("video", { class: "remote", autoplay: true, playsinline: true, "data-testid": "remote-video" });
  const buttons = h("div", { class: "call-buttons" });
  const element = h(
    "aside",
    { class: "call", hidden: true, "data-testid": "call-panel", "aria-live": "polite" },
    title,
    state,
    h("div", { class: "videos" }, remote, local),
    note,
    buttons,
  );

  let session: CallSession | null = null;
  let ringing: IncomingCall | null = null;
  let stream: MediaStream | null = null;
  let clock: ReturnType<typeof setInterval> | undefined;

  function show(text: string, callState: string): void {
    element.hidden = false;
    element.dataset.state = callState;
    state.textContent = text;
  }

  function reset(): void {
    clearInterval(clock);
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
    session = null;
    ringing = null;
    local.srcObject = null;
    remote.srcObject = null;
    replaceChildren(buttons);
    note.textContent = "";
  }

  /** The camera and microphone; without them the call goes on, receiving only. */
  async function capture(media: Media): Promise<MediaStream | undefined> {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === "VIDEO" });
      local.srcObject = stream;
      return stream;
    } catch (error) {
      note.textContent = `No camera or microphone (${describe(error)}): you will only receive.`;
      return undefined;
    }
  }

  /** After a call: the panel stays with what happened until it is closed. */
  function offerClose(): void {
    replaceChildren(buttons, h("button", { "data-testid": "call-close", onclick: () => (element.hidden = true) }, "Close"));
  }

  function ended(reason: string | undefined): void {
    const why = reason && reason !== "HANGUP" ? ` (${reason.toLowerCase().replace(/_/g, " ")})` : "";
    reset();
    show(`Call ended${why}`, "ENDED");
    offerClose();
  }

  function follow(live: CallSession, peerName: string): void {
    session = live;
    title.textContent = `${live.info.media === "VIDEO" ? "Video call" : "Voice call"} with ${peerName}`;
    const remoteStream = new MediaStream();
    remote.srcObject = remoteStream;
    const update = () => {
      show(STATE_TEXT[live.state] ?? live.state, live.state);
      if (live.state === "ACTIVE" && clock === undefined) {
        const since = Date.now();
        clock = setInterval(() => {
          const seconds = Math.floor((Date.now() - since) / 1000);
          state.textContent = `Connected · ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
        }, 1000);
      }
    };
    live.on("state", update);
    const receive = (track: MediaStreamTrack) => {
      if (remoteStream.getTrackById(track.id)) return;
      remoteStream.addTrack(track);
      // A new track on a playing element needs no more; a first one starts it.
      void remote.play().catch(() => {});
    };
    live.on("track", (event) => receive(event.track));
    // The callee's tracks arrive with the caller's offer, while accept() runs: before this
    // session could be listened to.
    for (const receiver of live.pc.getReceivers()) receive(receiver.track);
    live.on("ended", (call) => {
      if (session === live) ended(call.endReason);
    });
    replaceChildren(
      buttons,
      h("button", { class: "danger", "data-testid": "call-hangup", onclick: () => void live.hangup().catch(() => {}) }, "Hang up"),
    );
    update();
  }

  async function start(userId: string, media: Media): Promise<void> {
    if (session || ringing) {
      note.textContent = "Hang up the current call first.";
      return;
    }
    reset();
    title.textContent = `Calling ${directory.name(userId)}…`;
    show("Starting…", "STARTING");
    try {
      const live = await parley.calls.start({ receiverId: userId }, { media, stream: await capture(media) });
      follow(live, directory.name(userId));
      // The callee was in another call: the call is over before it rang.
      if (live.state === "ENDED") ended(live.info.endReason);
    } catch (error) {
      reset();
      show(`Could not call: ${describe(error)}`, "FAILED");
      offerClose();
    }
  }

  parley.calls.on("incoming", (call) => {
    // Busy here: this device lets it ring out (another device of ours may take it).
    if (session || ringing) return;
    reset();
    ringing = call;
    const caller = directory.name(call.info.caller.userId);
    title.textContent = `${caller} is calling`;
    show(call.info.media === "VIDEO" ? "Incoming video call" : "Incoming voice call", "INCOMING");
    const gone = (text: string) => () => {
      if (ringing !== call) return;
      reset();
      show(text, "ENDED");
      offerClose();
    };
    call.on("dismissed", gone("Answered on another device"));
    call.on("ended", gone("Missed call"));
    replaceChildren(
      buttons,
      h(
        "button",
        {
          class: "accept",
          "data-testid": "call-accept",
          onclick: async () => {
            replaceChildren(buttons);
            try {
              const live = await call.accept({ stream: await capture(call.info.media as Media) });
              ringing = null;
              follow(live, caller);
            } catch (error) {
              reset();
              show(`Could not answer: ${describe(error)}`, "FAILED");
              offerClose();
            }
          },
        },
        "Accept",
      ),
      h(
        "button",
        {
          class: "danger",
          "data-testid": "call-decline",
          onclick: () => {
            void call.decline().catch(() => {});
            reset();
            element.hidden = true;
          },
        },
        "Decline",
      ),
    );
  });

  return {
    element,
    start: (userId, media) => void start(userId, media),
    dispose() {
      void session?.hangup().catch(() => {});
      reset();
      element.hidden = true;
    },
  };
}
