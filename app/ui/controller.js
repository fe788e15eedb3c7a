/* The page's controller, the same on both hosts (tensorflow/playground's thin controller):
 * the page's state (`app`), the play loop, the run's log and the charts' history. Every
 * number comes from the engine through commands (docs/ui.md): `engine.send(cmd, reply)`
 * answers in order, at once in the offline file, a message later on the served page. The
 * controller keeps at most one `advance` in flight, so a slow link never queues steps. */
import { LOG_CAP, keyAction } from "./rules.js";
import { newHistory, pushSeries } from "./history.js";
import { shortText } from "./fmt.js";
import { makePin, pinSettings } from "./pin.js";

export function createController(DATA, engine, rules, fmt4g, checkLive) {
  const T = DATA.texts;
  const pinWords = (p) => pinSettings(p, rules.LIVE, T, fmt4g);     // a pin's settings, in words
  const scenarios = {};
  const order = [];
  const app = {
    id: null, cfg: null, playing: false, speed: rules.BY_NAME.speed.default,
    halted: "", events: [], hidden: [], notices: [], actions: [], pin: null,
    state: null, rec: null, opt: null, rest: null, stored: null, pulls: null,
    klCeiling: null, refProbs: null, hist: null, looked: 0,
    raf: null, due: 0, last: null, inflight: 0, advancing: 0, waiters: [], pendingSets: {},
    structure: true, render: () => {}, renders: 0, renderMs: 0,
    // a challenge (app/ui/goals.js, set by page.js): observe() after every reply taken,
    // guard(action) the reason a control is refused or null; stopStep (the loaded
    // scenario's challenge's by_step) a step no advance steps over unchecked; tSent: the
    // step the run will be at once every advance sent is answered
    observe: null, guard: null, stopStep: null, tSent: 0, refusal: "",
  };

  function addScenario(cfg) {
    if (!(cfg.scenario in scenarios)) order.push(cfg.scenario);
    scenarios[cfg.scenario] = cfg;
  }
  DATA.scenarios.forEach(addScenario);

  // -- talking to the engine ----------------------------------------------------------------
  /** The run's settings as they will be once every command sent is answered (a reset()
   * right after a set() keeps what the set() asked for). */
  function intended() { return Object.assign({}, app.state, app.pendingSets); }
  function send(cmd, then) {
    const stop = app.stopStep;
    if (cmd.op === "advance" && stop != null && app.tSent < stop && app.tSent + cmd.n > stop) {
      // a challenge's by_step is checked, not stepped over: two advances, one landing on it
      const first = stop - app.tSent;
      send({ op: "advance", n: first }, (reply) => { if (reply.error) fail(reply); });
      send({ op: "advance", n: cmd.n - first }, then);
      return;
    }
    if (cmd.op === "advance") app.tSent += cmd.n;
    else if (cmd.op === "load" || cmd.op === "reset") app.tSent = 0;
    if (cmd.op === "load") {             // the scenario's challenge: its by_step from now on
      const c = (cmd.config || scenarios[cmd.scenario] || {}).challenge;
      app.stopStep = c && c.by_step != null ? c.by_step : null;
    }
    app.inflight += 1;
    if (cmd.op === "set") Object.assign(app.pendingSets, cmd.changes);
    else if (cmd.op === "load" || cmd.op === "reset") app.pendingSets = {};
    engine.send(cmd, (reply) => {
      app.inflight -= 1;
      if (app.inflight === 0) app.pendingSets = {};
      const before = app.state;
      if (!reply.error) take(reply);
      try {
        if (then) then(reply, before);
        else if (reply.error) throw new Error(reply.error.message);
      } finally {
        if (app.state && app.inflight === 0) app.tSent = app.state.t;
        if (app.observe && !reply.error) app.observe();
        if (app.inflight === 0) {
          const w = app.waiters; app.waiters = [];
          w.forEach((f) => f());
        }
      }
    });
  }
  function take(reply) {
    if (reply.state) {
      app.state = app.settings = reply.state;
      app.rows = reply.state.rows; app.flipped = reply.state.flipped;
    }
    if (reply.record) app.rec = reply.record;
    if (reply.opt) { app.opt = reply.opt; app.optPhi = reply.opt_phi || null; app.structure = true; }
    if (reply.rest) app.rest = reply.rest;
    if (reply.stored) app.stored = reply.stored;
    if (reply.pulls) app.pulls = reply.pulls;
    if (reply.kl_ceiling) app.klCeiling = reply.kl_ceiling;
    if (reply.logp_ref) {                // a load: its reference and its model
      app.refProbs = reply.logp_ref.map((row) => row.map(Math.exp));
      app.model = reply.model || null;
    }
    if (reply.series && app.hist) {
      for (const row of reply.series) {
        pushSeries(app.hist, row);
        if (reply.op === "advance") for (const e of app.cfg.events) if (e.step === row[0]) logScript(e);
      }
    }
  }
  function fail(reply) {
    if (reply.error) {
      const e = new Error(reply.error.message);
      e.name = reply.error.name;
      throw e;
    }
  }
  const idle = () => new Promise((resolve) => {
    if (app.inflight === 0) resolve(); else app.waiters.push(resolve);
  });

  // -- the log --------------------------------------------------------------------------------
  function log(kind, text, step, extra) {
    app.events.push(Object.assign({ step: step == null ? app.state.t : step, kind: kind, text: text }, extra || {}));
    if (app.events.length > LOG_CAP) app.events.splice(0, app.events.length - LOG_CAP);
  }
  const logName = (name) => (name === "adaptive_weight" ? "sigma weight" : name);
  function logScript(e) {
    if (e.flip != null) log("script", "scenario flips row " + e.flip, e.step);
    for (const k in (e.set || {})) log("script", "scenario sets " + logName(k) + " to " + fmt4g(e.set[k]), e.step);
  }
  function logFlip(i, nowFlipped, step) {
    const r = app.cfg.pairs[i];
    const c = nowFlipped ? r.rejected : r.chosen, l = nowFlipped ? r.chosen : r.rejected;
    const replies = app.cfg.prompts[r.prompt].replies;
    log("flip", "flip row " + i + " (" + (nowFlipped ? "flipped" : "back to the data") + "): now “"
        + shortText(replies[c]) + "” > “" + shortText(replies[l]) + "” "
        + fmt4g(r.votes_chosen) + ":" + fmt4g(r.votes_rejected), step);
  }
  // one line per settled value: the same setting changed again at the same step, with
  // nothing in between, updates its line
  function logSet(name, old, now, step) {
    const last = app.events[app.events.length - 1];
    if (last && last.kind === "set" && last.name === name && last.step === step) {
      old = last.old;
      app.events.pop();
    }
    log("set", logName(name) + " " + fmt4g(old) + " -> " + fmt4g(now), step, { name: name, old: old });
  }
  function restartLog(kind, text) {
    app.events = [];
    log(kind, text, 0);
    for (const e of app.cfg.events) if (e.step === 0) logScript(e);
  }

  // -- actions ----------------------------------------------------------------------------------
  /** A scenario's own start with its own settings; then(reply) once the engine has it. */
  function start(id, then, onError) {
    if (!(id in scenarios)) throw new Error("unknown scenario " + JSON.stringify(id) + "; known: " + order.join(", "));
    const cfg = scenarios[id];
    const cmd = DATA.presets && DATA.presets.includes(id) ? { op: "load", scenario: id } : { op: "load", config: cfg };
    send(cmd, (reply) => {
      if (reply.error && onError) { onError(reply.error); return; }     // (the editor's Apply)
      fail(reply);
      app.id = id; app.cfg = cfg; app.halted = ""; app.actions = []; app.looked = 0;
      app.cause = "load";
      app.hist = newHistory(cfg.prompts.length);
      take(reply);
      restartLog("load", "load scenario " + id + " (" + cfg.title + ")");
      // a pin belongs to its scenario: another one (or the same id with a new config) clears it
      if (app.pin && app.pin.cfg !== cfg) {
        log("pin", T.PIN_LOG_CLEARED.replace("{id}", app.pin.id), 0);
        app.pin = null;
      }
      app.structure = "scenario";
      if (then) then(reply);
    });
  }
  function halt(d) {
    pause();
    const s = app.state;
    app.halted = T.DIVERGED.replace("{step}", d.step - 1).replace("{loss}", s.loss_type)
      .replace("{beta}", fmt4g(s.beta)).replace("{lr}", fmt4g(s.learning_rate));
    log("halt", "stopped: step " + d.step + " would overflow the loss", d.step - 1);
  }
  function advance(n, then) {
    send({ op: "advance", n: n }, (reply) => {
      fail(reply);
      if (reply.diverged) halt(reply.diverged);
      if (then) then(reply);
    });
  }
  function frame(now) {
    app.raf = null;
    if (!app.playing) return;
    let n;
    if (app.last == null) n = 1;
    else {
      app.due = Math.min(app.due + app.speed * (now - app.last) / 1000, Math.max(1, app.speed / 2));
      // a frame a little early (animation frames come 16.5-16.8 ms apart at 60 Hz) still takes
      // its step at speed 60, instead of none and two in the next; the quarter step it
      // borrows is paid back from the next frames' time, so the pace stays `speed`
      n = Math.floor(app.due + 0.25);
    }
    app.last = now;
    // at most engine.depth advances in flight (1 where the engine answers at once; 2 over
    // a network, so one is on its way while the page draws the other)
    if (n > 0 && app.advancing < (engine.depth || 1)) {
      app.due -= n;
      app.advancing += 1;
      advance(n, () => { app.advancing -= 1; app.render("step"); });
    }
    if (app.playing) app.raf = requestAnimationFrame(frame);
  }
  function play() {
    if (app.playing) return;
    app.playing = true; app.due = 0; app.last = null;
    app.raf = requestAnimationFrame(frame);
    app.render("play");
  }
  function pause() {
    if (!app.playing) return;
    app.playing = false;
    if (app.raf != null) cancelAnimationFrame(app.raf);
    app.raf = null;
    app.render("play");
  }
  function toggle() { if (app.playing) pause(); else play(); }
  function stepOnce(n = 1) {
    pause();
    advance(n, () => app.render("step"));
  }
  /** Step 0 with the settings now on the sliders (and `overrides`, e.g. a cell of the sweep
   * map: its beta and learning rate). */
  function reset(overrides) {
    if (overrides && refused({ set: overrides })) return;
    pause();
    const now = {};
    const want = intended();
    // (a challenge's locked settings go back to the scenario's own)
    for (const name of rules.LIVE) if (!(app.guard && app.guard({ set: { [name]: want[name] } }))) now[name] = want[name];
    Object.assign(now, overrides || {});
    send({ op: "reset" }, (reply) => {
      fail(reply);
      app.halted = ""; app.actions = []; app.cause = "reset";
      app.hist = newHistory(app.cfg.prompts.length);
      take(reply);
      const changes = {};
      for (const k in now) if (app.state[k] !== now[k]) changes[k] = now[k];
      const kept = Object.keys(changes).map((k) => logName(k) + " " + fmt4g(changes[k])).join(", ");
      restartLog("reset", "reset to the start of " + app.id + (kept ? ", keeping " + kept
        + (overrides ? "" : " from the sliders") : ""));
      if (app.pin) log("pin", T.PIN_LOG_KEPT.replace("{step}", app.pin.step).replace("{settings}", pinWords(app.pin)), 0);
      if (Object.keys(changes).length) {
        send({ op: "set", changes: changes }, (r) => {
          fail(r);
          app.actions.push({ step: 0, set: Object.assign({}, changes) });
          app.render("structure");
        });
      } else app.render("structure");
    });
  }
  /** A challenge's refusal of an action: said on the page (app.refusal), true if refused. */
  function refused(action) {
    const why = app.guard ? app.guard(action) : null;
    if (why) { app.refusal = why; app.render("settings"); }
    return !!why;
  }
  function flip(i, then) {
    i = Number(i);
    if (refused({ flip: i })) return;
    if (!Number.isInteger(i) || i < 0 || i >= app.cfg.pairs.length) {
      throw new RangeError("no row " + i + "; rows are 0.." + (app.cfg.pairs.length - 1));
    }
    send({ op: "flip", row: i }, (reply) => {
      fail(reply);
      app.actions.push({ step: reply.state.t, flip: i });
      app.cause = "flip";
      logFlip(i, reply.state.flipped.includes(i), reply.state.t);
      app.looked = i;
      if (then) then(reply); else app.render("structure");
    });
  }
  /** Settings by their TOML names; the speed is the page's own, the rest go to the engine
   * (which checks them against the table before anything changes). */
  function setSettings(changes, then) {
    const clean = {};
    const want = intended();
    for (const k in changes) {
      if (rules.PAGE.includes(k)) continue;
      const v = rules.snap(k, changes[k]);
      if (want[k] !== v) clean[k] = v;
    }
    // checked by the table's rules before anything is sent: a refusal reaches the caller
    // at once on both hosts (the engine checks again)
    if (Object.keys(clean).length && checkLive) checkLive(DATA.settings, clean);
    if (Object.keys(clean).length && refused({ set: clean })) return;
    for (const k of rules.PAGE) {
      if (!(k in changes)) continue;
      const s = rules.BY_NAME[k];
      const v = typeof changes[k] === "string" ? rules.parseSetting(s, changes[k]) : changes[k];
      if (!Number.isInteger(v) || v < s.lo || v > s.hi) {
        const e = new Error(k + ": must be " + s.rule + ", got " + v); e.name = "SettingError"; throw e;
      }
      app[k] = v;
    }
    if (!Object.keys(clean).length) { if (then) then(); else app.render("settings"); return; }
    const olds = {};
    for (const k in clean) olds[k] = app.state[k];
    send({ op: "set", changes: clean }, (reply) => {
      fail(reply);
      app.actions.push({ step: reply.state.t, set: Object.assign({}, clean) });
      app.cause = "set";
      for (const k in clean) logSet(k, olds[k], reply.state[k], reply.state.t);
      if (then) then(reply); else app.render("structure");
    });
  }
  /** Load a scenario; settled(error) (optional) is called with the engine's refusal of
   * it (the page keeps its run) or with null once it is loaded. */
  function load(id, settled) {
    const playing = app.playing;
    pause();
    start(id, () => { app.render("scenario"); if (playing) play(); if (settled) settled(null); }, settled);
  }
  function removeScenario(id) {
    delete scenarios[id];
    const i = order.indexOf(id);
    if (i >= 0) order.splice(i, 1);
  }
  function look(i) {
    if (app.looked !== i) { app.looked = i; app.render("look"); }
  }
  // -- the pin (app/ui/pin.js) ------------------------------------------------------------------
  /** Keep the run on screen as the pin (its settings, actions, history, last probabilities);
   * `quiet`: neither logged nor drawn (a link's pin, logged once its live run is replayed). */
  function pin(quiet) {
    app.pin = makePin(app, rules.LIVE);
    if (quiet) return;
    log("pin", T.PIN_LOG.replace("{step}", app.pin.step).replace("{settings}", pinWords(app.pin)), app.state.t);
    app.render("pin");
  }
  function unpin() {
    if (!app.pin) return;
    log("pin", T.PIN_LOG_OFF.replace("{step}", app.pin.step), app.state.t);
    app.pin = null;
    app.render("pin");
  }
  function csv(cb) { engine.request({ op: "csv" }, (r) => { fail(r); cb(r.csv); }); }

  function onKey(e) {
    const what = keyAction(e);
    if (!what) return;
    e.preventDefault();
    if (what === "toggle") toggle(); else if (what === "reset") reset(); else stepOnce(1);
  }

  return { app, scenarios, order, addScenario, removeScenario, send, take, start, advance, play, pause, toggle,
           stepOnce, reset, flip, setSettings, load, look, csv, idle, onKey, logSet, logFlip, fail, halt,
           refused, pin, unpin, pinWords, log, intended };
}
