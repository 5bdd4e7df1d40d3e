// The REST client: the bearer token lives in sessionStorage (gone when the tab closes), every call goes to this
// server's own API, and every error comes back in the API's one shape: {error: {code, message, details}}.

const TOKEN_KEY = "rapport.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API error: `status`, `code`, `message` and `details` (spans, paths) as the server sent them. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.details = Array.isArray(e.details) ? e.details : [];
  }
}

/** Calls the API; resolves with the parsed JSON (null for 204), rejects with an ApiError. */
export async function call(method, path, body, { signal, quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json);
    if (res.status === 401 && !quiet401) window.dispatchEvent(new CustomEvent("rapport:unauthorized"));
    throw err;
  }
  return json;
}

export const get = (path, opts) => call("GET", path, undefined, opts);
export const post = (path, body, opts) => call("POST", path, body === undefined ? {} : body, opts);
export const del = (path) => call("DELETE", path);

/** Waits for a task (202 {taskId}) to end; resolves with the task, rejects when it failed. */
export async function waitTask(taskId, { intervalMs = 250, timeoutMs = 600000 } = {}) {
  const started = Date.now();
  for (;;) {
    const task = await get(`/tasks/${encodeURIComponent(taskId)}`);
    if (task.status === "succeeded") return task;
    if (task.status === "failed") {
      const e = new Error((task.error && task.error.message) || "the task failed");
      e.task = task;
      throw e;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`task ${taskId} did not end in time`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The items of a paginated list answer, whatever the collection's key. */
export function items(answer, key) {
  if (!answer) return [];
  if (Array.isArray(answer)) return answer;
  if (key && Array.isArray(answer[key])) return answer[key];
  for (const k of ["children", "items", "results"]) if (Array.isArray(answer[k])) return answer[k];
  return [];
}
