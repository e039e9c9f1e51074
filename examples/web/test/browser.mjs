// The demo in a real browser against a running Parley: two users, each in a browser context of
// their own, sign in, become friends, see each other online, chat both ways with typing and
// read markers, send a photo and make a video call. Screenshots of each step go to the plan's
// `screenshots` folder.
//
//   PARLEY_TEST_PLAN=plan.json npm run test:browser      (after `npm run build`)
//
// The plan (see support.mjs) names the edge, the media origin, the binaries and the JWT
// secret the dev server's /dev/token signs with. This script builds nothing. Exit 0 when
// every step passed; otherwise it prints the step that failed and why.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

import {
  assertNoSecretInBundle,
  launchChromium,
  openTab,
  readPlan,
  runSteps,
  screenshot,
  startPreview,
} from "./support.mjs";

const PHOTO = fileURLToPath(new URL("fixtures/sunset.png", import.meta.url));
// Generous: a step that hangs fails here rather than never. Nothing asserts speed.
const WAIT = { timeout: 30_000 };
const CALL_WAIT = { timeout: 60_000 };

const plan = await readPlan();
await assertNoSecretInBundle(plan.jwtSecret);
const server = await startPreview(plan);
const browser = await launchChromium();
let ok = false;
try {
  // Fresh users every run: the database may hold earlier runs' users and friendships.
  const suffix = randomBytes(4).toString("hex");
  const alice = await openTab(browser, server.url, `alice-${suffix}`);
  const bob = await openTab(browser, server.url, `bob-${suffix}`);
  const tabs = [alice, bob];
  let shot = 0;
  const snap = (name) => screenshot(browser, tabs, plan.screenshots, `${String(++shot).padStart(2, "0")}-${name}.png`);
  const $ = (tab, testId) => tab.page.getByTestId(testId);
  // Users are matched by id: a name may come back with a suffix (docs/API.md "/friends").
  const friendRow = (tab, other) => tab.page.locator(`[data-testid=friend][data-user-id="${other.id}"]`);
  const message = (tab, text) => $(tab, "message").filter({ has: tab.page.getByTestId("message-content").getByText(text, { exact: true }) });

  const signIn = async (tab) => {
    await $(tab, "signin-name").fill(tab.name);
    await $(tab, "signin-submit").click();
    await $(tab, "me").getByText(tab.name, { exact: true }).waitFor(WAIT);
    tab.id = await $(tab, "me").getAttribute("data-user-id");
  };
  const send = async (tab, text) => {
    await $(tab, "composer-input").fill(text);
    await $(tab, "composer-send").click();
    await message(tab, text).waitFor(WAIT);
  };

  ok = await runSteps(
    [
      ["both sign in", async () => {
        await Promise.all(tabs.map(signIn));
        await snap("signed-in");
      }],
      ["alice asks bob to be friends, bob accepts", async () => {
        await $(alice, "request-username").fill(bob.name);
        await $(alice, "request-send").click();
        const sent = alice.page.locator(`[data-testid=outgoing-request][data-user-id="${bob.id}"]`);
        const refused = $(alice, "request-feedback").getByText(/failed/);
        await sent.or(refused).waitFor(WAIT);
        if (await refused.isVisible()) throw new Error(`alice's request: ${await refused.textContent()}`);
        const request = bob.page.locator(`[data-testid=incoming-request][data-user-id="${alice.id}"]`);
        await request.waitFor(WAIT);
        await snap("friend-request");
        await request.getByTestId("request-accept").click();
        await request.waitFor({ ...WAIT, state: "detached" });
      }],
      ["each sees the other online", async () => {
        await friendRow(alice, bob).and(alice.page.locator("[data-status=ONLINE]")).waitFor(WAIT);
        await friendRow(bob, alice).and(bob.page.locator("[data-status=ONLINE]")).waitFor(WAIT);
        const seen = await friendRow(alice, bob).getByTestId("friend-last-seen").textContent();
        if (!/^Online, since /.test(seen ?? "")) throw new Error(`alice sees bob as "${seen}"`);
        await snap("friends-online");
      }],
      ["both open their DM", async () => {
        await friendRow(alice, bob).getByTestId("friend-message").click();
        await friendRow(bob, alice).getByTestId("friend-message").click();
        await $(alice, "conversation-title").getByText(bob.name).waitFor(WAIT);
        await $(bob, "conversation-title").getByText(alice.name).waitFor(WAIT);
        const [a, b] = await Promise.all(tabs.map((tab) => $(tab, "conversation").getAttribute("data-room-id")));
        if (!a || a !== b) throw new Error(`alice's DM is ${a}, bob's ${b}`);
      }],
      ["bob sees alice typing", async () => {
        await $(alice, "composer-input").pressSequentially("hello bob", { delay: 40 });
        await $(bob, "typing-indicator").getByText(new RegExp(`^${alice.name}\\S* is typing…$`)).waitFor(WAIT);
        await snap("typing");
      }],
      ["alice's message reaches bob, and she sees it seen", async () => {
        await $(alice, "composer-send").click();
        await message(bob, "hello bob").waitFor(WAIT);
        // Her message clears her typing on bob's side.
        await $(bob, "typing-indicator").getByText(/typing/).waitFor({ ...WAIT, state: "detached" });
        await message(alice, "hello bob").getByTestId("seen-marker").waitFor(WAIT);
        await snap("seen");
      }],
      ["bob answers, alice reads it", async () => {
        await send(bob, "hi alice, nice sunset?");
        await message(alice, "hi alice, nice sunset?").waitFor(WAIT);
        await message(bob, "hi alice, nice sunset?").getByTestId("seen-marker").waitFor(WAIT);
        // One marker only: under the newest message alice read.
        const markers = await $(bob, "seen-marker").count();
        if (markers !== 1) throw new Error(`bob sees ${markers} seen markers`);
        await snap("chat");
      }],
      ["alice sends a photo, bob sees its thumbnail", async () => {
        await $(alice, "composer-file").setInputFiles(PHOTO);
        const img = bob.page.getByTestId("message-image").last();
        await img.waitFor(WAIT);
        await bob.page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), WAIT);
        const { src, naturalWidth, naturalHeight } = await img.evaluate((el) => ({
          src: el.currentSrc,
          naturalWidth: el.naturalWidth,
          naturalHeight: el.naturalHeight,
        }));
        if (!src.startsWith(plan.mediaUrl)) throw new Error(`the image comes from ${src}, not ${plan.mediaUrl}`);
        // The 640×480 photo's thumbnail fits 400×400 (docs/API.md "Attachments").
        if (naturalWidth > 400 || naturalHeight > 400) throw new Error(`bob got ${naturalWidth}×${naturalHeight}, no thumbnail`);
        await $(alice, "message-image").last().waitFor(WAIT);
        await snap("photo");
      }],
      ["alice reloads: signed in again, the DM's history is there", async () => {
        await alice.page.reload();
        await $(alice, "me").getByText(alice.name, { exact: true }).waitFor(WAIT);
        await alice.page.locator(`[data-testid=room][data-kind=dm]`).first().click();
        await message(alice, "hello bob").waitFor(WAIT);
        await message(alice, "hi alice, nice sunset?").waitFor(WAIT);
        await $(alice, "message-image").last().waitFor(WAIT);
      }],
      ["alice video-calls bob, bob accepts, both see the other", async () => {
        await $(alice, "call-start").click();
        await bob.page.locator("[data-testid=call-panel][data-state=INCOMING]").waitFor(WAIT);
        await snap("call-ringing");
        await $(bob, "call-accept").click();
        for (const tab of tabs) {
          await tab.page.locator("[data-testid=call-panel][data-state=ACTIVE]").waitFor(CALL_WAIT);
          const video = await $(tab, "remote-video").elementHandle();
          await tab.page.waitForFunction((el) => el.videoWidth > 0 && !el.paused, video, CALL_WAIT);
        }
        await snap("call-active");
      }],
      ["alice hangs up, the call ends for both and is logged", async () => {
        await $(alice, "call-hangup").click();
        for (const tab of tabs) {
          await tab.page.locator("[data-testid=call-panel][data-state=ENDED]").waitFor(WAIT);
          await $(tab, "message").and(tab.page.locator("[data-type=CALL]")).last().waitFor(WAIT);
        }
        await snap("call-ended");
      }],
    ],
    { browser, tabs, dir: plan.screenshots },
  );
} catch (error) {
  console.log(`FAILED before the steps: ${error?.stack ?? error}`);
} finally {
  await browser.close().catch(() => {});
  await server.close().catch(() => {});
}
process.exit(ok ? 0 : 1);
