/* The offline simulator: the served page's controller and views, in the browser.
 *
 * The engine (engine.js, window.DPO) computes every number, exactly as sim/ does; this file
 * is the thin controller around it (tensorflow/playground's split): one state object
 * (`app`), one function per view that builds its DOM once, and one `render()` per screen
 * update that only changes text and redraws the canvases. Names, texts, colours and the
 * settings table come from Python (the JSON in #dpo-data), so both pages say the same.
 * Nothing is fetched from anywhere. */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("dpo-data").textContent);
  const DPO = window.DPO;
  const SETTINGS = DATA.settings;
  const BY_NAME = {};
  SETTINGS.forEach((s) => { BY_NAME[s.name] = s; });
  const CONTROLS = SETTINGS.filter((s) => s.live || s.scope === "page");
  const LIVE = CONTROLS.filter((s) => s.scope === "run").map((s) => s.name);
  const EVENT_SETTINGS = {};
  SETTINGS.forEach((s) => { if (s.event) EVENT_SETTINGS[s.event] = s; });
  const EVENT_KINDS = Object.keys(EVENT_SETTINGS).concat(["flip"]);
  const T = DATA.texts;
  const MAX_URL_STEP = DATA.max_url_step, MAX_URL_EVENTS = DATA.max_url_events;
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

  // -- numbers as the page writes them (app/numfmt.py) ----------------------------------------
  function pad(t) { return t.replace(/e([+-])(\d)$/, "e$10$2"); }
  function fixed(v, digits = 3, sign = false) {
    if (!Number.isFinite(v)) {
      return Number.isNaN(v) ? "NaN" : ((v > 0 && sign) ? "+" : v < 0 ? "-" : "") + "∞";
    }
    if (Math.abs(v) >= 1e5) {
      const t = pad(v.toExponential(2));
      return (sign && v > 0 ? "+" : "") + t;
    }
    let t = v.toFixed(digits);
    if (parseFloat(t) === 0) return t.replace(/^[+-]/, "");
    return (sign && !t.startsWith("-") ? "+" : "") + t;
  }
  function small(v, digits = 3) {
    if (v === 0) return "0";
    if (Math.abs(v) >= Math.pow(10, -digits)) return fixed(v, digits);
    return pad(v.toExponential(1));
  }
  function pct(v, digits = 0) {
    const t = (100 * v).toFixed(digits);
    return (parseFloat(t) === 0 ? t.replace(/^-/, "") : t) + "%";
  }
  function fmt4g(v) {            // Python's f"{v:.4g}" (flags as on/off), for the log
    if (typeof v === "boolean") return v ? "on" : "off";
    return typeof v === "string" ? v : DPO.formatG(v, 4);
  }
  // Python's repr(float): links and the CSV read as the served page's and the CLI's do
  const pyRepr = DPO.pyFloatRepr;
  function writeSetting(s, v) {
    if (s.kind === "number") return pyRepr(v);
    if (s.kind === "whole") return String(Math.trunc(v));
    if (s.kind === "flag") return v ? "on" : "off";
    return String(v);
  }
  function letter(y) { return LETTERS[y % 26] + (y < 26 ? "" : String(Math.floor(y / 26))); }
  function shortText(text, n = 32) {
    return text.length <= n ? text : text.slice(0, n - 1).replace(/\s+$/, "") + "…";
  }
  function logName(name) { return name === "adaptive_weight" ? "sigma weight" : name; }
  function el(tag, attrs, ...kids) {
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
  function setText(node, v) {
    const t = node.firstChild;
    if (t && t.nodeType === 3 && !t.nextSibling) { if (t.nodeValue !== v) t.nodeValue = v; }
    else if (node.textContent !== v) node.textContent = v;
  }
  let termCount = 0;
  function term(label, tip, right) {   // a term with its explanation: hover, focus or tap
    const id = "tip-" + (termCount++);
    const wrap = el("span", { class: "dpo-tipwrap" });
    const b = el("button", { type: "button", class: "dpo-term", "aria-describedby": id },
                 label);
    const t = el("span", { class: "dpo-tip" + (right ? " right" : ""), role: "tooltip",
                           id: id }, tip);
    wrap.append(b, t);
    return wrap;
  }

  // -- settings: checked by the table's rules (sim/settings.py) ---------------------------------
  function parseSetting(s, text) {
    const t = String(text).trim();
    let v;
    if (s.kind === "number") {
      v = t === "" ? NaN : Number(t);
      if (!Number.isFinite(v) || !(s.lo_open ? v > s.lo : v >= s.lo)
          || !(s.hi_open ? v < s.hi : v <= s.hi)) {
        throw new Error("must be " + s.rule + ", got '" + t.slice(0, 40) + "'");
      }
    } else if (s.kind === "whole") {
      if (!/^[+-]?\d+$/.test(t) || +t < s.lo || +t > s.hi) {
        throw new Error("must be " + s.rule + ", got '" + t.slice(0, 40) + "'");
      }
      v = parseInt(t, 10);
    } else if (s.kind === "flag") {
      const l = t.toLowerCase();
      if (["on", "true", "yes", "1"].includes(l)) v = true;
      else if (["off", "false", "no", "0"].includes(l)) v = false;
      else throw new Error("must be on or off (or true/false, yes/no, 1/0), got '"
                           + t.slice(0, 40) + "'");
    } else {
      if (!s.options.includes(t)) {
        throw new Error("must be " + s.rule + ", got '" + t.slice(0, 40) + "'");
      }
      v = t;
    }
    return v;
  }
  function snap(name, value) {     // a slider's value on its grid, written shortest
    const s = BY_NAME[name];
    if (s.kind !== "number" || !s.slider || typeof value === "boolean") return value;
    const step = s.slider[2];
    const k = Math.round(value / step);
    if (k && Math.abs(value - k * step) <= 1e-9 * step) return parseFloat((k * step).toPrecision(12));
    return value;
  }

  // -- the state ----------------------------------------------------------------------------------
  const scenarios = {};      // id -> config (with title, watch, steps)
  const order = [];
  function addScenario(cfg) {
    if (!(cfg.scenario in scenarios)) order.push(cfg.scenario);
    scenarios[cfg.scenario] = cfg;
  }
  DATA.scenarios.forEach(addScenario);

  const app = {
    id: null, cfg: null, sim: null, playing: false, speed: BY_NAME.speed.default,
    halted: "", events: [], hidden: [], notices: [], rows0: null,
    hist: null, frame: null, due: 0, last: null, opt: null,
  };

  function newHistory(P) {
    const cap = 1024;
    return { n: 0, cap: cap, step: new Float64Array(cap), loss: new Float64Array(cap),
             chosen: new Float64Array(cap), rejected: new Float64Array(cap),
             margin: new Float64Array(cap), kl: Array.from({ length: P }, () => new Float64Array(cap)),
             weight: [], lossType: [] };
  }
  function grow(h) {
    const cap = h.cap * 2;
    for (const k of ["step", "loss", "chosen", "rejected", "margin"]) {
      const a = new Float64Array(cap); a.set(h[k]); h[k] = a;
    }
    h.kl = h.kl.map((old) => { const a = new Float64Array(cap); a.set(old); return a; });
    h.cap = cap;
  }
  function record(rec) {       // one step into the charts' history (a step redone replaces)
    const h = app.hist;
    let i = h.n;
    if (i > 0 && h.step[i - 1] === rec.step) i -= 1;
    else if (i === h.cap) grow(h);
    h.step[i] = rec.step; h.loss[i] = rec.loss;
    h.chosen[i] = rec["rewards/chosen"]; h.rejected[i] = rec["rewards/rejected"];
    h.margin[i] = rec["rewards/margins"];
    rec.kl.forEach((v, x) => { h.kl[x][i] = v; });
    h.weight[i] = rec.adaptive_weight; h.lossType[i] = rec.loss_type;
    h.n = i + 1;
  }

  function log(kind, text, step, extra) {
    app.events.push(Object.assign({ step: step == null ? app.sim.t : step, kind: kind,
                                    text: text }, extra || {}));
    if (app.events.length > 1000) app.events.splice(0, app.events.length - 1000);
  }
  function logScript(e) {
    if (e.flip != null) log("script", "scenario flips row " + e.flip, e.step);
    for (const k in (e.set || {})) {
      log("script", "scenario sets " + logName(k) + " to " + fmt4g(e.set[k]), e.step);
    }
  }
  function logFlip(i, nowFlipped, step) {
    const r = app.cfg.pairs[i];
    const c = nowFlipped ? r.rejected : r.chosen, l = nowFlipped ? r.chosen : r.rejected;
    const replies = app.cfg.prompts[r.prompt].replies;
    log("flip", "flip row " + i + " (" + (nowFlipped ? "flipped" : "back to the data")
        + "): now “" + shortText(replies[c]) + "” > “" + shortText(replies[l]) + "” "
        + fmt4g(r.votes_chosen) + ":" + fmt4g(r.votes_rejected), step);
  }
  // one line per settled value: the same setting changed again at the same step, with
  // nothing in between, updates its line (as the served page's log does)
  function logSet(name, old, now, step) {
    const last = app.events[app.events.length - 1];
    if (last && last.kind === "set" && last.name === name && last.step === step) {
      old = last.old;
      app.events.pop();
    }
    log("set", logName(name) + " " + fmt4g(old) + " -> " + fmt4g(now), step,
        { name: name, old: old });
  }
  function restartLog(kind, text) {
    app.events = [];
    log(kind, text, 0);
    for (const e of app.cfg.events) if (e.step === 0) logScript(e);
  }

  function start(id) {            // a scenario's own start, its own settings
    app.id = id;
    app.cfg = scenarios[id];
    app.sim = new DPO.Simulation(app.cfg, SETTINGS);
    app.halted = "";
    app.hist = newHistory(app.cfg.prompts.length);
    record(app.sim.record);
    restartLog("load", "load scenario " + id + " (" + app.cfg.title + ")");
    app.structure = null;
    if (V.prompts) rebuild();       // the page is built: the new scenario's views
  }

  // the loop: steps owed by the clock since the last frame, one screen update per frame
  function runSteps(n) {
    const sim = app.sim;
    let changed = false;
    for (let k = 0; k < n; k++) {
      let rec;
      try { rec = sim.advance(1); } catch (err) {
        if (err instanceof DPO.Diverged) { halt(err); break; }
        throw err;
      }
      record(rec);
      for (const e of app.cfg.events) {
        if (e.step === rec.step) { logScript(e); changed = true; }
      }
    }
    if (changed) app.structure = null;     // a scripted flip or setting: controls follow
  }
  function halt(err) {
    pause();
    const sim = app.sim;
    app.halted = T.DIVERGED.replace("{step}", err.step - 1).replace("{loss}", sim.loss_type)
      .replace("{beta}", fmt4g(sim.beta)).replace("{lr}", fmt4g(sim.learning_rate));
    log("halt", "stopped: step " + err.step + " would overflow the loss", err.step - 1);
  }
  function frame(now) {
    app.frame = null;
    if (!app.playing) return;
    let n;
    if (app.last == null) n = 1;
    else {
      app.due = Math.min(app.due + app.speed * (now - app.last) / 1000,
                         Math.max(1, app.speed / 2));
      n = Math.floor(app.due);
      app.due -= n;
    }
    app.last = now;
    if (n > 0) { runSteps(n); render(); }
    if (app.playing) app.frame = requestAnimationFrame(frame);
  }
  function play() {
    if (app.playing) return;
    app.playing = true; app.due = 0; app.last = null;
    app.frame = requestAnimationFrame(frame);
    render();
    writeAddress();
    if (V.fillShare) V.fillShare();
  }
  function pause() {
    if (!app.playing) return;
    app.playing = false;
    if (app.frame != null) cancelAnimationFrame(app.frame);
    app.frame = null;
    render();
  }
  function stepOnce(n = 1) {
    pause();
    runSteps(n);
    render();
  }
  function controlValues() {
    const out = {};
    for (const name of LIVE) out[name] = app.sim[name];
    return out;
  }
  function reset() {              // step 0 with the settings now on the sliders
    pause();
    const now = controlValues();
    app.sim.reset();
    app.halted = "";
    const changes = {};
    for (const k in now) if (app.sim[k] !== now[k]) changes[k] = now[k];
    if (Object.keys(changes).length) app.sim.set(changes);
    app.hist = newHistory(app.cfg.prompts.length);
    record(app.sim.record);
    const kept = Object.keys(changes).map((k) => logName(k) + " " + fmt4g(changes[k])).join(", ");
    restartLog("reset", "reset to the start of " + app.id
               + (kept ? ", keeping " + kept + " from the sliders" : ""));
    app.structure = null;
    render();
  }
  function flip(i) {
    const sim = app.sim;
    i = Number(i);
    if (!Number.isInteger(i) || i < 0 || i >= app.cfg.pairs.length) {
      throw new RangeError("no row " + i + "; rows are 0.." + (app.cfg.pairs.length - 1));
    }
    record(sim.flip(i));
    logFlip(i, sim.flipped.includes(i), sim.t);
    app.structure = null;
    render();
  }
  function setSettings(changes) {
    const sim = app.sim, clean = {};
    for (const k in changes) {
      if (k === "speed") continue;
      const v = snap(k, changes[k]);
      if (sim[k] !== v) clean[k] = v;
    }
    if ("speed" in changes) {
      const s = BY_NAME.speed;
      const v = typeof changes.speed === "string" ? parseSetting(s, changes.speed) : changes.speed;
      if (!Number.isInteger(v) || v < s.lo || v > s.hi) {
        throw new DPO.SettingError("speed: must be " + s.rule + ", got " + v);
      }
      app.speed = v;
    }
    if (Object.keys(clean).length) {
      const olds = {};
      for (const k in clean) olds[k] = sim[k];
      record(sim.set(clean));        // checked by the engine against the table first
      for (const k in clean) logSet(k, olds[k], clean[k], sim.t);
      app.structure = null;
    }
    render();
  }
  function load(id) {
    if (!(id in scenarios)) {
      throw new Error("unknown scenario " + JSON.stringify(id) + "; known: " + order.join(", "));
    }
    const playing = app.playing;
    pause();
    start(id);
    buildPicker();
    render();
    if (playing) play();
  }

  // -- the address: the served page's link format (app/address.py) -------------------------
  function baseline() {
    const out = {};
    for (const s of SETTINGS) {
      if (s.scope === "run" && (s.url || s.event)) out[s.name] = app.cfg[s.name];
    }
    for (const e of app.cfg.events) if (e.step === 0) Object.assign(out, e.set || {});
    return out;
  }
  function atZero() {
    const settings = baseline(), toggled = new Set();
    for (const e of app.sim.actions) {
      if (e.step !== 0) continue;
      Object.assign(settings, e.set || {});
      if (e.flip != null) { if (toggled.has(e.flip)) toggled.delete(e.flip); else toggled.add(e.flip); }
    }
    return [settings, Array.from(toggled).sort((a, b) => a - b)];
  }
  function laterActions() {
    const byStep = new Map();
    for (const e of app.sim.actions) {
      if (e.step === 0) continue;
      if (!byStep.has(e.step)) byStep.set(e.step, [new Set(), {}]);
      const [flips, sets] = byStep.get(e.step);
      if (e.flip != null) { if (flips.has(e.flip)) flips.delete(e.flip); else flips.add(e.flip); }
      Object.assign(sets, e.set || {});
    }
    const out = [];
    for (const step of Array.from(byStep.keys()).sort((a, b) => a - b)) {
      const [flips, sets] = byStep.get(step);
      Array.from(flips).sort((a, b) => a - b).forEach((i) => out.push([step, "flip", i]));
      for (const kind in EVENT_SETTINGS) {
        const s = EVENT_SETTINGS[kind];
        if (s.name in sets) out.push([step, kind, sets[s.name]]);
      }
    }
    return out;
  }
  function toQuery() {
    const q = [];
    const push = (k, v) => { if (v != null) q.push([k, v]); };
    push("scenario", app.id);
    const [zero, flipped] = atZero();
    const base = baseline();
    for (const s of SETTINGS) {
      if (!s.url) continue;
      if (s.scope === "page") push(s.url, app[s.name] === s.default ? null : writeSetting(s, app[s.name]));
      else push(s.url, zero[s.name] === base[s.name] ? null : writeSetting(s, zero[s.name]));
    }
    push("flipped", flipped.length ? flipped.join(",") : null);
    const ev = laterActions().map(([step, kind, v]) =>
      step + ":" + kind + ":" + (kind === "flip" ? String(v) : writeSetting(EVENT_SETTINGS[kind], v)));
    push("events", ev.length ? ev.join(",") : null);
    push("step", app.playing || app.sim.t === 0 ? null : String(app.sim.t));
    push("hide", app.hidden.length ? app.hidden.join(",") : null);
    if (app.themeAsked) push("theme", app.theme);
    return q;
  }
  function queryString(q) {
    if (!q.length) return "";
    return "?" + q.map(([k, v]) => encodeURIComponent(k) + "="
      + encodeURIComponent(v).replace(/%2C/g, ",").replace(/%3A/g, ":")).join("&");
  }
  function parseRow(text) {
    const n = app.cfg.pairs.length;
    if (!(/^\d+$/.test(text) && +text < n)) {
      throw new Error("row '" + text.slice(0, 10) + "' is not a row number from 0 to " + (n - 1));
    }
    return +text;
  }
  function applyQuery(params) {
    const notices = [];
    const known = ["scenario"].concat(SETTINGS.filter((s) => s.url).map((s) => s.url),
      ["flipped", "events", "step", "autoplay", "hide", "theme"]);
    const q = {};
    for (const [k, v] of params) {
      if (!known.includes(k)) notices.push("ignored " + k.slice(0, 40) + ": not a setting of this page");
      else q[k] = v;
    }
    const tryIt = (name, fn) => {
      if (!(name in q)) return;
      try { fn(q[name]); } catch (e) { notices.push("ignored " + name + "=" + q[name].slice(0, 40) + ": " + e.message); }
    };
    tryIt("scenario", (t) => {
      if (!(t in scenarios)) throw new Error("unknown scenario; known: " + order.join(", "));
      start(t);
    });
    for (const s of SETTINGS) {
      if (!s.url) continue;
      tryIt(s.url, (t) => {
        const v = parseSetting(s, t);
        if (s.scope === "page") app[s.name] = v;
        else if (app.sim[s.name] !== v) app.sim.set({ [s.name]: v });
      });
    }
    tryIt("flipped", (t) => {
      const rows = Array.from(new Set(t.split(",").map((x) => x.trim()).filter(Boolean).map(parseRow)))
        .sort((a, b) => a - b);
      rows.forEach((i) => app.sim.flip(i));
    });
    tryIt("events", (t) => {
      const toks = t.split(",").map((x) => x.trim()).filter(Boolean);
      if (toks.length > MAX_URL_EVENTS) throw new Error("more than " + MAX_URL_EVENTS + " actions");
      const out = [];
      for (const tok of toks) {
        const parts = tok.split(":");
        const head = "'" + tok.slice(0, 30) + "'";
        if (parts.length !== 3) throw new Error(head + " is not STEP:KIND:VALUE (e.g. 100:beta:0.5)");
        const [step, kind, value] = parts;
        if (!/^\d+$/.test(step) || +step > MAX_URL_STEP) {
          throw new Error(head + ": the step must be a whole number from 0 to " + MAX_URL_STEP);
        }
        if (!EVENT_KINDS.includes(kind)) throw new Error(head + ": the kind must be one of " + EVENT_KINDS.join(", "));
        let v;
        try { v = kind === "flip" ? parseRow(value) : parseSetting(EVENT_SETTINGS[kind], value); }
        catch (e) { throw new Error(head + ": " + e.message); }
        out.push([+step, kind, v]);
      }
      out.sort((a, b) => a[0] - b[0]);
      const stop = q.step;
      if (out.length && stop != null && /^\d+$/.test(stop) && out[out.length - 1][0] > +stop) {
        throw new Error("an action at step " + out[out.length - 1][0] + " is after step=" + stop);
      }
      for (const [step, kind, v] of out) {
        advanceTo(step);
        if (kind === "flip") app.sim.flip(v);
        else app.sim.set({ [EVENT_SETTINGS[kind].name]: v });
      }
    });
    tryIt("step", (t) => {
      if (!/^\d+$/.test(t) || +t > MAX_URL_STEP) throw new Error("must be a whole number from 0 to " + MAX_URL_STEP);
      advanceTo(+t);
    });
    tryIt("hide", (t) => {
      const parts = t.split(",").map((x) => x.trim()).filter(Boolean);
      const bad = parts.filter((p) => !DATA.hideable.includes(p));
      if (bad.length) throw new Error("unknown part '" + bad[0].slice(0, 20) + "'; parts: " + DATA.hideable.join(", "));
      app.hidden = Array.from(new Set(parts));
    });
    tryIt("autoplay", (t) => {
      if (t !== "0" && t !== "1") throw new Error("must be 0 or 1");
      app.autoplay = t === "1";
    });
    return notices;
  }
  function advanceTo(step) {      // replay to a step as the page would have (the log follows)
    const n = step - app.sim.t;
    if (n > 0) runSteps(n);
  }
  // The run replayed from its scenario and the actions taken (the engine is
  // deterministic), to step upTo: hooks.arrive(r) on arriving at each step (before its
  // actions), hooks.before(r, a) and hooks.after(r, a) around each action, hooks.done(r)
  // with the step's final record. For the CSV, and for the log and charts after a link.
  function replayRun(upTo, hooks) {
    const r = new DPO.Simulation(app.cfg, SETTINGS), acts = app.sim.actions;
    let k = 0;
    for (let t = 0; t <= upTo; t++) {
      if (t > 0) r.advance(1);
      if (hooks.arrive) hooks.arrive(r);
      while (k < acts.length && acts[k].step === t) {
        const a = acts[k++];
        if (hooks.before) hooks.before(r, a);
        if (a.flip != null) r.flip(a.flip); else r.set(a.set);
        if (hooks.after) hooks.after(r, a);
      }
      if (hooks.done) hooks.done(r);
    }
  }
  // After a link was read: the log and the charts from step 0, as if the learner had
  // taken the link's actions on the page
  function replayLogAndCharts() {
    const halt = app.events.filter((e) => e.kind === "halt");
    app.hist = newHistory(app.cfg.prompts.length);
    restartLog("load", "load scenario " + app.id + " (" + app.cfg.title + ")");
    replayRun(app.sim.t, {
      arrive: (r) => { if (r.t > 0) for (const e of app.cfg.events) if (e.step === r.t) logScript(e); },
      before: (r, a) => { for (const name in a.set || {}) logSet(name, r[name], a.set[name], r.t); },
      after: (r, a) => { if (a.flip != null) logFlip(a.flip, r.flipped.includes(a.flip), r.t); },
      done: (r) => record(r.record),
    });
    app.events.push(...halt);
  }
  let lastSearch = null;
  function writeAddress() {
    const search = queryString(toQuery());
    app.search = search;
    if (search !== lastSearch) {
      lastSearch = search;
      try { history.replaceState(null, "", location.pathname + search + location.hash); } catch { /* sandboxed */ }
    }
    return search;
  }

  // -- the views ----------------------------------------------------------------------------------
  const V = {};
  const pal = () => DATA.palettes[app.theme];

  function buildHeader() {
    const top = document.getElementById("dpo-top");
    V.title = el("span", { class: "dpo-header-title" });
    const titleBox = el("div", { class: "dpo-card dpo-header" }, el("h1", { text: "dpo-sim" }), V.title,
      el("span", { class: "dpo-note dpo-header-sub", text: T.SUBTITLE }));
    V.play = el("button", { type: "button", class: "dpo-btn primary", "data-testid": "play" }, "Play");
    V.step = el("button", { type: "button", class: "dpo-btn", "data-testid": "step-button" }, "Step");
    V.reset = el("button", { type: "button", class: "dpo-btn", "data-testid": "reset" }, "Reset");
    V.play.addEventListener("click", () => (app.playing ? pause() : play()));
    V.step.addEventListener("click", () => stepOnce(1));
    V.reset.addEventListener("click", () => reset());
    V.stepv = el("span", { class: "v", "data-testid": "step" }, "0");
    const badge = el("span", { class: "dpo-stepbadge" }, term("step", T.TERMS.step), V.stepv);
    top.append(titleBox, el("div", { class: "dpo-buttons" }, V.play, V.step, V.reset), badge);
  }

  function buildSide() {
    const side = document.getElementById("dpo-side");
    V.controls = {};
    V.boxes = {};
    for (const s of CONTROLS) {
      const box = el("div", { class: "dpo-control", "data-setting": s.name });
      const id = "ctl-" + s.name;
      let input, lab;
      if (s.kind === "number" || s.kind === "whole") {
        const vb = el("b");
        lab = el("label", { for: id }, s.label + ": ", vb);
        input = el("input", { type: "range", id: id, min: s.slider[0], max: s.slider[1],
                              step: s.slider[2], "data-testid": "ctl-" + (s.url || s.name) });
        // a drag is one action: the change lands when the slider is released
        input.addEventListener("input", () => { vb.textContent = fmtSlider(s, +input.value); });
        input.addEventListener("change", () => {
          const v = s.kind === "whole" ? parseInt(input.value, 10) : +input.value;
          setSettings({ [s.name]: v });
        });
        box.append(lab, input);
        input._value = vb;
      } else if (s.kind === "flag") {
        input = el("button", { type: "button", class: "dpo-toggle", id: id, "aria-pressed": "false",
                               "data-testid": "ctl-" + (s.url || s.name) });
        input.addEventListener("click", () => setSettings({ [s.name]: !app.sim[s.name] }));
        box.append(input);
      } else {
        lab = el("label", { for: id }, s.label);
        input = el("select", { id: id, "data-testid": "ctl-" + (s.url || s.name) });
        for (const o of s.options) input.append(el("option", { value: o }, o));
        input.addEventListener("change", () => setSettings({ [s.name]: input.value }));
        box.append(lab, input);
      }
      box.append(el("div", { class: "dpo-help", text: s.help }));
      V.controls[s.name] = input;
      V.boxes[s.name] = box;
    }
    // the table's order, with the picker and its text after the speed (as served)
    const pickId = "ctl-scenario";
    V.picker = el("select", { id: pickId, "data-testid": "picker" });
    V.picker.addEventListener("change", () => load(V.picker.value));
    const pickLab = el("label", { for: pickId }, "Scenario ");
    V.pickerBox = el("div", { class: "dpo-control" }, el("span", { class: "lab" }, pickLab,
      term("?", T.PICKER_HELP)), V.picker);
    V.watch = el("div", { class: "dpo-watch", "data-testid": "watch" });
    V.download = el("button", { type: "button", class: "dpo-btn", "data-testid": "download" }, "Download CSV");
    V.download.addEventListener("click", downloadCsv);
    V.share = buildShare();
    const names = CONTROLS.map((s) => s.name);
    side.append(V.boxes[names[names.length - 1]]);       // the speed (a page setting) first
    side.append(V.pickerBox, V.watch);
    for (const n of names.slice(0, -1)) side.append(V.boxes[n]);
    side.append(V.download, V.share);
  }
  function fmtSlider(s, v) { return s.kind === "whole" ? String(v) : v.toFixed(2); }
  function buildPicker() {
    V.picker.textContent = "";
    for (const id of order) V.picker.append(el("option", { value: id }, scenarios[id].title));
    V.picker.value = app.id;
  }

  function buildShare() {
    const box = el("div", { class: "dpo-share" });
    const toggle = el("button", { type: "button", class: "dpo-btn", "aria-expanded": "false", "data-testid": "share",
                                  "aria-controls": "share-panel" }, "Share");
    const panel = el("div", { class: "panel", id: "share-panel", role: "group", "aria-label": "Share this view" });
    panel.hidden = true;
    const note = el("p", { class: "note", "data-testid": "share-note" });
    const link = el("input", { id: "share-link", "data-testid": "share-link", type: "text", readonly: "", spellcheck: "false" });
    const embed = el("textarea", { id: "share-embed", "data-testid": "share-embed", readonly: "", rows: "4", spellcheck: "false" });
    const status = el("p", { class: "status", "data-testid": "share-status", role: "status", "aria-live": "polite" });
    const copyLink = el("button", { type: "button", class: "dpo-btn" }, "Copy link");
    const copyEmbed = el("button", { type: "button", class: "dpo-btn" }, "Copy embed code");
    panel.append(note, el("label", { for: "share-link" }, "Link to this view"), el("div", { class: "line" }, link, copyLink),
                 el("label", { for: "share-embed" }, "Embed in a page (iframe)"), embed,
                 el("div", { class: "line" }, copyEmbed), status);
    box.append(toggle, panel);
    const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;")
      .replace(/</g, "&lt;").replace(/>/g, "&gt;");
    V.fillShare = function () {
      if (panel.hidden) return;
      note.textContent = app.playing ? T.PLAYING_NOTE : "";
      note.hidden = !app.playing;
      const url = location.href.split(/[?#]/)[0] + writeAddress();
      link.value = url;
      embed.value = '<iframe src="' + esc(url) + '" width="100%" height="' + T.EMBED_HEIGHT
        + '" style="border:0" title="' + esc("dpo-sim: " + app.cfg.title) + '"></iframe>';
    };
    const show = (open) => {
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) { V.fillShare(); status.textContent = ""; link.focus(); link.select(); }
    };
    toggle.addEventListener("click", () => show(panel.hidden));
    panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); show(false); toggle.focus(); } });
    const copy = async (field, what) => {
      field.focus(); field.select();
      try { await navigator.clipboard.writeText(field.value); status.textContent = "Copied the " + what + "."; return; } catch { /* not allowed */ }
      let ok = false;
      try { ok = document.execCommand("copy"); } catch { ok = false; }
      status.textContent = ok ? "Copied the " + what + "." : "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
    };
    copyLink.addEventListener("click", () => copy(link, "link"));
    copyEmbed.addEventListener("click", () => copy(embed, "embed code"));
    return box;
  }

  // a scenario's views (a new scenario has other prompts, replies and rows)
  function rebuild() {
    app.refProbs = app.sim.logp_ref.map((row) => row.map(Math.exp));
    buildMain(); buildDetails(); buildCharts();
    app.structure = null;
  }
  function buildMain() {
    const main = document.getElementById("dpo-main");
    main.textContent = "";
    const P = app.cfg.prompts.length;
    V.kl = []; V.klr = []; V.blz = [];
    const readouts = el("div", { class: "dpo-readouts" });
    V.ceil = DPO.klCeiling(app.sim.logp_ref);
    for (let x = 0; x < P; x++) {
      const v = el("span", { class: "v", "data-testid": "kl-" + x });
      readouts.append(el("span", { class: "dpo-readout" }, el("span", { class: "k" }, term("KL prompt " + (x + 1), T.TERMS.kl)),
                         v, el("span", { class: "ceil", text: " / " + V.ceil[x].toFixed(3) })));
      V.kl.push(v);
    }
    const star = el("div", { class: "dpo-note dpo-star" }, term("KL to RLHF’s π*", T.TERMS.kl_rlhf), ": ");
    for (let x = 0; x < P; x++) {
      const s = el("span", { "data-testid": "kl-rlhf-" + x });
      V.klr.push(s);
      star.append(s);
      if (x < P - 1) star.append(" · ");
    }
    star.append("\u00a0 ", term("β·log Z", T.TERMS.beta_log_z), ": ");
    for (let x = 0; x < P; x++) {
      const s = el("span", { "data-testid": "blz-" + x });
      V.blz.push(s);
      star.append(s);
      if (x < P - 1) star.append(" · ");
    }
    V.metricLabels = [];
    const wide = el("table", { class: "dpo-metrics wide", "aria-label": "the metrics TRL logs, per judgement and per stored row" });
    const narrow = el("table", { class: "dpo-metrics narrow", "aria-label": "the metrics TRL logs, per judgement and per stored row" });
    const head = el("tr", null, el("td"));
    const judge = el("tr", { class: "judge" }, el("th", { scope: "row" }, term("per judgement", T.TERMS.per_judgement)));
    const rows = el("tr", { class: "rows" }, el("th", { scope: "row" }, term("per row (TRL)", T.TERMS.per_row)));
    V.metrics = [];
    const nbody = el("tbody");
    T.COLUMNS.forEach(([name, testid, label], i) => {
      const th = el("th", { scope: "col" });
      head.append(th);
      const a = el("td", { "data-testid": testid }), b = el("td", { "data-testid": "rows-" + testid });
      judge.append(a); rows.append(b);
      const nth = el("th", { scope: "row" });
      const na = el("td"), nb = el("td", { class: "r" });
      nbody.append(el("tr", null, nth, na, nb));
      V.metrics.push({ name: name, label: label, th: th, nth: nth, a: a, b: b, na: na, nb: nb, i: i, key: null });
    });
    wide.append(el("thead", null, head), el("tbody", null, judge, rows));
    narrow.append(el("thead", null, el("tr", null, el("td"), el("th", { scope: "col" }, term("per judgement", T.TERMS.per_judgement, true)),
      el("th", { scope: "col" }, term("per row (TRL)", T.TERMS.per_row, true)))), nbody);
    V.readouts = el("div", { class: "dpo-card", role: "group", "aria-label": "current numbers", "data-part": "readouts" },
                    readouts, star, wide, narrow);
    main.append(V.readouts, el("div", { class: "dpo-card dpo-note dpo-legend", text: T.LEGEND + " " + T.LEGEND_RLHF }));
    V.prompts = [];
    for (let x = 0; x < P; x++) {
      const p = app.cfg.prompts[x];
      const K = p.replies.length;
      const canvas = el("canvas", { class: "bars", role: "img", "data-testid": "bars-" + x,
        "aria-label": "bar chart of π(y|x) for prompt " + (x + 1) + ", with π_ref and π* marked; the table beside it gives the numbers" });
      const note = el("div", { class: "dpo-nooptimum", "data-testid": "no-optimum-" + x });
      note.hidden = true;
      const tbody = el("tbody");
      const cells = [];
      for (let y = 0; y < K; y++) {
        const b = el("b");
        const sr = el("span", { class: "dpo-sr", "data-testid": "prob-" + x + "-" + y });
        const r = el("td", { class: "r", "data-testid": "rhat-" + x + "-" + y });
        tbody.append(el("tr", null, el("th", { scope: "row" }, b, " " + p.replies[y], sr), r));
        cells.push({ b: b, sr: sr, r: r });
      }
      const table = el("table", { class: "replies", "aria-label": "the replies of prompt " + (x + 1) + ", their probabilities and implicit rewards" },
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "reply"), el("th", { scope: "col", class: "r" }, term("r̂", T.TERMS.rhat, true)))), tbody);
      const block = el("section", { class: "dpo-prompt", "aria-label": "Prompt " + (x + 1) },
        el("h2", null, el("span", { class: "n" }, "Prompt " + (x + 1)), p.text), note,
        el("div", { class: "grid" }, canvas, table));
      main.append(block);
      V.prompts.push({ canvas: canvas, note: note, cells: cells, K: K, pref: null });
    }
  }

  function buildDetails() {
    const det = document.getElementById("dpo-details");
    det.textContent = "";
    det.append(el("div", { class: "dpo-card dpo-note", text: T.TABLE_NOT_LM }));
    V.pairs = el("ul", { class: "dpo-pairs", "aria-label": "Preference rows", "data-part": "pairs" });
    V.rows = [];
    app.cfg.pairs.forEach((r, i) => {
      const li = el("li", { class: "row", tabindex: "0", "data-testid": "pair-" + i, "aria-labelledby": "who-" + i + " pair-" + i });
      const who = el("span", { class: "who", id: "who-" + i, text: "row " + i + " · prompt " + (r.prompt + 1) });
      const pair = el("span", { class: "pair", id: "pair-" + i });
      const btn = el("button", { type: "button", class: "flip", "data-testid": "flip-" + i, "aria-pressed": "false" }, "Flip", el("span", { class: "dpo-sr", text: " row " + i }));
      btn.addEventListener("click", (e) => { e.stopPropagation(); flip(i); });
      li.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === li) { e.preventDefault(); flip(i); } });
      const nums = el("div", { class: "nums" });
      const cells = {};
      for (const k of T.ROW_KEYS) {
        const v = el("span", { class: "v" });
        nums.append(el("span", { class: "n " + k }, el("span", { class: "k", text: T.ROW_LABELS[k] + " " }), v));
        cells[k] = v;
      }
      li.append(el("div", { class: "top" }, who, pair, btn), nums);
      V.pairs.append(li);
      V.rows.push({ li: li, pair: pair, btn: btn, cells: cells, key: null });
    });
    const logBox = el("div", { class: "dpo-card dpo-log", "data-part": "log" }, el("div", { class: "dpo-h", text: "Events" }));
    V.stepLine = el("div", { class: "now", "data-testid": "step-line" });
    V.logBody = el("div");
    logBox.append(V.stepLine, V.logBody);
    V.log = logBox;
    det.append(V.pairs, logBox, el("p", { class: "dpo-offline", text: T.OFFLINE_NOTE }));
  }

  // charts over time, drawn on canvases: nothing is created per update
  function buildCharts() {
    const box = document.getElementById("dpo-charts");
    box.textContent = "";
    const p = pal();
    const P = app.cfg.prompts.length;
    const mk = (title, testid, items, tipKey) => {
      const canvas = el("canvas", { role: "img", "data-testid": testid, "aria-label": title + " over time (the numbers are in the readouts and the CSV)" });
      const legend = el("div", { class: "legend" });
      for (const [name, colour, dash] of items) {
        legend.append(el("span", { style: "white-space:nowrap" }, el("span", { class: "sw", "aria-hidden": "true",
          style: "border-top:3px " + (dash === "solid" ? "solid" : dash === "dotted" ? "dotted" : "dashed") + " " + colour }), name));
      }
      legend.append(term("about this chart", T.TERMS[tipKey], true));
      const c = el("div", { class: "dpo-chart" }, el("h3", { text: title }), canvas, legend);
      box.append(c);
      return canvas;
    };
    V.charts = {
      loss: mk("Loss", "chart-loss", [["mean over all judgements", p.margin, "solid"]], "chart_loss"),
      kl: mk("KL(π ‖ π_ref) per prompt", "chart-kl",
             Array.from({ length: P }, (_, x) => ["prompt " + (x + 1), p.series[x % p.series.length], T.DASHES[x % T.DASHES.length]]), "chart_kl"),
      rewards: mk("Implicit rewards", "chart-rewards", [["chosen", p.chosen, "solid"], ["rejected", p.rejected, "dashed"],
                  ["margin", p.margin, "dotted"]], "chart_rewards"),
    };
    V.chartsBox = box;
  }

  // -- drawing ------------------------------------------------------------------------------------
  function fitCanvas(c, cssH) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(100, Math.floor(c.clientWidth || c.parentNode.clientWidth || 300));
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
  const FONT15 = "15px " + DATA.font;
  function niceTicks(lo, hi, n) {
    const span = hi - lo || 1;
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  function tickText(v, step) {
    const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(Math.min(6, d));
  }
  function dashOf(d) { return d === "dashed" ? [8, 5] : d === "dotted" ? [2, 4] : d === "dotdash" ? [8, 4, 2, 4] : []; }

  function drawBars(x) {
    const V1 = V.prompts[x];
    const p = pal(), rec = app.sim.record, opt = app.opt;
    const K = V1.K, rowH = 29, top = 6, bottom = 42, left = 38, right = 14;
    const [g, w] = fitCanvas(V1.canvas, top + K * rowH + bottom);
    const W = w - left - right;
    const X = (v) => left + v * W;
    g.font = FONT15; g.textBaseline = "middle";
    // grid and axis
    g.strokeStyle = p.grid; g.lineWidth = 1;
    for (let i = 0; i <= 5; i++) {
      const xx = Math.round(X(i / 5)) + 0.5;
      g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, top + K * rowH); g.stroke();
      g.fillStyle = p.text; g.textAlign = "center";
      g.fillText(i === 0 ? "0" : i === 5 ? "1" : (i / 5).toFixed(1), xx, top + K * rowH + 12);
    }
    g.fillStyle = p.muted; g.textAlign = "center";
    g.fillText("probability π(y|x)", left + W / 2, top + K * rowH + 32);
    const pi = rec.probs[x], ref = app.refProbs[x];
    const star = opt && opt.finite[x] ? opt.probs[x] : null;
    for (let y = 0; y < K; y++) {
      const cy = top + y * rowH + rowH / 2;
      const pref = V1.pref[y];
      g.fillStyle = p.text; g.textAlign = "right";
      g.font = pref ? "bold " + FONT15 : FONT15;
      g.fillText((pref ? "★ " : "") + letter(y), left - 6, cy);
      g.font = FONT15;
      const bw = Math.max(0, pi[y] * W);
      g.fillStyle = pref ? p.bar_preferred : p.bar;
      g.fillRect(left, cy - 10, bw, 20);
      if (pref) { g.strokeStyle = p.text; g.lineWidth = 2; g.strokeRect(left + 1, cy - 9, Math.max(0, bw - 2), 18); }
      // the reference: a sage-green tick
      g.fillStyle = p.ref_tick;
      g.fillRect(X(ref[y]) - 2.5, cy - 13, 5, 26);
      // pi*: a diamond
      let dx = null;
      if (star) {
        dx = X(star[y]);
        g.fillStyle = p.rlhf_tick; g.strokeStyle = p.background; g.lineWidth = 1.5;
        g.beginPath(); g.moveTo(dx, cy - 8); g.lineTo(dx + 6, cy); g.lineTo(dx, cy + 8); g.lineTo(dx - 6, cy); g.closePath();
        g.fill(); g.stroke();
      }
      // the value label, past the bar (or inside a long one), never on the diamond
      const label = pct(pi[y], 1);
      g.font = "bold " + FONT15;
      const lw = g.measureText(label).width;
      let inside = pi[y] > 0.75;
      let lx = inside ? left + bw - 6 : left + bw + 6;
      if (dx != null) {
        if (!inside && dx > lx - 8 && dx - 8 < lx + lw) lx = dx + 10;
        if (inside && dx > lx - lw - 8 && dx - 8 < lx) lx = dx - 10;
      }
      if (!inside && lx + lw > w - 2) {         // no room past the bar: inside it
        inside = true;
        lx = left + bw - 6;
        if (dx != null && dx > lx - lw - 8 && dx - 8 < lx) lx = Math.min(lx, dx - 10);
      }
      g.fillStyle = inside ? (pref ? p.background : p.text) : p.text;
      g.textAlign = inside ? "right" : "left";
      g.fillText(label, lx, cy);
      g.font = FONT15;
    }
  }

  function drawSeries(c, series, opts) {
    const p = pal(), h = app.hist, n = h.n;
    const [g, w, H] = fitCanvas(c, 180);
    const left = 60, right = 20, top = 8, bottom = 36;
    const W = w - left - right, PH = H - top - bottom;
    const x0 = 0, x1 = Math.max(20, h.step[n - 1]);
    let lo = opts.lo, hi = opts.hi;
    if (lo == null || hi == null) {
      let a = Infinity, b = -Infinity;
      for (const s of series) for (let i = 0; i < n; i++) { const v = s.data[i]; if (v < a) a = v; if (v > b) b = v; }
      if (!Number.isFinite(a) || !Number.isFinite(b)) { a = 0; b = 1; }
      if (b - a < 1e-9) { a -= 0.5; b += 0.5; }
      const padY = 0.06 * (b - a);
      lo = lo == null ? a - padY : lo; hi = hi == null ? b + padY : hi;
    }
    const X = (v) => left + (v - x0) / (x1 - x0) * W;
    const Y = (v) => top + (1 - (v - lo) / (hi - lo)) * PH;
    g.font = FONT15; g.lineWidth = 1;
    const yt = niceTicks(lo, hi, 4), ys = yt.length > 1 ? yt[1] - yt[0] : 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of yt) {
      const yy = Math.round(Y(v)) + 0.5;
      g.strokeStyle = p.grid; g.beginPath(); g.moveTo(left, yy); g.lineTo(left + W, yy); g.stroke();
      g.fillStyle = p.text; g.fillText(tickText(v, ys), left - 5, yy);
    }
    const xt = niceTicks(x0, x1, 5), xs = xt.length > 1 ? xt[1] - xt[0] : 1;
    g.textAlign = "center"; g.textBaseline = "top";
    for (const v of xt) { g.fillStyle = p.text; g.fillText(tickText(v, xs), X(v), top + PH + 4); }
    g.fillStyle = p.muted; g.fillText("step", left + W / 2, top + PH + 20);
    g.save(); g.translate(9, top + PH / 2); g.rotate(-Math.PI / 2); g.textBaseline = "middle";
    g.font = "13px " + DATA.font; g.fillText(opts.ylabel, 0, 0); g.restore();
    // the run's events: a dotted line at each
    g.strokeStyle = p.muted; g.setLineDash([2, 3]);
    for (const e of app.events) {
      if (e.step > 0 && (e.kind === "flip" || e.kind === "set" || e.kind === "script")) {
        const xx = Math.round(X(e.step)) + 0.5;
        g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, top + PH); g.stroke();
      }
    }
    for (const hl of opts.hlines || []) {
      g.strokeStyle = hl.colour; g.setLineDash([6, 4]); g.lineWidth = 1.5;
      const yy = Y(hl.y); g.beginPath(); g.moveTo(left, yy); g.lineTo(left + W, yy); g.stroke();
    }
    g.save();
    g.beginPath(); g.rect(left, top - 2, W, PH + 4); g.clip();
    // at most about two points per pixel: longer runs are thinned by stride
    const stride = Math.max(1, Math.floor(n / (2 * W)));
    for (const s of series) {
      g.strokeStyle = s.colour; g.lineWidth = s.width || 3; g.setLineDash(dashOf(s.dash));
      g.beginPath();
      for (let i = 0; i < n; i += stride) {
        const xx = X(h.step[i]), yy = Y(Math.max(lo - 1e3, Math.min(hi + 1e3, s.data[i])));
        if (i === 0) g.moveTo(xx, yy); else g.lineTo(xx, yy);
      }
      if ((n - 1) % stride) g.lineTo(X(h.step[n - 1]), Y(Math.max(lo - 1e3, Math.min(hi + 1e3, s.data[n - 1]))));
      g.stroke();
    }
    g.restore();
    g.setLineDash([]);
  }
  function lossLabel() {
    const h = app.hist, names = new Set();
    for (let i = 0; i < h.n; i++) names.add(h.weight[i] ? T.LOSS_AXIS[h.lossType[i]] : T.LOSS_OFF);
    const orderL = Object.values(T.LOSS_AXIS).concat([T.LOSS_OFF]);
    const list = Array.from(names).sort((a, b) => orderL.indexOf(a) - orderL.indexOf(b));
    return "mean " + (list.length ? list : [T.LOSS_AXIS.sigmoid]).join(" or ");
  }
  function drawCharts() {
    if (app.hidden.includes("charts")) return;
    const p = pal(), h = app.hist, P = app.cfg.prompts.length;
    drawSeries(V.charts.loss, [{ data: h.loss, colour: p.margin }], { ylabel: lossLabel() });
    drawSeries(V.charts.kl, Array.from({ length: P }, (_, x) => ({ data: h.kl[x], colour: p.series[x % p.series.length],
      dash: T.DASHES[x % T.DASHES.length] })), { lo: 0, hi: 1.08 * Math.max(...V.ceil), ylabel: "KL (nats)",
      hlines: Array.from({ length: P }, (_, x) => ({ y: V.ceil[x], colour: p.muted })) });
    drawSeries(V.charts.rewards, [{ data: h.chosen, colour: p.chosen }, { data: h.rejected, colour: p.rejected, dash: "dashed" },
      { data: h.margin, colour: p.margin, dash: "dotted", width: 2 }], { ylabel: "mean implicit reward r̂" });
  }

  // -- one screen update ----------------------------------------------------------------------------
  function preferred(rows, P, K) {
    const net = Array.from({ length: P }, () => new Array(K).fill(0));
    for (const r of rows) {
      const d = r.votes_chosen - r.votes_rejected;
      net[r.prompt][r.chosen] += d; net[r.prompt][r.rejected] -= d;
    }
    return net.map((row) => { const top = Math.max(...row); return row.map((v) => v === top && top > 0); });
  }
  function restructure() {
    // things that change only with a flip, a setting, a load or a reset
    const sim = app.sim, cfg = app.cfg;
    setText(V.title, cfg.title);
    document.title = "dpo-sim: " + cfg.title;
    setText(V.watch, "");
    V.watch.textContent = "";
    V.watch.append(el("b", { text: "What to watch:" }), " " + (cfg.watch || ""));
    V.picker.value = app.id;
    for (const s of CONTROLS) {
      const input = V.controls[s.name];
      const v = s.scope === "page" ? app[s.name] : sim[s.name];
      if (s.kind === "number" || s.kind === "whole") {
        // a valid value outside the usual range widens the slider
        input.min = Math.min(s.slider[0], v); input.max = Math.max(s.slider[1], v);
        input.value = v;
        input._value.textContent = fmtSlider(s, v);
      } else if (s.kind === "flag") {
        input.textContent = s.label + ": " + (v ? "on" : "off");
        input.setAttribute("aria-pressed", String(!!v));
      } else input.value = v;
    }
    app.opt = sim.optimum();
    const pref = preferred(sim.rows, cfg.prompts.length, cfg.prompts[0].replies.length);
    V.prompts.forEach((pv, x) => {
      pv.pref = pref[x];
      pv.cells.forEach((c, y) => { c.b.textContent = (pref[x][y] ? "★ " : "") + letter(y); });
      const finite = app.opt.finite[x];
      pv.note.hidden = finite;
      if (!finite) {
        const heads = app.opt.heading[x].map((b, y) => (b ? letter(y) : null)).filter(Boolean);
        const then = sim.loss_type === "sigmoid" && sim.adaptive_weight ? T.NO_OPTIMUM_DPO : T.NO_OPTIMUM_OTHER;
        pv.note.textContent = T.NO_OPTIMUM.replace("{then}", then.replace("{heading}", heads.join(", ") || "no single reply"));
      }
    });
    const flipped = sim.flipped;
    sim.rows.forEach((r, i) => {
      const rv = V.rows[i];
      const isF = flipped.includes(i);
      const replies = cfg.prompts[r.prompt].replies;
      const key = r.chosen + ":" + isF;
      if (rv.key !== key) {
        rv.key = key;
        rv.pair.textContent = "“" + letter(r.chosen) + ": " + replies[r.chosen] + "” > “" + letter(r.rejected) + ": " + replies[r.rejected] + "”";
        if (isF) rv.pair.append(el("span", { class: "badge", text: "⇄ flipped" }));
        rv.li.classList.toggle("flipped", isF);
        rv.btn.setAttribute("aria-pressed", String(isF));
      }
    });
    // metric labels: the loss's name follows the loss in force
    const weightOff = !sim.adaptive_weight;
    for (const m of V.metrics) {
      let label = m.label, tip = T.TERMS[T.COLUMN_TERMS[m.name]];
      if (m.name === "loss" && weightOff) { label = "loss (−u)"; tip = T.TERMS.loss_off; }
      else if (m.name === "loss" && sim.loss_type !== "sigmoid") { label = "loss (" + sim.loss_type + ")"; tip = T.LOSS_TERMS[sim.loss_type]; }
      const key = label + tip;
      if (m.key !== key) {
        m.key = key;
        m.th.textContent = ""; m.th.append(term(label, tip, m.i >= 3));
        m.nth.textContent = ""; m.nth.append(term(label.replace("\u200b", ""), tip));
      }
    }
    // the log's list (rebuilt only when an event is added)
    renderLog();
    showParts();
    app.structure = true;
  }
  function renderLog() {
    const evs = app.events;
    const key = evs.length + ":" + (evs.length ? evs[evs.length - 1].text : "");
    if (V.logBody._key === key) return;
    V.logBody._key = key;
    V.logBody.textContent = "";
    if (evs.length) {
      const ol = el("ol");
      for (let i = evs.length - 1; i >= 0; i--) ol.append(el("li", { class: evs[i].kind, text: "step " + evs[i].step + " · " + evs[i].text }));
      V.logBody.append(el("div", { role: "log", "aria-label": "Events of this run, newest first", tabindex: "0", class: "events", "data-testid": "step-log" }, ol));
    } else V.logBody.append(el("p", { class: "invite", "data-testid": "step-log", text: T.INVITATION }));
  }
  function showParts() {
    const hidden = new Set(app.hidden);
    const parts = {
      sliders: Object.values(V.boxes), picker: [V.pickerBox],
      watch: [V.watch], download: [V.download], pairs: [V.pairs], charts: [V.chartsBox], log: [V.log],
      readouts: [V.readouts], share: [V.share],
    };
    for (const s of CONTROLS) if (s.hideable && s.url) parts[s.url] = [V.boxes[s.name]];
    const off = new Set();
    for (const name of hidden) for (const o of parts[name] || []) off.add(o);
    for (const name in parts) for (const o of parts[name]) o.hidden = off.has(o);
    const sideParts = ["sliders", "picker", "watch", "download", "share"];
    const empty = sideParts.every((n) => parts[n].every((o) => off.has(o)));
    document.getElementById("dpo-side").hidden = empty;
    document.getElementById("dpo-body").classList.toggle("no-side", empty);
  }
  function render() {
    const t0 = performance.now();
    const sim = app.sim, rec = sim.record;
    if (!app.structure) restructure();
    setText(V.play, app.playing ? "Pause" : "Play");
    setText(V.stepv, String(rec.step));
    // numbers
    rec.kl.forEach((k, x) => { setText(V.kl[x], k.toFixed(3)); V.kl[x].dataset.value = String(k); });
    const klr = rec.kl_to_rlhf;
    for (let x = 0; x < V.klr.length; x++) {
      if (klr[x] == null) { setText(V.klr[x], "none"); V.klr[x].dataset.value = "nan"; }
      else { setText(V.klr[x], small(klr[x])); V.klr[x].dataset.value = String(klr[x]); }
      const b = app.opt.beta_log_z[x];
      setText(V.blz[x], b == null ? "none" : fixed(b, 3, true));
    }
    const rows = DPO.storedRowMetrics(rec, sim.rows, sim);
    let big = false;
    for (const m of V.metrics) {
      const spec = T.COLUMN_SPECS[m.name];
      const f = (v) => (spec === "pct" ? pct(v) : fixed(v, spec === "loss" ? 4 : 3, spec === "signed"));
      const a = f(rec[m.name]), b = f(rows[m.name]);
      if (/e/.test(a) || /e/.test(b)) big = true;
      setText(m.a, a); m.a.dataset.value = String(rec[m.name]);
      setText(m.b, b); m.b.dataset.value = String(rows[m.name]);
      setText(m.na, a); setText(m.nb, b);
    }
    V.readouts.classList.toggle("dpo-big", big);
    // bars and the replies' implicit rewards
    V.prompts.forEach((pv, x) => {
      drawBars(x);
      pv.cells.forEach((c, y) => {
        const pi = rec.probs[x][y];
        setText(c.sr, ": π " + pi.toFixed(3) + ", π_ref " + app.refProbs[x][y].toFixed(3));
        c.sr.dataset.value = String(pi);
        setText(c.r, fixed(rec.rewards[x][y], 3, true));
      });
    });
    // rows: margin, sigma, the two pulls and the net pull
    const pulls = rowPulls(rec, sim);
    sim.rows.forEach((r, i) => {
      const c = V.rows[i].cells;
      setText(c.votes, fmt4g(r.votes_chosen) + ":" + fmt4g(r.votes_rejected));
      setText(c.u, fixed(rec["pairs/margin"][i], 3, true));
      setText(c.sigma, fixed(rec["pairs/sigma"][i]));
      setText(c.pull_for, fixed(pulls.pull_for[i]));
      setText(c.pull_against, fixed(pulls.pull_against[i]));
      setText(c.net, fixed(pulls.net[i], 3, true));
    });
    setText(V.stepLine, "step " + rec.step + " · loss " + fixed(rec.loss, 4) + " · margin "
      + fixed(rec["rewards/margins"], 4, true) + " · accuracy " + pct(rec["rewards/accuracies"])
      + " · KL " + rec.kl.map((k) => fixed(k, 4)).join(", "));
    renderLog();
    drawCharts();
    // the alert when the run stopped by itself
    V.alert.hidden = !app.halted;
    setText(V.alert, app.halted);
    if (!app.playing) { writeAddress(); if (V.fillShare) V.fillShare(); }
    app.renders = (app.renders || 0) + 1;
    app.renderMs = (app.renderMs || 0) + performance.now() - t0;
    if (app.renders === 1) performance.mark("dpo-first-chart");   // for the benchmark
  }

  // the run's CSV, recomputed from the scenario and the actions (the run is deterministic,
  // so nothing per step is kept for it): the columns of sim/export_csv.py
  function csvText() {
    const cfg = app.cfg, P = cfg.prompts.length, K = cfg.prompts[0].replies.length;
    const N = cfg.pairs.length;
    const head = ["step", "beta", "learning_rate", "adaptive_weight", "loss", "rewards/chosen",
      "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"];
    for (let x = 0; x < P; x++) head.push("kl/" + x);
    for (const q of ["probs", "rewards"]) for (let x = 0; x < P; x++) for (let y = 0; y < K; y++) head.push(q + "/" + x + "/" + y);
    for (let i = 0; i < N; i++) head.push("pairs/" + i + "/margin", "pairs/" + i + "/sigma", "pairs/" + i + "/weight");
    head.push("loss_type", "label_smoothing");
    const lines = [head.join(",")];
    replayRun(app.sim.t, { done: (r) => {
      const rec = r.record;
      const v = [String(rec.step), pyRepr(rec.beta), pyRepr(rec.learning_rate), rec.adaptive_weight ? "1" : "0"];
      for (const name of head.slice(4, 11)) v.push(pyRepr(rec[name]));
      rec.kl.forEach((q) => v.push(pyRepr(q)));
      rec.probs.forEach((row) => row.forEach((q) => v.push(pyRepr(q))));
      rec.rewards.forEach((row) => row.forEach((q) => v.push(pyRepr(q))));
      for (let i = 0; i < N; i++) v.push(pyRepr(rec["pairs/margin"][i]), pyRepr(rec["pairs/sigma"][i]), pyRepr(rec["pairs/weight"][i]));
      v.push(String(DPO.LOSS_TYPES.indexOf(rec.loss_type)), pyRepr(rec.label_smoothing));
      lines.push(v.join(","));
    } });
    return lines.join("\n") + "\n";
  }
  // each row's two pulls, in judgements, and the net pull that moves it (sim/dpo.row_pulls)
  function rowPulls(rec, sim) {
    const loss = DPO.objective(sim.loss_type, sim.adaptive_weight, sim.label_smoothing);
    const out = { pull_for: [], pull_against: [], net: [] };
    sim.rows.forEach((r, i) => {
      const w = loss.pairTerms(rec["pairs/margin"][i], rec.beta);   // [.., .., w(u), w(-u)]
      const a = r.votes_chosen * w[2], b = r.votes_rejected * w[3];
      out.pull_for.push(a); out.pull_against.push(b); out.net.push(a - b);
    });
    return out;
  }
  function downloadCsv() {
    const text = csvText();
    const blob = new Blob([text], { type: "text/csv" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "dpo-sim-" + app.id + ".csv" });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // -- keyboard: Space plays/pauses, R resets, → steps ------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target, tag = (t && t.tagName) || "";
    if (tag === "TEXTAREA" || (tag === "INPUT" && t.type !== "range")) return;
    if (e.key === " " || e.key === "Spacebar") {
      if (tag === "BUTTON" || (tag === "LI" && false)) return;   // a button's own Space
      e.preventDefault(); app.playing ? pause() : play();
    } else if (e.key === "r" || e.key === "R") {
      if (tag === "SELECT") return;
      e.preventDefault(); reset();
    } else if (e.key === "ArrowRight") {
      if (tag === "SELECT" || (tag === "INPUT" && t.type === "range")) return;
      e.preventDefault(); stepOnce(1);
    }
  });

  // -- the theme: ?theme=, else the system's ------------------------------------------------------
  function applyTheme(name) {
    app.theme = name === "dark" ? "dark" : "light";
    document.documentElement.dataset.theme = app.theme;
    if (V.prompts) { buildCharts(); render(); }
  }

  // -- the course author's API ------------------------------------------------------------------
  function snapshot() {
    const sim = app.sim, rec = sim.record;
    return {
      scenario: app.id, step: sim.t, playing: app.playing, halted: app.halted || null,
      beta: sim.beta, learning_rate: sim.learning_rate, adaptive_weight: sim.adaptive_weight,
      loss_type: sim.loss_type, label_smoothing: sim.label_smoothing, speed: app.speed,
      probs: rec.probs, kl: rec.kl, kl_to_rlhf: rec.kl_to_rlhf, rlhf_probs: app.opt ? app.opt.probs : null,
      loss: rec.loss, metrics: {
        loss: rec.loss, "rewards/chosen": rec["rewards/chosen"], "rewards/rejected": rec["rewards/rejected"],
        "rewards/margins": rec["rewards/margins"], "rewards/accuracies": rec["rewards/accuracies"],
        "logps/chosen": rec["logps/chosen"], "logps/rejected": rec["logps/rejected"],
      },
      record: JSON.parse(JSON.stringify(rec)), flipped: sim.flipped.slice(),
      events: app.events.map((e) => "step " + e.step + " · " + e.text), link: queryString(toQuery()),
    };
  }
  window.dpoSim = {
    state: snapshot,
    play: () => { play(); return snapshot(); },
    pause: () => { pause(); return snapshot(); },
    step: (n = 1) => {
      n = Number(n);
      if (!Number.isInteger(n) || n < 1) throw new RangeError("step(n): n must be a whole number >= 1, got " + n);
      stepOnce(n); return snapshot();
    },
    reset: () => { reset(); return snapshot(); },
    flip: (i) => { flip(i); return snapshot(); },
    set: (changes) => {
      if (!changes || typeof changes !== "object") throw new TypeError("set({...}): give the settings by their TOML names, e.g. {beta: 0.5}");
      const known = LIVE.concat(["speed"]);
      for (const k in changes) {
        if (!known.includes(k)) throw new DPO.SettingError(k + ": cannot be set during a run; settable: " + known.join(", "));
      }
      setSettings(changes); return snapshot();
    },
    load: (id) => { load(id); return snapshot(); },
    loadConfig: (cfg) => {
      if (typeof cfg === "string") cfg = JSON.parse(cfg);
      const c = Object.assign({ watch: "", steps: 200 }, cfg);
      c.scenario = String(c.scenario || "custom");
      c.title = String(c.title || c.scenario);
      new DPO.Simulation(c, SETTINGS);        // checked before anything changes
      addScenario(c);
      load(c.scenario);
      return snapshot();
    },
    scenarios: () => order.map((id) => ({ id: id, title: scenarios[id].title })),
    link: () => location.href.split(/[?#]/)[0] + writeAddress(),
    csv: () => csvText(),
    // screen updates drawn so far and the script time they took (benchmarks/bench_offline.py)
    stats: () => ({ renders: app.renders || 0, render_ms: app.renderMs || 0, step: app.sim.t }),
  };

  // -- start ----------------------------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  app.themeAsked = params.has("theme") && ["dark", "light"].includes(params.get("theme"));
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  app.theme = app.themeAsked ? params.get("theme") : (media && media.matches ? "dark" : "light");
  document.documentElement.dataset.theme = app.theme;
  if (media && !app.themeAsked && media.addEventListener) media.addEventListener("change", (e) => applyTheme(e.matches ? "dark" : "light"));
  start(DATA.initial);
  app.notices = applyQuery(Array.from(params.entries()).filter(([k]) => k !== "theme" || !app.themeAsked));
  if (params.has("theme") && !app.themeAsked) app.notices.push("ignored theme=" + params.get("theme").slice(0, 40) + ": must be dark or light");
  replayLogAndCharts();
  buildHeader();
  V.alert = el("div", { class: "dpo-card dpo-alert", role: "alert", "data-testid": "halted" });
  V.alert.hidden = true;
  V.notice = el("div", { class: "dpo-card dpo-notice", role: "status", "data-testid": "notices" });
  document.getElementById("dpo-top").after(V.alert, V.notice);
  V.notice.hidden = !app.notices.length;
  if (app.notices.length) {
    V.notice.append(el("b", { text: "Some settings in the address were not used" }), " (the defaults apply):",
      el("ul", null, ...app.notices.map((n) => el("li", { text: n }))));
  }
  buildSide();
  buildPicker();
  rebuild();
  render();
  window.addEventListener("resize", () => { if (!app.playing) render(); });
  if (app.autoplay) play();
  document.documentElement.dataset.ready = "1";
})();
