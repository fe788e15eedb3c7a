// LiveHTML (app/views/util.py): an HTML fragment that changes every screen update. The
// browser patches the live DOM in place, so an update that changes a few numbers changes a
// few text nodes, not the whole tree.
//
// A button in the fragment with data-point="NAME" points at the page part NAME (the element
// with the class dpo-part-NAME, wherever it is among the page's shadow roots): it scrolls it
// into view (without animation for people who ask for reduced motion), outlines it for a
// few seconds and moves the keyboard focus to its first control. Try it's "Show me".

// Make the children of live node `a` equal to those of parsed node `b`, touching only
// what differs; a node of another kind or a different number of children is replaced.
function morph(a, b) {
  const ac = Array.from(a.childNodes);
  const bc = Array.from(b.childNodes);
  if (ac.length !== bc.length) {
    a.replaceChildren(...bc);
    return;
  }
  for (let i = 0; i < bc.length; i++) {
    const x = ac[i];
    const y = bc[i];
    if (x.nodeType !== y.nodeType || x.nodeName !== y.nodeName) {
      a.replaceChild(y, x);
      continue;
    }
    if (x.nodeType !== 1) {
      if (x.nodeValue !== y.nodeValue) x.nodeValue = y.nodeValue;
      continue;
    }
    for (const at of Array.from(x.attributes)) {
      if (!y.hasAttribute(at.name)) x.removeAttribute(at.name);
    }
    for (const at of Array.from(y.attributes)) {
      if (x.getAttribute(at.name) !== at.value) x.setAttribute(at.name, at.value);
    }
    morph(x, y);
  }
}

// The first element matching `selector` under `root`, looking inside open shadow roots too
// (Panel and Bokeh draw each part in a shadow root of its own).
function deepQuery(root, selector) {
  const hit = root.querySelector(selector);
  if (hit) return hit;
  if (root.shadowRoot) {
    const own = deepQuery(root.shadowRoot, selector);
    if (own) return own;
  }
  for (const node of root.querySelectorAll("*")) {
    if (node.shadowRoot) {
      const inner = deepQuery(node.shadowRoot, selector);
      if (inner) return inner;
    }
  }
  return null;
}

const MARK_MS = 4000;
const CONTROLS = "[role=slider], input, select, button, [tabindex]:not([tabindex='-1'])";

function point(name, colour) {
  const part = deepQuery(document, ".dpo-part-" + CSS.escape(name));
  if (!part) return;
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  part.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
  part.style.outline = "3px solid " + colour;
  part.style.outlineOffset = "3px";
  part.setAttribute("data-pointed", "true");
  clearTimeout(part.__dpoPointTimer);
  part.__dpoPointTimer = setTimeout(() => {
    part.style.outline = "";
    part.style.outlineOffset = "";
    part.removeAttribute("data-pointed");
  }, MARK_MS);
  const control = deepQuery(part, CONTROLS);
  if (control) control.focus({ preventScroll: true });
}

export function render({ model, el }) {
  const box = document.createElement("div");
  box.innerHTML = model.html;
  el.appendChild(box);
  const t = document.createElement("template");
  model.on("html", () => {
    t.innerHTML = model.html;
    morph(box, t.content);
  });
  box.addEventListener("click", (e) => {
    const b = e.target.closest("[data-point]");
    if (b) point(b.getAttribute("data-point"), b.getAttribute("data-colour") || "currentColor");
  });
}
