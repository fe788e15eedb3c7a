/* The page's address: the link format of docs (app/address.py's, for the CLI), read and
 * written the same way on both hosts. A link names the scenario, the settings at step 0,
 * the rows flipped at step 0, the later actions (STEP:KIND:VALUE), the step, the parts
 * hidden and autoplay; reading it replays the run through the engine, so the log and the
 * charts are as if the learner had taken the actions on the page. */
import { writeSetting } from "./rules.js";
import { decodeLesson } from "./lesson.js";

export function makeAddress(DATA, ctl, rules, lessons) {
  const app = ctl.app;
  const SETTINGS = DATA.settings;
  const MAX_URL_STEP = DATA.max_url_step, MAX_URL_EVENTS = DATA.max_url_events;
  const write = writeSetting;

  function baseline() {
    const out = {};
    for (const s of SETTINGS) if (s.scope === "run" && (s.url || s.event)) out[s.name] = app.cfg[s.name];
    for (const e of app.cfg.events) if (e.step === 0) Object.assign(out, e.set || {});
    return out;
  }
  function atZero(actions) {
    const settings = baseline(), toggled = new Set();
    for (const e of actions) {
      if (e.step !== 0) continue;
      Object.assign(settings, e.set || {});
      if (e.flip != null) { if (toggled.has(e.flip)) toggled.delete(e.flip); else toggled.add(e.flip); }
    }
    return [settings, Array.from(toggled).sort((a, b) => a - b)];
  }
  function laterActions(actions) {
    const byStep = new Map();
    for (const e of actions) {
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
      for (const kind in rules.EVENT_SETTINGS) {
        const s = rules.EVENT_SETTINGS[kind];
        if (s.name in sets) out.push([step, kind, sets[s.name]]);
      }
    }
    return out;
  }
  function toQuery() {
    const q = [];
    const push = (k, v) => { if (v != null) q.push([k, v]); };
    const lesson = lessons && lessons.get(app.id);
    if (lesson && lesson.code) push("lesson", lesson.code);      // a custom lesson travels whole
    else push("scenario", app.id);
    const [zero, flipped] = atZero(app.actions);
    const base = baseline();
    for (const s of SETTINGS) {
      if (!s.url) continue;
      if (s.scope === "page") push(s.url, app[s.name] === s.default ? null : write(s, app[s.name]));
      else push(s.url, zero[s.name] === base[s.name] ? null : write(s, zero[s.name]));
    }
    push("flipped", flipped.length ? flipped.join(",") : null);
    const ev = eventsText(app.actions);
    push("events", ev || null);
    push("step", app.playing || app.state.t === 0 ? null : String(app.state.t));
    push("pin", app.pin ? pinText(app.pin) : null);
    push("hide", app.hidden.length ? app.hidden.join(",") : null);
    if (app.themeAsked) push("theme", app.theme);
    return q;
  }
  function eventsText(actions) {
    return laterActions(actions).map(([step, kind, v]) =>
      step + ":" + kind + ":" + (kind === "flip" ? String(v) : write(rules.EVENT_SETTINGS[kind], v))).join(",");
  }
  /** A pin in a link: the pinned run's own parameters (its settings at step 0 that differ
   * from the scenario's, flipped, events, step) as KEY:VALUE joined by "~", e.g.
   * pin=loss:ipo~step:200 or pin=beta:1~events:100:flip:1~step:300. */
  function pinText(pin) {
    const out = [];
    const [zero, flipped] = atZero(pin.actions);
    const base = baseline();
    for (const s of SETTINGS) {
      if (s.url && s.scope === "run" && zero[s.name] !== base[s.name]) out.push(s.url + ":" + write(s, zero[s.name]));
    }
    if (flipped.length) out.push("flipped:" + flipped.join(","));
    const ev = eventsText(pin.actions);
    if (ev) out.push("events:" + ev);
    out.push("step:" + pin.step);
    return out.join("~");
  }
  function queryString(q) {
    if (!q.length) return "";
    return "?" + q.map(([k, v]) => encodeURIComponent(k) + "="
      + encodeURIComponent(v).replace(/%2C/g, ",").replace(/%3A/g, ":")).join("&");
  }

  /** Read a link's parameters ([[key, value], ...]); then(notices) once the run is replayed.
   * Whatever cannot be used is left out and said in a notice; the rest still applies. */
  function applyQuery(params, then, early) {
    const notices = early || [];
    const known = ["scenario"].concat(SETTINGS.filter((s) => s.url).map((s) => s.url),
      ["flipped", "events", "step", "autoplay", "hide", "theme", "pin", "lesson"]);
    const q = {};
    for (const [k, v] of params) {
      if (!known.includes(k)) notices.push("ignored " + k.slice(0, 40) + ": not a setting of this page");
      else q[k] = v;
    }
    const tryIt = (name, fn) => {
      if (!(name in q)) return;
      try { fn(q[name]); } catch (e) { notices.push("ignored " + name + "=" + q[name].slice(0, 40) + ": " + e.message); }
    };
    let id = DATA.initial;
    tryIt("scenario", (t) => {
      if (!(t in ctl.scenarios)) throw new Error("unknown scenario; known: " + ctl.order.join(", "));
      id = t;
    });
    const nPairs = ctl.scenarios[id].pairs.length;
    const parseRow = (text) => {
      if (!(/^\d+$/.test(text) && +text < nPairs)) {
        throw new Error("row '" + text.slice(0, 10) + "' is not a row number from 0 to " + (nPairs - 1));
      }
      return +text;
    };
    const parseFlipped = (t) =>
      Array.from(new Set(t.split(",").map((x) => x.trim()).filter(Boolean).map(parseRow))).sort((a, b) => a - b);
    /** STEP:KIND:VALUE,...; `stop`: the text of the run's step= (none after it), or null. */
    function parseEvents(t, stop) {
      const toks = t.split(",").map((x) => x.trim()).filter(Boolean);
      if (toks.length > MAX_URL_EVENTS) throw new Error("more than " + MAX_URL_EVENTS + " actions");
      const out = [];
      for (const tok of toks) {
        const parts = tok.split(":");
        const head = "'" + tok.slice(0, 30) + "'";
        if (parts.length !== 3) throw new Error(head + " is not STEP:KIND:VALUE (e.g. 100:beta:0.5)");
        const [step, kind, value] = parts;
        if (!/^\d+$/.test(step) || +step > MAX_URL_STEP) throw new Error(head + ": the step must be a whole number from 0 to " + MAX_URL_STEP);
        if (!rules.EVENT_KINDS.includes(kind)) throw new Error(head + ": the kind must be one of " + rules.EVENT_KINDS.join(", "));
        let v;
        try { v = kind === "flip" ? parseRow(value) : rules.parseSetting(rules.EVENT_SETTINGS[kind], value); } catch (e) { throw new Error(head + ": " + e.message); }
        out.push([+step, kind, v]);
      }
      out.sort((a, b) => a[0] - b[0]);
      if (out.length && stop != null && /^\d+$/.test(stop) && out[out.length - 1][0] > +stop) {
        throw new Error("an action at step " + out[out.length - 1][0] + " is after step=" + stop);
      }
      return out;
    }
    function parseStep(t) {
      if (!/^\d+$/.test(t) || +t > MAX_URL_STEP) throw new Error("must be a whole number from 0 to " + MAX_URL_STEP);
      return +t;
    }
    const RUN_KEYS = SETTINGS.filter((s) => s.url && s.scope === "run").map((s) => s.url).concat(["flipped", "events", "step"]);
    /** A pin's run (pinText's format): the same checks as the link's own parameters. */
    function parsePin(t) {
      const vals = {};
      for (const part of t.split("~")) {
        const i = part.indexOf(":");
        const k = i < 0 ? part : part.slice(0, i);
        if (!RUN_KEYS.includes(k)) throw new Error("'" + part.slice(0, 20) + "' is not KEY:VALUE with KEY one of " + RUN_KEYS.join(", "));
        if (k in vals) throw new Error(k + " is given twice");
        vals[k] = part.slice(i + 1);
      }
      if (!("step" in vals)) throw new Error("no step:N (e.g. pin=loss:ipo~step:200)");
      const run = { sets: [], flips: [], later: [], upTo: 0 };
      const inPart = (k, fn) => { try { return fn(vals[k]); } catch (e) { throw new Error(k + ": " + e.message); } };
      run.upTo = inPart("step", parseStep);
      for (const s of SETTINGS) {
        if (s.url && s.scope === "run" && s.url in vals) {
          run.sets.push([s.url, vals[s.url], { [s.name]: inPart(s.url, (v) => rules.parseSetting(s, v)) }]);
        }
      }
      if ("flipped" in vals) run.flips = inPart("flipped", parseFlipped);
      if ("events" in vals) run.later = inPart("events", (v) => parseEvents(v, vals.step));
      return run;
    }

    const live = { sets: [], flips: [], later: [], upTo: 0 };
    for (const s of SETTINGS) {
      if (!s.url) continue;
      tryIt(s.url, (t) => {
        const v = rules.parseSetting(s, t);
        if (s.scope === "page") app[s.name] = v;
        else live.sets.push([s.url, t, { [s.name]: v }]);
      });
    }
    tryIt("flipped", (t) => { live.flips = parseFlipped(t); });
    tryIt("events", (t) => { live.later = parseEvents(t, q.step); });
    tryIt("step", (t) => { live.upTo = parseStep(t); });
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
    let pinned = null;
    tryIt("pin", (t) => { pinned = parsePin(t); });

    // the pinned run first (its own replay, kept as the pin), then the live run; a pin whose
    // replay the engine refuses in part is dropped whole, with a notice
    if (pinned) {
      let refused = null;
      replay(id, pinned, (what, text, reply) => { if (!refused) refused = what + ": " + reply.error.message; });
      ctl.idle().then(() => {
        if (refused) notices.push("ignored pin=" + q.pin.slice(0, 40) + ": " + refused);
        else ctl.pin(true);
        replayLive();
      });
    } else replayLive();

    function replayLive() {
      replay(id, live, (what, text, reply) => {
        notices.push("ignored " + what + (text == null ? "" : "=" + text.slice(0, 40)) + ": " + reply.error.message);
      }, () => {
        if (app.pin) {
          ctl.log("pin", DATA.texts.PIN_LOG_LINK.replace("{step}", app.pin.step)
            .replace("{settings}", ctl.pinWords(app.pin)), 0);
        }
      });
      ctl.idle().then(() => then(notices));
    }
  }

  /** A run replayed command by command (answered in order; the last answer finishes it):
   * load, its settings and flips at step 0, its actions at their steps, then on to its
   * step. refused(what, text, reply): a command the engine refused; started(): once loaded. */
  function replay(id, run, refused, started) {
    ctl.start(id, started);
    for (const [url, text, change] of run.sets) {
      const name = Object.keys(change)[0];
      ctl.send({ op: "set", changes: change }, (reply, before) => {
        if (reply.error) { refused(url, text, reply); return; }
        if (before[name] === reply.state[name]) return;
        app.actions.push({ step: 0, set: change });
        ctl.logSet(name, before[name], reply.state[name], 0);
      });
    }
    for (const i of run.flips) {
      ctl.send({ op: "flip", row: i }, (reply) => {
        if (reply.error) return refused("flipped", null, reply);
        app.actions.push({ step: 0, flip: i });
        ctl.logFlip(i, reply.state.flipped.includes(i), 0);
      });
    }
    let at = 0;
    for (const [step, kind, v] of run.later) {
      if (step > at) { ctl.send({ op: "advance", n: step - at }, stopOnDiverge); at = step; }
      if (kind === "flip") {
        ctl.send({ op: "flip", row: v }, (reply) => {
          if (reply.error) return refused("events", null, reply);
          app.actions.push({ step: reply.state.t, flip: v });
          ctl.logFlip(v, reply.state.flipped.includes(v), reply.state.t);
        });
      } else {
        const name = rules.EVENT_SETTINGS[kind].name;
        ctl.send({ op: "set", changes: { [name]: v } }, (reply, before) => {
          if (reply.error) return refused("events", null, reply);
          app.actions.push({ step: reply.state.t, set: { [name]: v } });
          ctl.logSet(name, before[name], reply.state[name], reply.state.t);
        });
      }
    }
    if (run.upTo > at) ctl.send({ op: "advance", n: run.upTo - at }, stopOnDiverge);
  }
  function stopOnDiverge(reply) {
    if (reply.diverged) ctl.halt(reply.diverged);
  }
  /** applyQuery, after a `lesson=` parameter (a whole scenario, decoded and checked by the
   * TOML files' validator) has become the page's lesson; a bad one opens the default lesson
   * with a notice naming what was wrong (and the run's other parameters are not used). */
  function applyLink(params, then) {
    const given = params.filter(([k]) => k === "lesson");
    if (!given.length || !lessons) { applyQuery(params, then); return; }
    const code = given[given.length - 1][1];
    const rest = params.filter(([k]) => k !== "lesson" && k !== "scenario");
    decodeLesson(code, DATA.limits, DATA.settings).then((doc) => {
      const cfg = lessons.config(doc);
      ctl.addScenario(cfg);
      lessons.add(cfg.scenario, doc, code);
      applyQuery([["scenario", cfg.scenario]].concat(rest), then);
    }).catch((e) => {
      const what = e && e.field ? e.field + ": " + (e.rule || e.message) : String(e && e.message || e);
      applyQuery(rest.filter(([k]) => k === "hide"), then,
                 ["ignored lesson=" + code.slice(0, 40) + (code.length > 40 ? "…" : "") + ": " + what.slice(0, 300) + "; opened the default lesson"]);
    });
  }
  return { toQuery, queryString, applyQuery, applyLink, pinText };
}
