/* A small stand-in for the browser's DOM, enough to mount the page's views in Node
 * (tests/js_ui_driver.mjs): elements with ordered attributes, text nodes, append,
 * textContent, and a canvas whose 2-D context records what is drawn. tree() gives the
 * nested [tag, {attrs}, ...children] the Python side compares with its own HTML. */

class Node {
  constructor() { this.parentNode = null; this.childNodes = []; }
  get firstChild() { return this.childNodes[0] || null; }
  get nextSibling() {
    const p = this.parentNode;
    if (!p) return null;
    return p.childNodes[p.childNodes.indexOf(this) + 1] || null;
  }
}

class Text extends Node {
  constructor(v) { super(); this.nodeType = 3; this.nodeValue = String(v); }
  get textContent() { return this.nodeValue; }
  set textContent(v) { this.nodeValue = String(v); }
}

class Context2D {
  constructor() { this.ops = []; this.canvas = null; this.clears = 0; }
  setTransform() {}
  clearRect() { this.ops.length = 0; this.clears++; }
  measureText(t) { return { width: 8 * String(t).length }; }
  setLineDash(d) { this.dash = d.slice(); }
  fillText(t, x, y) { this.ops.push(["text", String(t), x, y]); }
  strokeRect(x, y, w, h) { this.ops.push(["strokeRect", x, y, w, h, (this.dash || []).length > 0]); }
  arc(x, y) { this.ops.push(["arc", x, y]); }
}
for (const m of ["beginPath", "moveTo", "lineTo", "stroke", "fill", "closePath", "save",
  "restore", "rect", "clip", "translate", "rotate", "fillRect", "drawImage", "strokeText"]) {
  Context2D.prototype[m] = function () {};
}

class Element extends Node {
  constructor(tag) {
    super();
    this.nodeType = 1; this.tagName = tag.toUpperCase(); this.attrs = new Map();
    this.style = {}; this.listeners = {}; this.dataset = {};
    if (tag === "canvas") { this._g = new Context2D(); this._g.canvas = this; }
  }
  get className() { return this.attrs.get("class") || ""; }
  set className(v) { this.attrs.set("class", String(v)); }
  get classList() {
    const names = () => this.className.split(/\s+/).filter(Boolean);
    const write = (list) => { this.className = list.join(" "); };
    return {
      contains: (c) => names().includes(c),
      add: (...cs) => write(names().concat(cs.filter((c) => !names().includes(c)))),
      remove: (...cs) => write(names().filter((c) => !cs.includes(c))),
      toggle: (c, on) => {
        const want = on === undefined ? !names().includes(c) : !!on;
        write(want ? names().concat(names().includes(c) ? [] : [c]) : names().filter((n) => n !== c));
        return want;
      },
    };
  }
  get hidden() { return this.attrs.has("hidden"); }
  set hidden(v) { if (v) this.attrs.set("hidden", ""); else this.attrs.delete("hidden"); }
  get clientWidth() { return 600; }
  setAttribute(k, v) { this.attrs.set(k, String(v)); }
  getAttribute(k) { return this.attrs.has(k) ? this.attrs.get(k) : null; }
  hasAttribute(k) { return this.attrs.has(k); }
  removeAttribute(k) { this.attrs.delete(k); }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  removeEventListener() {}
  getContext() { return this._g; }
  getBoundingClientRect() { return { left: 0, top: 0, width: 600, height: 200 }; }
  append(...kids) {
    for (let k of kids) {
      if (k === null || k === undefined) continue;
      if (!(k instanceof Node)) k = new Text(k);
      if (k.parentNode) k.parentNode.childNodes.splice(k.parentNode.childNodes.indexOf(k), 1);
      k.parentNode = this; this.childNodes.push(k);
    }
  }
  appendChild(k) { this.append(k); return k; }
  after(...kids) {
    const p = this.parentNode;
    let at = p.childNodes.indexOf(this) + 1;
    for (let k of kids) {
      if (!(k instanceof Node)) k = new Text(k);
      if (k.parentNode) k.parentNode.childNodes.splice(k.parentNode.childNodes.indexOf(k), 1);
      k.parentNode = p; p.childNodes.splice(at++, 0, k);
    }
  }
  replaceChildren(...kids) {
    for (const k of this.childNodes) k.parentNode = null;
    this.childNodes = []; this.append(...kids);
  }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set textContent(v) { this.replaceChildren(); if (v !== "") this.append(String(v)); }
  querySelectorAll(sel) {          // [data-testid=x] and tag names only
    const m = /^\[([\w-]+)=["']?([^"'\]]+)["']?\]$/.exec(sel);
    const out = [];
    const walk = (n) => {
      for (const c of n.childNodes) {
        if (c.nodeType !== 1) continue;
        if (m ? c.getAttribute(m[1]) === m[2] : c.tagName === sel.toUpperCase()) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
}

export function installFakeDom() {
  globalThis.document = {
    createElement: (t) => { globalThis.document.made += 1; return new Element(t); },
    createTextNode: (v) => new Text(v),
    made: 0,                       // elements created so far (a view's update should make none)
  };
  globalThis.window = { devicePixelRatio: 1 };
}

/** The tree under a node: text as strings (adjacent ones joined, empty ones dropped). */
export function tree(n) {
  if (n.nodeType === 3) return n.nodeValue;
  const kids = [];
  for (const c of n.childNodes) {
    const t = tree(c);
    if (typeof t === "string" && typeof kids[kids.length - 1] === "string") kids[kids.length - 1] += t;
    else kids.push(t);
  }
  const attrs = {};
  for (const [k, v] of n.attrs) attrs[k] = v;
  // a form control's value is a property, not an attribute: shown as ".value"
  if (Object.prototype.hasOwnProperty.call(n, "value")) attrs[".value"] = String(n.value);
  const out = [n.tagName.toLowerCase(), attrs];
  for (const k of kids) if (k !== "") out.push(k);
  if (n._g) out.push({ drawn: n._g.ops, clears: n._g.clears });
  return out;
}
