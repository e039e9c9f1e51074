// The dev server's endpoints (dev-endpoints.ts): where the edge is, and a token per user.
// Tokens come from the server at run time, so no secret is ever in the bundle.

export interface DevConfig {
  edgeUrl: string;
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { cache: "no-store" });
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `${path}: HTTP ${response.status}`);
  return body;
}

export const devConfig = (): Promise<DevConfig> => getJson<DevConfig>("/dev/config");

export async function devToken(user: string): Promise<string> {
  const { token } = await getJson<{ token: string }>(`/dev/token?user=${encodeURIComponent(user)}`);
  return token;
}
