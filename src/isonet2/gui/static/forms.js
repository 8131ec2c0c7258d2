// One page per command: a form generated from GET /api/commands (the command's config model),
// with "Show command", "Submit" (to the queue) and "Run now".

import { api, button, el } from "./api.js";

let commandsPromise = null;

/** The command schemas, fetched once per page load. */
export function commands() {
  commandsPromise ??= api("GET", "commands").then((data) => data.commands);
  return commandsPromise;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** How a default is shown in a text box: lists as "1,2", null as "". */
function display(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

/** Suggestions (a <datalist>) for fields that name files or folders of the project. */
function suggestionKind(field) {
  const name = field.name.toLowerCase();
  if (name.includes("star")) return "stars";
  if (["model", "model2", "pretrained_model"].includes(name)) return "checkpoints";
  if (["full", "even", "odd"].includes(name) || name.endsWith("folder")) return "folders";
  return null;
}

async function suggestions() {
  const [project, volumes] = await Promise.all([
    api("GET", "project"),
    api("GET", "volumes").catch(() => ({ volumes: [] })),
  ]);
  const folders = new Set(
    volumes.volumes.map((path) => (path.includes("/") ? path.replace(/\/[^/]*$/, "") : ".")),
  );
  return {
    stars: project.star_files || [],
    checkpoints: project.checkpoints || [],
    folders: [...folders].sort(),
  };
}

function datalists(lists) {
  return Object.entries(lists).map(([kind, items]) =>
    el("datalist", { id: `suggest-${kind}` }, ...items.map((item) => el("option", { value: item }))),
  );
}

/** The input element of one field (text box, checkbox or select). */
function inputFor(field) {
  const common = { testid: `field-${field.name}`, id: `field-${field.name}`, title: field.help };
  if (field.readonly) {
    return el("input", {
      ...common,
      type: "text",
      readonly: true,
      class: "readonly",
      value: `set per job (<step>/job<N>)`,
    });
  }
  if (field.kind === "bool" && !field.nullable) {
    return el("input", { ...common, type: "checkbox", checked: Boolean(field.default) });
  }
  if (field.kind === "choice" || (field.kind === "bool" && field.nullable)) {
    const choices = field.kind === "bool" ? ["True", "False"] : field.choices || [];
    const options = choices.map((choice) =>
      el(
        "option",
        { value: display(choice), selected: display(choice) === display(field.default) },
        display(choice),
      ),
    );
    if (field.nullable) {
      const label = field.kind === "bool" ? "default (not set)" : "(not set)";
      options.unshift(el("option", { value: "", selected: field.default === null }, label));
    }
    return el("select", common, options);
  }
  const numeric = field.kind === "int" || field.kind === "float";
  // words a number field also takes (e.g. "auto") are offered like file suggestions
  const kind = field.choices && field.choices.length ? `choices-${field.name}` : suggestionKind(field);
  return el("input", {
    ...common,
    type: "text",
    value: display(field.default),
    placeholder: field.required
      ? "required"
      : field.shown_default
        ? `default: ${field.shown_default}`
        : field.nullable
          ? "not set"
          : "",
    inputmode: numeric ? "decimal" : null,
    list: kind ? `suggest-${kind}` : null,
    spellcheck: "false",
    autocomplete: "off",
  });
}

/** The value to send for a field the user changed, or undefined when it is the default. */
function readField(field, input) {
  if (field.readonly) return undefined;
  if (input.type === "checkbox") {
    return input.checked === Boolean(field.default) ? undefined : input.checked;
  }
  const text = input.value.trim();
  if (text === display(field.default)) return undefined;
  if (text === "") return null;
  if (field.kind === "bool") return text === "True";
  if ((field.kind === "int" || field.kind === "float") && NUMBER.test(text)) return Number(text);
  return text;
}

const isPositional = (field) => field.positional !== null && field.positional !== undefined;

function fieldRow(field) {
  const unit = el("span", { class: "unit" }, field.unit || "");
  const label = el(
    "label",
    { for: `field-${field.name}`, title: field.help, class: field.required ? "required" : null },
    el("code", {}, field.flag || `--${field.name}`),
    field.short ? el("code", { class: "muted" }, ` ${field.short}`) : null,
    field.required ? el("span", { class: "star", title: "required" }, "*") : null,
  );
  const input = inputFor(field);
  const hint = field.readonly
    ? "set per job: the job's own folder"
    : `${field.help}${isPositional(field) ? " (positional)" : ""}`;
  return {
    input,
    row: el(
      "div",
      { class: `field${field.readonly ? " is-readonly" : ""}`, "data-field": field.name },
      label,
      el("div", { class: "control" }, input, unit),
      el("div", { class: "hint" }, hint),
      el("div", { class: "field-error", testid: `error-${field.name}`, role: "alert" }),
    ),
  };
}

/** The form page of one command; returns nothing to clean up. */
export async function renderCommand(main, name) {
  const [all, lists] = await Promise.all([commands(), suggestions().catch(() => ({}))]);
  const schema = all.find((command) => command.name === name);
  if (!schema) throw new Error(`the server knows no command "${name}"`);
  const inputs = new Map();
  // positional parameters first, in their slots, as the tutorial's lines write them
  const slot = (field) => (isPositional(field) ? field.positional : 99);
  const ordered = [...schema.fields].sort((a, b) => slot(a) - slot(b));
  const rows = ordered.map((field) => {
    const { input, row } = fieldRow(field);
    inputs.set(field.name, { field, input });
    return row;
  });
  const formError = el("div", { class: "form-error", testid: "error-__all__", role: "alert" });
  const lineBox = el("pre", { class: "command-line", testid: "command-line" });
  const notice = el("div", { class: "notice", testid: "form-notice" });

  const values = () => {
    const out = {};
    for (const [key, { field, input }] of inputs) {
      const value = readField(field, input);
      if (value !== undefined) out[key] = value;
    }
    return out;
  };
  // what the user typed survives a visit to another page (for this browser tab's session)
  const storeKey = `isonet2-form-${name}`;
  const remember = () => {
    const typed = {};
    for (const [key, { field, input }] of inputs) {
      const changed = readField(field, input) !== undefined;
      input.classList.toggle("changed", changed);
      if (changed) typed[key] = input.type === "checkbox" ? input.checked : input.value;
    }
    sessionStorage.setItem(storeKey, JSON.stringify(typed));
  };
  const typed = JSON.parse(sessionStorage.getItem(storeKey) || "{}");
  for (const [key, value] of Object.entries(typed)) {
    const known = inputs.get(key);
    if (!known || known.field.readonly) continue;
    if (known.input.type === "checkbox") known.input.checked = Boolean(value);
    else known.input.value = value;
  }
  const resetForm = () => {
    sessionStorage.removeItem(storeKey);
    for (const { field, input } of inputs.values()) {
      if (field.readonly) continue;
      if (input.type === "checkbox") input.checked = Boolean(field.default);
      else input.value = display(field.default);
    }
    remember();
  };
  const clearErrors = () => {
    formError.textContent = "";
    for (const node of main.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of main.querySelectorAll(".invalid")) node.classList.remove("invalid");
  };
  const showErrors = (error) => {
    const errors = (error.data && error.data.errors) || { __all__: error.message };
    for (const [key, message] of Object.entries(errors)) {
      const known = inputs.get(key);
      if (known) {
        main.querySelector(`[data-testid="error-${key}"]`).textContent = message;
        known.input.classList.add("invalid");
      } else {
        formError.append(el("div", {}, key === "__all__" ? message : `${key}: ${message}`));
      }
    }
    const first = main.querySelector(".invalid");
    if (first) first.scrollIntoView({ block: "center" });
  };
  const send = async (action) => {
    clearErrors();
    notice.replaceChildren();
    try {
      await action();
    } catch (error) {
      showErrors(error);
    }
  };
  const showCommand = () =>
    send(async () => {
      const answer = await api("POST", "command_line", { command: name, values: values() });
      lineBox.textContent = answer.line;
    });
  const submit = (runNow) =>
    send(async () => {
      const answer = await api("POST", "jobs", { command: name, values: values(), run_now: runNow });
      const job = answer.job;
      lineBox.textContent = job.line;
      notice.replaceChildren(
        `Job ${job.id} (${job.command}) ${runNow ? "started" : "queued"} in ${job.folder} — `,
        el("a", { href: `#/jobs/${job.id}`, testid: "job-link" }, "watch it"),
      );
    });

  // the buttons and what they answer stay in view (sticky) however long the form is
  const bar = el(
    "div",
    { class: "form-bar" },
    el(
      "div",
      { class: "actions" },
      button("Show command", { testid: "show-command", onclick: showCommand }),
      button("Submit", { class: "primary", testid: "submit", onclick: () => submit(false) }),
      button("Run now", {
        testid: "run-now",
        title: "start at once, beside the queue",
        onclick: () => submit(true),
      }),
      button("Defaults", {
        testid: "reset-form",
        title: "put every field back to its default",
        onclick: resetForm,
      }),
      el("span", { class: "muted small" }, "Only values that differ from the default are passed."),
    ),
    formError,
    notice,
    lineBox,
  );
  const choiceLists = Object.fromEntries(
    schema.fields
      .filter((field) => field.kind !== "choice" && field.choices && field.choices.length)
      .map((field) => [`choices-${field.name}`, field.choices.map(display)]),
  );
  main.append(
    el("h1", {}, schema.summary),
    el(
      "details",
      { class: "about" },
      el("summary", {}, "About ", el("code", {}, `isonet.py ${name}`)),
      el("pre", {}, schema.description || schema.summary),
    ),
    bar,
    el(
      "form",
      {
        class: "command-form",
        onsubmit: (event) => event.preventDefault(),
        oninput: remember,
        onchange: remember,
      },
      rows,
    ),
    ...datalists(lists),
    ...datalists(choiceLists),
  );
  remember();
  return null;
}
