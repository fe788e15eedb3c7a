/* The scenario document on the page: the JavaScript twin of sim/scenario_io.py's validator
 * (with sim/challenge.py) and of sim/lesson.py (configToDoc, toToml, the ?lesson= link).
 *
 * checkDoc(doc, limits, settings) gives the config Python's build_scenario(doc).config()
 * gives (plus "steps"), or throws a ScenarioError whose message, .field and .rule are
 * Python's word for word (tests/test_lesson_js.py checks a corpus of broken docs). limits
 * is DATA.limits, settings DATA.settings (sim.settings.table_json()). Numbers are written
 * as Python writes them through the twin's pyFloatRepr (globalThis.DPO). A random reference
 * is refused: it is realised by the command line (dpo-sim link or export). */

const LINK_PREFIX = "1.";
const MAX_LINK = 8000;
const MAX_INFLATED = 200000;
const PROBS_TOLERANCE = 1e-9;
const MAX_GOALS = 8;

const TRL_METRICS = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
  "rewards/accuracies", "logps/chosen", "logps/rejected"];
const PROMPT_METRICS = ["kl", "kl_to_rlhf"];
const ROW_METRICS = ["pairs/margin", "pairs/sigma", "pairs/weight"];
const NUMBER_SETTINGS = ["beta", "learning_rate", "label_smoothing"];
const EQUALS_SETTINGS = ["adaptive_weight", "loss_type"];
const METRICS = TRL_METRICS.concat(PROMPT_METRICS, ROW_METRICS, ["probs", "step", "flips"],
  NUMBER_SETTINGS, EQUALS_SETTINGS);
const COMPARISONS = ["above", "below", "at_least", "at_most"];
const PER = ["judgement", "row"];
const CHALLENGE_KEYS = ["text", "by_step", "controls", "goals"];
const GOAL_ORDER = ["metric", "per", "prompt", "row", "reply"].concat(COMPARISONS,
  ["equals", "text"]);
const PROMPT_KEYS = ["text", "replies", "features"];
const PROMPT_REQUIRED = ["text", "replies"];
const MODEL_KINDS = ["table", "features"];
const MODEL_KEYS = {table: ["kind"], features: ["kind", "init_theta"]};
const PAIR_KEYS = ["prompt", "chosen", "rejected", "votes_chosen", "votes_rejected"];
const EVENT_KEYS = ["step", "flip", "set"];
const REFERENCE_KINDS = ["uniform", "probs", "logits", "random"];
const REFERENCE_KEYS = {uniform: ["kind"], probs: ["kind", "probs"], logits: ["kind", "logits"],
  random: ["kind", "seed", "scale"]};
export const RANDOM_RULE = "a random reference is realised by the command line: use " +
  "dpo-sim link or export";

export class ScenarioError extends Error {
  constructor(file, field, rule) {
    super(file + ": " + field + ": " + rule);
    this.name = "ScenarioError";
    this.file = file;
    this.field = field;
    this.rule = rule;
  }
}

// -- Python's ways of writing values -----------------------------------------------------
const SAFE = 2 ** 53;
function dpo() {
  const D = globalThis.DPO;
  if (!D || !D.pyFloatRepr) throw new TypeError("lesson.js needs the twin engine (DPO)");
  return D;
}
function isInt(v) { return typeof v === "number" && Number.isInteger(v) && Math.abs(v) < SAFE; }
function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }

// Python's str.isspace
const PY_SPACE = new Set([9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xa0, 0x1680, 0x2000,
  0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
  0x2029, 0x202f, 0x205f, 0x3000]);
function pyStrip(s) {
  const cs = Array.from(s);
  let a = 0;
  let b = cs.length;
  while (a < b && PY_SPACE.has(cs[a].codePointAt(0))) a++;
  while (b > a && PY_SPACE.has(cs[b - 1].codePointAt(0))) b--;
  return cs.slice(a, b).join("");
}
function hex(n, w) { return n.toString(16).padStart(w, "0"); }
// Python's reprs, as the twin engine writes them in its own messages (one implementation)
export function pyStr(s) { return dpo().pyStrRepr(s); }
export function pyRepr(v) { return dpo().pyRepr(v); }
function kindOf(v) {
  if (v === null || v === undefined) return "NoneType";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return isInt(v) ? "an integer" : "a number";
  if (typeof v === "string") return "a string";
  if (Array.isArray(v)) return "a list";
  return "a table";
}
function got(v) { return dpo().got(v); }

// difflib.get_close_matches(word, possibilities, n=1) (cutoff 0.6), as Python computes it
function matchingTotal(a, b) {
  const b2j = new Map();
  b.forEach((ch, j) => { if (!b2j.has(ch)) b2j.set(ch, []); b2j.get(ch).push(j); });
  const n = b.length;
  if (n >= 200) {                      // autojunk: popular elements of b are ignored
    const ntest = Math.floor(n / 100) + 1;
    for (const [ch, idx] of Array.from(b2j.entries())) if (idx.length > ntest) b2j.delete(ch);
  }
  const longest = (alo, ahi, blo, bhi) => {
    let besti = alo;
    let bestj = blo;
    let bestsize = 0;
    let j2len = new Map();
    for (let i = alo; i < ahi; i++) {
      const next = new Map();
      for (const j of (b2j.get(a[i]) || [])) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) || 0) + 1;
        next.set(j, k);
        if (k > bestsize) { besti = i - k + 1; bestj = j - k + 1; bestsize = k; }
      }
      j2len = next;
    }
    while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
      besti--; bestj--; bestsize++;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi &&
           a[besti + bestsize] === b[bestj + bestsize]) bestsize++;
    return [besti, bestj, bestsize];
  };
  let total = 0;
  const queue = [[0, a.length, 0, b.length]];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop();
    const [i, j, k] = longest(alo, ahi, blo, bhi);
    if (k) {
      total += k;
      if (alo < i && blo < j) queue.push([alo, i, blo, j]);
      if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
    }
  }
  return total;
}
export function closeMatch(word, possibilities) {
  const b = Array.from(word);
  let best = null;
  for (const x of possibilities) {
    const a = Array.from(x);
    const ratio = a.length + b.length ? 2 * matchingTotal(a, b) / (a.length + b.length) : 1;
    if (ratio >= 0.6 && (best === null || ratio > best[0] || (ratio === best[0] && x > best[1]))) {
      best = [ratio, x];
    }
  }
  return best === null ? null : best[1];
}

// -- the checker (sim/scenario_io.py's _Checker) -----------------------------------------
function checker(file) {
  const fail = (field, rule) => { throw new ScenarioError(file, field, rule); };
  const join = (prefix, key) => prefix ? prefix + "." + key : key;
  const c = {
    fail,
    table(v, field) {
      if (!isObj(v)) fail(field, "must be a table, got " + kindOf(v));
      return v;
    },
    keys(t, allowed, prefix, required) {
      for (const k of Object.keys(t)) {
        if (allowed.indexOf(k) < 0) {
          const close = closeMatch(k, allowed);
          const hint = close === null ? "" : " (did you mean " + pyStr(close) + "?)";
          fail(join(prefix, k), "unknown key" + hint + "; allowed here: " + allowed.join(", "));
        }
      }
      for (const k of (required || [])) if (!has(t, k)) fail(join(prefix, k), "is required but missing");
    },
    text(v, field, limit) {
      if (typeof v !== "string") fail(field, "must be a string, got " + kindOf(v));
      if (!pyStrip(v)) fail(field, "must not be empty");
      let n = 0;
      for (const ch of v) {
        const o = ch.codePointAt(0);
        if ((o < 0x20 || (o >= 0x7f && o <= 0x9f)) && ch !== "\n" && ch !== "\t") {
          fail(field, "must not contain the control character U+" +
            hex(o, 4).toUpperCase() + " (only newline and tab are allowed)");
        }
        if (o >= 0xd800 && o <= 0xdfff) {
          fail(field, "must not contain the lone surrogate U+" + hex(o, 4).toUpperCase() +
            " (not a character)");
        }
        n++;
      }
      if (limit !== undefined && n > limit) {
        fail(field, "is " + n + " characters long; at most " + limit + " (what the page can show)");
      }
      return v;
    },
    count(items, field, limit, what, per) {
      if (items.length > limit) {
        fail(field, "holds " + items.length + " " + what + "; at most " + limit + (per || "") +
          " (what the page can show)");
      }
    },
    setting(row, v, field) {
      const bad = (rule) => fail(field, "must be " + rule + ", got " + got(v));
      if (row.kind === "number") {
        if (!(typeof v === "number" && Number.isFinite(v) &&
              (row.lo_open ? row.lo < v : row.lo <= v) &&
              (row.hi_open ? v < row.hi : v <= row.hi))) bad(row.rule);
      } else if (row.kind === "whole") {
        if (!(isInt(v) && row.lo <= v && v <= row.hi)) bad(row.rule);
      } else if (row.kind === "flag") {
        if (typeof v !== "boolean") bad("true or false");
      } else if (typeof v !== "string" || row.options.indexOf(v) < 0) bad(row.rule);
      return v;
    },
    integer(v, field, low, what) {
      what = what || "";
      if (!isInt(v)) fail(field, "must be a whole number" + what + ", got " + kindOf(v) + " " + pyRepr(v));
      if (low !== undefined && v < low) fail(field, "must be >= " + low + what + ", got " + v);
      return v;
    },
    number(v, field) {
      if (typeof v !== "number") fail(field, "must be a number, got " + kindOf(v) + " " + got(v));
      if (!Number.isFinite(v)) fail(field, "must be a finite number, got " + pyRepr(v));
      return v;
    },
    index(v, field, n, what) {
      if (!isInt(v)) {
        fail(field, "must be an index of " + what + " (0.." + (n - 1) + "), got " + kindOf(v) +
          " " + pyRepr(v));
      }
      if (!(v >= 0 && v < n)) fail(field, "must be an index of " + what + " (0.." + (n - 1) + "), got " + v);
      return v;
    },
    list(v, field) {
      if (!Array.isArray(v)) fail(field, "must be a list, got " + kindOf(v));
      return v;
    },
    logits(v, field, P, K, unit, units) {
      const rows = c.list(v, field);
      if (rows.length !== P) {
        fail(field, "must have one row of " + (units || unit + "s") + " per prompt (" + P +
          "), got " + rows.length);
      }
      return rows.map((row, x) => {
        const f = field + "[" + x + "]";
        c.list(row, f);
        if (row.length !== K) {
          fail(f, "must have one " + unit + " per reply of prompt " + x + " (" + K + "), got " +
            row.length);
        }
        return row.map((val, k) => c.number(val, f + "[" + k + "]"));
      });
    },
  };
  return c;
}

function settingsOf(settings) {
  if (!Array.isArray(settings)) {
    throw new TypeError("lesson.js needs the settings table (DATA.settings)");
  }
  const toml = settings.filter((s) => s.toml);
  return {toml, byToml: new Map(toml.map((s) => [s.toml, s])),
    byName: new Map(settings.map((s) => [s.name, s])),
    event: toml.filter((s) => s.live && s.scope === "run"),
    shaping: settings.filter((s) => s.scope === "run" && s.name !== "steps").map((s) => s.name)};
}

// -- the validator (build_scenario) -----------------------------------------------------
export function checkDoc(doc, limits, settings, file = "the page's scenario", id = "lesson") {
  const S = settingsOf(settings);
  const L = limits;
  const c = checker(file);
  c.table(doc, "(top level)");
  const topKeys = ["title", "watch"].concat(S.toml.map((s) => s.toml),
    ["model", "reference", "init", "true_reward", "prompts", "pairs", "events", "challenge"]);
  const required = ["title", "watch"].concat(S.toml.filter((s) => s.default === null)
    .map((s) => s.toml), ["prompts", "pairs"]);
  c.keys(doc, topKeys, "", required);
  const title = c.text(doc.title, "title", L.MAX_TITLE);
  const watch = c.text(doc.watch, "watch", L.MAX_WATCH);
  const values = {};
  for (const s of S.toml) values[s.name] = has(doc, s.toml) ? c.setting(s, doc[s.toml], s.toml) : s.default;

  const promptsIn = c.list(doc.prompts, "prompts");
  if (!promptsIn.length) c.fail("prompts", "must hold at least one prompt");
  c.count(promptsIn, "prompts", L.MAX_PROMPTS, "prompts");
  const prompts = [];
  promptsIn.forEach((p, x) => {
    const f = "prompts[" + x + "]";
    c.table(p, f);
    c.keys(p, PROMPT_KEYS, f, PROMPT_REQUIRED);
    const text = c.text(p.text, f + ".text", L.MAX_TEXT);
    const replies = c.list(p.replies, f + ".replies");
    if (replies.length < 2) c.fail(f + ".replies", "must hold at least 2 replies, got " + replies.length);
    c.count(replies, f + ".replies", L.MAX_REPLIES, "replies", " per prompt");
    replies.forEach((r, k) => c.text(r, f + ".replies[" + k + "]", L.MAX_TEXT));
    if (x > 0 && replies.length !== prompts[0].replies.length) {
      c.fail(f + ".replies", "every prompt must have the same number of replies (the policy is a " +
        "P x K table): prompt 0 has " + prompts[0].replies.length + ", this one has " + replies.length);
    }
    prompts.push({text, replies: replies.slice()});
  });
  const P = prompts.length;
  const K = prompts[0].replies.length;
  const modelIn = modelTable(c, doc);

  const ref = c.table(has(doc, "reference") ? doc.reference : {kind: "uniform"}, "reference");
  const kind = ref.kind;
  if (kind === undefined || kind === null) {
    c.fail("reference.kind", "is required: one of " + REFERENCE_KINDS.join(", "));
  }
  if (typeof kind !== "string" || REFERENCE_KINDS.indexOf(kind) < 0) {
    c.fail("reference.kind", "must be one of " + REFERENCE_KINDS.join(", ") + ", got " + pyRepr(kind));
  }
  if (kind === "random") c.fail("reference.kind", RANDOM_RULE);
  c.keys(ref, REFERENCE_KEYS[kind], "reference", REFERENCE_KEYS[kind]);
  let refLogits;
  if (kind === "uniform") {
    refLogits = prompts.map(() => new Array(K).fill(0.0));
  } else if (kind === "logits") {
    refLogits = c.logits(ref.logits, "reference.logits", P, K, "logit");
  } else {
    const probs = c.logits(ref.probs, "reference.probs", P, K, "probability", "probabilities");
    probs.forEach((row, x) => {
      row.forEach((p, k) => {
        if (!(p > 0)) c.fail("reference.probs[" + x + "][" + k + "]", "must be > 0 (a probability), got " + pyRepr(p));
      });
      const total = dpo().fsum(row);
      if (!(Math.abs(total - 1.0) <= PROBS_TOLERANCE)) {
        c.fail("reference.probs[" + x + "]", "must sum to 1 (within 1e-09), got " + dpo().pyFloatRepr(total));
      }
    });
    refLogits = probs.map((row) => row.map((p) => Math.log(p)));
  }
  if (has(doc, "init") && modelIn.kind === "features") {
    c.fail("init", "gives start logits, which a features model does not have: it starts at " +
      "[model] init_theta (remove init, or set model.kind = \"table\")");
  }
  const init = has(doc, "init") ? c.logits(doc.init, "init", P, K, "logit") : null;
  const trueReward = has(doc, "true_reward") ? c.logits(doc.true_reward, "true_reward", P, K, "reward") : null;
  const model = checkModel(c, modelIn, promptsIn.map((p) => (has(p, "features") ? p.features : ABSENT)), K,
    L.MAX_FEATURES, (x) => "prompts[" + x + "].features");

  const pairsIn = c.list(doc.pairs, "pairs");
  if (!pairsIn.length) c.fail("pairs", "must hold at least one preference row");
  c.count(pairsIn, "pairs", L.MAX_ROWS, "rows");
  const rows = pairsIn.map((r, i) => {
    const f = "pairs[" + i + "]";
    c.table(r, f);
    c.keys(r, PAIR_KEYS, f, ["prompt", "chosen", "rejected", "votes_chosen"]);
    const x = c.index(r.prompt, f + ".prompt", P, "a prompt");
    const ch = c.index(r.chosen, f + ".chosen", K, "a reply of prompt " + x);
    const rj = c.index(r.rejected, f + ".rejected", K, "a reply of prompt " + x);
    if (ch === rj) {
      c.fail(f + ".rejected", "must differ from chosen: a row cannot compare reply " + ch + " with itself");
    }
    const votes = ["votes_chosen", "votes_rejected"].map((key) => {
      const v = c.number(has(r, key) ? r[key] : 0, f + "." + key);
      if (v < 0) c.fail(f + "." + key, "must be >= 0 (a count of annotators), got " + pyRepr(v));
      return v;
    });
    if (votes[0] + votes[1] <= 0) {
      c.fail(f + ".votes_chosen", "the row has no votes: votes_chosen + votes_rejected must be > 0");
    }
    return {prompt: x, chosen: ch, rejected: rj, votes_chosen: votes[0], votes_rejected: votes[1]};
  });

  const eventsIn = c.list(has(doc, "events") ? doc.events : [], "events");
  c.count(eventsIn, "events", L.MAX_EVENTS, "events");
  const eventNames = S.event.map((s) => s.toml);
  const events = eventsIn.map((e, j) => {
    const f = "events[" + j + "]";
    c.table(e, f);
    c.keys(e, EVENT_KEYS, f, ["step"]);
    const step = c.integer(e.step, f + ".step", 0);
    if (has(e, "flip") === has(e, "set")) c.fail(f, "must have exactly one of 'flip = ROW' or 'set = { ... }'");
    if (has(e, "flip")) return {step, flip: c.index(e.flip, f + ".flip", rows.length, "a row of pairs")};
    const s = c.table(e.set, f + ".set");
    if (!Object.keys(s).length) c.fail(f + ".set", "must set at least one of " + eventNames.join(", "));
    c.keys(s, eventNames, f + ".set");
    const set = {};
    for (const k of Object.keys(s)) set[S.byToml.get(k).name] = c.setting(S.byToml.get(k), s[k], f + ".set." + k);
    return {step, set};
  });
  events.sort((a, b) => a.step - b.step);

  const config = {type: "config", scenario: id, title, watch};
  for (const name of S.shaping) config[name] = values[name];
  config.prompts = prompts;
  config.ref_logits = refLogits;
  if (model.kind === "table") config.init_logits = init || refLogits.map((r) => r.slice());
  Object.assign(config, {model, pairs: rows, events});
  if (trueReward) config.true_reward = trueReward;
  if (has(doc, "challenge")) {
    config.challenge = checkChallenge(c, doc.challenge, P, K, rows.length, L.MAX_TEXT, S);
  }
  config.steps = values.steps;
  return config;
}

// -- the model (sim/scenario_io.py's _model_table and _model) ---------------------------
const ABSENT = Symbol("absent");     // a prompt without features (not features = null)

function modelTable(c, doc) {
  const m = c.table(has(doc, "model") ? doc.model : {kind: "table"}, "model");
  const kind = has(m, "kind") ? m.kind : "table";
  if (typeof kind !== "string" || MODEL_KINDS.indexOf(kind) < 0) {
    c.fail("model.kind", "must be one of " + MODEL_KINDS.join(", ") + ", got " + got(kind));
  }
  if (kind === "table" && has(m, "init_theta")) {
    c.fail("model.init_theta", "is only for a features model (model.kind = \"features\")");
  }
  c.keys(m, MODEL_KEYS[kind], "model");
  return Object.assign({}, m, {kind});
}

/** The model's config: the table, or a features model from each prompt's vectors (`at(x)`
 * names prompt x's vectors); every vector has d numbers, d set by the first (1..maxD). */
function checkModel(c, m, vectors, K, maxD, at) {
  if (m.kind === "table") {
    vectors.forEach((v, x) => {
      if (v !== ABSENT) {
        c.fail(at(x), "is only for a features model: add [model] with kind = \"features\", or remove it");
      }
    });
    return {kind: "table"};
  }
  const origin = at(0) + "[0]";
  let d = null;
  const features = vectors.map((v, x) => {
    const f = at(x);
    if (v === ABSENT) {
      c.fail(f, "is required by a features model (model.kind = \"features\"): one vector of numbers per reply");
    }
    c.list(v, f);
    if (v.length !== K) {
      c.fail(f, "must hold one vector per reply (" + K + "), got " + v.length +
        (v.length < K ? ": reply " + v.length + " has none" : ""));
    }
    return v.map((vec, k) => {
      const fv = f + "[" + k + "]";
      c.list(vec, fv);
      if (d === null) {
        if (!vec.length) c.fail(fv, "must hold at least 1 number (d >= 1), got 0");
        c.count(vec, fv, maxD, "numbers");
        d = vec.length;
      } else if (vec.length !== d) {
        c.fail(fv, "must have " + d + " numbers (d, set by " + origin + "), got " + vec.length);
      }
      return vec.map((a, j) => c.number(a, fv + "[" + j + "]"));
    });
  });
  let theta = new Array(d).fill(0.0);
  if (has(m, "init_theta")) {
    const t = c.list(m.init_theta, "model.init_theta");
    if (t.length !== d) {
      c.fail("model.init_theta", "must have " + d + " numbers (d, set by " + origin + "), got " + t.length);
    }
    theta = t.map((a, j) => c.number(a, "model.init_theta[" + j + "]"));
  }
  return {kind: "features", features, init_theta: theta};
}

// -- the challenge (sim/challenge.py) ---------------------------------------------------
function goalKeys(metric) {
  if (EQUALS_SETTINGS.indexOf(metric) >= 0) return ["metric", "equals", "text"];
  const where = TRL_METRICS.indexOf(metric) >= 0 ? ["per"]
    : PROMPT_METRICS.indexOf(metric) >= 0 ? ["prompt"]
      : ROW_METRICS.indexOf(metric) >= 0 ? ["row"]
        : metric === "probs" ? ["prompt", "reply"] : [];
  return ["metric"].concat(where, COMPARISONS, ["text"]);
}

function checkChallenge(c, value, P, K, nRows, maxText, S) {
  const f = "challenge";
  const controlsAllowed = S.event.map((s) => s.toml).concat(["flip"]);
  c.table(value, f);
  c.keys(value, CHALLENGE_KEYS, f, ["goals"]);
  const out = {};
  if (has(value, "text")) out.text = c.text(value.text, f + ".text", maxText);
  if (has(value, "by_step")) out.by_step = c.integer(value.by_step, f + ".by_step", 1);
  if (has(value, "controls")) {
    const seen = [];
    c.list(value.controls, f + ".controls").forEach((k, i) => {
      const fi = f + ".controls[" + i + "]";
      if (typeof k !== "string" || controlsAllowed.indexOf(k) < 0) {
        c.fail(fi, "must be one of " + controlsAllowed.join(", ") + ", got " + pyRepr(k));
      }
      if (seen.indexOf(k) >= 0) c.fail(fi, "lists " + pyStr(k) + " twice");
      seen.push(k);
    });
    out.controls = seen;
  }
  const goals = c.list(value.goals, f + ".goals");
  if (!goals.length) c.fail(f + ".goals", "must hold at least one goal");
  if (goals.length > MAX_GOALS) {
    c.fail(f + ".goals", "holds " + goals.length + " goals; at most " + MAX_GOALS + " (what the page can show)");
  }
  out.goals = goals.map((g, j) => checkGoal(c, g, f + ".goals[" + j + "]", P, K, nRows, maxText, S));
  return out;
}

function checkGoal(c, g, f, P, K, nRows, maxText, S) {
  c.table(g, f);
  const metric = g.metric;
  if (metric === undefined || metric === null) c.fail(f + ".metric", "is required: one of " + METRICS.join(", "));
  if (typeof metric !== "string" || METRICS.indexOf(metric) < 0) {
    c.fail(f + ".metric", "must be one of " + METRICS.join(", ") + ", got " + pyRepr(metric));
  }
  const equals = EQUALS_SETTINGS.indexOf(metric) >= 0;
  c.keys(g, goalKeys(metric), f, equals ? ["metric", "equals"]
    : metric === "probs" ? ["metric", "prompt", "reply"] : ["metric"]);
  const out = {metric};
  if (TRL_METRICS.indexOf(metric) >= 0) {
    const per = has(g, "per") ? g.per : "judgement";
    if (typeof per !== "string" || PER.indexOf(per) < 0) {
      c.fail(f + ".per", "must be one of " + PER.join(", ") + ", got " + pyRepr(per));
    }
    out.per = per;
  }
  if (has(g, "prompt")) out.prompt = c.index(g.prompt, f + ".prompt", P, "a prompt");
  if (has(g, "row")) out.row = c.index(g.row, f + ".row", nRows, "a row of pairs");
  if (has(g, "reply")) out.reply = c.index(g.reply, f + ".reply", K, "a reply of prompt " + out.prompt);
  if (equals) {
    out.equals = c.setting(S.byName.get(metric), g.equals, f + ".equals");
  } else {
    const given = COMPARISONS.filter((k) => has(g, k));
    if (given.length !== 1) {
      c.fail(f, "must have exactly one comparison: one of " + COMPARISONS.join(", ") +
        (given.length ? ", got " + given.length + " (" + given.join(", ") + ")" : ""));
    }
    out[given[0]] = c.number(g[given[0]], f + "." + given[0]);
  }
  if (has(g, "text")) out.text = c.text(g.text, f + ".text", maxText);
  return out;
}

// -- config -> doc (sim/lesson.py's config_to_doc) ---------------------------------------
export function configToDoc(config, settings) {
  const S = settingsOf(settings);
  const doc = {title: config.title, watch: config.watch};
  for (const s of S.toml) if (config[s.name] !== undefined) doc[s.toml] = config[s.name];
  const ref = config.ref_logits.map((row) => row.slice());
  doc.reference = ref.every((row) => row.every((v) => v === 0)) ? {kind: "uniform"}
    : {kind: "logits", logits: ref};
  const init = config.init_logits;
  if (init && JSON.stringify(init) !== JSON.stringify(ref)) doc.init = init.map((row) => row.slice());
  if (config.true_reward) doc.true_reward = config.true_reward.map((row) => row.slice());
  const model = config.model || {kind: "table"};
  let features = null;
  if (model.kind === "features") {
    doc.model = {kind: "features"};
    const theta = (model.init_theta || []).slice();
    if (theta.some((v) => v !== 0)) doc.model.init_theta = theta;
    features = model.features.map((prompt) => prompt.map((vec) => vec.slice()));
  }
  doc.prompts = config.prompts.map((p, x) => (features === null ? {text: p.text, replies: p.replies.slice()}
    : {text: p.text, replies: p.replies.slice(), features: features[x]}));
  doc.pairs = config.pairs.map((r) => Object.assign({}, r));
  if (config.events && config.events.length) doc.events = JSON.parse(JSON.stringify(config.events));
  if (config.challenge) doc.challenge = JSON.parse(JSON.stringify(config.challenge));
  return doc;
}

// -- doc -> TOML (sim/lesson.py's to_toml, byte for byte) --------------------------------
const ESCAPED = [[0x00, 0x1f], [0x7f, 0x9f], [0xad, 0xad], [0x061c, 0x061c], [0x180e, 0x180e],
  [0x200b, 0x200f], [0x2028, 0x202e], [0x2060, 0x206f], [0xfeff, 0xfeff], [0xfff9, 0xfffb]];
export function tomlString(text) {
  let out = '"';
  for (const ch of text) {
    const o = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ESCAPED.some(([lo, hi]) => lo <= o && o <= hi)) out += "\\u" + hex(o, 4).toUpperCase();
    else out += ch;
  }
  return out + '"';
}
function fl(v) { return dpo().pyFloatRepr(v); }
function int(v) { return String(v); }
function count(v) { return Number.isInteger(v) && Math.abs(v) < SAFE ? String(v) : fl(v); }
function matrix(rows) {
  return "[\n" + rows.map((row) => "  [" + row.map(fl).join(", ") + "],\n").join("") + "]";
}

export function toToml(doc, settings) {
  const S = settingsOf(settings);
  const setting = (key, v) => {
    const kind = S.byToml.get(key).kind;
    return kind === "flag" ? (v ? "true" : "false") : kind === "whole" ? int(v)
      : kind === "number" ? fl(v) : tomlString(v);
  };
  const out = ["# A dpo-sim scenario (the format: presets/README.md).",
    "title = " + tomlString(doc.title), "watch = " + tomlString(doc.watch), ""];
  for (const s of S.toml) if (has(doc, s.toml)) out.push(s.toml + " = " + setting(s.toml, doc[s.toml]));
  for (const key of ["init", "true_reward"]) if (has(doc, key)) out.push(key + " = " + matrix(doc[key]));
  if (has(doc, "model")) {
    const m = doc.model;
    out.push("", "[model]");
    if (has(m, "kind")) out.push("kind = " + tomlString(m.kind));
    if (has(m, "init_theta")) out.push("init_theta = [" + m.init_theta.map(fl).join(", ") + "]");
  }
  const ref = has(doc, "reference") ? doc.reference : {kind: "uniform"};
  out.push("", "[reference]", "kind = " + tomlString(ref.kind));
  if (ref.kind === "probs" || ref.kind === "logits") out.push(ref.kind + " = " + matrix(ref[ref.kind]));
  else if (ref.kind === "random") out.push("seed = " + int(ref.seed), "scale = " + fl(ref.scale));
  for (const p of doc.prompts) {
    out.push("", "[[prompts]]", "text = " + tomlString(p.text), "replies = [");
    for (const r of p.replies) out.push("  " + tomlString(r) + ",");
    out.push("]");
    if (has(p, "features")) out.push("features = " + matrix(p.features));
  }
  for (const r of doc.pairs) {
    out.push("", "[[pairs]]", "prompt = " + int(r.prompt), "chosen = " + int(r.chosen),
      "rejected = " + int(r.rejected), "votes_chosen = " + count(r.votes_chosen),
      "votes_rejected = " + count(has(r, "votes_rejected") ? r.votes_rejected : 0));
  }
  for (const e of (doc.events || [])) {
    out.push("", "[[events]]", "step = " + int(e.step));
    if (has(e, "flip")) out.push("flip = " + int(e.flip));
    else {
      const items = S.toml.filter((s) => has(e.set, s.toml)).map((s) => s.toml + " = " + setting(s.toml, e.set[s.toml]));
      out.push("set = { " + items.join(", ") + " }");
    }
  }
  const ch = doc.challenge;
  if (ch !== undefined && ch !== null) {
    out.push("", "[challenge]");
    if (has(ch, "text")) out.push("text = " + tomlString(ch.text));
    if (has(ch, "by_step")) out.push("by_step = " + int(ch.by_step));
    if (has(ch, "controls")) out.push("controls = [" + ch.controls.map(tomlString).join(", ") + "]");
    for (const g of ch.goals) {
      out.push("", "[[challenge.goals]]");
      for (const k of GOAL_ORDER) {
        if (!has(g, k)) continue;
        const v = g[k];
        out.push(k + " = " + (["prompt", "row", "reply"].indexOf(k) >= 0 ? int(v)
          : COMPARISONS.indexOf(k) >= 0 ? fl(v) : k === "equals" ? setting(g.metric, v) : tomlString(v)));
      }
    }
  }
  return out.join("\n") + "\n";
}

// -- the link (?lesson=1.<base64url of raw DEFLATE of the doc's JSON>) -------------------
async function pipe(bytes, stream) {
  const out = [];
  let size = 0;
  const reader = new Blob([bytes]).stream().pipeThrough(stream).getReader();
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    out.push(value);
    size += value.length;
    if (size > MAX_INFLATED) {
      reader.cancel().catch(() => {});
      return null;
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const part of out) { all.set(part, at); at += part.length; }
  return all;
}

export async function encodeLesson(doc) {
  const raw = new TextEncoder().encode(JSON.stringify(doc));
  const packed = await pipeAll(raw, new CompressionStream("deflate-raw"));
  let bin = "";
  for (let i = 0; i < packed.length; i++) bin += String.fromCharCode(packed[i]);
  const text = LINK_PREFIX + btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  if (text.length > MAX_LINK) {
    throw new Error("too long: the lesson is " + text.length + " characters; at most " + MAX_LINK);
  }
  return text;
}

async function pipeAll(bytes, stream) {
  const buf = await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer();
  return new Uint8Array(buf);
}

export async function decodeLesson(text, limits, settings, file = "the link") {
  const damaged = "truncated: the compressed lesson is damaged or incomplete";
  const notB64 = "not base64url: a lesson is '1.' and then only letters, digits, '-' and '_'";
  if (text.length > MAX_LINK) {
    throw new Error("too long: the lesson is " + text.length + " characters; at most " + MAX_LINK);
  }
  if (!text.startsWith(LINK_PREFIX)) throw new Error("not a lesson: it must begin with '1.'");
  const body = text.slice(LINK_PREFIX.length);
  const bare = body.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(body) || bare.length % 4 === 1) throw new Error(notB64);
  let packed;
  try {
    const bin = atob(bare.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - bare.length % 4) % 4));
    packed = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    throw new Error(notB64);
  }
  let raw;
  try {
    raw = await pipe(packed, new DecompressionStream("deflate-raw"));
  } catch {
    throw new Error(damaged);
  }
  if (raw === null) throw new Error("too long: the lesson inflates to more than " + MAX_INFLATED + " bytes");
  let doc;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", {fatal: true}).decode(raw));
  } catch {
    throw new Error("not JSON: the lesson does not hold a JSON scenario");
  }
  try {
    checkDoc(doc, limits, settings, file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new Error(e.field + ": " + e.rule);
    if (e instanceof RangeError) throw new Error("not JSON: the lesson does not hold a JSON scenario");
    throw e;
  }
  return doc;
}
