/* Building the page's DOM once and changing only text afterwards: every view uses these,
 * so nothing is created per screen update. User text always goes in as text, never markup. */

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const k in attrs) {
      if (k === "class") e.className = attrs[k];
      else if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
  }
  for (const c of kids) if (c != null) e.append(c);
  return e;
}

/** Set a node's text only if it changed (no layout work for an unchanged number). */
export function setText(node, v) {
  const t = node.firstChild;
  if (t && t.nodeType === 3 && !t.nextSibling) { if (t.nodeValue !== v) t.nodeValue = v; }
  else if (node.textContent !== v) node.textContent = v;
}

let termCount = 0;
/** A term with its explanation, shown on hover, keyboard focus or tap. */
export function term(label, tip, right) {
  const id = "tip-" + (termCount++);
  const wrap = el("span", { class: "dpo-tipwrap" });
  const b = el("button", { type: "button", class: "dpo-term", "aria-describedby": id }, label);
  const t = el("span", { class: "dpo-tip" + (right ? " right" : ""), role: "tooltip", id: id }, tip);
  wrap.append(b, t);
  return wrap;
}

/** Whether `node` is on screen, kept by an IntersectionObserver (true until its first answer,
 * and always where there is none); `onShow()` each time the node comes into view. The views
 * below the fold use it to leave heavy work (a sweep of 4,096 runs in a Worker, a canvas
 * redrawn every step) until they are scrolled to: on a 2-core machine a Worker computing
 * for a part nobody sees takes the core a flip needs (bench_hosts.py: flips 44/66 ms p50/p95). */
export function onScreen(node, onShow) {
  const seen = { shown: true };
  if (typeof IntersectionObserver !== "function") return seen;
  new IntersectionObserver((entries) => {
    const now = entries[entries.length - 1].isIntersecting;
    const was = seen.shown;
    seen.shown = now;
    if (now && !was) onShow();
  }).observe(node);
  return seen;
}

// Each canvas's width, read once and then kept up to date by a ResizeObserver, so drawing
// never asks for a layout in the middle of a screen update (a read of clientWidth after
// other views wrote text forces one: 19 ms of a flip's 48, profiled).
const widths = new WeakMap();
const watcher = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
  for (const e of entries) widths.set(e.target, Math.floor(e.contentRect.width));
}) : null;
/** A canvas's width in CSS pixels, without forcing a layout after the first read. */
export function widthOf(c) {
  let w = widths.get(c);
  if (w === undefined || !watcher) {
    w = Math.floor(c.clientWidth || (c.parentNode && c.parentNode.clientWidth) || 300);
    if (watcher) { widths.set(c, w); watcher.observe(c); }
  }
  return w || 300;
}

/** Size a canvas to its box and the screen's pixel ratio; returns [context, width, height]
 * in CSS pixels, cleared. */
export function fitCanvas(c, cssH) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(100, widthOf(c));
  if (c._w !== w || c._h !== cssH || c._dpr !== dpr) {
    c._w = w; c._h = cssH; c._dpr = dpr;
    c.width = Math.round(w * dpr); c.height = Math.round(cssH * dpr);
    c.style.height = cssH + "px";
  }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, cssH);
  return [g, w, cssH];
}

export function niceTicks(lo, hi, n) {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

export function tickText(v, step) {
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(6, d));
}

export function dashOf(d) {
  return d === "dashed" ? [8, 5] : d === "dotted" ? [2, 4] : d === "dotdash" ? [8, 4, 2, 4] : [];
}
