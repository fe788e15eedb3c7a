/* The page: its frame (header, the side column, the numbers and bars, the charts, the
 * details), the views mounted in it, one render per screen update, the keyboard, the theme
 * and the course author's API (window.dpoSim). The same on both hosts: only `engine` (and
 * `host`, what the host can do) differs. */
import { el } from "./dom.js";
import { makeRules } from "./rules.js";
import { pyG } from "./pyfmt.js";
import { createController } from "./controller.js";
import { makeAddress } from "./address.js";
import { mountHeader, mountAlerts } from "./views/header.js";
import { mountSide } from "./views/side.js";
import { mountReadouts } from "./views/readouts.js";
import { mountBars } from "./views/bars.js";
import { mountFeatures } from "./views/features.js";
import { mountRows } from "./views/rows.js";
import { mountStepLog } from "./views/steplog.js";
import { mountCharts } from "./views/charts.js";
import { mountTryIt } from "./views/tryit.js";
import { mountPulls } from "./views/pulls.js";
import { mountFormula } from "./views/formula.js";
import { restText, lossInForce } from "./rest_text.js";
import { mountFrontier } from "./views/frontier.js";
import { mountSweep } from "./views/sweep.js";
import { mountLearn } from "./views/learn.js";
import { mountChallenge } from "./views/challenge.js";
import { watchChallenges, takeChallenge } from "./goals.js";
import { pinLabel } from "./pin.js";
import { mountEditor } from "./views/editor.js";
import { makeLessons } from "./lesson_store.js";

/** The views, in the order they are drawn, where each goes, and the part of the page (teacher
 * mode's hide=) its box is, for the views whose own root does not say so. */
export const VIEWS = [
  ["readouts", "main", mountReadouts],
  ["bars", "main", mountBars],
  ["features", "main", mountFeatures, "features"],
  ["challenge", "main", mountChallenge, "challenge"],
  ["charts", "charts", mountCharts],
  ["frontier", "charts", mountFrontier, "frontier", true],
  ["sweep", "charts", mountSweep, "sweep", true],
  ["rows", "details", mountRows],
  ["pulls", "details", mountPulls, null, true],
  ["formula", "details", mountFormula, null, true],
  ["try", "details", mountTryIt, "try", true],
  ["learn", "details", mountLearn, "learn", true],
  ["log", "details", mountStepLog],
  ["editor", "side", mountEditor, null, true],
];
// (the last field: built just after the first screen is drawn, so the bars and numbers
// come first; their place is kept in the page's order)
const SIDE_PARTS = ["sliders", "picker", "watch", "download", "share"];

export function startPage(root, DATA, engine, host) {
  const rules = makeRules(DATA.settings);
  const fmt4g = (v) => (typeof v === "boolean" ? (v ? "on" : "off") : typeof v === "string" ? v : pyG(v, 4));
  const ctl = createController(DATA, engine, rules, fmt4g, host.checkLive);
  const app = ctl.app;
  const lessons = makeLessons(DATA);
  const address = makeAddress(DATA, ctl, rules, lessons);

  // -- the scenario's challenge (app/ui/goals.js): checked after every reply the page takes
  watchChallenges(app, DATA.texts.CHALLENGE);
  /** The dpoSim API refuses what the challenge does not allow, with the page's reason. */
  function allowed(action) {
    const why = app.guard ? app.guard(action) : null;
    if (why) { const e = new Error(why); e.name = "ChallengeError"; throw e; }
  }

  // the host's starting link (a notebook's settings), then the address's own parameters
  const params = new Map((DATA.query || []).concat(host.writeAddress ? Array.from(new URLSearchParams(location.search).entries()) : []));
  // ?theme=dark or light (Panel's own name for light, "default", too)
  app.themeAsked = params.has("theme") && ["dark", "light", "default"].includes(params.get("theme"));
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  app.theme = app.themeAsked ? (params.get("theme") === "dark" ? "dark" : "light")
    : (media && media.matches ? "dark" : "light");
  if (host.themed) host.themed(DATA.palettes[app.theme]);

  // -- the frame --------------------------------------------------------------------------
  const page = el("div", { class: "dpo-page", "data-theme": app.theme });
  const top = el("header", { class: "dpo-top" });
  const alerts = el("div");
  const body = el("main", { class: "dpo-body" });
  const areas = { side: el("div", { class: "dpo-side" }), main: el("div", { class: "dpo-main" }),
                  charts: el("div", { class: "dpo-charts" }), details: el("div", { class: "dpo-details" }) };
  body.append(areas.side, areas.main, areas.charts, areas.details);
  page.append(top, alerts, body);
  if (host.note) areas.details.after(el("p", { class: "dpo-offline", text: host.note }));
  root.append(page);

  // The address bar follows the page, a moment later (history.replaceState costs 5-10 ms,
  // so a burst of flips or steps writes it once); Share and link() read it at once.
  let lastSearch = null, addressTimer = null, shownParts = null, soonTimer = null;
  /** The address written after this screen update, not during it. */
  function addressSoon() {
    if (soonTimer === null) soonTimer = setTimeout(() => { soonTimer = null; writeAddress(); }, 0);
  }
  function writeAddress() {
    const search = address.queryString(address.toQuery());
    if (search !== lastSearch && host.writeAddress) {
      lastSearch = search;
      if (addressTimer === null) {
        addressTimer = setTimeout(() => {
          addressTimer = null;
          try { history.replaceState(null, "", location.pathname + lastSearch + location.hash); } catch { /* sandboxed */ }
        }, 150);
      }
    }
    return search;
  }
  const ctx = { T: DATA.texts, DATA, rules, ctl, fmt4g, host, root: page, engine, lessons,
                LEARN: DATA.learn, katexBase: DATA.katex_base || null, pointing: true,
                pal: () => DATA.palettes[app.theme],
                // the [[rest]] line of the reading levels: the formula strip's sentence
                restText: (v, i) => restText(v.rest[i], v.rows[i].votes_chosen, v.rows[i].votes_rejected,
                                             lossInForce(v.settings), v.rec.beta, v.rec.learning_rate, DATA.texts),
                act: (cmd) => act(cmd),
                // what the pinned run's curves and outlines are labelled with (app/ui/pin.js)
                pinLabel: () => (app.pin ? pinLabel(app.pin, app.state, rules.LIVE, DATA.texts, fmt4g) : null),
                request: (cmd, cb) => engine.request(cmd, cb),
                link: () => location.href.split(/[?#]/)[0] + writeAddress() };
  function act(cmd) {
    if (cmd.op === "flip") ctl.flip(cmd.row);
    else if (cmd.op === "set" && cmd.restart) ctl.reset(cmd.changes);
    else if (cmd.op === "set") ctl.setSettings(cmd.changes);
    else if (cmd.op === "look") ctl.look(cmd.row);
    else if (cmd.op === "load") ctl.load(cmd.scenario);
    else if (cmd.op === "challenge") takeChallenge(app, ctl, cmd.take);
  }
  const views = [mountHeader(top, ctx), mountAlerts(alerts)];
  const side = mountSide(areas.side, ctx);
  views.push(side);
  const later = [];
  for (const [, area, mount, part, deferred] of VIEWS.concat(host.views || [])) {
    const box = el("div", part ? { class: "dpo-part-" + part } : null);
    areas[area].append(box);
    if (deferred) later.push([box, mount]);
    else views.push(mount(box, ctx));
  }
  /** The views built after the first screen: mounted, then brought up to date. */
  function mountLater() {
    const added = later.splice(0).map(([box, mount]) => mount(box, ctx));
    views.push(...added);
    for (const v of added) v.update(app, "scenario");
    showParts();
  }

  function showParts() {
    const hidden = new Set(app.hidden);
    if (!host.shareable) hidden.add("share");
    for (const name of DATA.hideable) {
      for (const node of page.querySelectorAll(".dpo-part-" + name)) node.hidden = hidden.has(name);
    }
    // a control in two parts ("sliders" and "beta") is hidden if either is
    for (const s of rules.CONTROLS) {
      const node = page.querySelector('[data-setting="' + s.name + '"]');
      if (node) node.hidden = hidden.has("sliders") || (s.url && hidden.has(s.url));
    }
    const empty = SIDE_PARTS.every((n) => hidden.has(n));
    areas.side.hidden = empty;
    body.classList.toggle("no-side", empty);
  }

  // -- one screen update ----------------------------------------------------------------------
  function render(why) {
    if (!app.rec) return;
    const t0 = performance.now();
    const kind = why || "structure";
    app.focus = app.looked;
    app.observe();
    if (app.hist && app.hist.n && app.hist.step[0] === 0) app.loss0 = app.hist.loss[0];
    for (const v of views) v.update(app, kind);
    // parts hidden or shown: only when teacher mode's list or the page's views change
    const partsKey = app.hidden.join(",") + "|" + views.length + "|" + app.id;
    if (partsKey !== shownParts) { shownParts = partsKey; showParts(); }
    if (kind === "scenario" && host.setTitle) host.setTitle("dpo-sim: " + app.cfg.title);
    if (!app.playing) addressSoon();
    app.renders += 1;
    app.renderMs += performance.now() - t0;
    if (app.renders === 1) performance.mark("dpo-first-chart");   // for the benchmarks
  }
  app.render = render;

  // -- the theme: ?theme=, else the system's ------------------------------------------------
  function applyTheme(name) {
    app.theme = name === "dark" ? "dark" : "light";
    page.dataset.theme = app.theme;
    if (host.themed) host.themed(DATA.palettes[app.theme]);
    render("theme");
  }
  if (media && !app.themeAsked && media.addEventListener) media.addEventListener("change", (e) => applyTheme(e.matches ? "dark" : "light"));
  document.addEventListener("keydown", ctl.onKey);
  window.addEventListener("resize", () => { if (!app.playing) render("theme"); });

  // -- the course author's API ----------------------------------------------------------------
  function challengeSnapshot(s) {
    return { state: s.state, met_at: s.metAt, holds: s.holds.slice(), goals: s.texts.slice(),
             used: s.used.slice(), by_step: s.by_step };
  }
  function snapshot() {
    const s = app.state, rec = app.rec;
    return {
      scenario: app.id, step: s.t, playing: app.playing, halted: app.halted || null,
      beta: s.beta, learning_rate: s.learning_rate, adaptive_weight: s.adaptive_weight,
      loss_type: s.loss_type, label_smoothing: s.label_smoothing, speed: app.speed,
      probs: rec.probs, kl: rec.kl, kl_to_rlhf: rec.kl_to_rlhf, rlhf_probs: app.opt ? app.opt.probs : null,
      // a features model (issue 19): theta, pi*_phi and KL to it (null on a table)
      theta: rec.theta || null, kl_to_rlhf_phi: rec.kl_to_rlhf_phi || null,
      rlhf_phi: app.optPhi ? { probs: app.optPhi.probs, finite: app.optPhi.finite, coincide: app.optPhi.coincide } : null,
      loss: rec.loss, metrics: {
        loss: rec.loss, "rewards/chosen": rec["rewards/chosen"], "rewards/rejected": rec["rewards/rejected"],
        "rewards/margins": rec["rewards/margins"], "rewards/accuracies": rec["rewards/accuracies"],
        "logps/chosen": rec["logps/chosen"], "logps/rejected": rec["logps/rejected"],
      },
      record: JSON.parse(JSON.stringify(rec)), flipped: s.flipped.slice(),
      events: app.events.map((e) => "step " + e.step + " · " + e.text),
      link: address.queryString(address.toQuery()), engine: host.engineName,
      challenge: app.challenge ? challengeSnapshot(app.challenge.status) : null,
      pin: app.pin ? { step: app.pin.step, label: ctx.pinLabel(), settings: Object.assign({}, app.pin.settings),
                       flipped: app.pin.flipped.slice(), param: address.pinText(app.pin), probs: app.pin.probs,
                       halted: app.pin.halted } : null,
    };
  }
  /** The pinned run's charts' history, step by step (null without a pin). */
  function pinSeries() {
    const h = app.pin ? app.pin.hist : null;
    if (!h) return null;
    const a = (x) => Array.from(x);
    return { step: a(h.step), loss: a(h.loss), chosen: a(h.chosen), rejected: a(h.rejected), margin: a(h.margin),
             weight: a(h.weight), lossCode: a(h.lossCode), kl: h.kl.map(a) };
  }
  window.dpoSim = {
    // the scenario's challenge: take it (the run starts again, other controls locked) or leave it
    takeChallenge: (on = true) => { act({ op: "challenge", take: on !== false }); return snapshot(); },
    state: snapshot,
    play: () => { ctl.play(); return snapshot(); },
    pause: () => { ctl.pause(); return snapshot(); },
    step: (n = 1) => {
      n = Number(n);
      if (!Number.isInteger(n) || n < 1) throw new RangeError("step(n): n must be a whole number >= 1, got " + n);
      ctl.stepOnce(n); return snapshot();
    },
    reset: () => { ctl.reset(); return snapshot(); },
    flip: (i) => { allowed({ flip: Number(i) }); ctl.flip(i); return snapshot(); },
    set: (changes) => {
      if (!changes || typeof changes !== "object") throw new TypeError("set({...}): give the settings by their TOML names, e.g. {beta: 0.5}");
      const known = rules.LIVE.concat(rules.PAGE);
      for (const k in changes) {
        if (!known.includes(k)) { const e = new Error(k + ": cannot be set during a run; settable: " + known.join(", ")); e.name = "SettingError"; throw e; }
      }
      const moved = {};
      for (const k in changes) if (!rules.PAGE.includes(k) && app.state[k] !== changes[k]) moved[k] = changes[k];
      allowed({ set: moved });
      ctl.setSettings(changes); return snapshot();
    },
    load: (id) => { ctl.load(id); return snapshot(); },
    loadConfig: (cfg) => {
      if (typeof cfg === "string") cfg = JSON.parse(cfg);
      const c = Object.assign({ watch: "", steps: 200 }, cfg);
      c.scenario = String(c.scenario || "custom");
      c.title = String(c.title || c.scenario);
      if (host.check) host.check(c);          // checked before anything changes
      ctl.addScenario(c);
      ctl.load(c.scenario);
      return snapshot();
    },
    // pin the run on screen (its curves stay, faded, while the next run plays); unpin
    pin: () => { ctl.pin(); return snapshot(); },
    unpin: () => { ctl.unpin(); return snapshot(); },
    pinSeries: pinSeries,
    scenarios: () => ctl.order.map((id) => ({ id: id, title: ctl.scenarios[id].title })),
    link: () => location.href.split(/[?#]/)[0] + writeAddress(),
    csv: (cb) => ctl.csv(cb || (() => {})),
    idle: () => ctl.idle(),
    // screen updates drawn so far and the script time they took (the benchmarks)
    stats: () => ({ renders: app.renders, render_ms: app.renderMs, step: app.state ? app.state.t : 0 }),
  };

  // -- start: the address's run, replayed through the engine ------------------------------------
  const asked = Array.from(params.entries()).filter(([k]) => k !== "theme" || !app.themeAsked);
  address.applyLink(asked, (notices) => {
    for (const a of app.actions) a.link = true;        // the link's own actions (a challenge says so)
    app.notices = notices;
    if (params.has("theme") && !app.themeAsked) app.notices.push("ignored theme=" + params.get("theme").slice(0, 40) + ": must be dark or light");
    render("scenario");
    // the rest of the page once this screen is painted (a frame, then a task)
    requestAnimationFrame(() => setTimeout(() => {
      mountLater();
      root.dataset.ready = "1";
      document.documentElement.dataset.ready = "1";
    }, 0));
    if (app.autoplay && !(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches)) ctl.play();
  });
}
