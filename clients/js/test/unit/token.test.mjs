// Reading a token's claims and timing its refresh.
import assert from "node:assert/strict";
import { test } from "node:test";

import { claimsOf, refreshDelayMs } from "../.build/units.js";

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwt = (claims) => `${b64url({ alg: "HS256" })}.${b64url(claims)}.signature`;

test("claims come from the JWT's payload, Bearer prefix or not, UTF-8 names included", () => {
  const claims = { sub: "0b7c5c1e-0000-4000-8000-000000000001", name: "Zoë 👩‍💻", exp: 1_900_000_000 };
  assert.deepEqual(claimsOf(jwt(claims)), claims);
  assert.deepEqual(claimsOf(`Bearer ${jwt(claims)}`), claims);
  assert.deepEqual(claimsOf("not a token"), {});
  assert.deepEqual(claimsOf(jwt({ sub: 5, exp: "soon" })), {});
});

test("a token is refreshed refreshBeforeExpiryMs ahead, or halfway when it lives less than twice that", () => {
  const now = 1_000_000;
  assert.equal(refreshDelayMs(now + 3_600_000, now, 60_000), 3_540_000);
  assert.equal(refreshDelayMs(now + 20_000, now, 60_000), 10_000);
  assert.equal(refreshDelayMs(now - 5_000, now, 60_000), 1_000, "never sooner than a second");
});
