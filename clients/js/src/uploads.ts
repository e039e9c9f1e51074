/**
 * An upload (docs/API.md "Attachments", steps 1-3): reserved on `/chat`, its bytes PUT to the
 * signed URL with progress (XMLHttpRequest in browsers, the one API that reports upload
 * progress; fetch with a counted stream body in Node), then completed.
 */
import type { Channel } from "./channel.js";
import { type Target, targetFields } from "./chat/target.js";
import { isTransient, ParleyError } from "./errors.js";
import { randomId } from "./ids.js";
import { present } from "./present.js";
import type { AckData } from "./protocol.js";

export type Upload = NonNullable<AckData<"/chat", "create-upload">["upload"]>;
export type Attachment = NonNullable<AckData<"/chat", "complete-upload">["attachment"]>;
export type Progress = (sentBytes: number, totalBytes: number) => void;

export interface UploadOptions {
  /** The file's name (a Blob has none of its own). */
  name: string;
  /** A hint only: the server types the file from its bytes. */
  contentType?: string;
  onProgress?: Progress;
}

const COMPLETE_ATTEMPTS = 4;
const COMPLETE_BACKOFF_MS = (attempt: number) => Math.min(250 * 2 ** attempt, 5_000);

/**
 * Reserves, PUTs and completes `file` for `target`; resolves with the attachment and the room
 * it is for (the direct room when `target` is a receiver). A failure after the reservation
 * cancels it, so the quota gets its bytes back.
 */
export async function uploadFile(
  channel: Channel<"/chat">,
  target: Target,
  file: Blob | Uint8Array,
  options: UploadOptions,
): Promise<{ attachment: Attachment; roomId: string }> {
  const contentType = options.contentType ?? (file instanceof Uint8Array ? undefined : file.type || undefined);
  const reserved = present(
    (
      await channel.request("create-upload", {
        ...targetFields(target),
        name: options.name,
        size: sizeOf(file),
        ...(contentType ? { contentType } : {}),
        clientUploadId: randomId(),
      })
    ).upload,
    "create-upload",
  );
  try {
    await putBytes(reserved, file, options.onProgress);
    return { attachment: await complete(channel, reserved.id), roomId: reserved.roomId };
  } catch (error) {
    channel.request("cancel-upload", { uploadId: reserved.id }).catch(() => {});
    throw error;
  }
}

/** `complete-upload`, retried while media-svc is too busy (`UNAVAILABLE`, docs/API.md). */
async function complete(channel: Channel<"/chat">, uploadId: string): Promise<Attachment> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return present((await channel.request("complete-upload", { uploadId })).attachment, "complete-upload");
    } catch (error) {
      const failure = ParleyError.from(error, "complete-upload");
      if (!isTransient(failure) || attempt >= COMPLETE_ATTEMPTS) throw failure;
      await new Promise((resolve) => setTimeout(resolve, COMPLETE_BACKOFF_MS(attempt)));
    }
  }
}

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
