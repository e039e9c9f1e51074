import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

import { devEndpoints } from "./dev-endpoints.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  plugins: [devEndpoints(repoRoot)],
  // @parley/client is a linked folder (file:../../clients/js) with a socket.io-client of its
  // own in its node_modules: one copy, the demo's, goes into the bundle.
  resolve: { dedupe: ["socket.io-client"] },
  // Loopback only: /dev/token signs anyone in (see dev-endpoints.ts).
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173 },
  build: { target: "es2022" },
});
