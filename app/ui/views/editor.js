/* "Your own lesson": the scenario editor in a dialog, opened from the button next to the
 * scenario picker and prefilled with the scenario on screen. Every field is checked as it
 * is typed by checkDoc (app/ui/lesson.js, word for word the TOML files' validator); the
 * error shows at its field (aria-invalid, aria-describedby, its text) and Apply is refused
 * until the whole document is valid. Apply loads it as the page's lesson (the engine checks
 * it again) and starts the run. Also here: importing TRL-format preference data (paste or
 * a file) into the editor, and the downloads "Download TOML" and "Download this page". */
import { el } from "../dom.js";
import { letter } from "../fmt.js";
import { configToDoc, toToml, encodeLesson } from "../lesson.js";
import { importTrl, decodeTrl } from "../trl_import.js";
import { withScenarioFirst } from "../offline_file.js";
import { LESSON_ID } from "../lesson_store.js";
import {
  numberOf, modelKind, featuresD, setModelKind, setFeaturesD, addReplyVector, removeReplyVector,
  newPromptVectors, setFeatureCell, setThetaCell,
} from "../editor_doc.js";

const clone = (x) => JSON.parse(JSON.stringify(x));
const METRICS = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
  "logps/chosen", "logps/rejected", "kl", "kl_to_rlhf", "pairs/margin", "pairs/sigma", "pairs/weight",
  "probs", "step", "flips", "beta", "learning_rate", "label_smoothing", "adaptive_weight", "loss_type"];
const COMPARISONS = ["above", "below", "at_least", "at_most", "equals"];
const CONTROLS = ["beta", "learning_rate", "adaptive_weight", "loss_type", "label_smoothing", "flip"];
const KINDS = [["uniform", "uniform"], ["probs", "probabilities"], ["logits", "logits"]];

const shown = (v) => (v === undefined || v === null ? "" : String(v));

/** Save `text` as a file called `name` (a Blob and a download link). */
export function saveFile(name, text, type) {
  const blob = new Blob([text], { type: type });
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function mountEditor(box, ctx) {
  const { ctl, DATA, T, lessons, host } = ctx;
  const app = ctl.app;
  const L = DATA.limits;
  const loss = DATA.settings.find((s) => s.name === "loss_type");
  let seq = 0;
  const uid = (name) => "ed-" + name + "-" + (seq++);

  // -- the buttons on the page ------------------------------------------------------------
  const open = el("button", { type: "button", class: "dpo-btn", "data-testid": "editor-open",
                              "aria-haspopup": "dialog" }, T.EDITOR_OPEN);
  const openBox = el("div", { class: "dpo-ed-open dpo-part-picker" }, open);
  const tomlBtn = el("button", { type: "button", class: "dpo-btn dpo-part-download", "data-testid": "download-toml" }, "Download TOML");
  const pageBtn = el("button", { type: "button", class: "dpo-btn dpo-part-download", "data-testid": "download-page" }, "Download this page");
  const saveNote = el("p", { class: "dpo-ed-note dpo-part-download", role: "status", "aria-live": "polite", "data-testid": "download-status" });
  const side = box.closest(".dpo-side") || box.parentNode;
  const picker = side.querySelector(".dpo-part-picker");
  if (picker) picker.after(openBox); else box.append(openBox);
  const csvBtn = side.querySelector('[data-testid="download"]');
  if (csvBtn) csvBtn.after(tomlBtn, pageBtn, saveNote); else box.append(tomlBtn, pageBtn, saveNote);
  // (a notebook's page has no server file to copy; the part's hidden flag is teacher mode's)
  if (!host.offlineHtml) pageBtn.style.display = "none";

  /** The document of the scenario on screen (a lesson's as written; a preset's from its config). */
  function currentDoc() {
    const mine = lessons.get(app.id);
    return mine ? clone(mine.doc) : configToDoc(app.cfg, DATA.settings);
  }
  tomlBtn.addEventListener("click", () => {
    saveNote.textContent = "";
    try { saveFile(app.id + ".toml", toToml(currentDoc(), DATA.settings), "application/toml"); } catch (e) { saveNote.textContent = "Cannot write the TOML: " + e.message; }
  });
  pageBtn.addEventListener("click", () => {
    saveNote.textContent = "Making the page…";
    const cfg = ctl.scenarios[app.id];
    host.offlineHtml().then((html) => {
      saveFile("dpo-sim-" + app.id + ".html", withScenarioFirst(html, cfg), "text/html");
      saveNote.textContent = "Saved dpo-sim-" + app.id + ".html: it opens on this scenario, with nothing to install.";
    }).catch((e) => { saveNote.textContent = "Cannot make the page: " + e.message; });
  });

  // -- the dialog -------------------------------------------------------------------------------
  const dialog = el("dialog", { class: "dpo-editor", "aria-labelledby": "ed-heading", "data-testid": "editor" });
  const close = el("button", { type: "button", class: "dpo-btn", "data-testid": "editor-close" }, "Close");
  const form = el("div", { class: "dpo-ed-body" });
  const status = el("p", { class: "dpo-ed-status", id: "ed-status", role: "status", "aria-live": "polite", "data-testid": "editor-status" });
  const apply = el("button", { type: "button", class: "dpo-btn primary", "data-testid": "editor-apply",
                               "aria-describedby": "ed-status" }, "Apply");
  dialog.append(
    el("div", { class: "dpo-ed-head" }, el("h2", { id: "ed-heading", text: T.EDITOR_HEADING }), close),
    form,
    el("div", { class: "dpo-ed-foot" }, status, apply));
  ctx.root.append(dialog);
  // the page's keys (space, r, →) are the run's, not the form's
  dialog.addEventListener("keydown", (e) => e.stopPropagation());
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => open.focus());

  let doc = null;            // the document being edited
  let fields = new Map();    // a validator's field path -> its input
  let marked = null;         // the input now showing the error
  let valid = false;
  const errNote = el("span", { class: "dpo-ed-err", id: "ed-field-error", "data-testid": "editor-field-error" });

  // -- building the form from `doc` -----------------------------------------------------------
  function field(path, label, input, setter, hint) {
    const id = uid("f");
    input.id = id;
    input.dataset.field = path;
    input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", () => {
      setter(input.type === "checkbox" ? input.checked : input.value);
      check();
    });
    fields.set(path, input);
    const wrap = el("div", { class: "dpo-ed-field" }, el("label", { for: id, text: label }));
    if (hint) wrap.append(el("span", { class: "dpo-ed-hint", text: hint }));
    wrap.append(input);
    return wrap;
  }
  const textIn = (v, rows) => (rows ? el("textarea", { rows: String(rows), spellcheck: "true" }) : el("input", { type: "text" }));
  function text(path, label, get, set, rows, hint) {
    const input = textIn(null, rows);
    input.value = shown(get());
    // (where a textarea cannot size itself to its text, CSS field-sizing: enough rows for it)
    if (rows) input.rows = Math.min(8, Math.max(rows, Math.ceil(input.value.length / 60)));
    return field(path, label, input, set, hint);
  }
  function num(path, label, get, set, hint) {
    const input = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", class: "num" });
    input.value = shown(get());
    return field(path, label, input, (t) => set(numberOf(t)), hint);
  }
  function select(path, label, options, get, set) {
    const input = el("select");
    for (const [v, name] of options) input.append(el("option", { value: v }, name));
    input.value = get();
    return field(path, label, input, set);
  }
  function button(label, onClick, testid) {
    const b = el("button", { type: "button", class: "dpo-btn small" }, label);
    if (testid) b.dataset.testid = testid;
    b.addEventListener("click", () => { onClick(); rebuild(); });
    return b;
  }
  function section(title, ...kids) {
    const id = uid("s");
    return el("section", { class: "dpo-ed-sec", "aria-labelledby": id }, el("h3", { id: id, text: title }), ...kids);
  }
  const K = () => (doc.prompts && doc.prompts[0] ? doc.prompts[0].replies.length : 0);

  /** A P x K table of numbers (reference probabilities or logits, the start's logits). */
  function matrix(path, rows) {
    const table = el("table", { class: "dpo-ed-matrix" });
    const head = el("tr", null, el("th", { scope: "col", text: "prompt" }));
    const k = Math.max(...rows.map((r) => (Array.isArray(r) ? r.length : 0)), 0);
    for (let j = 0; j < k; j++) head.append(el("th", { scope: "col", text: "reply " + j }));
    table.append(el("thead", null, head));
    const body = el("tbody");
    rows.forEach((r, x) => {
      const tr = el("tr", null, el("th", { scope: "row", text: String(x) }));
      (Array.isArray(r) ? r : []).forEach((v, j) => {
        const input = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", class: "num",
                                    "aria-label": "prompt " + x + ", reply " + j });
        input.value = shown(v);
        const p = path + "[" + x + "][" + j + "]";
        input.id = uid("m"); input.dataset.field = p;
        input.addEventListener("input", () => { r[j] = numberOf(input.value); check(); });
        fields.set(p, input);
        tr.append(el("td", null, input));
      });
      body.append(tr);
    });
    table.append(body);
    // (a field of its own: a cell's error shows under the table, not inside a cell)
    return el("div", { class: "dpo-ed-field dpo-ed-cells" }, el("div", { class: "dpo-ed-scroll" }, table));
  }
  const uniformRow = (k) => Array(k).fill(1 / k);
  /** Keep the reference and the start tables the prompts' shape after an edit. */
  function reshape(fix) {
    const ref = doc.reference;
    if (ref && ref.kind === "probs") fix(ref.probs, "probs");
    if (ref && ref.kind === "logits") fix(ref.logits, "logits");
    if (Array.isArray(doc.init)) fix(doc.init, "logits");
  }

  function buildPrompts() {
    const list = el("div", { class: "dpo-ed-prompts" });
    doc.prompts.forEach((p, x) => {
      const f = "prompts[" + x + "]";
      const fs = el("fieldset", { class: "dpo-ed-prompt" }, el("legend", { text: "Prompt " + (x + 1) + " (index " + x + ")" }));
      fs.append(text(f + ".text", "Prompt text", () => p.text, (v) => { p.text = v; }, 2));
      const ol = el("ol", { class: "dpo-ed-replies", start: "0" });
      p.replies.forEach((r, k) => {
        const li = el("li");
        li.append(text(f + ".replies[" + k + "]", "Reply " + letter(k) + " (index " + k + ")", () => p.replies[k], (v) => { p.replies[k] = v; }, 2),
          button("Remove reply " + letter(k), () => removeReply(x, k)));
        li.lastChild.setAttribute("aria-label", "Remove reply " + letter(k) + " of prompt " + (x + 1));
        ol.append(li);
      });
      fs.append(ol, el("div", { class: "dpo-ed-line" },
        button("Add a reply", () => addReply(x), "editor-add-reply-" + x),
        doc.prompts.length > 1 ? button("Remove prompt " + (x + 1), () => removePrompt(x)) : null));
      list.append(fs);
    });
    return section("Prompts and replies",
      el("p", { class: "dpo-ed-hint", text: T.EDITOR_PROMPTS_HINT }),
      list, button("Add a prompt", addPrompt, "editor-add-prompt"));
  }
  function addPrompt() {
    const k = Math.max(2, K());
    const n = doc.prompts.length;
    doc.prompts.push({ text: "Prompt " + n, replies: Array.from({ length: k }, (_, j) => "Reply " + j) });
    if (modelKind(doc) === "features") doc.prompts[n].features = newPromptVectors(doc, k);
    reshape((m, kind) => m.push(kind === "probs" ? uniformRow(k) : Array(k).fill(0)));
  }
  function removePrompt(x) {
    doc.prompts.splice(x, 1);
    reshape((m) => m.splice(x, 1));
    doc.pairs = doc.pairs.filter((r) => r.prompt !== x);
    for (const r of doc.pairs) if (typeof r.prompt === "number" && r.prompt > x) r.prompt -= 1;
  }
  function addReply(x) {
    const p = doc.prompts[x];
    p.replies.push("Reply " + p.replies.length);
    addReplyVector(doc, x);
    reshape((m, kind) => {
      const row = m[x];
      if (!Array.isArray(row)) return;
      if (kind === "probs") { const k = row.length + 1; for (let j = 0; j < row.length; j++) row[j] *= (k - 1) / k; row.push(1 / k); }
      else row.push(0);
    });
  }
  function removeReply(x, k) {
    doc.prompts[x].replies.splice(k, 1);
    removeReplyVector(doc, x, k);
    reshape((m, kind) => {
      const row = m[x];
      if (!Array.isArray(row)) return;
      const [gone] = row.splice(k, 1);
      if (kind === "probs" && typeof gone === "number" && gone < 1) for (let j = 0; j < row.length; j++) row[j] /= 1 - gone;
    });
    doc.pairs = doc.pairs.filter((r) => r.prompt !== x || (r.chosen !== k && r.rejected !== k));
    for (const r of doc.pairs) {
      if (r.prompt !== x) continue;
      if (r.chosen > k) r.chosen -= 1;
      if (r.rejected > k) r.rejected -= 1;
    }
  }

  function buildRows() {
    const table = el("table", { class: "dpo-ed-rows" });
    const cols = [["prompt", "prompt"], ["chosen", "chosen reply"], ["rejected", "rejected reply"],
                  ["votes_chosen", "votes for"], ["votes_rejected", "votes against"]];
    table.append(el("thead", null, el("tr", null, el("th", { scope: "col", text: "row" }),
      ...cols.map(([, name]) => el("th", { scope: "col", text: name })), el("td"))));
    const body = el("tbody");
    doc.pairs.forEach((r, i) => {
      const tr = el("tr", null, el("th", { scope: "row", text: String(i) }));
      for (const [key, name] of cols) {
        const p = "pairs[" + i + "]." + key;
        const input = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", class: "num",
                                    "aria-label": "row " + i + ", " + name });
        input.value = shown(r[key]);
        input.id = uid("r"); input.dataset.field = p;
        input.addEventListener("input", () => { r[key] = numberOf(input.value); check(); });
        fields.set(p, input);
        tr.append(el("td", null, input));
      }
      const rm = button("Remove", () => { doc.pairs.splice(i, 1); });
      rm.setAttribute("aria-label", "Remove row " + i);
      tr.append(el("td", null, rm));
      body.append(tr);
    });
    table.append(body);
    return section("Rows: who preferred what",
      el("p", { class: "dpo-ed-hint", text: T.EDITOR_ROWS_HINT }),
      el("div", { class: "dpo-ed-field dpo-ed-cells" }, el("div", { class: "dpo-ed-scroll" }, table)),
      button("Add a row", () => { doc.pairs.push({ prompt: 0, chosen: 0, rejected: 1, votes_chosen: 1, votes_rejected: 0 }); }, "editor-add-row"));
  }

  function refKind(kind) {
    const ref = doc.reference || { kind: "uniform" };
    const P = doc.prompts.length, k = K();
    let probs = null;
    if (ref.kind === "probs" && Array.isArray(ref.probs)) probs = ref.probs;
    else if (ref.kind === "logits" && Array.isArray(ref.logits)) {
      probs = ref.logits.map((row) => {
        const m = Math.max(...row.map(Number)), e = row.map((v) => Math.exp(Number(v) - m));
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / s);
      });
    } else probs = Array.from({ length: P }, () => uniformRow(k));
    if (kind === "uniform") doc.reference = { kind: "uniform" };
    else if (kind === "probs") doc.reference = { kind: "probs", probs: probs };
    else doc.reference = { kind: "logits", logits: probs.map((row) => row.map((v) => Math.log(v))) };
  }
  function buildReference() {
    const ref = doc.reference || { kind: "uniform" };
    const kids = [select("reference.kind", "The reference model π_ref", KINDS.concat(KINDS.some(([v]) => v === ref.kind) ? [] : [[ref.kind, ref.kind]]),
      () => ref.kind, (v) => { refKind(v); rebuild(); })];
    if (ref.kind === "probs") kids.push(el("p", { class: "dpo-ed-hint", text: T.EDITOR_PROBS_HINT }), matrix("reference.probs", ref.probs));
    if (ref.kind === "logits") kids.push(el("p", { class: "dpo-ed-hint", text: T.EDITOR_LOGITS_HINT }), matrix("reference.logits", ref.logits));
    if (modelKind(doc) === "features") {
      kids.push(el("p", { class: "dpo-ed-hint", text: T.EDITOR_FEATURES_START }));
      return section("The reference and the start", ...kids);
    }
    const start = Array.isArray(doc.init) ? "logits" : "reference";
    kids.push(select("init", "The start π_θ at step 0", [["reference", "a copy of the reference"], ["logits", "logits"]],
      () => start, (v) => {
        if (v === "reference") delete doc.init;
        else doc.init = doc.prompts.map((p) => p.replies.map(() => 0));
        rebuild();
      }));
    if (start === "logits") kids.push(matrix("init", doc.init));
    return section("The reference and the start", ...kids);
  }

  // -- the model: the table, or shared features (a vector per reply, θ shared) -----------------
  /** A grid of number inputs, one row per `rows` entry, one column per coordinate (headed
   * `sym` + its number); each cell is the validator's field `path(r, j)` and its edits go
   * through `set(r, j, text)`. */
  function grid(rows, d, sym, rowName, path, set, label) {
    const table = el("table", { class: "dpo-ed-matrix dpo-ed-features" });
    const head = el("tr", null, el("th", { scope: "col", text: rowName(null) }));
    for (let j = 0; j < d; j++) head.append(el("th", { scope: "col", text: sym + (j + 1) }));
    table.append(el("thead", null, head));
    const body = el("tbody");
    rows.forEach((v, r) => {
      const tr = el("tr", null, el("th", { scope: "row", text: rowName(r) }));
      for (let j = 0; j < d; j++) {
        const input = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", class: "num",
                                    "aria-label": label(r, j) });
        input.value = shown(Array.isArray(v) ? v[j] : "");
        const p = path(r, j);
        input.id = uid("v"); input.dataset.field = p;
        input.addEventListener("input", () => { set(r, j, input.value); check(); });
        fields.set(p, input);
        tr.append(el("td", null, input));
      }
      body.append(tr);
    });
    table.append(body);
    return el("div", { class: "dpo-ed-field dpo-ed-cells" }, el("div", { class: "dpo-ed-scroll" }, table));
  }
  function buildModel() {
    const kind = modelKind(doc);
    const kids = [el("p", { class: "dpo-ed-hint", text: T.EDITOR_MODEL_HINT }),
      select("model.kind", "The model", [["table", "a table: each reply its own logit"],
        ["features", "shared features: π ∝ π_ref · exp(θ·φ)"]], () => kind, (v) => {
        setModelKind(doc, v, L.MAX_FEATURES);
        rebuild();
      })];
    if (kind === "features") {
      const d = featuresD(doc);
      const ds = [];
      for (let j = 1; j <= L.MAX_FEATURES; j++) ds.push([String(j), String(j)]);
      kids.push(select("model.d", "d, the length of each reply's vector", ds, () => String(d), (v) => {
        setFeaturesD(doc, Number(v));
        rebuild();
      }), el("p", { class: "dpo-ed-hint", text: T.EDITOR_FEATURES_HINT.replace("{max}", L.MAX_FEATURES) }));
      doc.prompts.forEach((p, x) => {
        if (!Array.isArray(p.features)) return;
        kids.push(el("h4", { class: "dpo-ed-sub", text: "Prompt " + (x + 1) + ": each reply's vector φ" }),
          grid(p.features, d, "φ", (k) => (k === null ? "reply" : letter(k)), (k, j) => "prompts[" + x + "].features[" + k + "][" + j + "]",
            (k, j, t) => setFeatureCell(doc, x, k, j, t), (k, j) => "prompt " + (x + 1) + ", reply " + letter(k) + ", φ" + (j + 1)));
      });
      const theta = Array.isArray(doc.model.init_theta) ? doc.model.init_theta : Array(d).fill(0);
      kids.push(el("h4", { class: "dpo-ed-sub", text: "θ₀, where θ starts" }),
        el("p", { class: "dpo-ed-hint", text: T.EDITOR_THETA_HINT }),
        grid([theta], d, "θ", (r) => (r === null ? "" : "θ₀"), (r, j) => "model.init_theta[" + j + "]",
          (r, j, t) => setThetaCell(doc, j, t), (r, j) => "θ₀, coordinate " + (j + 1)));
    }
    return section("The model", ...kids);
  }

  function buildSettings() {
    const set = (k) => (v) => { doc[k] = v; };
    const aw = el("input", { type: "checkbox" });
    aw.checked = doc.adaptive_weight !== false;
    return section("The run",
      el("div", { class: "dpo-ed-grid" },
        num("beta", "β (beta)", () => doc.beta, set("beta")),
        num("learning_rate", "learning rate", () => doc.learning_rate, set("learning_rate")),
        select("loss_type", "loss", loss.options.map((o) => [o, o]), () => doc.loss_type || loss.default, set("loss_type")),
        num("label_smoothing", "ε (label smoothing)", () => doc.label_smoothing, set("label_smoothing")),
        num("steps", "steps", () => doc.steps, set("steps")),
        field("adaptive_weight", "the σ(−u) weight", aw, set("adaptive_weight"))));
  }

  // -- the challenge: a text, by which step, the controls allowed, the goals ------------------
  function buildChallenge() {
    if (!doc.challenge) {
      return section("Challenge", el("p", { class: "dpo-ed-hint", text: T.EDITOR_CHALLENGE_HINT }),
        button("Add a challenge", () => {
          doc.challenge = { text: "", goals: [{ metric: "rewards/accuracies", at_least: 1 }] };
        }, "editor-add-challenge"));
    }
    const c = doc.challenge;
    const opt = (obj, key, v) => { if (v === "" || v === undefined) delete obj[key]; else obj[key] = v; };
    const kids = [el("p", { class: "dpo-ed-hint", text: T.EDITOR_CHALLENGE_HINT }),
      text("challenge.text", "What the learner is asked", () => c.text, (v) => opt(c, "text", v), 2),
      el("div", { class: "dpo-ed-grid" },
        num("challenge.by_step", "by step (optional)", () => c.by_step, (v) => opt(c, "by_step", v)),
        select("challenge.controls", "controls the learner may use", [["any", "any"], ["only", "only those ticked"]],
          () => (Array.isArray(c.controls) ? "only" : "any"), (v) => {
            if (v === "any") delete c.controls; else c.controls = [];
            rebuild();
          }))];
    if (Array.isArray(c.controls)) {
      const ticks = el("div", { class: "dpo-ed-line", role: "group", "aria-label": "controls the learner may use" });
      for (const name of CONTROLS) {
        const id = uid("c");
        const box = el("input", { type: "checkbox", id: id, "data-field": "challenge.controls" });
        box.checked = c.controls.includes(name);
        box.addEventListener("change", () => {
          c.controls = CONTROLS.filter((n) => (n === name ? box.checked : c.controls.includes(n)));
          check();
        });
        if (!fields.has("challenge.controls")) fields.set("challenge.controls", box);
        ticks.append(el("span", { class: "dpo-ed-tick" }, box, el("label", { for: id, text: name })));
      }
      kids.push(ticks);
    }
    const goals = Array.isArray(c.goals) ? c.goals : (c.goals = []);
    goals.forEach((g, i) => {
      const f = "challenge.goals[" + i + "]";
      const cmp = COMPARISONS.find((k) => k in g) || "at_least";
      const fs = el("fieldset", { class: "dpo-ed-goal" }, el("legend", { text: "Goal " + i }));
      fs.append(el("div", { class: "dpo-ed-grid" },
        select(f + ".metric", "metric", METRICS.concat(METRICS.includes(g.metric) ? [] : [String(g.metric)]).map((m) => [m, m]),
          () => String(g.metric), (v) => { g.metric = v; }),
        select(f + ".comparison", "comparison", COMPARISONS.map((k) => [k, k.replace("_", " ")]), () => cmp, (v) => {
          const value = g[cmp];
          delete g[cmp];
          g[v] = value;
          rebuild();
        }),
        num(f + "." + cmp, "value", () => g[cmp], (v) => { g[cmp] = v; }),
        select(f + ".per", "per (the TRL metrics)", [["", "—"], ["judgement", "judgement"], ["row", "row"]],
          () => g.per || "", (v) => opt(g, "per", v)),
        num(f + ".prompt", "prompt (optional)", () => g.prompt, (v) => opt(g, "prompt", v)),
        num(f + ".row", "row (optional)", () => g.row, (v) => opt(g, "row", v)),
        num(f + ".reply", "reply (probs)", () => g.reply, (v) => opt(g, "reply", v))),
      text(f + ".text", "its text (optional)", () => g.text, (v) => opt(g, "text", v), 0),
      button("Remove goal " + i, () => { goals.splice(i, 1); }));
      kids.push(fs);
    });
    kids.push(el("div", { class: "dpo-ed-line" },
      button("Add a goal", () => { goals.push({ metric: "kl", at_most: 0.3 }); }, "editor-add-goal"),
      button("Remove the challenge", () => { delete doc.challenge; }, "editor-remove-challenge")));
    return section("Challenge", ...kids);
  }

  function buildImport() {
    const area = el("textarea", { rows: "4", spellcheck: "false", "data-testid": "import-text" });
    const file = el("input", { type: "file", accept: ".jsonl,.json,.txt,application/json", "data-testid": "import-file" });
    const title = el("input", { type: "text", "data-testid": "import-title" });
    const keep = el("input", { type: "text", inputmode: "numeric", class: "num", "data-testid": "import-prompts" });
    const keepReplies = el("input", { type: "text", inputmode: "numeric", class: "num", "data-testid": "import-replies" });
    const err = el("p", { class: "dpo-ed-err", role: "alert", "data-testid": "import-error" });
    const ids = [uid("i"), uid("i"), uid("i"), uid("i"), uid("i")];
    area.id = ids[0]; file.id = ids[1]; title.id = ids[2]; keep.id = ids[3]; keepReplies.id = ids[4];
    let source = "pasted text";        // the file's name, until the text is edited
    area.addEventListener("input", () => { source = "pasted text"; });
    file.addEventListener("change", () => {
      const f = file.files && file.files[0];
      if (!f) return;
      err.textContent = "";
      const reader = new FileReader();
      reader.onload = () => {
        try { area.value = decodeTrl(new Uint8Array(reader.result), f.name); source = f.name; } catch (e) { err.textContent = e.message; }
      };
      reader.onerror = () => { err.textContent = f.name + ": cannot be read"; };
      reader.readAsArrayBuffer(f);
    });
    const go = el("button", { type: "button", class: "dpo-btn small", "data-testid": "import-go" }, "Fill the editor");
    go.addEventListener("click", () => {
      err.textContent = "";
      const opts = { file: source };
      if (title.value.trim()) opts.title = title.value;
      if (keep.value.trim()) opts.prompts = numberOf(keep.value);
      if (keepReplies.value.trim()) opts.replies = numberOf(keepReplies.value);
      let got;
      try { got = importTrl(area.value, opts, L); } catch (e) { err.textContent = String(e.message).split("\n")[0]; return; }
      doc = got;
      rebuild();
      status.textContent = "Imported " + doc.prompts.length + " prompts and " + doc.pairs.length + " rows from " + source
        + ": not applied until Apply. " + status.textContent;
    });
    const det = el("details", { class: "dpo-ed-import" }, el("summary", { text: "Import preference data (TRL format)" }),
      el("p", { class: "dpo-ed-hint", text: T.EDITOR_IMPORT_HINT }),
      el("div", { class: "dpo-ed-field" }, el("label", { for: ids[0], text: "Paste JSON Lines or a JSON array" }), area),
      el("div", { class: "dpo-ed-field" }, el("label", { for: ids[1], text: "or read a file" }), file),
      el("div", { class: "dpo-ed-grid" },
        el("div", { class: "dpo-ed-field" }, el("label", { for: ids[2], text: "title (optional)" }), title),
        el("div", { class: "dpo-ed-field" }, el("label", { for: ids[3], text: "keep the first N prompts (optional)" }), keep),
        el("div", { class: "dpo-ed-field" }, el("label", { for: ids[4], text: "keep the N most-judged replies per prompt (optional)" }), keepReplies)),
      el("div", { class: "dpo-ed-line" }, go), err);
    return det;
  }

  let importBox = null;     // kept across rebuilds (its pasted text stays)
  function rebuild() {
    const active = dialog.getRootNode().activeElement || document.activeElement;   // (a shadow root on the served page)
    const focused = dialog.contains(active) ? active : null;
    const testid = focused && focused.dataset ? focused.dataset.testid : null;
    fields = new Map(); marked = null;
    form.textContent = "";
    if (!importBox) importBox = buildImport();
    const extra = [];
    if (Array.isArray(doc.events) && doc.events.length) extra.push(T.EDITOR_KEEPS_EVENTS.replace("{n}", doc.events.length));
    if (doc.true_reward) extra.push(T.EDITOR_KEEPS_TRUE_REWARD);
    form.append(
      el("p", { class: "dpo-ed-limits", "data-testid": "editor-limits", text: T.EDITOR_LIMITS
        .replace("{prompts}", L.MAX_PROMPTS).replace("{replies}", L.MAX_REPLIES).replace("{rows}", L.MAX_ROWS)
        .replace("{text}", L.MAX_TEXT).replace("{title}", L.MAX_TITLE).replace("{watch}", L.MAX_WATCH) }),
      importBox,
      section("The lesson",
        text("title", "Title", () => doc.title, (v) => { doc.title = v; }, 0),
        text("watch", "What to watch", () => doc.watch, (v) => { doc.watch = v; }, 3)),
      buildPrompts(), buildRows(), buildReference(), buildModel(), buildSettings(), buildChallenge(),
      el("p", { class: "dpo-ed-hint", text: extra.join(" ") }),
      el("div", { class: "dpo-ed-line" },
        doc.events ? button("Remove the scripted events", () => { delete doc.events; }, "editor-drop-events") : null,
        doc.true_reward ? button("Remove the true reward", () => { delete doc.true_reward; }, "editor-drop-true-reward") : null));
    check();
    if (testid) { const again = dialog.querySelector('[data-testid="' + testid + '"]'); if (again) again.focus(); }
  }

  // -- checking: the validator's first error, at its field --------------------------------------
  /** The input of a validator's field path, or of the nearest enclosing path that has one. */
  function inputFor(path) {
    let p = String(path || "");
    while (p) {
      if (fields.has(p)) return fields.get(p);
      for (const [k, input] of fields) if (k.startsWith(p + "[") || k.startsWith(p + ".")) return input;
      const cut = Math.max(p.lastIndexOf("["), p.lastIndexOf("."));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return null;
  }
  function unmark() {
    if (!marked) return;
    marked.removeAttribute("aria-invalid");
    marked.removeAttribute("aria-describedby");
    marked = null;
    errNote.remove();
  }
  function check() {
    unmark();
    try {
      lessons.config(doc);
      valid = true;
      status.textContent = T.EDITOR_VALID;
      status.classList.remove("bad");
    } catch (e) {
      valid = false;
      const said = e.field ? e.field + ": " + (e.rule || e.message) : e.message;
      status.textContent = T.EDITOR_NOT_APPLIED + " " + said;
      status.classList.add("bad");
      const input = e.field ? inputFor(e.field) : null;
      if (input) {
        marked = input;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", errNote.id);
        errNote.textContent = said;
        (input.closest(".dpo-ed-field") || input.parentNode).append(errNote);
      }
    }
    apply.setAttribute("aria-disabled", String(!valid));
    return valid;
  }

  // -- Apply: the document becomes the page's lesson and its run starts ---------------------------
  apply.addEventListener("click", () => {
    if (!check()) { if (marked) marked.focus(); return; }
    const mine = clone(doc);
    const cfg = lessons.config(mine);
    apply.disabled = true;
    status.textContent = "Applying…";
    const done = (code) => {
      const before = ctl.scenarios[LESSON_ID], had = lessons.get(LESSON_ID);
      ctl.addScenario(cfg);
      lessons.add(LESSON_ID, mine, code);
      ctl.load(LESSON_ID, (error) => {
        apply.disabled = false;
        if (error) {           // the engine refused it: the page keeps what it had
          if (before) { ctl.addScenario(before); lessons.add(LESSON_ID, had.doc, had.code); } else ctl.removeScenario(LESSON_ID);
          status.textContent = T.EDITOR_ENGINE_REFUSED + " " + error.message;
          status.classList.add("bad");
          return;
        }
        dialog.close();
        saveNote.textContent = code ? "" : T.EDITOR_NO_LINK;
        ctl.play();
      });
    };
    encodeLesson(mine).then(done, () => done(null));     // (over the link's 8,000 characters)
  });

  let editingFor = null;      // the scenario the edits started from: closing keeps them for it
  open.addEventListener("click", () => {
    if (!doc || editingFor !== ctl.scenarios[app.id]) {
      doc = currentDoc();
      editingFor = ctl.scenarios[app.id];
      importBox = null;
    }
    rebuild();
    dialog.showModal();
    const first = dialog.querySelector("input, textarea");
    if (first && !marked) close.focus(); else if (marked) marked.focus();
  });

  return { update() {}, dialog: dialog };
}
