// sruq results viewer: sortable comparison tables (index) and linked zoom/pan panels
// (image pages). Plain JavaScript, no framework, nothing fetched: every page works from
// file://. The page's facts come in window.SRUQ_PAGE (written by sruq.viewer), the
// values under the cursor in window.SRUQ_DATA (the page's data.js).
// index.html?selftest=1 or <image>.html?selftest=1 runs the page's checks and writes
// their result as JSON into <pre id="selftest"> (read by the browser test); a page in
// selftest mode records where the arrow keys would go instead of going there.
(function () {
  "use strict";
  const PAGE = window.SRUQ_PAGE || {};
  const SELFTEST = new URLSearchParams(location.search).get("selftest") === "1";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function report(result) {
    const pre = document.getElementById("selftest");
    pre.textContent = JSON.stringify(result);
    pre.hidden = false;
  }

  function imagesLoaded(root) {
    const imgs = [...root.querySelectorAll("img")];
    const failed = imgs.filter((i) => !(i.complete && i.naturalWidth > 0));
    return { total: imgs.length, loaded: imgs.length - failed.length,
             failed: failed.map((i) => i.getAttribute("src")) };
  }

  // --- index: sortable tables ----------------------------------------------------------

  function sortKey(td) {
    const v = td.dataset.sort;
    if (v === undefined || v === "") return null;
    const n = Number(v);
    return Number.isNaN(n) ? v : n;
  }

  function sortTable(table, col) {
    const th = table.querySelector(`th[data-col="${col}"]`);
    const dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
    th.dataset.dir = dir;
    const body = table.tBodies[0];
    const rows = [...body.rows];
    const sign = dir === "asc" ? 1 : -1;
    rows.sort((a, b) => {
      const x = sortKey(a.cells[col]), y = sortKey(b.cells[col]);
      if (x === null || y === null) return (x === null) - (y === null); // blanks last
      if (typeof x === typeof y) return sign * (x < y ? -1 : x > y ? 1 : 0);
      return sign * String(x).localeCompare(String(y));
    });
    rows.forEach((r) => body.append(r));
  }

  function initIndex() {
    document.querySelectorAll("table.sortable th").forEach((th) =>
      th.addEventListener("click", () => sortTable(th.closest("table"), Number(th.dataset.col))));
    if (SELFTEST) window.addEventListener("load", () => report(indexSelftest()));
  }

  function indexSelftest() {
    const result = { page: "index", images: imagesLoaded(document),
                     tables: document.querySelectorAll("table.sortable").length };
    const table = document.querySelector("table.sortable");
    if (!table) return result;
    const col = 1;
    const keys = () => [...table.tBodies[0].rows].map((r) => sortKey(r.cells[col]))
      .filter((k) => k !== null);
    const th = table.querySelector(`th[data-col="${col}"]`);
    const sorted = (list, sign) => list.every((v, i) => i === 0 || sign * (v - list[i - 1]) >= 0);
    th.click();
    const asc = keys();
    const firstAsc = table.tBodies[0].rows[0].cells[0].textContent;
    th.click();
    const desc = keys();
    result.sort = { column: th.textContent, rows: table.tBodies[0].rows.length,
                    ascending: sorted(asc, 1) && asc.length > 1, descending: sorted(desc, -1),
                    first_ascending: firstAsc,
                    first_descending: table.tBodies[0].rows[0].cells[0].textContent };
    return result;
  }

  // --- image page ------------------------------------------------------------------------

  // a plane of data.js: base64 of deflated bytes; delta: rows coded as differences mod 256
  async function inflate(text, width, delta) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const plane = new Uint8Array(await new Response(stream).arrayBuffer());
    if (delta) {
      for (let row = 0; row < plane.length; row += width) {
        let acc = 0;
        for (let x = row, end = row + width; x < end; x++) plane[x] = acc = (acc + plane[x]) & 255;
      }
    }
    return plane;
  }

  const bit = (bits, i) => (bits[i >> 3] >> (7 - (i & 7))) & 1;

  // a panel of codes painted through the page's colour table (the colours sruq gives them)
  function paint(canvas, codes) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(canvas.width, canvas.height);
    const px = image.data;
    for (let i = 0; i < codes.length; i++) {
      const rgb = PAGE.colours[codes[i]];
      px[4 * i] = rgb[0]; px[4 * i + 1] = rgb[1]; px[4 * i + 2] = rgb[2]; px[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    canvas.dataset.painted = "1";
  }

  const MODES = [["sr", "SR"], ["error", "|error|"], ["heatmap", "heatmap"], ["hr", "HR"]];

  function initImage() {
    const W = PAGE.width, H = PAGE.height;
    const root = document.getElementById("viewer");
    const view = { zoom: 1, x: 0, y: 0 }; // zoom relative to fit; image px at the top-left
    const values = { ready: false, planes: [], hr: null };
    const panels = [];
    let cursor = null;

    const fmt = (v) => (v >= 0.01 ? v.toFixed(3) : v.toPrecision(2));
    function codeText(c) {
      if (c === 0 && PAGE.vmin > 0) return `≤${fmt(PAGE.vmin)}`;
      if (c === PAGE.values.length - 1) return `≥${fmt(PAGE.vmax)}`;
      return `≈${fmt(PAGE.values[c])}`;
    }

    // the page's controls
    const picker = el("fieldset", { class: "picker" }, el("legend", {
      text: `methods (${Math.min(2, PAGE.methods.length)} to ${PAGE.max_panels})` }));
    const note = el("span", { class: "note", id: "picker-note" });
    const nav = el("nav", {},
      el("a", { href: PAGE.prev, id: "prev", text: "← previous image" }), " · ",
      el("a", { href: PAGE.next, id: "next", text: "next image →" }), " · ",
      el("button", { type: "button", id: "fit", text: "fit" }),
      el("span", { class: "help", text: " wheel or pinch: zoom all panels · drag: pan · ←/→: "
        + "previous/next image · s/e/h/r: every panel to SR/|error|/heatmap/HR · 0: fit" }));
    const colorbar = el("img", { class: "colorbar", src: PAGE.colorbar, alt: "colour bar" });
    const grid = el("div", { class: "panels", id: "panels" });
    const status = el("div", { class: "status", id: "status", text: "move the pointer over a "
      + `panel: ${PAGE.value_label} value, |error| and std of that pixel in every panel` });
    root.append(nav, el("div", { class: "controls" }, picker, note), status,
                el("div", { class: "stage" }, grid, colorbar));

    PAGE.methods.forEach((m, k) => {
      const box = el("input", { type: "checkbox", value: m.name, id: `pick${k}` });
      picker.append(el("label", { for: `pick${k}` }, box, ` ${m.name}`));
      const imgs = {};
      const stack = el("div", { class: "stack" });
      for (const [mode] of MODES) {
        if (mode === "heatmap" && !m.heatmap) continue;
        imgs[mode] = mode === "sr" || mode === "hr"
          ? el("img", { src: mode === "hr" ? PAGE.hr : m.sr, alt: `${m.name} ${mode}`,
                        draggable: "false", "data-mode": mode })
          : el("canvas", { width: W, height: H, "data-mode": mode });
        stack.append(imgs[mode]);
      }
      const marker = el("div", { class: "marker", hidden: "" });
      const viewport = el("div", { class: "viewport" }, stack, marker);
      viewport.style.aspectRatio = `${W} / ${H}`;
      const buttons = el("div", { class: "modes" });
      const badges = el("span", { class: "badges" });
      if (m.sigma !== null) {
        badges.append(el("span", { class: "badge source", title: "uncertainty source: the "
          + "heatmap shows its std times the σ-scaling factor fitted on the validation images",
          text: `uncertainty · σ×${m.sigma.toPrecision(3)}` }));
      }
      if (m.widening) {
        badges.append(el("span", { class: "badge widened", title: "this image's shift-aware "
          + "interval is wider than the static one: the heatmap shows the std times that "
          + "ratio too", text: `shift-aware ×${m.widening.toPrecision(3)}` }));
      }
      if (m.shift) {
        const score = m.shift.score === null ? "" : ` (shift score ${m.shift.score.toFixed(3)})`;
        badges.append(el("span", { class: "badge shift", title: "the shift verdict of the "
          + `per-image table${score}`, text: "unlike the training data" }));
      }
      const readout = el("div", { class: "readout", text: "\u00a0" });
      const title = el("div", { class: "title" }, el("b", { class: "name", text: m.name }),
                       el("span", { class: "caption", text: m.caption ? ` ${m.caption}` : "" }),
                       badges);
      const node = el("figure", { class: "panel", "data-method": m.name, hidden: "" },
                      title, buttons, viewport, readout);
      const p = { k, m, node, box, viewport, stack, imgs, marker, readout, buttons, mode: "sr" };
      for (const [mode, label] of MODES) {
        const b = el("button", { type: "button", "data-mode": mode, text: label });
        if (!imgs[mode]) { b.disabled = true; b.title = "not an uncertainty source"; }
        b.addEventListener("click", () => { setMode(p, mode); saveHash(); });
        buttons.append(b);
      }
      box.addEventListener("change", () => pick(p));
      panels.push(p);
      grid.append(node);
      attachGestures(viewport);
    });

    function setMode(p, mode) {
      if (!p.imgs[mode]) return;
      p.mode = mode;
      for (const [name, img] of Object.entries(p.imgs)) img.hidden = name !== mode;
      p.buttons.querySelectorAll("button").forEach((b) =>
        b.classList.toggle("on", b.dataset.mode === mode));
    }

    const shown = () => panels.filter((p) => p.box.checked);

    function pick(p) {
      const n = shown().length;
      const low = Math.min(2, panels.length);
      if (n > PAGE.max_panels || n < low) {
        p.box.checked = !p.box.checked;
        note.textContent = n > PAGE.max_panels ? `at most ${PAGE.max_panels} methods`
          : `at least ${low} methods`;
        return;
      }
      note.textContent = "";
      layout();
      saveHash();
    }

    function layout() {
      const on = shown();
      panels.forEach((p) => { p.node.hidden = !p.box.checked; });
      grid.style.gridTemplateColumns = `repeat(${on.length <= 3 ? on.length : Math.ceil(on.length / 2)}, minmax(0, 1fr))`;
      apply();
    }

    function fitScale() {
      const first = shown()[0];
      return first ? first.viewport.clientWidth / W : 1;
    }

    function apply() {
      const s = fitScale() * view.zoom;
      const transform = `translate(${(-view.x * s).toFixed(2)}px, ${(-view.y * s).toFixed(2)}px) scale(${s.toFixed(5)})`;
      for (const p of shown()) p.stack.style.transform = transform;
      showCursor();
    }

    function clampView() {
      const s = fitScale() * view.zoom;
      const first = shown()[0];
      const vw = first ? first.viewport.clientWidth / s : W;
      const vh = first ? first.viewport.clientHeight / s : H;
      view.x = Math.min(Math.max(view.x, Math.min(0, W - vw) - vw / 2), Math.max(0, W - vw) + vw / 2);
      view.y = Math.min(Math.max(view.y, Math.min(0, H - vh) - vh / 2), Math.max(0, H - vh) + vh / 2);
    }

    function zoomAt(viewport, clientX, clientY, factor) {
      const rect = viewport.getBoundingClientRect();
      const px = clientX - rect.left, py = clientY - rect.top;
      const s = fitScale() * view.zoom;
      const ix = view.x + px / s, iy = view.y + py / s;
      view.zoom = Math.min(Math.max(view.zoom * factor, 1), 64);
      const s2 = fitScale() * view.zoom;
      view.x = ix - px / s2;
      view.y = iy - py / s2;
      clampView();
      apply();
    }

    function panBy(dx, dy) {
      const s = fitScale() * view.zoom;
      view.x -= dx / s;
      view.y -= dy / s;
      clampView();
      apply();
    }

    function pixelAt(viewport, clientX, clientY) {
      const rect = viewport.getBoundingClientRect();
      const s = fitScale() * view.zoom;
      const x = Math.floor(view.x + (clientX - rect.left) / s);
      const y = Math.floor(view.y + (clientY - rect.top) / s);
      return x >= 0 && y >= 0 && x < W && y < H ? { x, y } : null;
    }

    function showCursor() {
      const s = fitScale() * view.zoom;
      for (const p of panels) {
        if (!cursor || !p.box.checked) { p.marker.hidden = true; continue; }
        p.marker.hidden = false;
        const size = Math.max(s, 4);
        p.marker.style.left = `${(cursor.x - view.x) * s + s / 2 - size / 2}px`;
        p.marker.style.top = `${(cursor.y - view.y) * s + s / 2 - size / 2}px`;
        p.marker.style.width = p.marker.style.height = `${size}px`;
        p.readout.textContent = readoutText(p, cursor);
      }
    }

    function readoutText(p, at) {
      const i = at.y * W + at.x;
      if (!values.ready) return `x ${at.x}, y ${at.y} · values loading…`;
      const planes = values.planes[p.k];
      const code = planes.error[i];
      const sign = bit(planes.negative, i) ? -1 : 1;
      const sr = values.hr[i] + (code > 0 ? sign * PAGE.values[code] * 255 : 0);
      let text = `x ${at.x}, y ${at.y} · ${PAGE.value_label} ${Math.round(sr)} (HR ${values.hr[i]})`
        + ` · |error| ${codeText(code)}`;
      if (planes.std) text += ` · std ${codeText(planes.std[i])}`;
      return text;
    }

    function attachGestures(viewport) {
      const pointers = new Map();
      let pinch = null;
      viewport.addEventListener("wheel", (e) => {
        e.preventDefault();
        const delta = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
        zoomAt(viewport, e.clientX, e.clientY, Math.exp(-delta * 0.0015));
      }, { passive: false });
      viewport.addEventListener("pointerdown", (e) => {
        pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        try { viewport.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer */ }
        if (pointers.size === 2) {
          const [a, b] = [...pointers.values()];
          pinch = Math.hypot(a.x - b.x, a.y - b.y);
        }
      });
      viewport.addEventListener("pointermove", (e) => {
        const last = pointers.get(e.pointerId);
        if (!last) {
          cursor = pixelAt(viewport, e.clientX, e.clientY);
          showCursor();
          return;
        }
        if (pointers.size === 1) {
          panBy(e.clientX - last.x, e.clientY - last.y);
        } else if (pointers.size === 2 && pinch) {
          pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
          const [a, b] = [...pointers.values()];
          const d = Math.hypot(a.x - b.x, a.y - b.y);
          zoomAt(viewport, (a.x + b.x) / 2, (a.y + b.y) / 2, d / pinch);
          pinch = d;
        }
        pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      });
      const end = (e) => { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; };
      viewport.addEventListener("pointerup", end);
      viewport.addEventListener("pointercancel", end);
      viewport.addEventListener("pointerleave", () => { if (!pointers.size) { cursor = null; showCursor(); } });
    }

    // the state in the address (#m=...&z=...), kept when moving to another image
    function saveHash() {
      const on = shown();
      const params = new URLSearchParams({
        m: on.map((p) => p.m.name).join(","), modes: on.map((p) => p.mode).join(","),
        z: view.zoom.toFixed(3), x: view.x.toFixed(1), y: view.y.toFixed(1) });
      history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
    }

    function loadHash() {
      const params = new URLSearchParams(location.hash.slice(1));
      const wanted = (params.get("m") || "").split(",").filter(Boolean);
      const modes = (params.get("modes") || "").split(",");
      let names = wanted.filter((n) => panels.some((p) => p.m.name === n));
      if (names.length < Math.min(2, panels.length)) names = PAGE.default;
      names = names.slice(0, PAGE.max_panels);
      for (const p of panels) {
        p.box.checked = names.includes(p.m.name);
        setMode(p, "sr");
        const mode = modes[wanted.indexOf(p.m.name)];
        if (mode) setMode(p, mode);
      }
      view.zoom = Math.min(Math.max(Number(params.get("z")) || 1, 1), 64);
      view.x = Number(params.get("x")) || 0;
      view.y = Number(params.get("y")) || 0;
    }

    // another page, keeping the methods, modes and zoom (a selftest only records it)
    const visits = [];
    function go(href) {
      saveHash();
      const target = href + location.search + location.hash;
      if (SELFTEST) visits.push(target);
      else location.href = target;
    }

    document.getElementById("fit").addEventListener("click", () => {
      view.zoom = 1; view.x = 0; view.y = 0; apply(); saveHash(); });
    document.getElementById("prev").addEventListener("click", (e) => { e.preventDefault(); go(PAGE.prev); });
    document.getElementById("next").addEventListener("click", (e) => { e.preventDefault(); go(PAGE.next); });
    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const modes = { s: "sr", e: "error", h: "heatmap", r: "hr" };
      if (e.key === "ArrowRight") go(PAGE.next);
      else if (e.key === "ArrowLeft") go(PAGE.prev);
      else if (e.key === "0") { view.zoom = 1; view.x = 0; view.y = 0; apply(); saveHash(); }
      else if (modes[e.key]) { shown().forEach((p) => setMode(p, modes[e.key])); saveHash(); }
    });
    window.addEventListener("resize", apply);

    loadHash();
    layout();

    const data = window.SRUQ_DATA;
    const decoded = Promise.all([
      inflate(data.hr, W, true),
      ...data.methods.map((m) => Promise.all(["error", "negative", "std"].map((key) =>
        (m[key] ? inflate(m[key], W, false) : Promise.resolve(null))))),
    ]).then(([hr, ...planes]) => {
      values.hr = hr;
      values.planes = planes.map(([error, negative, std]) => ({ error, negative, std }));
      panels.forEach((p) => {
        paint(p.imgs.error, values.planes[p.k].error);
        if (p.imgs.heatmap) paint(p.imgs.heatmap, values.planes[p.k].std);
      });
      values.ready = true;
      showCursor();
    });

    if (SELFTEST) {
      window.addEventListener("load", () => decoded.then(() => report(imageSelftest())));
    }

    function imageSelftest() {
      const canvases = [...root.querySelectorAll("canvas")];
      const result = { page: "image", image: PAGE.image, images: imagesLoaded(root),
                       canvases: { total: canvases.length,
                                   painted: canvases.filter((c) => c.dataset.painted).length,
                                   heatmaps: root.querySelectorAll('canvas[data-mode="heatmap"]').length },
                       methods: panels.map((p) => p.m.name) };
      const transforms = () => shown().map((p) => p.stack.style.transform);
      const before = transforms();
      const first = shown()[0].viewport;
      const rect = first.getBoundingClientRect();
      const cx = rect.left + rect.width / 2, cy = rect.top + rect.height / 2;
      first.dispatchEvent(new WheelEvent("wheel", { deltaY: -400, clientX: cx, clientY: cy,
                                                    bubbles: true, cancelable: true }));
      const zoomed = transforms();
      const second = shown()[1].viewport;
      const r2 = second.getBoundingClientRect();
      const opts = (x, y, buttons) => ({ pointerId: 7, clientX: x, clientY: y, buttons,
                                         bubbles: true, isPrimary: true });
      second.dispatchEvent(new PointerEvent("pointerdown", opts(r2.left + 50, r2.top + 50, 1)));
      second.dispatchEvent(new PointerEvent("pointermove", opts(r2.left + 20, r2.top + 35, 1)));
      second.dispatchEvent(new PointerEvent("pointerup", opts(r2.left + 20, r2.top + 35, 0)));
      const panned = transforms();
      // a pinch on the third panel: two pointers moving apart
      const third = shown()[2 % shown().length].viewport;
      const r3 = third.getBoundingClientRect();
      const mid = { x: r3.left + r3.width / 2, y: r3.top + r3.height / 2 };
      const touch = (id, dx, buttons) => ({ pointerId: id, clientX: mid.x + dx, clientY: mid.y,
                                            buttons, bubbles: true, pointerType: "touch" });
      third.dispatchEvent(new PointerEvent("pointerdown", touch(11, -20, 1)));
      third.dispatchEvent(new PointerEvent("pointerdown", touch(12, 20, 1)));
      third.dispatchEvent(new PointerEvent("pointermove", touch(12, 60, 1)));
      third.dispatchEvent(new PointerEvent("pointerup", touch(12, 60, 0)));
      third.dispatchEvent(new PointerEvent("pointerup", touch(11, -20, 0)));
      const pinched = transforms();
      const same = (list) => list.length > 1 && list.every((t) => t === list[0]);
      result.zoom = { panels: before.length, before: before[0], after: zoomed[0],
                      changed: zoomed[0] !== before[0], identical: same(zoomed),
                      panned: panned[0], pan_changed: panned[0] !== zoomed[0],
                      pan_identical: same(panned), pinched: pinched[0],
                      pinch_identical: same(pinched) };
      // the value readout under the pointer: every panel at the same pixel
      first.dispatchEvent(new PointerEvent("pointermove", { pointerId: 8, clientX: cx,
                                                            clientY: cy, bubbles: true }));
      result.readout = shown().map((p) => p.readout.textContent);
      // each panel's toggle: |error| in the first panel
      shown()[0].buttons.querySelector('button[data-mode="error"]').click();
      const visible = shown()[0].stack.querySelectorAll("img:not([hidden]), canvas:not([hidden])");
      result.toggle = { mode: shown()[0].mode, visible: [...visible].map((v) => v.dataset.mode) };
      // a colour of the |error| panel, to compare with sruq's own colour of that pixel
      const probe = shown()[0].imgs.error.getContext("2d").getImageData(W >> 1, H >> 1, 1, 1).data;
      result.probe = { x: W >> 1, y: H >> 1, rgb: [probe[0], probe[1], probe[2]],
                       method: shown()[0].m.name };
      // the method picker: the last two methods, then as many as possible
      const chosen = panels.slice(-2).map((p) => p.m.name);
      for (const p of panels) if (chosen.includes(p.m.name) && !p.box.checked) p.box.click();
      for (const p of panels) if (!chosen.includes(p.m.name) && p.box.checked) p.box.click();
      const names = () => [...grid.querySelectorAll("figure.panel:not([hidden]) .name")]
        .map((n) => n.textContent);
      result.picker = { chosen, shown: names() };
      for (const p of panels) if (!p.box.checked) p.box.click();
      result.picker.most = names().length;
      result.picker.refused = note.textContent;
      result.shift_badges = [...grid.querySelectorAll(".badge.shift")].map((b) =>
        b.closest("figure").dataset.method);
      result.widened_badges = [...grid.querySelectorAll(".badge.widened")].map((b) =>
        `${b.closest("figure").dataset.method} ${b.textContent}`);
      for (const key of ["ArrowRight", "ArrowLeft"]) {
        document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
      }
      result.nav = { prev: PAGE.prev, next: PAGE.next, keys: visits };
      return result;
    }
  }

  if (PAGE.page === "index") initIndex();
  else if (PAGE.page === "image") initImage();
})();
