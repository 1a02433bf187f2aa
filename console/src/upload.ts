// Multipart uploads through XMLHttpRequest: fetch cannot report upload progress.

import { ApiError, authHeaders, networkError, problemFromText } from "./api";
import type { Task } from "./types";

export interface UploadHandle {
  done: Promise<Task>;
  abort: () => void;
}

/** POST `form` to `path`; `onProgress(sent, total)` follows the body going out. */
export function uploadForm(
  path: string,
  form: FormData,
  onProgress: (sent: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<Task>((resolve, reject) => {
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Task);
        } catch (cause) {
          reject(networkError(cause));
        }
        return;
      }
      reject(problemFromText(xhr.status, xhr.statusText, xhr.getResponseHeader("content-type"), xhr.responseText));
    });
    xhr.addEventListener("error", () => reject(networkError(new Error("the upload was interrupted"))));
    xhr.addEventListener("abort", () =>
      reject(new ApiError({ title: "Upload cancelled", detail: "You stopped the upload.", code: "CANCELLED" })),
    );
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

export const ACCEPTED_EXTENSIONS = [".py", ".zip"];

/** Why `file` cannot be uploaded, or null (the server checks again; this saves a round trip). */
export function fileProblem(file: File): string | null {
  const name = file.name.toLowerCase();
  if (!ACCEPTED_EXTENSIONS.some((extension) => name.endsWith(extension))) {
    return `${file.name} is neither a .py file nor a .zip archive.`;
  }
  if (file.size === 0) return `${file.name} is empty.`;
  return null;
}

/** "1.2 MiB" */
export function bytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}
