// How a real browser treats media URLs: headless Chromium (Debian's, driven by playwright-core;
// no browser can be downloaded here) with a fresh profile each run.
import { createServer } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** `fn(context)` in a fresh Chromium profile, closed and removed afterwards. */
export async function withBrowser(fn) {
  const profile = await mkdtemp(join(tmpdir(), "parley-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    acceptDownloads: true,
  });
  try {
    return await fn(context);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/**
 * An app's origin on loopback, not the media origin: serves `pages` (path -> { type, body },
 * added to as the test goes) and keeps the requests to `/beacon`, which a script that should
 * never run would make.
 */
export async function startAppOrigin() {
  const pages = {};
  const beacons = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://app");
    if (url.pathname === "/beacon") {
      beacons.push(url.search);
      response.writeHead(204).end();
      return;
    }
    const page = pages[url.pathname];
    if (!page) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "Content-Type": page.type }).end(page.body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // `localhost` names another origin than the media URLs' 127.0.0.1, as an app's domain would.
  const origin = `http://localhost:${server.address().port}`;
  return { origin, pages, beacons, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Whether an `<img>` on `pageUrl` (whose page has one `<img id="shown">`) loaded, and its size. */
export async function imageOnPage(context, pageUrl) {
  const page = await context.newPage();
  try {
    await page.goto(pageUrl);
    return await page.evaluate(async () => {
      const img = document.getElementById("shown");
      if (!img.complete) {
        await new Promise((resolve) => {
          img.onload = resolve;
          img.onerror = resolve;
        });
      }
      return { naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight };
    });
  } finally {
    await page.close();
  }
}

/**
 * Opens `url` in a tab as a user who clicks a link would, and reports what came of it: a
 * download (its suggested name) or a page, what the page's title became, which cookies its
 * origin holds, and whether `beacons` grew in `settleMs` afterwards.
 */
export async function openInTab(context, url, beacons, settleMs = 300) {
  const page = await context.newPage();
  const before = beacons.length;
  try {
    const download = page.waitForEvent("download", { timeout: 5000 }).catch(() => null);
    // A navigation that turns into a download rejects ("Download is starting").
    const navigation = await page.goto(url).then(
      (response) => ({ status: response?.status() ?? null }),
      (error) => ({ error: error.message.split("\n")[0] }),
    );
    const downloaded = navigation.error ? await download : null;
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return {
      navigation,
      download: downloaded ? { suggestedFilename: downloaded.suggestedFilename() } : null,
      title: await page.title(),
      cookies: (await context.cookies(url)).map((cookie) => `${cookie.name}=${cookie.value}`),
      beacons: beacons.length - before,
    };
  } finally {
    await page.close();
  }
}
