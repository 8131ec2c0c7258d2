// The star file as an editable table: Save writes it (atomically, on the server); the page
// polls every 2 s and reloads when a command changes the file, warning instead when the user
// has unsaved edits.

import { api, button, el, poll } from "./api.js";

const POLL_MS = 2000;

export async function renderStar(main) {
  const project = await api("GET", "project");
  const files = project.star_files || [];
  const status = el("div", { class: "status", testid: "star-status", role: "status" });
  const tableBox = el("div", { class: "table-scroll" });
  const select = el(
    "select",
    { testid: "star-select", onchange: () => load(select.value, "") },
    files.map((path) => el("option", { value: path, selected: path === project.default_star }, path)),
  );
  const state = { path: null, mtime: null, warned: null, columns: [], original: [], saving: false };

  main.append(el("h1", {}, "Star file"));
  if (files.length === 0) {
    main.append(
      el("p", { class: "muted", testid: "star-empty" },
        "No star file in the project yet: run ",
        el("a", { href: "#/prepare_star" }, "Prepare"),
        " first."),
    );
    return poll(async () => {
      const again = await api("GET", "project");
      if ((again.star_files || []).length) window.dispatchEvent(new HashChangeEvent("hashchange"));
    }, POLL_MS);
  }

  const inputs = () => [...tableBox.querySelectorAll("input.cell")];
  const edited = () => inputs().some((input) => input.value !== input.dataset.original);
  const currentRows = () =>
    state.original.map((row, r) =>
      state.columns.map((_, c) => tableBox.querySelector(`[data-r="${r}"][data-c="${c}"]`).value),
    );
  const say = (text, kind = "", ...extra) => {
    status.className = `status ${kind}`;
    status.replaceChildren(text, ...extra);
  };

  function showTable(data) {
    state.path = data.path;
    state.mtime = data.mtime_ns;
    state.columns = data.columns;
    state.original = data.rows;
    const width = (c) => Math.max(6, Math.min(44, ...data.rows.map((row) => (row[c] || "").length + 1)));
    // long labels (rlnTomoReconstructedTomogramHalf1) may break between their words
    const words = (label) =>
      label
        .split(/(?=[A-Z])/)
        .flatMap((word, i) => (i > 1 ? [el("wbr"), word] : [word]));
    const head = el("tr", {}, data.columns.map((label) => el("th", { title: label }, words(label))));
    const body = data.rows.map((row, r) =>
      el(
        "tr",
        {},
        row.map((value, c) =>
          el(
            "td",
            {},
            el("input", {
              class: "cell",
              value,
              size: width(c),
              spellcheck: "false",
              testid: `star-cell-${r}-${data.columns[c]}`,
              "data-r": r,
              "data-c": c,
              "data-original": value,
              oninput: ({ target }) =>
                target.classList.toggle("changed", target.value !== target.dataset.original),
            }),
          ),
        ),
      ),
    );
    tableBox.replaceChildren(
      el(
        "table",
        { class: "star-table", testid: "star-table" },
        el("thead", {}, head),
        el("tbody", {}, body),
      ),
    );
  }

  const fetchStar = (path) => api("GET", `star?path=${encodeURIComponent(path)}`);
  const reloadButton = () =>
    button("Reload (discard my edits)", {
      testid: "star-reload",
      onclick: () => load(state.path, "Reloaded; your edits were discarded."),
    });

  async function load(path, message) {
    const data = await fetchStar(path);
    showTable(data);
    say(message);
  }

  async function save(force = false) {
    state.saving = true;
    try {
      if (force) state.mtime = (await fetchStar(state.path)).mtime_ns;
      for (const input of inputs()) {
        input.classList.remove("invalid");
        input.title = "";
      }
      const rows = currentRows();
      const answer = await api("PUT", "star", {
        path: state.path,
        mtime_ns: state.mtime,
        columns: state.columns,
        rows,
      });
      state.mtime = answer.mtime_ns;
      // show the file as written (numbers in the star's own format)
      await load(state.path, "");
      say(`Saved ${answer.path}.`, "ok");
    } catch (error) {
      if (error.status === 409) {
        say(
          `${state.path} changed on disk since you opened it (a command may have rewritten it). `,
          "warn",
          reloadButton(),
          " ",
          button("Overwrite with my version", { testid: "star-overwrite", onclick: () => save(true) }),
        );
      } else if (error.status === 422 && error.data && error.data.errors) {
        const lines = [];
        for (const [key, message] of Object.entries(error.data.errors)) {
          const [r, column] = key.split(":");
          const c = state.columns.indexOf(column);
          const cell = tableBox.querySelector(`[data-r="${r}"][data-c="${c}"]`);
          if (cell) {
            cell.classList.add("invalid");
            cell.title = message;
          }
          lines.push(el("div", { testid: `star-error-${key}` }, message));
        }
        say("Not saved: ", "error", ...lines);
      } else {
        say(`Not saved: ${error.message}`, "error");
      }
    } finally {
      state.saving = false;
    }
  }

  main.append(
    el(
      "div",
      { class: "toolbar" },
      el("label", {}, "File ", select),
      button("Save", { class: "primary", testid: "star-save", onclick: () => save() }),
      el("span", { class: "muted" }, "Empty cells: None. The table follows changes on disk."),
    ),
    status,
    tableBox,
  );
  await load(select.value, "");

  return poll(async () => {
    if (state.saving || !state.path) return;
    const data = await api("GET", `star?path=${encodeURIComponent(state.path)}`);
    if (data.mtime_ns === state.mtime || data.mtime_ns === state.warned || state.saving) return;
    if (!edited()) {
      showTable(data);
      say(`Reloaded: ${data.path} changed on disk.`, "info");
    } else {
      state.warned = data.mtime_ns;
      say(
        `${data.path} changed on disk, and you have unsaved edits. `,
        "warn",
        reloadButton(),
      );
    }
  }, POLL_MS);
}
