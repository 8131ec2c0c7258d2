// The page: header, navigation in tutorial order, and a hash router (#/refine, #/jobs/3, ...).
// Every page is a function render(page, arg) that fills its own `page` element (the only child
// of <main>) and returns a cleanup function (stopping its polling) that runs when the user
// leaves the page. Pages load asynchronously: one the user has already left while it loaded
// fills a detached element and is cleaned up at once, so two pages never share <main>.

import { api, el, onConnection } from "./api.js";
import { renderCommand } from "./forms.js";
import { renderJob, renderJobs } from "./jobs.js";
import { renderStar } from "./star.js";
import { renderViewer } from "./viewer.js";

const STEPS = [
  ["prepare_star", "Prepare"],
  ["deconv", "Deconvolve"],
  ["make_mask", "Create Mask"],
  ["denoise", "Denoise"],
  ["refine", "Refine"],
  ["predict", "Predict"],
];
const TOOLS = [
  ["star", "Star file"],
  ["jobs", "Jobs"],
  ["viewer", "Viewer"],
];

const main = document.getElementById("main");
let cleanup = () => {};

function buildNav() {
  const nav = document.querySelector("nav.sidebar");
  const link = ([route, label], number) =>
    el(
      "a",
      { href: `#/${route}`, testid: `nav-${route}`, "data-route": route },
      number ? el("span", { class: "step" }, String(number)) : null,
      label,
    );
  nav.replaceChildren(
    el("div", { class: "nav-title" }, "Steps"),
    ...STEPS.map((item, i) => link(item, i + 1)),
    el("div", { class: "nav-title" }, "Project"),
    ...TOOLS.map((item) => link(item, 0)),
  );
}

function highlight(route) {
  for (const a of document.querySelectorAll("nav.sidebar a")) {
    a.classList.toggle("active", a.dataset.route === route);
  }
}

let visit = 0; // which route() call is the current one

async function route() {
  const ticket = ++visit;
  cleanup();
  cleanup = () => {};
  const parts = (location.hash || "#/prepare_star").replace(/^#\/?/, "").split("/");
  const [name, arg] = parts;
  highlight(name);
  const page = el("div", { class: "page", testid: `page-${name}` });
  main.replaceChildren(page);
  let stop;
  try {
    if (STEPS.some(([step]) => step === name)) stop = await renderCommand(page, name);
    else if (name === "star") stop = await renderStar(page);
    else if (name === "jobs" && arg) stop = await renderJob(page, arg);
    else if (name === "jobs") stop = await renderJobs(page);
    else if (name === "viewer") stop = await renderViewer(page);
    else page.append(el("p", { class: "error" }, `No page called "${name}".`));
  } catch (error) {
    page.append(el("p", { class: "error", testid: "page-error" }, error.message));
  }
  if (ticket !== visit) {
    // the user moved on while this page loaded; a later route() owns <main> now
    if (stop) stop();
    return;
  }
  cleanup = stop || (() => {});
}

async function header() {
  onConnection((ok, message) => {
    const badge = document.querySelector("[data-testid=connection]");
    badge.textContent = ok ? "" : message;
    badge.classList.toggle("bad", !ok);
  });
  const project = await api("GET", "project");
  const path = document.querySelector("[data-testid=project-path]");
  path.textContent = project.project;
  document.querySelector("[data-testid=version]").textContent = `v${project.version}`;
  document.title = `isonet2 — ${project.project.split("/").filter(Boolean).pop() || "/"}`;
}

buildNav();
window.addEventListener("hashchange", route);
header().catch(() => {});
route();
