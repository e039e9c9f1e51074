// The published declarations as an app's compiler sees them (ESM and CommonJS, nodenext):
// they compile, and they refuse an unknown event and a payload without its required field.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { test } from "node:test";

const run = promisify(execFile);
const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
const project = fileURLToPath(new URL("../types/tsconfig.json", import.meta.url));

test("an app type-checks against dist/*.d.ts", async () => {
  const result = await run(process.execPath, [tsc, "-p", project]).catch((error) => error);
  assert.equal(result.code ?? 0, 0, `${result.stdout ?? ""}${result.stderr ?? ""}`);
});
