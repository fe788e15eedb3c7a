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
  function atZero() {
    const settings = baseline(), toggled = new Set();
    for (const e of app.actions) {
      if (e.step !== 0) continue;
      Object.assign(settings, e.set || {});
      if (e.flip != null) { if (toggled.has(e.flip)) toggled.delete(e.flip); else toggled.add(e.flip); }
    }
    return [settings, Array.from(toggled).sort((a, b) => a - b)];
  }
  function laterActions() {
    const byStep = new Map();
    for (const e of app.actions) {
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
    const [zero, flipped] = atZero();
    const base = baseline();
    for (const s of SETTINGS) {
      if (!s.url) continue;
      if (s.scope === "page") push(s.url, app[s.name] === s.default ? null : write(s, app[s.name]));
      else push(s.url, zero[s.name] === base[s.name] ? null : write(s, zero[s.name]));
    }
    push("flipped", flipped.length ? flipped.join(",") : null);
    const ev = laterActions().map(([step, kind, v]) =>
      step + ":" + kind + ":" + (kind === "flip" ? String(v) : write(rules.EVENT_SETTINGS[kind], v)));
    push("events", ev.length ? ev.join(",") : null);
    push("step", app.playing || app.state.t === 0 ? null : String(app.state.t));
    push("hide", app.hidden.length ? app.hidden.join(",") : null);
    if (app.themeAsked) push("theme", app.theme);
    return q;
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
      ["flipped", "events", "step", "autoplay", "hide", "theme", "lesson"]);
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
    const sets = [];
    for (const s of SETTINGS) {
      if (!s.url) continue;
      tryIt(s.url, (t) => {
        const v = rules.parseSetting(s, t);
        if (s.scope === "page") app[s.name] = v;
        else sets.push([s.url, t, { [s.name]: v }]);
      });
    }
    let flips = [];
    tryIt("flipped", (t) => {
      flips = Array.from(new Set(t.split(",").map((x) => x.trim()).filter(Boolean).map(parseRow))).sort((a, b) => a - b);
    });
    let later = [];
    tryIt("events", (t) => {
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
      const stop = q.step;
      if (out.length && stop != null && /^\d+$/.test(stop) && out[out.length - 1][0] > +stop) {
        throw new Error("an action at step " + out[out.length - 1][0] + " is after step=" + stop);
      }
      later = out;
    });
    let upTo = 0;
    tryIt("step", (t) => {
      if (!/^\d+$/.test(t) || +t > MAX_URL_STEP) throw new Error("must be a whole number from 0 to " + MAX_URL_STEP);
      upTo = +t;
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

    // the replay, command by command (answered in order; the last answer finishes it)
    ctl.start(id);
    const quiet = (what) => (reply) => { if (reply.error) notices.push("ignored " + what + ": " + reply.error.message); };
    for (const [url, text, change] of sets) {
      const name = Object.keys(change)[0];
      ctl.send({ op: "set", changes: change }, (reply, before) => {
        if (reply.error) { notices.push("ignored " + url + "=" + text.slice(0, 40) + ": " + reply.error.message); return; }
        if (before[name] === reply.state[name]) return;
        app.actions.push({ step: 0, set: change });
        ctl.logSet(name, before[name], reply.state[name], 0);
      });
    }
    for (const i of flips) {
      ctl.send({ op: "flip", row: i }, (reply) => {
        if (reply.error) return quiet("flipped")(reply);
        app.actions.push({ step: 0, flip: i });
        ctl.logFlip(i, reply.state.flipped.includes(i), 0);
      });
    }
    let at = 0;
    for (const [step, kind, v] of later) {
      if (step > at) { ctl.send({ op: "advance", n: step - at }, stopOnDiverge); at = step; }
      if (kind === "flip") {
        ctl.send({ op: "flip", row: v }, (reply) => {
          if (reply.error) return quiet("events")(reply);
          app.actions.push({ step: reply.state.t, flip: v });
          ctl.logFlip(v, reply.state.flipped.includes(v), reply.state.t);
        });
      } else {
        const name = rules.EVENT_SETTINGS[kind].name;
        ctl.send({ op: "set", changes: { [name]: v } }, (reply, before) => {
          if (reply.error) return quiet("events")(reply);
          app.actions.push({ step: reply.state.t, set: { [name]: v } });
          ctl.logSet(name, before[name], reply.state[name], reply.state.t);
        });
      }
    }
    if (upTo > at) ctl.send({ op: "advance", n: upTo - at }, stopOnDiverge);
    ctl.idle().then(() => then(notices));
    function stopOnDiverge(reply) {
      if (reply.diverged) ctl.halt(reply.diverged);
    }
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
  return { toQuery, queryString, applyQuery, applyLink };
}
