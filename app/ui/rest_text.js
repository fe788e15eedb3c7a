/* Where a row ends, in words: the rest statements of the formula strip and the reading
 * levels (one sentence per case of sim/rest.py's RowRest), with the numbers each needs.
 * Pure functions, no DOM: the formula strip and the reading levels call them, and the
 * tests run them in Node against the long runs (tests/test_rest.py) and against Python's
 * former rest_text (tests/test_rest_text_js.py).
 *
 * The words come from app/texts.py, passed in as T (the page's JSON of the texts); the
 * names read here: REST_OWN, REST_SHARED, REST_WHY_CYCLE, REST_WHY_CARRIED,
 * REST_WHY_OTHER, REST_STILL, REST_STILL_OFF, REST_APPROACHES, REST_WHERE_OWN,
 * REST_WHERE_SHARED, REST_DRIFT_SLOWING, REST_DRIFT_STEADY, REST_DRIFT_SHAKEN,
 * REST_WHY_UNANIMOUS, REST_WHY_ROBUST_EDGE, REST_WHY_ROBUST_BEYOND, REST_WHY_OFF,
 * REST_WHY_GROUP, REST_WHY_DRAGGED, REST_SWINGS, REST_STOPS, REST_IDLE, REST_OVERSHOOTS,
 * REST_OVERSHOOTS_IPO, REST_HEADS, REST_HALTS, REST_OPEN_HINGE, REST_OPEN, and on a
 * features model (how "theta", "theta-slowing", "theta-hinge", "theta-robust",
 * "theta-path": the rows share θ) REST_WHY_THETA, REST_WHERE_THETA, REST_APPROACHES_THETA,
 * REST_WHY_THETA_FREE, REST_THETA_VOTES, REST_THETA_VOTES_ROBUST, REST_OPEN_THETA.
 *
 * A rest object is what the engine sends per row (Simulation.rest() in the twin,
 * sim.rest.RowRest on the server): {kind, u, how, via, cycle, lr_limit, pace}. JSON has no
 * NaN or infinity, so a number may arrive as null or as a string ("NaN", "Infinity",
 * "-Infinity", "nan", "inf", "-inf", or the protocol's "__NaN__", "__Inf__", "__-Inf__"
 * where a host has not read them back): restNumber reads all of them. */

import { fill, minus } from "./fmt.js";
import { pyFloat, pyG } from "./pyfmt.js";

/** A number of a rest object: null means NaN (no such margin); strings name the
 *  non-finite numbers JSON cannot hold. */
export function restNumber(v) {
  if (typeof v === "number") return v;
  if (v === null || v === undefined) return NaN;
  const s = String(v).toLowerCase().replace(/^__(-?)(\w+)__$/, "$1$2");
  if (s === "inf" || s === "+inf" || s === "infinity" || s === "+infinity") return Infinity;
  if (s === "-inf" || s === "-infinity") return -Infinity;
  return s === "nan" ? NaN : Number(v);
}

// -- the loss weight: maths in the view, kept tiny ---------------------------------------------
// The served page gets only the numbers the NumPy engine sends, yet the strip's shared-rest
// sentence needs a row's own net pull at its rest margin and the pulls chart the weight
// curve. So the weight w(u) = -d loss / d u of each loss is written here once more, as
// sim/losses.py has it (tests/test_rest_text_js.py holds it to NumPy's within 1e-12).

const EXP_MAX = 709.0;

/** sigma(u) and sigma(-u) from one exp, exact in both tails (sim.numerics.sigmoid_pair). */
export function sigmoidPairOf(u) {
  const e = Math.exp(Math.min(-u, EXP_MAX));
  const a = 1.0 / (e + 1.0);
  return [a, e * a];
}

/** The loss in force as the texts name it: {name, label_smoothing}, name one of sigmoid,
 *  ipo, hinge, robust, or bare_margin with the weight off (sim.losses.objective). Reads a
 *  record or the settings: {loss_type, adaptive_weight, label_smoothing}. */
export function lossInForce(s) {
  if (!s.adaptive_weight) return { name: "bare_margin", label_smoothing: 0 };
  const eps = s.loss_type === "robust" ? +(s.label_smoothing || 0) : 0;
  return { name: s.loss_type, label_smoothing: eps };
}

/** How hard one judgement at margin u pulls under the loss in force (losses.Loss.weight). */
export function lossWeight(loss, beta, u) {
  switch (loss.name) {
    case "sigmoid": return sigmoidPairOf(u)[1];
    case "robust": {
      const eps = loss.label_smoothing;
      return sigmoidPairOf(u)[1] + eps / (1.0 - 2.0 * eps);
    }
    case "ipo": return (((0.5 - u) / beta) * 2.0) / beta;
    case "hinge": return u < 1.0 ? 1.0 : 0.0;
    default: return 1.0;                         // the bare margin: weight 1, for ever
  }
}

/** A row's own net pull at margin u, a·w(u) − b·w(−u) (votes a for the chosen side). */
export function netPullAt(loss, beta, a, b, u) {
  return a * lossWeight(loss, beta, u) - b * lossWeight(loss, beta, -u);
}

// -- the sentences -----------------------------------------------------------------------------

/** What a margin means: sigma(u) for DPO's family, the log-ratio margin h for IPO. */
function restMeaning(loss, beta, u) {
  if (loss.name === "ipo") return " (h = " + minus(u / beta, 3, true) + ")";
  return " (σ(u) = " + minus(sigmoidPairOf(u)[0]) + ")";
}

/** Where a row with votes a (chosen side) : b ends, in words: rr is its rest object, loss
 *  the loss in force ({name, label_smoothing}, see lossInForce), at this beta and learning
 *  rate lr; T the texts. The sentence Python's views/formula.rest_text wrote. */
export function restText(rr, a, b, loss, beta, lr, T) {
  const name = loss.name;
  const n = a + b;
  const p = n ? a / n : NaN;
  const eps = name === "robust" ? +(loss.label_smoothing ?? loss.labelSmoothing ?? 0) : 0;
  const kind = rr.kind, how = rr.how || "";
  const ru = restNumber(rr.u), via = rr.via ?? -1;
  const u = Number.isFinite(ru) ? minus(ru, 3, true) : "";
  const where = how === "own" ? T.REST_WHERE_OWN
    : how === "theta" ? T.REST_WHERE_THETA : T.REST_WHERE_SHARED;
  const up = ru > 0;
  if (kind === "rests") {
    if (how === "still") return fill(name === "bare_margin" ? T.REST_STILL_OFF : T.REST_STILL, { u });
    if (how === "own") {
      const q = (p - eps) / (1 - 2 * eps);
      const own = T.REST_OWN[name];
      if (own === undefined) return T.REST_OPEN;
      return fill(own, { u, a: pyG(a), b: pyG(b), q: minus(q), p: minus(p), eps: pyG(eps),
        h: minus(ru / beta, 3, true) });
    }
    const why = how === "theta" ? T.REST_WHY_THETA : rr.cycle ? T.REST_WHY_CYCLE
      : via >= 0 ? fill(T.REST_WHY_CARRIED, { via }) : T.REST_WHY_OTHER;
    return fill(T.REST_SHARED, { u, at: restMeaning(loss, beta, ru),
      net: minus(netPullAt(loss, beta, a, b, ru), 3, true), why });
  }
  if (kind === "approaches") {
    return fill(how === "theta" ? T.REST_APPROACHES_THETA : T.REST_APPROACHES,
      { u, at: restMeaning(loss, beta, ru), where, via });
  }
  if (kind === "drifts") {
    if (how === "") return T.REST_DRIFT_SHAKEN;
    const side = up ? "+∞" : "−∞";
    const share = Math.max(p, 1 - p);
    let why;
    if (name === "bare_margin") why = T.REST_WHY_OFF;
    else if (how === "theta-slowing") {
      why = fill(T.REST_WHY_THETA_FREE, { side: up ? "chosen" : "rejected",
        votes: eps > 0 ? fill(T.REST_THETA_VOTES_ROBUST, { eps: pyG(eps) }) : T.REST_THETA_VOTES });
    }
    else if (how === "slowing" && (b === 0 || a === 0) && eps === 0) {
      why = fill(T.REST_WHY_UNANIMOUS, { side: b === 0 ? "chosen" : "rejected",
        n: pyG(b === 0 ? a : b), w: b === 0 ? "σ(−u)" : "σ(u)" });
    } else if (name === "robust" && how === "slowing" && Math.abs(share - (1 - eps)) < 1e-9) {
      why = fill(T.REST_WHY_ROBUST_EDGE, { p: minus(p), eps: pyG(eps),
        side: p > 0.5 ? "chosen" : "rejected" });
    } else if (name === "robust" && how === "steady" && share > 1 - eps + 1e-9) {
      const floor = eps / (1 - 2 * eps);
      const limit = up ? a * floor - b * (1 + floor) : a * (1 + floor) - b * floor;
      why = fill(T.REST_WHY_ROBUST_BEYOND, { p: minus(p), edge: minus(1 - eps),
        floor: minus(floor), net: minus(limit, 3, true) });
    } else why = how === "slowing" ? T.REST_WHY_GROUP : T.REST_WHY_DRAGGED;
    if (how === "steady") {
      return fill(T.REST_DRIFT_STEADY, { side, pace: minus(restNumber(rr.pace), 4, true), why });
    }
    return fill(T.REST_DRIFT_SLOWING, { side, why });
  }
  if (kind === "swings") {
    return fill(T.REST_SWINGS, { where: up ? "below 1" : "above −1", a: pyG(a), b: pyG(b),
      d: minus(a - b, 0, true), edge: up ? "1" : "−1", after: up ? minus(-b, 0) : "+" + pyG(a) });
  }
  if (kind === "stops") {
    return fill(T.REST_STOPS, { side: up ? "chosen" : "rejected", edge: up ? "1" : "−1" });
  }
  if (kind === "idle") return fill(T.REST_IDLE, { a: pyG(a), b: pyG(b) });
  if (kind === "overshoots") {
    return fill(T.REST_OVERSHOOTS, { u, lr: pyG(lr), limit: minus(restNumber(rr.lr_limit), 3),
      ipo: name === "ipo" ? T.REST_OVERSHOOTS_IPO : "" });
  }
  if (kind === "heads") {
    return fill(T.REST_HEADS, { u, where, lr: pyG(lr), limit: minus(restNumber(rr.lr_limit), 3) });
  }
  if (kind === "halts") return fill(T.REST_HALTS, { u, via });
  if (how.startsWith("theta-") && T.REST_OPEN_THETA[how]) return T.REST_OPEN_THETA[how];
  return name === "hinge" ? T.REST_OPEN_HINGE : T.REST_OPEN;
}

const NEVER = ["approaches", "drifts", "swings", "overshoots"];

/** The margin the statement claims (sim.rest.RowRest.claim): the rest margin for "rests",
 *  NaN for "never rests", null for no claim. */
export function restClaimOf(rr) {
  if (rr.kind === "rests") return restNumber(rr.u);
  return NEVER.indexOf(rr.kind) >= 0 ? NaN : null;
}

/** The statement's data-u as the page writes it: the rest margin in full precision,
 *  "none" where it says the row never rests, null (no attribute) where it claims neither. */
export function restDataU(rr) {
  const claim = restClaimOf(rr);
  if (claim === null) return null;
  return claim !== claim ? "none" : pyFloat(claim);
}

/** Each row's statement for the whole table at once (the reading levels, the tests):
 *  [{kind, u: data-u or null, text}], rows [{votes_chosen, votes_rejected}], s the record
 *  or settings ({loss_type, adaptive_weight, label_smoothing, beta, learning_rate}). */
export function restStatements(rests, rows, s, T) {
  const loss = lossInForce(s);
  return rests.map((rr, i) => ({ kind: rr.kind, u: restDataU(rr),
    text: restText(rr, rows[i].votes_chosen, rows[i].votes_rejected, loss, s.beta,
      s.learning_rate, T) }));
}
