/**
 * The HTTP half of an upload (docs/API.md "Attachments", step 2): the bytes PUT to the signed
 * URL `create-upload` returned, with progress. Browsers use XMLHttpRequest (the one API that
 * reports upload progress); Node uses fetch with a counted stream body.
 */
import { ParleyError } from "./errors.js";
import type { AckData } from "./protocol.js";

export type Upload = NonNullable<AckData<"/chat", "create-upload">["upload"]>;
export type Progress = (sentBytes: number, totalBytes: number) => void;

/** What the media origin's answer means for the upload. */
function outcome(status: number, statusText: string): ParleyError | undefined {
  // 201 stored; 409 already uploaded (a PUT that was retried): both let the upload complete.
  if (status === 201 || status === 200 || status === 409) return undefined;
  const codes: Record<number, ParleyError["code"]> = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    413: "INVALID_ARGUMENT",
    429: "RATE_LIMITED",
  };
  const code = codes[status] ?? (status >= 500 ? "UNAVAILABLE" : "INTERNAL");
  return new ParleyError(code, `upload PUT: HTTP ${status} ${statusText}`.trim());
}

/** Byte count of `file`. */
export const sizeOf = (file: Blob | Uint8Array): number => (file instanceof Uint8Array ? file.byteLength : file.size);

const asBlob = (file: Blob | Uint8Array): Blob =>
  file instanceof Uint8Array ? new Blob([file as Uint8Array<ArrayBuffer>]) : file;

/** PUTs `file` to `upload.url`; `onProgress` sees the bytes sent, ending at the total. */
export async function putBytes(upload: Upload, file: Blob | Uint8Array, onProgress?: Progress): Promise<void> {
  const total = sizeOf(file);
  onProgress?.(0, total);
  const failure =
    typeof XMLHttpRequest === "function"
      ? await putWithXhr(upload, asBlob(file), onProgress)
      : await putWithFetch(upload, asBlob(file), onProgress);
  if (failure) throw failure;
  onProgress?.(total, total);
}

function putWithXhr(upload: Upload, body: Blob, onProgress?: Progress): Promise<ParleyError | undefined> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || "PUT", upload.url);
    for (const [name, value] of Object.entries(upload.headers)) {
      // The browser sets Content-Length from the body and refuses to be told it.
      if (name.toLowerCase() !== "content-length" && value !== undefined) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded, body.size);
    xhr.onload = () => resolve(outcome(xhr.status, xhr.statusText));
    xhr.onerror = () => resolve(new ParleyError("UNAVAILABLE", "upload PUT: network error"));
    xhr.onabort = () => resolve(new ParleyError("UNAVAILABLE", "upload PUT: aborted"));
    xhr.send(body);
  });
}

async function putWithFetch(upload: Upload, body: Blob, onProgress?: Progress): Promise<ParleyError | undefined> {
  let sent = 0;
  const counted = body.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk);
        sent += chunk.byteLength;
        onProgress?.(sent, body.size);
      },
    }),
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(upload.headers)) if (value !== undefined) headers[name] = value;
  // A stream body has no length of its own: the declared one goes with it, as media-svc checks it.
  if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-length")) {
    headers["content-length"] = String(body.size);
  }
  try {
    const response = await fetch(upload.url, {
      method: upload.method || "PUT",
      headers,
      body: counted,
      // Node's fetch streams a request body only in half-duplex mode (not in the DOM typings).
      duplex: "half",
    } as RequestInit);
    await response.body?.cancel();
    return outcome(response.status, response.statusText);
  } catch (error) {
    return new ParleyError("UNAVAILABLE", `upload PUT: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}
