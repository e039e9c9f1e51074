// The demo's two development endpoints, served by Vite itself in `vite` (dev) and in
// `vite preview`, so that the browser bundle never holds a secret:
//
//   GET /dev/config        -> { edgeUrl }  (PARLEY_EDGE_URL, default http://127.0.0.1:3000)
//   GET /dev/token?user=U  -> { token }    a development token for user U, made by
//                                          `deploy/local.sh token U` from the repository root
//                                          with this server's environment (BIN_DIR,
//                                          PARLEY_JWT_SECRET, PARLEY_RUN_DIR)
//
// Anyone who reaches this server can sign in as anyone: it is for a developer's machine only,
// which is why Vite listens on 127.0.0.1 (vite.config.ts).
import { execFile } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolve } from "node:path";
import type { Connect, Plugin } from "vite";

const DEFAULT_EDGE_URL = "http://127.0.0.1:3000";
// What the demo lets a name be: letters, digits and `._-`, as long as docs/API.md lets a
// username be (64 characters). Parley itself accepts more; the demo keeps names easy to type.
const USERNAME = /^[\p{L}\p{N}._-]{1,64}$/u;
// `local.sh token` builds the edge with cargo when no binary is there: that can take minutes.
const TOKEN_TIMEOUT_MS = 10 * 60_000;

/** The plugin; `repoRoot` is the checkout whose deploy/local.sh makes the tokens. */
export function devEndpoints(repoRoot: string): Plugin {
  const middleware = endpoints(repoRoot);
  return {
    name: "parley-dev-endpoints",
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

function endpoints(repoRoot: string): Connect.NextHandleFunction {
  const localSh = resolve(repoRoot, "deploy/local.sh");
  return (request, response, next) => {
    const url = new URL(request.url ?? "/", "http://dev");
    if (url.pathname === "/dev/config") {
      answer(response, 200, { edgeUrl: process.env.PARLEY_EDGE_URL || DEFAULT_EDGE_URL });
    } else if (url.pathname === "/dev/token") {
      serveToken(localSh, repoRoot, url.searchParams.get("user") ?? "", request, response);
    } else {
      next();
    }
  };
}

function serveToken(
  localSh: string,
  repoRoot: string,
  user: string,
  request: IncomingMessage,
  response: ServerResponse,
): void {
  if (request.method !== "GET") {
    answer(response, 405, { error: "GET only" });
    return;
  }
  if (!USERNAME.test(user)) {
    answer(response, 400, { error: "user: 1-64 letters, digits, '.', '_' or '-'" });
    return;
  }
  // No shell: the name is one argument, whatever it holds.
  execFile(
    localSh,
    ["token", user],
    { cwd: repoRoot, env: process.env, timeout: TOKEN_TIMEOUT_MS },
    (error, stdout, stderr) => {
      const token = stdout.trim().split("\n").pop() ?? "";
      if (error || !token) {
        const why = stderr.trim().split("\n").pop() || error?.message || "no token printed";
        answer(response, 500, { error: `deploy/local.sh token failed: ${why}` });
      } else {
        answer(response, 200, { token });
      }
    },
  );
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader("Content-Type", "application/json");
  // A token is good for a day: no cache may keep one.
  response.setHeader("Cache-Control", "no-store");
  response.end(JSON.stringify(body));
}
