// The tomogram viewer: slices of any volume of the project along z, y or x, with a slider,
// contrast limits, and a second volume side by side at the same axis and index.

import { api, button, el } from "./api.js";

const AXES = [
  ["z", "z (XY slices)"],
  ["y", "y (XZ slices)"],
  ["x", "x (YZ slices)"],
];
const AXIS_DIM = { z: 0, y: 1, x: 2 };

/** Loads slice images one at a time, always the newest asked for (a fast slider stays smooth). */
function imageLoader(img) {
  let wanted = null;
  let busy = false;
  const next = () => {
    if (busy || wanted === null || wanted === img.dataset.url) return;
    const url = wanted;
    busy = true;
    const probe = new Image();
    probe.onload = () => {
      img.src = url;
      img.dataset.url = url;
      img.classList.remove("failed");
      busy = false;
      next();
    };
    probe.onerror = () => {
      // shown faded; asked for again when the slider, axis or contrast next changes
      delete img.dataset.url;
      if (wanted === url) wanted = null;
      img.classList.add("failed");
      busy = false;
      next();
    };
    probe.src = url;
  };
  return (url) => {
    wanted = url;
    next();
  };
}

function makePane(suffix, volumes, emptyLabel, onChange) {
  const id = (name) => `viewer-${name}${suffix}`;
  const select = el(
    "select",
    { testid: id("select"), onchange: () => choose(select.value) },
    emptyLabel ? el("option", { value: "" }, emptyLabel) : null,
    volumes.map((path) => el("option", { value: path }, path)),
  );
  const limit = (name, title) =>
    el("input", { type: "number", step: "any", testid: id(name), title, onchange: () => onChange() });
  const lo = limit("lo", "value shown black");
  const hi = limit("hi", "value shown white");
  const info = el("div", { class: "muted volume-info", testid: id("info") });
  const img = el("img", { class: "slice", testid: id("image"), alt: "" });
  const pane = {
    path: "",
    meta: null,
    select,
    lo,
    hi,
    img,
    load: imageLoader(img),
    node: el(
      "div",
      { class: "pane" },
      el("div", { class: "pane-controls" }, select),
      el(
        "div",
        { class: "pane-controls" },
        el("label", {}, "black ", lo),
        el("label", {}, "white ", hi),
        button("Auto contrast", {
          testid: id("auto"),
          title: "black and white at the 0.5 and 99.5 percentiles",
          onclick: () => autoContrast(),
        }),
      ),
      info,
      el("div", { class: "slice-box" }, img),
    ),
  };
  function autoContrast() {
    if (!pane.meta) return;
    lo.value = Number(pane.meta.lo.toPrecision(4));
    hi.value = Number(pane.meta.hi.toPrecision(4));
    onChange();
  }
  async function choose(path) {
    pane.path = path;
    pane.meta = null;
    info.textContent = "";
    if (!path) {
      img.removeAttribute("src");
      delete img.dataset.url;
      onChange();
      return;
    }
    const meta = await api("GET", `volume?path=${encodeURIComponent(path)}`);
    if (pane.path !== path) return;
    pane.meta = meta;
    const size = Number(meta.voxel_size_angstrom);
    const voxel = size ? `, ${size.toPrecision(4)} Å/voxel` : "";
    info.textContent = `${meta.shape.join(" × ")} voxels (z × y × x)${voxel}`;
    autoContrast();
  }
  pane.choose = choose;
  return pane;
}

export async function renderViewer(main) {
  const { volumes } = await api("GET", "volumes");
  main.append(el("h1", {}, "Viewer"));
  if (!volumes.length) {
    main.append(el("p", { class: "muted" }, "No .mrc, .rec or .map files in the project yet."));
    return null;
  }
  const axis = el(
    "select",
    { testid: "viewer-axis", onchange: () => resetIndex(true) },
    AXES.map(([value, label]) => el("option", { value }, label)),
  );
  const slider = el("input", {
    type: "range",
    min: 0,
    max: 0,
    value: 0,
    testid: "viewer-slider",
    oninput: () => draw(),
  });
  const indexLabel = el("span", { class: "index", testid: "viewer-index" });
  const draw = () => {
    const index = Number(slider.value);
    indexLabel.textContent = `${index} / ${slider.max}`;
    for (const pane of panes) {
      if (!pane.meta) continue;
      const size = pane.meta.shape[AXIS_DIM[axis.value]];
      const query = new URLSearchParams({
        path: pane.path,
        axis: axis.value,
        index: String(Math.min(index, size - 1)),
        lo: pane.lo.value,
        hi: pane.hi.value,
      });
      pane.load(`/api/slice.png?${query}`);
    }
  };
  const resetIndex = (centre) => {
    // a new axis (or the first volume) centres the slider; another volume keeps the index
    const dim = AXIS_DIM[axis.value];
    const shapes = panes.filter((pane) => pane.meta).map((pane) => pane.meta.shape[dim]);
    const size = shapes.length ? Math.max(...shapes) : 1;
    const keep = !centre && Number(slider.max) > 0 ? Math.min(Number(slider.value), size - 1) : null;
    slider.max = String(size - 1);
    slider.value = String(keep ?? Math.floor(size / 2));
    draw();
  };
  let known = "";
  const changed = () => {
    // a newly chosen volume resizes the slider; a contrast change just redraws
    const key = panes.map((pane) => (pane.meta ? pane.meta.shape.join("x") : "-")).join("|");
    if (key !== known) {
      known = key;
      resetIndex(false);
    } else draw();
  };
  const panes = [
    makePane("", volumes, null, changed),
    makePane("-2", volumes, "(second volume: none)", changed),
  ];
  main.append(
    el(
      "div",
      { class: "toolbar" },
      el("label", {}, "axis ", axis),
      el("label", { class: "grow" }, "index ", slider),
      indexLabel,
    ),
    el("div", { class: "panes" }, panes.map((pane) => pane.node)),
  );
  await panes[0].choose(volumes[0]);
  return null;
}
