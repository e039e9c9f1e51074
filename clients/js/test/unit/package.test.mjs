// The built package as apps load it: both entry points, and nothing Node-only in the bundle.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);

test("the ESM and CommonJS builds export the same API", async () => {
  const esm = await import("@parley/client");
  const cjs = require("@parley/client");
  for (const build of [esm, cjs]) {
    assert.equal(typeof build.Parley, "function");
    assert.equal(typeof build.ParleyError, "function");
  }
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort());
  const error = new esm.ParleyError("RATE_LIMITED", "slow down", { retryAfterMs: 900, event: "send-message" });
  assert.ok(error instanceof Error);
  assert.deepEqual([error.name, error.code, error.retryAfterMs, error.event], ["ParleyError", "RATE_LIMITED", 900, "send-message"]);
});

test("the bundles import nothing but socket.io-client (they run in browsers too)", async () => {
  for (const file of ["index.js", "index.cjs"]) {
    const code = await readFile(new URL(`../../dist/${file}`, import.meta.url), "utf8");
    const imported = [...code.matchAll(/(?:from\s+|require\()\s*["']([^"']+)["']/g)].map((match) => match[1]);
    assert.deepEqual([...new Set(imported)], ["socket.io-client"], file);
  }
});

test("requests refused on the client: a namespace left out, a namespace not connected, a closed client", async () => {
  const { Parley } = await import("@parley/client");
  // Never connected: nothing here reaches a server.
  const parley = new Parley({ url: "http://127.0.0.1:9", token: "unused", namespaces: ["friends"] });
  await assert.rejects(parley.chat.send({ roomId: "r" }, { content: "x" }), { code: "FAILED_PRECONDITION" });
  await assert.rejects(parley.chat.history("r"), { code: "FAILED_PRECONDITION" });
  await assert.rejects(parley.friends.list(), { code: "DISCONNECTED", event: "list-friends" });
  assert.throws(() => parley.me, { code: "DISCONNECTED" });
  parley.close();
  await assert.rejects(parley.connect(), { code: "CLOSED" });
});
