// The demo's entry: the sign-in form, then the app for the signed-in user. A reload signs the
// same user in again (the name is kept per tab, so two tabs can be two users).
import "./style.css";

import { Parley } from "@parley/client";

import { mountApp } from "./app";
import { devConfig, devToken } from "./dev";
import { describe, h, replaceChildren } from "./dom";

const USER_KEY = "parley.demo.user";
const DEVICE_KEY = "parley.demo.deviceId";
const root = document.getElementById("app") as HTMLElement;

/**
 * This tab's /calls device (docs/API.md "/calls": calls ring, route and resume per device).
 * Kept per tab rather than in localStorage, which every tab shares: two tabs of one user are
 * two devices that both ring, and a reload resumes the call of its own tab.
 */
function tabDeviceId(): string {
  let id = sessionStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    sessionStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

async function signIn(name: string): Promise<Parley> {
  const { edgeUrl } = await devConfig();
  const parley = new Parley({
    url: edgeUrl,
    // Asked again on every reconnect and before the token expires.
    token: () => devToken(name),
    deviceId: tabDeviceId(),
    // WebSocket from the start: a request made right after a page reload, while the
    // official client upgraded from long-polling, once went unanswered for 10 s (seen in
    // the browser test; not yet understood, so not yet the default here).
    socketOptions: { transports: ["websocket"] },
  });
  try {
    await parley.connect();
  } catch (error) {
    parley.close();
    throw error;
  }
  return parley;
}

function showSignIn(message = ""): void {
  const name = h("input", {
    name: "user",
    required: true,
    maxlength: 64,
    placeholder: "alice",
    autocomplete: "username",
    "data-testid": "signin-name",
  });
  const error = h("p", { class: "error", "data-testid": "signin-error" }, message);
  const submit = h("button", { type: "submit", "data-testid": "signin-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "signin", "data-testid": "signin-form" },
    h("h1", {}, "Parley demo"),
    h("p", {}, "Sign in as any development user: a new name makes a new user."),
    h("label", {}, "Name ", name),
    submit,
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void start(name.value.trim(), submit, error);
  });
  replaceChildren(root, form);
  name.focus();
}

async function start(name: string, submit?: HTMLButtonElement, error?: HTMLElement): Promise<void> {
  if (submit) submit.disabled = true;
  try {
    const parley = await signIn(name);
    sessionStorage.setItem(USER_KEY, name);
    mountApp(root, parley, () => {
      sessionStorage.removeItem(USER_KEY);
      parley.close();
      showSignIn();
    });
  } catch (failure) {
    if (error) error.textContent = `Could not sign in: ${describe(failure)}`;
    else showSignIn(`Could not sign in again as ${name}: ${describe(failure)}`);
    if (submit) submit.disabled = false;
  }
}

const remembered = sessionStorage.getItem(USER_KEY);
if (remembered) void start(remembered);
else showSignIn();
