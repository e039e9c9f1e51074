// What the browser test stands on: the plan it is given, the demo served by `vite preview`,
// Debian's Chromium driven by playwright-core, screenshots, and steps that say what failed.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";
import { preview } from "vite";

export const webDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * The plan file named by PARLEY_TEST_PLAN: `{ edgeUrl, mediaUrl, control, users, jwtSecret,
 * binDir, screenshots }`, written by whatever started the stack.
 */
export async function readPlan() {
  const path = process.env.PARLEY_TEST_PLAN;
  if (!path) throw new Error("PARLEY_TEST_PLAN names no plan file");
  const plan = JSON.parse(await readFile(path, "utf8"));
  for (const key of ["edgeUrl", "mediaUrl", "jwtSecret", "binDir", "screenshots"]) {
    if (typeof plan[key] !== "string" || !plan[key]) throw new Error(`the plan has no ${key}`);
  }
  return plan;
}

/** Every file of the built demo (dist/), which this test serves and never builds. */
async function builtFiles() {
  const dist = join(webDir, "dist");
  const entries = await readdir(dist, { recursive: true, withFileTypes: true }).catch(() => null);
  if (!entries?.some((entry) => entry.name === "index.html")) {
    throw new Error(`no built demo in ${dist}: run \`npm run build\` in examples/web first`);
  }
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** Fails when a served file holds `secret`: tokens are made by the dev server, never the page. */
export async function assertNoSecretInBundle(secret) {
  for (const file of await builtFiles()) {
    if ((await readFile(file, "utf8")).includes(secret)) throw new Error(`${file} holds the JWT secret`);
  }
}

/**
 * The built demo on a free loopback port via Vite's preview(), whose /dev/token runs
 * deploy/local.sh with the plan's binaries and secret. Returns `{ url, close }`.
 */
export async function startPreview(plan) {
  // Read by dev-endpoints.ts and by deploy/local.sh, which the token endpoint runs.
  process.env.PARLEY_EDGE_URL = plan.edgeUrl;
  process.env.BIN_DIR = plan.binDir;
  process.env.PARLEY_JWT_SECRET = plan.jwtSecret;
  // local.sh keeps generated secrets in its run folder: a private one, not the checkout's.
  const runDir = process.env.PARLEY_RUN_DIR ? null : await mkdtemp(join(tmpdir(), "parley-demo-run-"));
  if (runDir) process.env.PARLEY_RUN_DIR = runDir;
  const server = await preview({
    root: webDir,
    configFile: join(webDir, "vite.config.ts"),
    logLevel: "warn",
    preview: { host: "127.0.0.1", port: 0, strictPort: false, open: false },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error("vite preview reported no URL");
  return {
    url,
    close: async () => {
      await server.close();
      if (runDir) await rm(runDir, { recursive: true, force: true });
    },
  };
}

const CHROMIUM = "/usr/bin/chromium";
// The flags of edge/tests/js/browser.mjs and more; not imported from there, because that
// module (another npm package) loads playwright-core from its own node_modules.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
  // A camera and microphone that exist without hardware, granted without asking.
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // Only `lo` exists where this runs: WebRTC must gather candidates on loopback.
  "--allow-loopback-in-peer-connection",
];

/** Chromium with a fresh profile of its own (playwright makes and removes it). */
export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/**
 * A user's tab in a context of its own (own storage, so own device): its console errors and
 * failed page scripts are kept in `logs` for the report.
 */
export async function openTab(browser, url, name) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 760 },
    permissions: ["camera", "microphone"],
  });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") logs.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => logs.push(`pageerror: ${error.message}`));
  await page.goto(url);
  return { name, page, logs };
}

/** One PNG of every tab side by side, so each step shows both users at once. */
export async function screenshot(browser, tabs, dir, file) {
  await mkdir(dir, { recursive: true });
  const shots = await Promise.all(tabs.map((tab) => tab.page.screenshot()));
  const context = await browser.newContext({ viewport: { width: 100, height: 100 } });
  try {
    const page = await context.newPage();
    const images = shots
      .map((png, i) => {
        const label = `<figcaption>${tabs[i].name}</figcaption>`;
        return `<figure>${label}<img src="data:image/png;base64,${png.toString("base64")}"></figure>`;
      })
      .join("");
    await page.setContent(
      `<style>body{margin:0;display:flex;gap:8px;background:#333;font:14px sans-serif;color:#fff}
       figure{margin:0}figcaption{padding:4px}img{display:block}</style>${images}`,
    );
    await page.waitForFunction(() => [...document.images].every((img) => img.complete));
    await writeFile(join(dir, file), await page.screenshot({ fullPage: true }));
  } finally {
    await context.close();
  }
}

/**
 * Runs the steps in order; each is `[name, fn]`. The first failure is reported with what the
 * tabs logged and a screenshot, and the rest are not run. Resolves whether all passed.
 */
export async function runSteps(steps, { browser, tabs, dir }) {
  let passed = 0;
  for (const [name, fn] of steps) {
    try {
      await fn();
      passed += 1;
      console.log(`ok ${passed} - ${name}`);
    } catch (error) {
      console.log(`not ok ${passed + 1} - ${name}`);
      console.log(`FAILED: ${name}: ${error?.stack ?? error}`);
      for (const tab of tabs) {
        if (tab.logs.length) console.log(`${tab.name}'s console:\n  ${tab.logs.join("\n  ")}`);
      }
      await screenshot(browser, tabs, dir, "failed.png").catch((shot) => console.log(`no screenshot: ${shot.message}`));
      console.log(`${passed} passed, 1 failed`);
      return false;
    }
  }
  console.log(`${passed} passed, 0 failed`);
  return true;
}
