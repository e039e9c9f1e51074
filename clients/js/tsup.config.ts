import { defineConfig } from "tsup";

export default defineConfig([
  // The package: ESM and CJS bundles with their declarations. socket.io-client stays external
  // (a peer dependency: the app's one copy is used); `platform: "neutral"` keeps Node built-ins
  // out of a bundle that runs in browsers and Node 20 alike.
  {
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "es2022",
    platform: "neutral",
    external: ["socket.io-client"],
  },
  // The pure modules for the unit tests (no server): outside dist/, so never published.
  {
    entry: { units: "src/units.ts" },
    outDir: "test/.build",
    format: ["esm"],
    clean: true,
    target: "es2022",
    platform: "neutral",
  },
]);
