/* KaTeX for the views, on both hosts, with nothing fetched from another host.
 *
 * - The offline file carries it inline (app/katex_assets.py, katex_inline): the script
 *   (window.katex) and <style id="dpo-katex-css"> in the head, fonts as data: URLs.
 * - The served page gives ctx.katexBase, the URL of the package's KaTeX folder (the static
 *   route, app/views/learn.py STATIC_ROUTE): the script and the stylesheet are loaded from
 *   there, once per page.
 *
 * The views live in a shadow root on the served page, and Chrome ignores @font-face inside
 * a shadow root: the @font-face rules go into the document's head (ensureKatexFonts), the
 * rest of the stylesheet into each root that shows formulas (ensureKatexStyle). */

const KATEX_FONT_FACE = /@font-face\s*\{[^}]*\}/g;

/** The @font-face rules of a KaTeX stylesheet, and everything else. */
export function splitKatexCss(cssText) {
  const faces = cssText.match(KATEX_FONT_FACE) || [];
  return { fonts: faces.join("\n"), rest: cssText.replace(KATEX_FONT_FACE, "") };
}

/** KaTeX's stylesheet with its relative font URLs (url(fonts/...)) made absolute. */
export function katexCssAt(cssText, base) {
  return cssText.replace(/url\((["']?)fonts\//g, (m, q) => "url(" + q + base + "fonts/");
}

/** Put the @font-face rules of cssText into the document's head, once per page. */
export function ensureKatexFonts(cssText) {
  if (document.getElementById("dpo-katex-fonts")) return;
  const style = document.createElement("style");
  style.id = "dpo-katex-fonts";
  style.textContent = splitKatexCss(cssText).fonts;
  document.head.appendChild(style);
}

/** Put KaTeX's rules other than @font-face into root (a shadow root, or the document:
 *  its head), once per root. */
export function ensureKatexStyle(root, cssText) {
  const inShadow = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot;
  const host = inShadow ? root : document.head;
  const inline = document.getElementById("dpo-katex-css");
  if (!inShadow && inline && inline.tagName === "STYLE") return;      // inline: all there
  if (Array.from(host.children).some((c) => c.hasAttribute("data-dpo-katex"))) return;
  const style = document.createElement("style");
  style.setAttribute("data-dpo-katex", "");
  style.textContent = splitKatexCss(cssText).rest;
  if (inShadow) root.prepend(style); else host.appendChild(style);
}

let katexLoading = null;

function loadKatexScript(src) {
  return new Promise((resolve, reject) => {
    const w = window;
    const s = document.createElement("script");
    s.src = src;
    // UMD: hide an AMD loader, if any, while it loads (KaTeX would register with it)
    const amd = (typeof w.define === "function" && w.define.amd) ? w.define : null;
    if (amd) w.define = undefined;
    const done = () => { if (amd) w.define = amd; };
    s.onload = () => { done(); if (w.katex) resolve(w.katex); else reject(new Error("no katex")); };
    s.onerror = () => { done(); reject(new Error("katex did not load")); };
    document.head.appendChild(s);
  });
}

/** KaTeX's stylesheet (fonts as absolute or data: URLs) and the katex object, once per
 *  page: {css, katex}. ctx.katexCss (the text) or the inline <style id="dpo-katex-css">,
 *  else fetched from ctx.katexBase. */
function katexAssets(ctx) {
  if (!katexLoading) {
    const inline = document.getElementById("dpo-katex-css");
    const given = ctx.katexCss || (inline ? inline.textContent : null);
    // the offline file carries KaTeX as inert text (type="text/plain"), run only when a
    // formula is first drawn, so its 0.4 MB do not delay the first screen
    const code = document.getElementById("dpo-katex-js");
    if (!window.katex && code && code.type === "text/plain") {
      const s = document.createElement("script");
      s.textContent = code.textContent;
      document.head.appendChild(s);
    }
    if (given !== null && window.katex) {
      const styled = !!inline && inline.tagName === "STYLE";   // its fonts already in the head
      katexLoading = Promise.resolve({ css: given, katex: window.katex, inline: styled });
    } else if (ctx.katexBase) {
      const base = new URL(ctx.katexBase, document.baseURI).href;
      const css = given !== null ? Promise.resolve(given)
        : fetch(base + "katex.min.css").then((r) => {
          if (!r.ok) throw new Error("katex.min.css: " + r.status);
          return r.text();
        }).then((t) => katexCssAt(t, base));
      const js = window.katex ? Promise.resolve(window.katex) : loadKatexScript(base + "katex.min.js");
      katexLoading = Promise.all([css, js]).then(([c, k]) => ({ css: c, katex: k, inline: false }));
    } else {
      katexLoading = Promise.reject(new Error("KaTeX is not on this page"));
    }
    katexLoading.catch(() => { katexLoading = null; });   // a later view may try again
  }
  return katexLoading;
}

/** KaTeX ready for formulas under root (a node, or a function giving it once KaTeX is
 *  loaded: a view's box is in its page by then): resolves to the katex object once its
 *  fonts are in the document's head and its other rules in root. */
export function katexFor(root, ctx) {
  return katexAssets(ctx).then((a) => {
    const r = typeof root === "function" ? root() : root;
    if (!a.inline) ensureKatexFonts(a.css);
    ensureKatexStyle(r && r.nodeType === 11 ? r : document, a.css);
    return a.katex;
  });
}

/** A formula node: its TeX as text until KaTeX is ready (or for good, if it never is),
 *  then KaTeX's rendering; drawn again only when the TeX changes. */
export function texNode(tag, tex, display) {
  const node = document.createElement(tag);
  node.className = display ? "tex tex-display" : "tex";
  if (display) node.setAttribute("data-display", "1");
  node.setAttribute("data-tex", tex);
  const code = document.createElement("code");
  code.textContent = tex;
  node.appendChild(code);
  return node;
}

export function renderTex(katex, node) {
  const tex = node.getAttribute("data-tex");
  if (node.__drawn === tex) return;
  try {
    katex.render(tex, node, { displayMode: node.getAttribute("data-display") === "1",
      throwOnError: false, output: "htmlAndMathml" });
    node.__drawn = tex;
  } catch { /* keep the TeX source as text */ }
}

/** Set a formula node's TeX; redrawn (if KaTeX is there) only when it changed. */
export function setTex(katex, node, tex) {
  if (node.getAttribute("data-tex") === tex) return;
  node.setAttribute("data-tex", tex);
  if (katex) renderTex(katex, node);
  else node.textContent = tex;
}
