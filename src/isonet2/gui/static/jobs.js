// The Jobs page (a table refreshed every 1.5 s) and one job's page (#/jobs/N: log streaming,
// progress bars from the command's progress events, loss plot and preview pictures).

import { api, button, el, fileUrl, formatSeconds, formatTime, poll } from "./api.js";

const LIST_MS = 1500;
const JOB_MS = 1000;
const ACTIVE = new Set(["queued", "running"]);
const MAX_PICTURES = 8;
const COLUMNS = ["#", "command", "status", "progress", "elapsed", "created", "folder", ""];

function statusBadge(job) {
  return el("span", { class: `badge status-${job.status}`, testid: `job-status-${job.id}` }, job.status);
}

/** One progress event as a labelled bar: "epoch 1/2  12/40 batch  loss=0.03". */
function progressBar(item) {
  const total = item.total || 0;
  const done = Math.min(item.done || 0, total || item.done || 0);
  const bar = total
    ? el("progress", { max: total, value: done })
    : el("progress", {}); // unknown total: an indeterminate bar
  const count = total ? `${done}/${total} ${item.unit || ""}` : `${done} ${item.unit || ""}`;
  return el(
    "div",
    { class: `progress-item${item.closed ? " closed" : ""}` },
    el("span", { class: "task" }, item.task),
    bar,
    el("span", { class: "count" }, count.trim(), item.postfix ? `  ${item.postfix}` : ""),
  );
}

/**
 * The cancel / re-run / delete buttons of a job; after a successful action
 * `after(answer, message)` runs with the server's answer and a sentence saying what happened.
 */
function actionButtons(job, after, onError) {
  const act = async (method, path, message) => {
    try {
      const answer = await api(method, path);
      after(answer, message(answer));
    } catch (error) {
      onError(error);
    }
  };
  const cancelled = (answer) =>
    answer.job.status === "cancelled"
      ? `Job ${job.id} cancelled.`
      : `Job ${job.id}: stopping (SIGTERM; SIGKILL after 10 s)…`;
  const rerun = (answer) => `Job ${job.id} re-run as job ${answer.job.id} (${answer.job.status}).`;
  const deleted = () => `Job ${job.id} deleted from the list (its folder ${job.folder} stays).`;
  return {
    cancel: button("Cancel", {
      testid: `job-cancel-${job.id}`,
      title: "stop it (SIGTERM, then SIGKILL after 10 s)",
      onclick: () => act("POST", `jobs/${job.id}/cancel`, cancelled),
    }),
    rerun: button("Re-run", {
      testid: `job-rerun-${job.id}`,
      title: "a new job with the same command and values",
      onclick: () => act("POST", `jobs/${job.id}/rerun`, rerun),
    }),
    delete: button("Delete", {
      class: "danger",
      testid: `job-delete-${job.id}`,
      title: "forget the record; its folder stays",
      onclick: () => act("DELETE", `jobs/${job.id}`, deleted),
    }),
  };
}

function showButtons(buttons, job) {
  // a run started from the command line can be re-run as a GUI job, not cancelled or deleted
  const gui = job.source !== "cli";
  buttons.cancel.hidden = !(gui && ACTIVE.has(job.status));
  buttons.delete.hidden = !gui || job.status === "running";
}

export async function renderJobs(main) {
  const notice = el("div", { class: "status", testid: "jobs-notice", role: "status" });
  const body = el("tbody");
  const rows = new Map();
  const onError = (error) => {
    notice.className = "status error";
    notice.textContent = error.message;
  };
  const afterAction = (answer, message) => {
    notice.className = "status ok";
    notice.textContent = message;
    refresh().catch(onError);
  };

  function rowFor(job) {
    const cells = {
      id: el("td", {}, el("a", { href: `#/jobs/${job.id}` }, String(job.id))),
      command: el("td", {}, job.command),
      status: el("td"),
      progress: el("td", { class: "progress-cell" }),
      elapsed: el("td", { class: "num" }),
      created: el("td", { class: "time" }),
      folder: el("td", {}, el("code", {}, job.folder || "")),
      actions: el("td", { class: "actions-cell" }),
    };
    const buttons = actionButtons(job, afterAction, onError);
    cells.actions.append(buttons.cancel, buttons.rerun, buttons.delete);
    const attributes = { testid: `job-row-${job.id}`, class: `source-${job.source}` };
    const tr = el("tr", attributes, Object.values(cells));
    return { tr, cells, buttons };
  }

  function update(entry, job) {
    const origin = job.source === "cli" ? [el("div", { class: "muted small" }, "command line")] : [];
    entry.cells.status.replaceChildren(statusBadge(job), ...origin);
    const latest = (job.progress || []).at(-1);
    entry.cells.progress.replaceChildren(latest ? progressBar(latest) : "");
    entry.cells.progress.dataset.testid = `job-progressbar-${job.id}`;
    entry.cells.elapsed.textContent = formatSeconds(job.elapsed_s);
    entry.cells.created.textContent = formatTime(job.created);
    showButtons(entry.buttons, job);
  }

  async function refresh() {
    const { jobs } = await api("GET", "jobs");
    const seen = new Set();
    let previous = null;
    for (const job of jobs) {
      const key = String(job.id);
      seen.add(key);
      let entry = rows.get(key);
      if (!entry) {
        entry = rowFor(job);
        rows.set(key, entry);
      }
      update(entry, job);
      const wanted = previous ? previous.nextSibling : body.firstChild;
      if (wanted !== entry.tr) body.insertBefore(entry.tr, wanted);
      previous = entry.tr;
    }
    for (const [key, entry] of rows) {
      if (!seen.has(key)) {
        entry.tr.remove();
        rows.delete(key);
      }
    }
    empty.hidden = jobs.length > 0;
  }

  const empty = el("p", { class: "muted" }, "No jobs yet: submit one from a step's page.");
  main.append(
    el("h1", {}, "Jobs"),
    el(
      "p",
      { class: "muted" },
      "GUI jobs run one at a time in id order (Run now starts beside the queue). ",
      "Runs started from the command line into this project are listed too.",
    ),
    notice,
    el(
      "table",
      { class: "jobs-table", testid: "jobs-table" },
      el("thead", {}, el("tr", {}, COLUMNS.map((label) => el("th", {}, label)))),
      body,
    ),
    empty,
  );
  return poll(refresh, LIST_MS, onError);
}

/** Cache-busting version of a picture: changes every few seconds while the job runs. */
function pictureVersion(job) {
  return ACTIVE.has(job.status) ? Math.floor(Date.now() / 3000) : job.finished || job.status;
}

/**
 * Point `img` at `url` once the new picture has loaded (no flicker while it loads); a picture
 * that failed to load is asked for again at the next refresh.
 */
function swapImage(img, url) {
  if (img.dataset.url === url) return;
  img.dataset.url = url;
  const next = new Image();
  next.onload = () => {
    if (img.dataset.url === url) img.src = url;
  };
  next.onerror = () => {
    if (img.dataset.url === url) delete img.dataset.url;
  };
  next.src = url;
}

/** Log text as a terminal shows it: a progress bar redrawn after "\r" keeps its last state. */
function asTerminal(text) {
  return text
    .split("\n")
    .map((line) => line.split("\r").filter(Boolean).pop() ?? "")
    .join("\n");
}

export async function renderJob(main, id) {
  const title = el("h1");
  const badge = el("span");
  const info = el("dl", { class: "job-info" });
  const line = el("pre", { class: "command-line", testid: "job-line" });
  const notice = el("div", { class: "status", role: "status" });
  const progress = el("div", { class: "progress-list", testid: "job-progress" });
  const pictures = el("div", { class: "pictures", testid: "job-pictures" });
  const log = el("pre", { class: "log", testid: "job-log" });
  const figures = new Map();
  let offset = 0;
  let buttons = null;
  const onError = (error) => {
    notice.className = "status error";
    notice.textContent = error.message;
  };

  function showPictures(job) {
    const all = job.pictures || [];
    const loss = all.filter((path) => /loss/.test(path));
    const previews = all.filter((path) => !/loss/.test(path)).reverse();
    const shown = [...loss, ...previews].slice(0, MAX_PICTURES);
    const version = pictureVersion(job);
    for (const [path, figure] of figures) {
      if (!shown.includes(path)) {
        figure.remove();
        figures.delete(path);
      }
    }
    shown.forEach((path, i) => {
      let figure = figures.get(path);
      if (!figure) {
        const img = el("img", { testid: "job-picture", alt: path, "data-path": path });
        const link = el("a", { href: fileUrl(path), target: "_blank", title: "full size" }, img);
        figure = el("figure", {}, link, el("figcaption", {}, path));
        figures.set(path, figure);
      }
      swapImage(figure.querySelector("img"), fileUrl(path, version));
      if (pictures.children[i] !== figure) pictures.insertBefore(figure, pictures.children[i] || null);
    });
    pictures.dataset.empty = shown.length ? "" : "no pictures yet";
  }

  function showJob(job) {
    title.replaceChildren(`Job ${job.id}: ${job.command} `, badge);
    badge.replaceChildren(statusBadge(job));
    line.textContent = job.line || (job.argv || []).join(" ");
    const facts = [
      ["folder", job.folder],
      ["source", job.source === "cli" ? "command line" : "GUI"],
      ["created", formatTime(job.created)],
      ["started", formatTime(job.started)],
      ["finished", formatTime(job.finished)],
      ["elapsed", formatSeconds(job.elapsed_s)],
      ["exit code", job.returncode ?? ""],
      ...(job.record ? [["run record", job.record]] : []),
    ];
    const pair = ([key, value]) => [el("dt", {}, key), el("dd", {}, String(value ?? ""))];
    info.replaceChildren(...facts.flatMap(pair));
    if (!buttons) {
      buttons = actionButtons(job, (answer, message) => {
        if (answer.deleted !== undefined) location.hash = "#/jobs";
        else if (String(answer.job.id) !== String(job.id)) location.hash = `#/jobs/${answer.job.id}`;
        else {
          notice.className = "status ok";
          notice.textContent = message;
        }
      }, onError);
      actions.append(buttons.cancel, buttons.rerun, buttons.delete);
    }
    showButtons(buttons, job);
    const bars = (job.progress || []).map(progressBar);
    const none = ACTIVE.has(job.status) ? "waiting for progress events…" : "no progress reported";
    progress.replaceChildren(...(bars.length ? bars : [el("span", { class: "muted" }, none)]));
    showPictures(job);
  }

  let logText = "";
  async function readLog() {
    let grew = false;
    for (let i = 0; i < 8; i += 1) {
      const chunk = await api("GET", `jobs/${id}/log?offset=${offset}`);
      if (!chunk.text) break;
      logText += chunk.text;
      offset = chunk.offset;
      grew = true;
    }
    if (!grew) return;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = asTerminal(logText);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  const actions = el("div", { class: "actions" });
  main.append(
    el("p", {}, el("a", { href: "#/jobs" }, "← all jobs")),
    title,
    line,
    actions,
    notice,
    el("div", { class: "job-grid" },
      el("section", {}, el("h2", {}, "Progress"), progress, el("h2", {}, "Details"), info),
      el("section", {}, el("h2", {}, "Loss and previews"), pictures),
    ),
    el("h2", {}, "Log"),
    log,
  );
  let finalRead = false;
  return poll(async () => {
    const { job } = await api("GET", `jobs/${id}`);
    showJob(job);
    if (finalRead) return;
    await readLog().catch((error) => {
      if (error.status !== 404) throw error;
      log.textContent = `(no log for this run: ${error.message})`;
    });
    if (!ACTIVE.has(job.status)) finalRead = true; // the log is complete once the job ended
  }, JOB_MS, onError);
}
