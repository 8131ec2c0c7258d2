// Talking to the server (the /api of docs/gui_api.md) and building DOM elements.

export class ApiError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

const listeners = new Set();

/** Call fn(ok, message) after every request: the header shows whether the server answers. */
export function onConnection(fn) {
  listeners.add(fn);
}

function report(ok, message) {
  for (const fn of listeners) fn(ok, message);
}

/** A JSON request to /api/<path>; resolves to the parsed body, rejects with ApiError. */
export async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/${path}`, options);
  } catch (error) {
    report(false, "the server does not answer (was it stopped?)");
    throw new ApiError(`the server does not answer: ${error.message}`, 0, null);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 403 && data && /token/.test(data.error || "")) {
    report(false, data.error);
  } else {
    report(true, "");
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status, data);
  }
  return data;
}

/** The URL of a project file; `version` changes it when the file may have changed. */
export function fileUrl(path, version) {
  const query = new URLSearchParams({ path });
  if (version !== undefined) query.set("v", String(version));
  return `/api/file?${query}`;
}

/**
 * el("button", {class: "primary", testid: "submit", onclick: fn}, "Submit")
 * Attributes: class, testid (data-testid), on<event> handlers, any other attribute;
 * children: strings, nodes, arrays of them, null/false (skipped).
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A plain button (never a form submit): button("Save", {testid: "star-save", onclick}). */
export function button(label, attributes = {}) {
  return el("button", { type: "button", ...attributes }, label);
}

/** "75 s", "3 min 05 s", "2 h 04 min"; "" for null. */
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** "2026-11-25 12:14:42" from an ISO time string (local time); "" for null. */
export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/**
 * Run `tick` now and then every `ms` milliseconds (never two at once) until the returned
 * stop function is called; errors are passed to `onError` and polling goes on. A tab in the
 * background is not polled (it catches up when shown again).
 */
export function poll(tick, ms, onError = () => {}) {
  let stopped = false;
  let timer = null;
  const loop = async () => {
    if (stopped) return;
    try {
      if (!document.hidden) await tick();
    } catch (error) {
      onError(error);
    }
    if (!stopped) timer = setTimeout(loop, ms);
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
