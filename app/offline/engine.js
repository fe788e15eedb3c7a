/* dpo-sim's engine in JavaScript: the same numbers as the NumPy engine in sim/, for the
 * offline page (one HTML file, no server, no build step).
 *
 * What it computes, in the DPO paper's and TRL's names (docs/model.md has the maths):
 * a policy pi = softmax(theta) over the K replies of each of P prompts, a frozen reference
 * pi_ref (logp_ref = log pi_ref), preference rows "on prompt x, votes_chosen annotators
 * preferred `chosen` over `rejected` and votes_rejected the opposite", and plain gradient
 * descent on the mean loss over single judgements (a 7:3 row is ten judgements).
 *
 * It follows sim/engine.py, sim/losses.py, sim/numerics.py, sim/pairs.py,
 * sim/simulation.py and sim/rlhf.py function by function, in the same order of
 * operations where that decides the last bit, so the two agree to ~1e-15 (V8's exp and log
 * differ from glibc's by an ulp now and then; tests/test_js_engine.py holds them to 1e-12).
 * Every setting's rule comes from Python's settings table (sim.settings.table_json), passed
 * in: a setting is declared once, in Python.
 *
 * Plain ES2019, no DOM, no imports: works as <script> (window.DPO) and in Node.js
 * (module.exports).
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.DPO = factory();
  }
}(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // ---------------------------------------------------------------------------------------
  // Exactly rounded sums (Python's math.fsum): every mean over judgements is one, so the
  // order of the terms never changes a recorded number.
  // ---------------------------------------------------------------------------------------

  /** Python's math.fsum (Shewchuk's algorithm, as CPython implements it): the exactly
   *  rounded sum of the numbers. A NaN or an infinity among them gives NaN or that
   *  infinity; +inf and -inf together, or an overflow of finite numbers, throw as Python's
   *  ValueError / OverflowError would. */
  function fsum(values) {
    const partials = [];
    let specialSum = 0.0;
    let infSum = 0.0;
    for (let v = 0; v < values.length; v++) {
      let x = +values[v];
      const xsave = x;
      let i = 0;
      for (let j = 0; j < partials.length; j++) {   // for y in partials
        let y = partials[j];
        if (Math.abs(x) < Math.abs(y)) {
          const t = x; x = y; y = t;
        }
        const hi = x + y;
        const lo = y - (hi - x);
        if (lo !== 0.0) partials[i++] = lo;
        x = hi;
      }
      partials.length = i;                          // partials[i:] = [x]
      if (x !== 0.0) {
        if (!Number.isFinite(x)) {
          // a non-finite x comes from an overflow, or from a nan or inf among the terms
          if (Number.isFinite(xsave)) {
            const err = new RangeError("intermediate overflow in fsum");
            err.name = "OverflowError";
            throw err;
          }
          if (xsave === Infinity || xsave === -Infinity) infSum += xsave;
          specialSum += xsave;
          partials.length = 0;
        } else {
          partials.push(x);
        }
      }
    }
    if (specialSum !== 0.0) {                       // true for NaN too
      if (Number.isNaN(infSum)) throw new RangeError("-inf + inf in fsum");
      return specialSum;
    }
    let n = partials.length;
    let hi = 0.0;
    if (n > 0) {
      hi = partials[--n];
      let lo = 0.0;
      // add the partials from the top, stop when the sum becomes inexact
      while (n > 0) {
        const x = hi;
        const y = partials[--n];
        hi = x + y;
        lo = y - (hi - x);
        if (lo !== 0.0) break;
      }
      // make half-even rounding work across several partials
      if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) ||
                    (lo > 0.0 && partials[n - 1] > 0.0))) {
        const y = lo * 2.0;
        const x = hi + y;
        if (y === x - hi) hi = x;
      }
    }
    return hi;
  }

  /** NumPy's sum of a 1-D float array (np.sum, np.add.reduce over a row): pairwise
   *  summation, a plain left-to-right loop below 8 terms. Used where NumPy sums, so the
   *  bits agree (an fsum would be more exact, and different). */
  function npSum(a, start, n) {
    if (start === undefined) { start = 0; n = a.length; }
    if (n < 8) {
      let res = 0.0;
      for (let i = 0; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(a[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
      }
      let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[start + i];
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return npSum(a, start, n2) + npSum(a, start + n2, n - n2);
  }

  // ---------------------------------------------------------------------------------------
  // Numerics (sim/numerics.py): sigmoid and softplus exact in both tails.
  // ---------------------------------------------------------------------------------------

  // exp(709) is near the largest finite double: clipping the exponent there keeps exp finite.
  const EXP_MAX = 709.0;
  const LOGE2 = Math.LN2;     // NumPy's NPY_LOGE2, the same double

  /** [sigma(u), sigma(-u)] from one exp: with E = exp(-u), sigma(u) = 1 / (1 + E) and
   *  sigma(-u) = E * sigma(u). Never 1 - (something close to 1), so each keeps its
   *  relative precision however small it gets. */
  function sigmoidPair(u) {
    const e = Math.exp(Math.min(-u, EXP_MAX));
    const a = 1.0 / (e + 1.0);
    return [a, e * a];
  }

  /** softplus(-u) = -log sigma(u) = max(-u, 0) + log1p(exp(-|u|)), exact in both tails. */
  function softplusNeg(u) {
    return Math.max(-u, 0.0) + Math.log1p(Math.exp(-Math.abs(u)));
  }

  /** [sigma(u), sigma(-u), softplus(-u), softplus(u)]: every number DPO needs for both
   *  sides of a row (numerics.sigmoid_softplus; max(-u, 0) = max(u, 0) - u exactly). */
  function sigmoidSoftplus(u) {
    const s = sigmoidPair(u);
    const l1p = Math.log1p(Math.exp(-Math.abs(u)));
    const relu = Math.max(u, 0.0);
    return [s[0], s[1], (relu - u) + l1p, relu + l1p];
  }

  /** np.logaddexp(0, y) as NumPy computes it: log(1 + e^y) without overflow. */
  function logAddExp0(y) {
    if (y === 0) return LOGE2;
    const tmp = -y;
    if (tmp > 0) return Math.log1p(Math.exp(-tmp));
    if (tmp <= 0) return y + Math.log1p(Math.exp(tmp));
    return tmp;                                     // NaN
  }

  /** Per prompt, [z = theta - max, exp(z), sum of exp(z)] (numerics.shifted_exp: the max
   *  and the sum over the replies in a fixed order). */
  function shiftedExp(row) {
    let m = row[0];
    for (let k = 1; k < row.length; k++) m = npMaximum(m, row[k]);
    const z = row.map(function (v) { return v - m; });
    const ez = z.map(Math.exp);
    let norm = ez[0] + ez[1];
    for (let k = 2; k < ez.length; k++) norm += ez[k];
    return [z, ez, norm];
  }

  /** np.maximum: NaN if either is NaN. */
  function npMaximum(a, b) {
    return (a !== a || b !== b) ? NaN : (a >= b ? a : b);
  }

  /** log pi over each prompt's replies (numerics.log_softmax). */
  function logSoftmax(theta) {
    return theta.map(function (row) {
      const s = shiftedExp(row);
      const logNorm = Math.log(s[2]);
      return s[0].map(function (v) { return v - logNorm; });
    });
  }

  // ---------------------------------------------------------------------------------------
  // The per-judgement losses (sim/losses.py), by TRL's loss_type names. A judgement "c beats
  // r" sees the policy only through its scaled margin u = beta * h, h = log-ratio(c) -
  // log-ratio(r). value(u) is its loss, weight(u) = -d value / d u how hard it pulls; a row
  // a:b holds a judgements at u and b at -u, so pairTerms gives both sides:
  // [value(u), value(-u), weight(u), weight(-u)].
  // ---------------------------------------------------------------------------------------

  /** DPO: -log sigma(u); its weight sigma(-u) fades as a judgement is learned. */
  const SIGMOID = {
    name: "sigmoid",
    weightIsSigmoid: true,        // weight(-u) = sigma(u): the row's sigma comes for free
    labelSmoothing: 0.0,
    value: function (u) { return softplusNeg(u); },
    pairTerms: function (u) {
      const s = sigmoidSoftplus(u);
      return [s[2], s[3], s[1], s[0]];
    },
  };

  /** IPO: (h - 1/(2 beta))^2, a squared distance to a fixed target margin. The gap
   *  (1/2 - u) / beta = 1/(2 beta) - h; its weight (1 - 2u) / beta^2 turns negative past
   *  the target, so even a unanimous row stops. */
  function ipoGap(u, beta) { return (0.5 - u) / beta; }
  const IPO = {
    name: "ipo",
    weightIsSigmoid: false,
    labelSmoothing: 0.0,
    value: function (u, beta) { const g = ipoGap(u, beta); return g * g; },
    pairTerms: function (u, beta) {
      const gf = ipoGap(u, beta);
      const gb = ipoGap(-u, beta);
      return [gf * gf, gb * gb, (gf * 2.0) / beta, (gb * 2.0) / beta];
    },
  };

  /** Hinge (SLiC): max(0, 1 - u): full pull until the margin reaches 1, then none (the
   *  subgradient 0 at the kink). */
  const HINGE = {
    name: "hinge",
    weightIsSigmoid: false,
    labelSmoothing: 0.0,
    value: function (u) { return npMaximum(1.0 - u, 0.0); },
    pairTerms: function (u) {
      return [npMaximum(1.0 - u, 0.0), npMaximum(1.0 + u, 0.0),
        u < 1.0 ? 1.0 : 0.0, u > -1.0 ? 1.0 : 0.0];
    },
  };

  /** Robust DPO (rDPO) with label_smoothing eps: DPO corrected for a share eps of flipped
   *  labels. Written softplus(-u) - c u with weight sigma(-u) + c, c = eps / (1 - 2 eps):
   *  the same function as TRL's, with no difference of two large terms. eps = 0 is DPO. */
  function robust(eps) {
    const c = eps / (1.0 - 2.0 * eps);
    return {
      name: "robust",
      weightIsSigmoid: false,
      labelSmoothing: eps,
      c: c,
      value: function (u) { return softplusNeg(u) - c * u; },
      pairTerms: function (u) {
        const s = sigmoidSoftplus(u);
        const cu = c * u;
        return [s[2] - cu, s[3] + cu, s[1] + c, s[0] + c];
      },
    };
  }

  /** The bare margin -u: weight 1 for every judgement, forever (the adaptive-weight toggle
   *  switched off replaces whatever loss is named by this). */
  const BARE_MARGIN = {
    name: "bare_margin",
    weightIsSigmoid: false,
    labelSmoothing: 0.0,
    value: function (u) { return -u; },
    pairTerms: function (u) { return [-u, u, 1.0, 1.0]; },
  };

  const LOSS_TYPES = ["sigmoid", "ipo", "hinge", "robust"];
  const ROBUST_CACHE = new Map();

  /** The loss in force (losses.objective): adaptive_weight off means the bare margin,
   *  whatever loss_type says; label_smoothing is read by robust only. */
  function objective(lossType, adaptiveWeight, labelSmoothing) {
    if (LOSS_TYPES.indexOf(lossType) < 0) {
      throw new RangeError("unknown loss_type " + pyRepr(lossType) + "; known: " +
        LOSS_TYPES.join(", "));
    }
    if (!(labelSmoothing >= 0.0 && labelSmoothing < 0.5)) {
      throw new RangeError("label_smoothing must be >= 0 and < 0.5, got " +
        pyRepr(labelSmoothing));
    }
    if (!adaptiveWeight) return BARE_MARGIN;
    if (lossType === "sigmoid") return SIGMOID;
    if (lossType === "ipo") return IPO;
    if (lossType === "hinge") return HINGE;
    if (!ROBUST_CACHE.has(labelSmoothing)) ROBUST_CACHE.set(labelSmoothing, robust(labelSmoothing));
    return ROBUST_CACHE.get(labelSmoothing);
  }

  /** The loss in force as one value (losses.LossSpec): the settings that shape the
   *  per-judgement loss (the settings table's rows marked shapes_loss) and the loss they
   *  give, built once, so a step looks nothing up. Frozen; it travels whole through the
   *  engine, the stack and the page's replies. */
  class LossSpec {
    constructor(adaptiveWeight, lossType, labelSmoothing) {
      this.adaptive_weight = adaptiveWeight === undefined ? true : !!adaptiveWeight;
      this.loss_type = lossType === undefined ? "sigmoid" : lossType;
      this.label_smoothing = labelSmoothing === undefined ? 0.0 : +labelSmoothing;
      Object.defineProperty(this, "loss", {value: objective(this.loss_type,
        this.adaptive_weight, this.label_smoothing), enumerable: false});
      Object.freeze(this);
    }

    /** The loss in force of anything holding the settings by name (a Simulation, a
     *  snapshot's dict, a config line). */
    static of(holder) {
      return new LossSpec(holder.adaptive_weight, holder.loss_type, holder.label_smoothing);
    }

    /** The settings, in the table's order (a reply's "settings"). */
    toDict() {
      return {adaptive_weight: this.adaptive_weight, loss_type: this.loss_type,
        label_smoothing: this.label_smoothing};
    }

    equals(other) {
      return other instanceof LossSpec && other.adaptive_weight === this.adaptive_weight &&
        other.loss_type === this.loss_type && other.label_smoothing === this.label_smoothing;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Python's ways of writing a value, for messages that read exactly like Python's.
  // ---------------------------------------------------------------------------------------

  /** Python's repr of a float (shortest digits that read back, 1e-05 / 1e+16 style). */
  function pyFloatRepr(v) {
    if (v !== v) return "nan";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
    const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(v.toExponential());
    const sign = m[1];
    const digits = m[2] + (m[3] || "");
    const exp = parseInt(m[4], 10);
    if (exp >= -4 && exp < 16) {
      let s;
      if (exp < 0) {
        s = "0." + "0".repeat(-exp - 1) + digits;
      } else if (digits.length <= exp + 1) {
        s = digits + "0".repeat(exp + 1 - digits.length) + ".0";
      } else {
        s = digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
      }
      return sign + s;
    }
    const mant = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    return sign + mant + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
  }

  /** Python's repr of a str: the characters str.isprintable() refuses (categories Cc, Cf,
   *  Cs, Co, Cn, Zl, Zp, Zs other than the space) escaped as Python escapes them. */
  const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
  function hex(n, w) { return n.toString(16).padStart(w, "0"); }
  function pyStrRepr(s) {
    const quote = (s.indexOf("'") >= 0 && s.indexOf('"') < 0) ? '"' : "'";
    let out = quote;
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (ch === "\\" || ch === quote) out += "\\" + ch;
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (c !== 32 && NOT_PRINTABLE.test(ch)) {
        out += c < 0x100 ? "\\x" + hex(c, 2) : c < 0x10000 ? "\\u" + hex(c, 4) : "\\U" + hex(c, 8);
      } else out += ch;
    }
    return out + quote;
  }

  /** Python's repr of a value from JSON. A JS number that is whole is written as Python
   *  writes an int (JSON and JS do not tell 0 from 0.0; Python's int 0 and "got 0"). */
  function pyRepr(v) {
    if (v === null || v === undefined) return "None";
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "number") {
      return (Number.isInteger(v) && Math.abs(v) < 1e16) ? String(v) : pyFloatRepr(v);
    }
    if (typeof v === "string") return pyStrRepr(v);
    if (Array.isArray(v)) return "[" + v.map(pyRepr).join(", ") + "]";
    if (typeof v === "object") {
      return "{" + Object.keys(v).map(function (k) {
        return pyStrRepr(k) + ": " + pyRepr(v[k]);
      }).join(", ") + "}";
    }
    return String(v);
  }

  /** settings._got: what a message quotes of a bad value (a string cut at 40 characters). */
  function got(v) {
    return typeof v === "string" ? pyStrRepr(Array.from(v).slice(0, 40).join("")) : pyRepr(v);
  }

  /** Python's format(x, "g") (P = 6 significant digits) or format(x, ".Pg"), trailing
   *  zeros dropped. */
  function formatG(x, P) {
    if (x !== x) return "nan";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0" : "0";
    P = P || 6;
    let s = x.toExponential(P - 1);               // rounds half away; Python half-even:
    const exact = Math.abs(x).toPrecision(100).replace(/e.*$/, "").replace(".", "")
      .replace(/^0+/, "");
    if (new RegExp("^\\d{" + P + "}50*$").test(exact) && parseInt(exact[P - 1], 10) % 2 === 0) {
      // an exact tie at digit P + 1: round to even (down), as Python does
      s = (x < 0 ? "-" : "") + (parseFloat(exact.slice(0, P)) / Math.pow(10, P - 1))
        .toFixed(P - 1) + "e" + Math.abs(x).toExponential(P - 1).split("e")[1];
    }
    const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
    const exp = parseInt(m[4], 10);
    const frac = m[3] || "";
    const digits = m[2] + frac;
    // drop trailing zeros after the point, then a bare point (never zeros before it)
    const trim = (t) => (t.indexOf(".") < 0 ? t : t.replace(/0+$/, "").replace(/\.$/, ""));
    let out;
    if (exp >= -4 && exp < P) {
      if (exp < 0) out = "0." + "0".repeat(-exp - 1) + digits;
      else out = digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
      out = trim(out);
    } else {
      const mant = trim(m[2] + "." + frac);
      out = mant + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    }
    return m[1] + out;
  }

  // ---------------------------------------------------------------------------------------
  // Settings (sim/settings.py): the rules come from Python's table (table_json).
  // ---------------------------------------------------------------------------------------

  /** A value that breaks a setting's rule; the message is the rule, e.g.
   *  "beta: must be a number > 0 and <= 100, got 0". */
  class SettingError extends Error {
    constructor(message) {
      super(message);
      this.name = "SettingError";
    }
  }

  /** Setting.check: the value if it is valid, else SettingError naming the rule. */
  function checkSetting(row, value) {
    const bad = function (rule) {
      return new SettingError("must be " + rule + ", got " + got(value));
    };
    if (row.kind === "number") {
      const ok = typeof value === "number" && Number.isFinite(value) &&
        (row.lo_open ? row.lo < value : row.lo <= value) &&
        (row.hi_open ? value < row.hi : value <= row.hi);
      if (!ok) throw bad(row.rule);
      return value;
    }
    if (row.kind === "whole") {
      if (!(typeof value === "number" && Number.isInteger(value) &&
            row.lo <= value && value <= row.hi)) throw bad(row.rule);
      return value;
    }
    if (row.kind === "flag") {
      if (typeof value !== "boolean") throw bad("true or false");
      return value;
    }
    if (row.kind === "choice") {
      if (typeof value !== "string" || row.options.indexOf(value) < 0) throw bad(row.rule);
      return value;
    }
    throw new SettingError("unknown kind of setting " + pyRepr(row.kind));
  }

  /** The settings table, indexed: byName, live (settable mid-run), run (a scenario's). */
  function indexTable(table) {
    if (!Array.isArray(table) || table.length === 0) {
      throw new TypeError("the settings table (sim.settings.table_json()) is required");
    }
    const byName = new Map();
    table.forEach(function (row) { byName.set(row.name, row); });
    return {
      byName: byName,
      live: table.filter(function (r) { return r.live && r.scope === "run"; })
        .map(function (r) { return r.name; }),
      run: table.filter(function (r) { return r.scope === "run"; })
        .map(function (r) { return r.name; }),
    };
  }

  /** settings.check_live: {name: value} of live settings, each checked; SettingError
   *  names the first bad one. */
  function checkLive(settings, changes) {
    const out = {};
    Object.keys(changes).forEach(function (name) {
      const row = settings.byName.get(name);
      if (row === undefined || settings.live.indexOf(name) < 0) {
        throw new SettingError(name + ": cannot be set during a run; settable: " +
          settings.live.join(", "));
      }
      try {
        out[name] = checkSetting(row, changes[name]);
      } catch (e) {
        if (e instanceof SettingError) throw new SettingError(name + ": " + e.message);
        throw e;
      }
    });
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // The preference rows (sim/pairs.py) and what the step needs of them.
  // ---------------------------------------------------------------------------------------

  /** The rows compiled for `evaluate` (Pairs.plan): each row's share of all judgements on
   *  its chosen side (vc) and its rejected side (vr), and per logit its share as a winner
   *  (sideC) and as a loser (sideR) of a judgement, so a mean over judgements of a
   *  per-reply quantity q is sum_k q[k] * side[k]. A new object whenever the rows change
   *  (a flip), like Python's Pairs, so a cache can tell by identity. */
  function compilePairs(rows, P, K) {
    const N = rows.length;
    const vcRaw = rows.map(function (r) { return +r.votes_chosen; });
    const vrRaw = rows.map(function (r) { return +r.votes_rejected; });
    const n = npSum(vcRaw) + npSum(vrRaw);        // every judgement: the means' denominator
    const vc = vcRaw.map(function (v) { return v / n; });
    const vr = vrRaw.map(function (v) { return v / n; });
    const flatC = rows.map(function (r) { return r.prompt * K + r.chosen; });
    const flatR = rows.map(function (r) { return r.prompt * K + r.rejected; });
    const sideC = new Array(P * K).fill(0.0);
    const sideR = new Array(P * K).fill(0.0);
    // in np.add.at's order: all chosen-side contributions, then all rejected-side ones
    for (let i = 0; i < N; i++) sideC[flatC[i]] += vc[i];
    for (let i = 0; i < N; i++) sideC[flatR[i]] += vr[i];
    for (let i = 0; i < N; i++) sideR[flatR[i]] += vc[i];
    for (let i = 0; i < N; i++) sideR[flatC[i]] += vr[i];
    return {
      rows: rows, P: P, K: K, N: N,
      prompt: rows.map(function (r) { return r.prompt; }),
      chosen: rows.map(function (r) { return r.chosen; }),
      rejected: rows.map(function (r) { return r.rejected; }),
      votesChosen: vcRaw, votesRejected: vrRaw,
      vc: vc, vr: vr,
      vdiff: vc.map(function (v, i) { return v - vr[i]; }),
      flatC: flatC, flatR: flatR, sideC: sideC, sideR: sideR,
    };
  }

  /** Pairs.flip: row i's chosen and rejected swapped; the votes stay with their sides, so
   *  the majority now backs the other reply. */
  function flipRow(pairs, i) {
    const rows = pairs.rows.map(function (r, j) {
      if (j !== i) return r;
      return {prompt: r.prompt, chosen: r.rejected, rejected: r.chosen,
        votes_chosen: r.votes_chosen, votes_rejected: r.votes_rejected};
    });
    return compilePairs(rows, pairs.P, pairs.K);
  }

  // ---------------------------------------------------------------------------------------
  // The policy's parameters and how they make each prompt's logits (sim/model.py): the
  // table (the parameters are the (P, K) logits) or the log-linear "features" model,
  // logits = log pi_ref + Phi theta with one theta (d) shared by every prompt and reply.
  // Both written as the same fixed sequences of element-wise operations as Python's, so
  // the bits agree.
  // ---------------------------------------------------------------------------------------

  const MAX_FEATURES = 16;      // model.MAX_FEATURES

  /** Each reply its own logit: the parameters are the logit table. */
  const TABLE = Object.freeze({
    kind: "table",
    d: 0,
    start: function (startLogits) { return copy2(startLogits); },
    logits: function (params) { return params; },
    pullback: function (gradLogits) { return gradLogits; },
    similarity: function () { return null; },
    config: function () { return {kind: "table"}; },
  });

  /** The rows' prompt, chosen and rejected replies, from compiled pairs or a list of rows. */
  function rowIndices(pairs) {
    if (pairs.prompt !== undefined) return pairs;
    return {prompt: pairs.map(function (r) { return r.prompt; }),
      chosen: pairs.map(function (r) { return r.chosen; }),
      rejected: pairs.map(function (r) { return r.rejected; })};
  }

  /** Each row's similarity score as Razin et al. (2024) define it for embeddings,
   *  <phi_w, phi_l> - |phi_w|^2, w the row's chosen reply as it stands (flips applied):
   *  positive, the row's own push lowers the chosen reply's logit. features: (P, K, d);
   *  pairs: compiled pairs or a list of rows. */
  function similarity(features, pairs) {
    const ix = rowIndices(pairs);
    return ix.prompt.map(function (x, i) {
      const fw = features[x][ix.chosen[i]];
      const fl = features[x][ix.rejected[i]];
      let wl = 0.0;
      let ww = 0.0;
      for (let j = 0; j < fw.length; j++) {
        wl += fw[j] * fl[j];
        ww += fw[j] * fw[j];
      }
      return wl - ww;
    });
  }

  /** Log-linear: logits = log pi_ref + Phi theta, theta (d) shared by every reply.
   *  features (P, K, d) nested arrays, initTheta (d) or null (zeros). */
  function featuresModel(features, initTheta) {
    const P = features.length;
    const K = P ? features[0].length : 0;
    const d = K ? features[0][0].length : 0;
    if (!(d >= 1) || !features.every(function (row) {
      return Array.isArray(row) && row.length === K && row.every(function (v) {
        return Array.isArray(v) && v.length === d;
      });
    })) {
      throw new RangeError("features must be (prompts, replies, d), every vector of one " +
        "length d >= 1");
    }
    const theta0 = initTheta === null || initTheta === undefined
      ? new Array(d).fill(0.0) : initTheta.map(Number);
    if (theta0.length !== d) {
      throw new RangeError("init_theta must have " + d + " numbers, got " + theta0.length);
    }
    const flat = new Float64Array(P * K * d);       // phi(x, y)_j at (x K + y) d + j
    for (let x = 0; x < P; x++) {
      for (let y = 0; y < K; y++) {
        for (let j = 0; j < d; j++) flat[(x * K + y) * d + j] = +features[x][y][j];
      }
    }
    return Object.freeze({
      kind: "features",
      d: d,
      features: features,
      init_theta: theta0,
      /** theta_0 (a features model has no start logits). */
      start: function () { return theta0.slice(); },
      /** log pi_ref + sum_j theta_j phi_j, coordinate by coordinate in order j = 0..d-1. */
      logits: function (params, logpRef) {
        const out = [];
        for (let x = 0; x < P; x++) {
          const row = new Array(K);
          for (let y = 0; y < K; y++) {
            const o = (x * K + y) * d;
            let v = logpRef[x][y];
            for (let j = 0; j < d; j++) v += flat[o + j] * params[j];
            row[y] = v;
          }
          out.push(row);
        }
        return out;
      },
      /** d loss / d theta_j = sum over (x, y) of phi_j(x, y) * d loss / d logit(x, y),
       *  summed in (x, y) order, left to right. */
      pullback: function (gradLogits) {
        const out = new Array(d).fill(0.0);
        for (let x = 0; x < P; x++) {
          for (let y = 0; y < K; y++) {
            const o = (x * K + y) * d;
            const g = gradLogits[x][y];
            for (let j = 0; j < d; j++) out[j] += flat[o + j] * g;
          }
        }
        return out;
      },
      similarity: function (pairs) { return similarity(features, pairs); },
      config: function () {
        return {kind: "features", features: features.map(copy2), init_theta: theta0.slice()};
      },
    });
  }

  /** The model of a config line's "model" (absent or null: the table). */
  function modelFromConfig(d) {
    if (!d || d.kind === undefined || d.kind === "table") return TABLE;
    if (d.kind !== "features") {
      throw new RangeError("model.kind must be one of table, features, got " + pyRepr(d.kind));
    }
    return featuresModel(d.features, d.init_theta);
  }

  // ---------------------------------------------------------------------------------------
  // One step's numbers (sim/engine.py, Engine.evaluate): every metric of a policy and the
  // gradient of the mean loss, from the policy *before* that step's update.
  // ---------------------------------------------------------------------------------------

  /** The record of a policy: TRL's metrics plus the gradient, as Record.to_dict orders
   *  them. params: the model's parameters (the (P, K) logits of a table, theta (d) of a
   *  features model); spec: the loss in force (LossSpec). Everything is computed on the
   *  logits model.logits(params); the gradient in the logits (grad_logits, on a features
   *  model only: a table's is its grad; gradLogits(record) reads either) is pulled back to
   *  the parameters (grad); both kept out of JSON (not enumerable), and record.theta =
   *  params on a features model only. */
  function evaluate(params, logpRef, pairs, beta, spec, step, learningRate, model) {
    const table = model === undefined || model.kind === "table";
    const theta = table ? params : model.logits(params, logpRef);
    const loss = spec.loss;
    const P = pairs.P;
    const K = pairs.K;
    const probs = [];
    const logp = [];
    const logRatio = [];
    const rewards = [];
    const kl = [];
    for (let x = 0; x < P; x++) {
      const row = theta[x];
      let m = row[0];
      for (let k = 1; k < K; k++) m = npMaximum(m, row[k]);
      const z = row.map(function (v) { return v - m; });
      const ez = z.map(Math.exp);
      let norm = ez[0] + ez[1];
      for (let k = 2; k < K; k++) norm += ez[k];
      const logNorm = Math.log(norm);
      const p = ez.map(function (v) { return v / norm; });
      const lp = z.map(function (v) { return v - logNorm; });         // log pi
      const lr = lp.map(function (v, k) { return v - logpRef[x][k]; }); // log pi / pi_ref
      probs.push(p);
      logp.push(lp);
      logRatio.push(lr);
      rewards.push(lr.map(function (v) { return v * beta; }));  // implicit reward r̂
      // exact KL(pi || pi_ref) = sum_y pi log(pi / pi_ref), clipped at 0 (rounding at
      // pi = pi_ref could make it a hair negative)
      const terms = p.map(function (v, k) { return v * lr[k]; });
      kl.push(npMaximum(npSum(terms), 0.0));
    }

    // Each row: u = beta * (log-ratio[chosen] - log-ratio[rejected]) = r̂(c) - r̂(l).
    // Taken from the log-ratios, so u is exactly 0 while pi = pi_ref.
    const N = pairs.N;
    const u = new Array(N);
    const lossFwd = new Array(N);      // value(u): the chosen side's judgements
    const lossBwd = new Array(N);      // value(-u): the rejected side's judgements
    const wFwd = new Array(N);         // weight(u)
    const sigmaU = new Array(N);       // sigma(u): the model's P(chosen beats rejected)
    const grad = [];
    for (let x = 0; x < P; x++) grad.push(new Array(K).fill(0.0));
    for (let i = 0; i < N; i++) {
      const x = pairs.prompt[i];
      const ui = (logRatio[x][pairs.chosen[i]] - logRatio[x][pairs.rejected[i]]) * beta;
      const t = loss.pairTerms(ui, beta);
      u[i] = ui;
      lossFwd[i] = t[0];
      lossBwd[i] = t[1];
      wFwd[i] = t[2];
      sigmaU[i] = loss.weightIsSigmoid ? t[3] : sigmoidPair(ui)[0];
      // d mean-loss / d (theta[c] - theta[r]): the rejected side's votes_rejected
      // judgements (at margin -u) pull one way, the chosen side's the other. Only the two
      // logits of the row get it: the softmax normaliser cancels in a log-ratio difference.
      const coef = (pairs.vr[i] * t[3] - pairs.vc[i] * t[2]) * beta;
      grad[x][pairs.chosen[i]] += coef;
      grad[x][pairs.rejected[i]] += -coef;
    }

    // Means over judgements, as exactly rounded sums of (quantity x share) products.
    const lpC = [];
    const lpR = [];
    const lrC = [];
    const lrR = [];
    for (let x = 0; x < P; x++) {
      for (let k = 0; k < K; k++) {
        const f = x * K + k;
        lpC.push(logp[x][k] * pairs.sideC[f]);
        lpR.push(logp[x][k] * pairs.sideR[f]);
        lrC.push(logRatio[x][k] * pairs.sideC[f]);
        lrR.push(logRatio[x][k] * pairs.sideR[f]);
      }
    }
    const lossTerms = [];
    const marginTerms = [];
    for (let i = 0; i < N; i++) lossTerms.push(lossFwd[i] * pairs.vc[i]);
    for (let i = 0; i < N; i++) lossTerms.push(lossBwd[i] * pairs.vr[i]);
    for (let i = 0; i < N; i++) marginTerms.push(u[i] * pairs.vdiff[i]);
    // rewards/accuracies: the share of judgements with u > 0 on their side (strictly: 0
    // at the start, where every u is 0)
    let acc = 0.0;
    for (let i = 0; i < N; i++) {
      if (u[i] > 0.0) acc += pairs.vc[i];
      else if (u[i] < 0.0) acc += pairs.vr[i];
    }
    const rec = {
      type: "step",
      step: step,
      beta: beta,
      learning_rate: learningRate,
      adaptive_weight: spec.adaptive_weight,
      loss: fsum(lossTerms),
      "rewards/chosen": beta * fsum(lrC),
      "rewards/rejected": beta * fsum(lrR),
      "rewards/margins": fsum(marginTerms),
      "rewards/accuracies": acc,
      "logps/chosen": fsum(lpC),
      "logps/rejected": fsum(lpR),
      kl: kl,
      probs: probs,
      rewards: rewards,
      "pairs/margin": u,
      "pairs/sigma": sigmaU,
      "pairs/weight": wFwd,
      loss_type: spec.loss_type,
      label_smoothing: spec.label_smoothing,
    };
    Object.defineProperty(rec, "grad", {value: table ? grad : model.pullback(grad),
      enumerable: false, writable: true});
    if (!table) {
      rec.theta = params;
      // a table's grad is its grad_logits: not stored twice (a property costs 5% of a step)
      Object.defineProperty(rec, "grad_logits", {value: grad, enumerable: false,
        writable: true});
    }
    return rec;
  }

  /** A record's gradient in the logits (P, K), whatever the model (Record.grad_logits). */
  function gradLogits(record) {
    return record.grad_logits === undefined ? record.grad : record.grad_logits;
  }

  /** engine.stored_row_metrics: what TRL's DPOTrainer would log on the rows as stored,
   *  each row once with its chosen reply as the winner and its votes ignored (means over
   *  rows, not over judgements). The loss is the one in force when the record was made. */
  function storedRowMetrics(record, rows, sim) {
    const beta = record.beta;
    const loss = record.loss_type !== undefined ? LossSpec.of(record).loss
      : sim.loss_spec.loss;
    const u = record["pairs/margin"];
    const n = u.length;
    const logOf = function (p) { return Math.log(p); };   // a probability that underflowed: -inf
    const pick = function (table) {
      return [rows.map(function (r) { return table[r.prompt][r.chosen]; }),
        rows.map(function (r) { return table[r.prompt][r.rejected]; })];
    };
    const rew = pick(record.rewards);
    const logp = pick(record.probs.map(function (row) { return row.map(logOf); }));
    let wins = 0;
    u.forEach(function (v) { if (v > 0) wins++; });
    return {
      loss: fsum(u.map(function (v) { return loss.value(v, beta); })) / n,
      "rewards/chosen": fsum(rew[0]) / n,
      "rewards/rejected": fsum(rew[1]) / n,
      "rewards/margins": fsum(u) / n,
      "rewards/accuracies": wins / n,
      "logps/chosen": fsum(logp[0]) / n,
      "logps/rejected": fsum(logp[1]) / n,
    };
  }

  /** dpo.kl_ceiling: the largest KL each prompt can reach, log(1 / min_y pi_ref(y|x)). */
  function klCeiling(logpRef) {
    return logpRef.map(function (row) {
      let m = row[0];
      for (let k = 1; k < row.length; k++) m = Math.min(m, row[k]);
      return -m;
    });
  }

  // ---------------------------------------------------------------------------------------
  // The RLHF optimum (sim/rlhf.py): the policy RLHF reaches with a Bradley-Terry reward
  // fitted to the same votes, pi* = pi_ref exp(r / beta) / Z, which DPO converges to.
  // ---------------------------------------------------------------------------------------

  const STEP_TOL = 1e-13;       // Newton stops when a step moves no reward by more
  const MAX_NEWTON = 200;
  const HEADING_TOL = 1e-9;     // replies within this of the largest drift are all heading

  /** Reflexive-transitive closure of a (K, K) boolean adjacency matrix. */
  function closure(adj) {
    const K = adj.length;
    const reach = adj.map(function (row, i) {
      return row.map(function (v, j) { return v || i === j; });
    });
    for (let m = 0; m < K; m++) {
      for (let i = 0; i < K; i++) {
        if (!reach[i][m]) continue;
        for (let j = 0; j < K; j++) if (reach[m][j]) reach[i][j] = true;
      }
    }
    return reach;
  }

  /** Solve A x = b by Gaussian elimination with partial pivoting (LAPACK's gesv does the
   *  same up to rounding). A is small: K x K, or a KKT system of the max-margin problem. */
  function solve(A, b) {
    const n = b.length;
    const M = A.map(function (row, i) { return row.slice().concat([b[i]]); });
    for (let col = 0; col < n; col++) {
      let piv = col;
      for (let i = col + 1; i < n; i++) {
        if (Math.abs(M[i][col]) > Math.abs(M[piv][col])) piv = i;
      }
      if (M[piv][col] === 0) throw new RangeError("singular matrix");
      if (piv !== col) { const t = M[piv]; M[piv] = M[col]; M[col] = t; }
      for (let i = col + 1; i < n; i++) {
        const f = M[i][col] / M[col][col];
        if (f === 0) continue;
        for (let j = col; j <= n; j++) M[i][j] -= f * M[col][j];
      }
    }
    const xs = new Array(n).fill(0.0);
    for (let i = n - 1; i >= 0; i--) {
      let s = M[i][n];
      for (let j = i + 1; j < n; j++) s -= M[i][j] * xs[j];
      xs[i] = s / M[i][i];
    }
    return xs;
  }

  /** Per prompt, the sum over judgements of log sigma(r(winner) - r(loser)). */
  function logLik(rew, fit, P) {
    const ll = new Array(P).fill(0.0);
    for (let i = 0; i < fit.x.length; i++) {
      const x = fit.x[i];
      const d = rew[x][fit.c[i]] - rew[x][fit.r[i]];
      ll[x] += -(fit.a[i] * logAddExp0(-d) + fit.b[i] * logAddExp0(d));
    }
    return ll;
  }

  /** Maximise the Bradley-Terry log-likelihood of the kept rows by Newton's method with a
   *  backtracking line search, all prompts together (rlhf._newton). The Hessian of the
   *  negative log-likelihood is a weighted graph Laplacian H, singular along each group's
   *  constant vector; with J = 1 on pairs of the same group (and on the diagonal of replies
   *  outside the fit), H + J is nonsingular and its Newton step keeps each group's sum of
   *  rewards at 0. */
  function newton(fit, P, K, sameGroup, inFit, push) {
    // push (P x K), optional: a linear term subtracted, log-lik - push . r (rest's block fit)
    const objective = function (r) {
      const ll = logLik(r, fit, P);
      if (!push) return ll;
      return ll.map(function (v, p) {
        let s = 0.0;
        for (let k = 0; k < K; k++) s += push[p][k] * r[p][k];
        return v - s;
      });
    };
    const rew = [];
    for (let p = 0; p < P; p++) rew.push(new Array(K).fill(0.0));
    if (fit.x.length === 0) return rew;
    const J = [];
    for (let p = 0; p < P; p++) {
      J.push(sameGroup[p].map(function (row, i) {
        return row.map(function (v, j) {
          return (inFit[p][i] && inFit[p][j] ? v : 0.0) + (i === j && !inFit[p][i] ? 1 : 0);
        });
      }));
    }
    const nRows = fit.x.length;
    let cur = rew;
    let ll = objective(cur);
    let iterations = 0;
    for (;;) {
      iterations += 1;
      if (iterations > MAX_NEWTON) {
        throw new Error("Bradley-Terry fit did not converge in " + MAX_NEWTON + " steps");
      }
      const scoreC = [];
      const scoreR = [];
      const H = [];
      for (let p = 0; p < P; p++) {
        scoreC.push(new Array(K).fill(0.0));
        scoreR.push(new Array(K).fill(0.0));
        H.push([]);
        for (let i = 0; i < K; i++) H[p].push(new Array(K).fill(0.0));
      }
      const w = new Array(nRows);
      for (let i = 0; i < nRows; i++) {
        const x = fit.x[i];
        const s = sigmoidPair(cur[x][fit.c[i]] - cur[x][fit.r[i]]);   // sigma(d), sigma(-d)
        const pull = fit.a[i] * s[1] - fit.b[i] * s[0];                // d log-lik / d d
        scoreC[x][fit.c[i]] += pull;
        scoreR[x][fit.r[i]] += pull;
        w[i] = ((fit.a[i] + fit.b[i]) * s[0]) * s[1];
      }
      // the Laplacian, summed in np.bincount's order: (c,c), (r,r), (c,r), (r,c)
      for (let i = 0; i < nRows; i++) H[fit.x[i]][fit.c[i]][fit.c[i]] += w[i];
      for (let i = 0; i < nRows; i++) H[fit.x[i]][fit.r[i]][fit.r[i]] += w[i];
      for (let i = 0; i < nRows; i++) H[fit.x[i]][fit.c[i]][fit.r[i]] += -w[i];
      for (let i = 0; i < nRows; i++) H[fit.x[i]][fit.r[i]][fit.c[i]] += -w[i];
      const score = scoreC.map(function (row, p) {
        return row.map(function (v, k) { return push ? (v - scoreR[p][k]) - push[p][k] : v - scoreR[p][k]; });
      });
      const step = [];
      const slope = [];
      for (let p = 0; p < P; p++) {
        const A = H[p].map(function (row, i) {
          return row.map(function (v, j) { return v + J[p][i][j]; });
        });
        step.push(solve(A, score[p]));
        let sl = 0.0;                               // >= 0: an ascent direction
        for (let k = 0; k < K; k++) sl += score[p][k] * step[p][k];
        slope.push(sl);
      }
      const alpha = new Array(P).fill(1.0);
      let trial = cur;
      let llTrial = ll;
      for (let it = 0; it < 60; it++) {
        trial = cur.map(function (row, p) {
          return row.map(function (v, k) { return v + alpha[p] * step[p][k]; });
        });
        llTrial = objective(trial);
        const ok = llTrial.map(function (v, p) {
          return v >= ll[p] + 1e-4 * alpha[p] * slope[p] - 1e-12 * (1.0 + Math.abs(ll[p]));
        });
        if (ok.every(Boolean)) break;
        for (let p = 0; p < P; p++) if (!ok[p]) alpha[p] = alpha[p] / 2;
      }
      let moved = 0.0;
      let size = 0.0;
      for (let p = 0; p < P; p++) {
        for (let k = 0; k < K; k++) {
          moved = npMaximum(moved, Math.abs(alpha[p] * step[p][k]));
          size = npMaximum(size, Math.abs(trial[p][k]));
        }
      }
      cur = trial;
      ll = llTrial;
      if (moved <= STEP_TOL * npMaximum(1.0, size)) break;
    }
    return cur;
  }

  /** min 1/2 sum_i n_i v_i^2 subject to v_s - v_t >= 1 for (s, t) in edges (a DAG's), by
   *  the primal active-set method (rlhf._max_margin; Nocedal and Wright, Alg. 16.3). */
  function maxMargin(n, edges) {
    const m = n.length;
    const E = edges.length;
    const A = edges.map(function (e) {
      const row = new Array(m).fill(0.0);
      row[e[0]] = 1.0;
      row[e[1]] = -1.0;
      return row;
    });
    const level = new Array(m).fill(0.0);
    for (let it = 0; it < m; it++) {
      edges.forEach(function (e) { level[e[1]] = Math.max(level[e[1]], level[e[0]] + 1.0); });
    }
    let v = level.map(function (l) { return -l; });   // feasible: -(longest path to it)
    const work = [];
    const dot = function (row, vec) {
      let s = 0.0;
      for (let j = 0; j < vec.length; j++) s += row[j] * vec[j];
      return s;
    };
    const maxAbs = function (vec) {
      let s = 0.0;
      vec.forEach(function (a) { s = Math.max(s, Math.abs(a)); });
      return s;
    };
    for (let it = 0; it < 10 * (m + E) + 50; it++) {
      const k = work.length;
      const kkt = [];
      for (let i = 0; i < m + k; i++) kkt.push(new Array(m + k).fill(0.0));
      for (let i = 0; i < m; i++) kkt[i][i] = n[i];
      work.forEach(function (w, j) {
        for (let i = 0; i < m; i++) {
          kkt[i][m + j] = -A[w][i];
          kkt[m + j][i] = A[w][i];
        }
      });
      const rhs = v.map(function (vi, i) { return -(n[i] * vi); }).concat(new Array(k).fill(0.0));
      const sol = solve(kkt, rhs);
      const p = sol.slice(0, m);
      const lam = sol.slice(m);
      if (maxAbs(p) <= 1e-12 * Math.max(1.0, maxAbs(v))) {
        v = v.map(function (vi, i) { return vi + p[i]; });
        let low = 0;
        for (let j = 1; j < k; j++) if (lam[j] < lam[low]) low = j;
        if (k === 0 || lam[low] >= -1e-12) return v;
        work.splice(low, 1);
        continue;
      }
      let alpha = 1.0;
      let block = null;
      for (let i = 0; i < E; i++) {
        const ap = dot(A[i], p);
        if (work.indexOf(i) < 0 && ap < -1e-15) {
          const t = Math.max(0.0, -(dot(A[i], v) - 1.0) / ap);
          if (t < alpha) { alpha = t; block = i; }
        }
      }
      v = v.map(function (vi, i) { return vi + alpha * p[i]; });
      if (block !== null) work.push(block);
    }
    throw new Error("max-margin direction: the active-set method did not finish");
  }

  /** rlhf.fit_bradley_terry: the maximum-likelihood Bradley-Terry reward of each prompt,
   *  its groups, which groups have a finite fit, and the drift direction of the others. */
  function fitBradleyTerry(pairs) {
    const P = pairs.P;
    const K = pairs.K;
    const zeros = function () {
      const out = [];
      for (let p = 0; p < P; p++) {
        out.push([]);
        for (let i = 0; i < K; i++) out[p].push(new Array(K).fill(false));
      }
      return out;
    };
    // the beats graph: an edge y -> y' for every judgement "y beat y'" that has a vote
    const beats = zeros();
    pairs.rows.forEach(function (r, i) {
      if (pairs.votesChosen[i] > 0) beats[r.prompt][r.chosen][r.rejected] = true;
      if (pairs.votesRejected[i] > 0) beats[r.prompt][r.rejected][r.chosen] = true;
    });
    const sameGroup = [];     // connected by rows, in either direction
    const sameScc = [];       // strongly connected by beats
    const inRow = [];
    const groupFinite = [];
    const finite = [];
    for (let p = 0; p < P; p++) {
      const linked = beats[p].map(function (row, i) {
        return row.map(function (v, j) { return v || beats[p][j][i]; });
      });
      inRow.push(linked.map(function (row) { return row.some(Boolean); }));
      sameGroup.push(closure(linked));
      const reach = closure(beats[p]);
      sameScc.push(reach.map(function (row, i) {
        return row.map(function (v, j) { return v && reach[j][i]; });
      }));
      // a group has a finite fit when its beats graph is strongly connected
      groupFinite.push(sameGroup[p].map(function (row, i) {
        return row.every(function (v, j) { return v === sameScc[p][i][j]; });
      }));
      finite.push(groupFinite[p].every(Boolean));
    }
    const inFit = inRow.map(function (row, p) {
      return row.map(function (v, k) { return v && groupFinite[p][k]; });
    });
    const kept = {x: [], c: [], r: [], a: [], b: []};
    pairs.rows.forEach(function (r, i) {
      const a = pairs.votesChosen[i];
      const b = pairs.votesRejected[i];
      if (a + b > 0 && inFit[r.prompt][r.chosen]) {
        kept.x.push(r.prompt); kept.c.push(r.chosen); kept.r.push(r.rejected);
        kept.a.push(a); kept.b.push(b);
      }
    });
    // same group, as numbers (1 on the diagonal of a reply in no row)
    const same = sameGroup.map(function (g, p) {
      return g.map(function (row, i) {
        return row.map(function (v, j) {
          return ((inRow[p][i] && inRow[p][j] && v) || (i === j && !inRow[p][i])) ? 1.0 : 0.0;
        });
      });
    });
    let rew = newton(kept, P, K, same, inFit);
    // each group's mean reward to 0; NaN on a group without a finite fit, 0 off the rows
    rew = rew.map(function (row, p) {
      return row.map(function (v, i) {
        let s = 0.0;
        let size = 0.0;
        for (let j = 0; j < K; j++) { s += same[p][i][j] * row[j]; size += same[p][i][j]; }
        if (!inRow[p][i]) return 0.0;
        return groupFinite[p][i] ? v - s / size : NaN;
      });
    });
    const group = inRow.map(function (row, p) {
      const seen = new Map();
      return row.map(function (v, y) {
        if (!v) return -1;
        const lowest = sameGroup[p][y].indexOf(true);
        if (!seen.has(lowest)) seen.set(lowest, seen.size);
        return seen.get(lowest);
      });
    });
    const drift = driftOf(P, K, beats, sameGroup, sameScc, groupFinite);
    return {reward: rew, group: group, groupFinite: groupFinite, finite: finite,
      drift: drift, same: same};
  }

  /** rlhf._drift: where a group has no finite fit, gradient descent heads (the distance
   *  growing like log t) along the max-margin direction of its judgements, constant on each strongly
   *  connected component of the beats graph. */
  function driftOf(P, K, beats, sameGroup, sameScc, groupFinite) {
    const drift = [];
    for (let p = 0; p < P; p++) {
      drift.push(new Array(K).fill(0.0));
      if (groupFinite[p].every(Boolean)) continue;
      const done = new Array(K).fill(false);
      for (let y = 0; y < K; y++) {
        if (groupFinite[p][y] || done[y]) continue;
        const members = [];
        for (let z = 0; z < K; z++) if (sameGroup[p][y][z]) { members.push(z); done[z] = true; }
        const comps = [];
        const compOf = new Map();
        members.forEach(function (z) {
          if (compOf.has(z)) return;
          const comp = [];
          for (let q = 0; q < K; q++) if (sameScc[p][z][q]) { comp.push(q); compOf.set(q, comps.length); }
          comps.push(comp);
        });
        const keys = new Set();
        const edges = [];
        members.forEach(function (s) {
          for (let t = 0; t < K; t++) {
            if (!beats[p][s][t] || compOf.get(s) === compOf.get(t)) continue;
            const e = [compOf.get(s), compOf.get(t)];
            if (!keys.has(e.join(","))) { keys.add(e.join(",")); edges.push(e); }
          }
        });
        edges.sort(function (e, f) { return e[0] - f[0] || e[1] - f[1]; });
        const v = maxMargin(comps.map(function (cp) { return cp.length; }), edges);
        comps.forEach(function (cp, i) { cp.forEach(function (q) { drift[p][q] = v[i]; }); });
      }
    }
    return drift;
  }

  /** rlhf.optimum: pi* for the rows as they stand, the reference, the start logits theta0
   *  and beta. DPO's limit is theta*(y) = log pi_ref(y) + r(y)/beta + c_g on group g, with
   *  c_g keeping the group's sum of logits at its start (no update changes it), and the
   *  start logit on a reply in no row. Rows of a prompt without a finite optimum are null. */
  /** One prompt of an optimum from its logits theta (pi* or pi*_phi): the policy, its log
   *  probabilities, the reward beta (theta - log pi_ref) and beta log Z (the implicit reward
   *  of the optimum is that reward minus beta log Z). */
  function pushOptimumRow(out, theta, logpRefRow, beta) {
    const K = theta.length;
    let top = theta[0];
    for (let k = 1; k < K; k++) top = npMaximum(top, theta[k]);
    const e = theta.map(function (t) { return Math.exp(t - top); });
    const norm = npSum(e);
    const logZ = top + Math.log(norm);
    out.theta.push(theta);
    out.probs.push(e.map(function (a) { return a / norm; }));
    out.log_probs.push(theta.map(function (t) { return t - logZ; }));
    out.reward.push(theta.map(function (t, k) { return beta * (t - logpRefRow[k]); }));
    out.beta_log_z.push(beta * logZ);
  }

  function optimumOf(pairs, logpRef, theta0, beta, fit) {
    const P = pairs.P;
    const K = pairs.K;
    const out = {finite: fit.finite.slice(), probs: [], log_probs: [], theta: [], reward: [],
      beta_log_z: [], heading: []};
    for (let p = 0; p < P; p++) {
      const same = fit.same[p];
      const rew = fit.reward[p].map(function (v) { return v !== v ? 0.0 : v; });
      const v = theta0[p].map(function (t, k) { return (t - logpRef[p][k]) - rew[k] / beta; });
      const theta = [];
      for (let y = 0; y < K; y++) {
        let s = 0.0;
        let size = 0.0;
        for (let z = 0; z < K; z++) { s += same[y][z] * v[z]; size += same[y][z]; }
        const offset = s / size;                     // c_g
        theta.push(fit.group[p][y] >= 0 ? (logpRef[p][y] + rew[y] / beta) + offset
          : theta0[p][y]);
      }
      let topDrift = fit.drift[p][0];
      for (let k = 1; k < K; k++) topDrift = Math.max(topDrift, fit.drift[p][k]);
      out.heading.push(fit.drift[p].map(function (d) {
        return !fit.finite[p] && d >= topDrift - HEADING_TOL;
      }));
      if (!fit.finite[p]) {
        out.probs.push(null); out.log_probs.push(null); out.theta.push(null);
        out.reward.push(null); out.beta_log_z.push(null);
        continue;
      }
      pushOptimumRow(out, theta, logpRef[p], beta);
    }
    return out;
  }

  // psi(d) = e^d (d - 1) + 1 = sum over n >= 2 of (n - 1) d^n / n!: coefficients from d^2 on
  const PSI_SERIES = (function () {
    const out = [];
    let fact = 1;
    for (let n = 1; n <= 10; n++) {
      fact *= n;
      if (n >= 2) out.push((n - 1) / fact);
    }
    return out;
  }());

  /** pi*(y) psi(d), d = log pi(y) - log pi*(y): this reply's share of KL(pi || pi*), >= 0,
   *  formed without cancellation (rlhf._kl_term). */
  function klTerm(p, logStar) {
    const star = Math.exp(logStar);
    if (p === 0.0) return star;
    const d = Math.log(p) - logStar;
    if (Math.abs(d) < 0.0625) {
      let acc = 0.0;
      for (let i = PSI_SERIES.length - 1; i >= 0; i--) acc = acc * d + PSI_SERIES[i];
      return star * d * d * acc;
    }
    if (d > 30.0) return p * (d - 1.0) + star;     // pi* e^d = pi: no overflow
    return star * (d * Math.exp(d) - Math.expm1(d));
  }

  /** rlhf.kl_to_optimum: KL(pi || pi*) per prompt, null where there is no finite optimum. */
  function klToOptimum(probs, opt) {
    return probs.map(function (row, p) {
      if (!opt.finite[p]) return null;
      return fsum(row.map(function (v, k) { return klTerm(v, opt.log_probs[p][k]); }));
    });
  }

  // ---------------------------------------------------------------------------------------
  // pi*_phi on a features model (sim/rlhf.py, "the features (log-linear) model"): DPO's
  // sigmoid loss there is the Bradley-Terry likelihood of a reward linear in the features,
  // so its fixed point is the RLHF optimum for that reward. Each judgement's signed
  // difference vector w_j is tight (in a positive dependency: NNLS) or separable; the
  // tight ones are fitted in their span V_T by Newton's method from theta0, the separable
  // ones give the maximum-margin direction u in V_S (least-distance programming). A prompt
  // has a finite optimum when its replies' differences have no component in V_S; on the
  // others the replies with the largest u . phi take the probability (heading).
  // ---------------------------------------------------------------------------------------

  const FEATURE_TOL = 1e-9;     // rlhf.FEATURE_TOL: a dependency, a rank, a part in V_S
  const COINCIDE_TOL = 1e-9;    // rlhf.COINCIDE_TOL: pi*_phi and pi* agree

  function fDot(a, b) {
    let s = 0.0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  function fNorm(a) { return Math.sqrt(fDot(a, a)); }

  /** rlhf._lstsq: min |A z - b| (A given as its columns, of full rank) by modified
   *  Gram-Schmidt QR. */
  function fLstsq(cols, b) {
    const p = cols.length;
    const Q = cols.map(function (c) { return c.slice(); });
    const R = [];
    for (let k = 0; k < p; k++) R.push(new Array(p).fill(0.0));
    for (let k = 0; k < p; k++) {
      for (let i = 0; i < k; i++) {
        const s = fDot(Q[i], Q[k]);
        R[i][k] += s;
        for (let t = 0; t < Q[k].length; t++) Q[k][t] -= s * Q[i][t];
      }
      R[k][k] = fNorm(Q[k]);
      for (let t = 0; t < Q[k].length; t++) Q[k][t] /= R[k][k];
    }
    const y = Q.map(function (q) { return fDot(q, b); });
    const z = new Array(p).fill(0.0);
    for (let k = p - 1; k >= 0; k--) {
      let s = y[k];
      for (let j = k + 1; j < p; j++) s -= R[k][j] * z[j];
      z[k] = s / R[k][k];
    }
    return z;
  }

  /** rlhf._nnls: min |A x - b| over x >= 0 (Lawson and Hanson's NNLS); A as its n
   *  columns, each of length m. */
  function fNnls(cols, b) {
    const n = cols.length;
    const m = b.length;
    let x = new Array(n).fill(0.0);
    const passive = new Array(n).fill(false);
    const banned = new Array(n).fill(false);
    let amax = 0.0;
    cols.forEach(function (c) { c.forEach(function (v) { amax = Math.max(amax, Math.abs(v)); }); });
    let bmax = 0.0;
    b.forEach(function (v) { bmax = Math.max(bmax, Math.abs(v)); });
    const tol = 1e-13 * Math.pow(Math.max(1.0, amax), 2) * Math.max(1.0, bmax) * Math.max(m, n);
    const solveOn = function () {
      const idx = [];
      for (let j = 0; j < n; j++) if (passive[j]) idx.push(j);
      const zp = fLstsq(idx.map(function (j) { return cols[j]; }), b);
      const z = new Array(n).fill(0.0);
      idx.forEach(function (j, k) { z[j] = zp[k]; });
      return z;
    };
    for (let outer = 0; outer < 10 * n + 30; outer++) {
      const res = b.slice();
      for (let j = 0; j < n; j++) {
        if (x[j] !== 0.0) for (let t = 0; t < m; t++) res[t] -= cols[j][t] * x[j];
      }
      let j = -1;
      let best = tol;
      for (let k = 0; k < n; k++) {
        if (passive[k] || banned[k]) continue;
        const w = fDot(cols[k], res);
        if (w > best) { best = w; j = k; }
      }
      if (j < 0) return x;
      passive[j] = true;
      let z = solveOn();
      if (z[j] <= 0.0) { passive[j] = false; banned[j] = true; continue; }
      for (let inner = 0; inner <= n; inner++) {
        let k = -1;
        let ratio = Infinity;
        for (let q = 0; q < n; q++) {
          if (passive[q] && z[q] <= 0.0) {
            const rq = x[q] / (x[q] - z[q]);
            if (rq < ratio) { ratio = rq; k = q; }
          }
        }
        if (k < 0) break;
        x = x.map(function (v, q) { return v + ratio * (z[q] - v); });
        for (let q = 0; q < n; q++) if (passive[q] && !(x[q] > 0.0)) passive[q] = false;
        passive[k] = false;
        for (let q = 0; q < n; q++) if (!passive[q]) x[q] = 0.0;
        z = solveOn();
      }
      x = z;
    }
    throw new Error("NNLS did not finish");
  }

  /** rlhf._basis: an orthonormal basis of the span of the vectors M (each of length d),
   *  Gram-Schmidt with pivoting. */
  function fBasis(M, d) {
    let rest = M.map(function (v) { return v.slice(); });
    const out = [];
    if (rest.length === 0) return out;
    let top = 0.0;
    rest.forEach(function (v) { top = Math.max(top, fNorm(v)); });
    while (out.length < d) {
      let k = 0;
      let big = -1.0;
      rest.forEach(function (v, i) { const nv = fNorm(v); if (nv > big) { big = nv; k = i; } });
      if (top === 0.0 || big <= FEATURE_TOL * top) break;
      let q = rest[k].map(function (v) { return v / big; });
      out.forEach(function (e) {
        const s = fDot(q, e);
        q = q.map(function (v, t) { return v - s * e[t]; });
      });
      const nq = fNorm(q);
      q = q.map(function (v) { return v / nq; });
      out.push(q);
      rest = rest.map(function (v) {
        const s = fDot(v, q);
        return v.map(function (a, t) { return a - s * q[t]; });
      });
    }
    return out;
  }

  /** rlhf._tight: the judgements in a positive dependency of the w's (those with a
   *  positive weight in a dependency found are tight too, and not tried again). */
  function fTight(w) {
    const out = w.map(function () { return false; });
    w.forEach(function (wj, j) {
      if (out[j]) return;
      const size = fNorm(wj);
      if (size === 0.0) { out[j] = true; return; }
      const idx = [];
      for (let k = 0; k < w.length; k++) if (k !== j) idx.push(k);
      if (idx.length === 0) return;
      const others = idx.map(function (k) { return w[k]; });
      const lam = fNnls(others, wj.map(function (v) { return -v; }));
      const res = wj.slice();
      others.forEach(function (c, k) { for (let t = 0; t < res.length; t++) res[t] += c[t] * lam[k]; });
      if (fNorm(res) <= FEATURE_TOL * size) {
        out[j] = true;
        let top = 1.0;
        lam.forEach(function (v) { top = Math.max(top, v); });
        lam.forEach(function (v, k) { if (v > 1e-12 * top) out[idx[k]] = true; });
      }
    });
    return out;
  }

  /** rlhf._ldp: min |y| subject to G y >= 1 (rows of G). */
  function fLdp(G) {
    const n = G.length ? G[0].length : 0;
    const cols = G.map(function (g) { return g.concat([1.0]); });
    const f = new Array(n + 1).fill(0.0);
    f[n] = 1.0;
    const lam = fNnls(cols, f);
    const r = f.map(function (v) { return -v; });
    cols.forEach(function (c, k) { for (let t = 0; t <= n; t++) r[t] += c[t] * lam[k]; });
    if (Math.abs(r[n]) <= 1e-14) throw new Error("max-margin direction: none exists");
    return r.slice(0, n).map(function (v) { return -v / r[n]; });
  }

  /** rlhf._tight_newton: theta0 + B^T y minimising the tight judgements' loss. */
  function fTightNewton(w, count, beta, theta0, basis, push) {
    const k = basis.length;
    if (k === 0 || w.length === 0) return theta0.slice();
    const g = w.map(function (wj) { return basis.map(function (e) { return fDot(wj, e); }); });
    const c = w.map(function (wj) { return fDot(wj, theta0); });
    const lin = basis.map(function (e) { return push ? fDot(e, push) : 0.0; });
    const margins = function (y) {
      return g.map(function (gj, j) { return beta * (c[j] + fDot(gj, y)); });
    };
    const value = function (y) {
      const m = margins(y);
      let s = 0.0;
      for (let j = 0; j < m.length; j++) s += count[j] * logAddExp0(-m[j]);
      return s + fDot(lin, y);
    };
    // start where every tight margin is 0 (theta0 less its part in V_T)
    let y = basis.map(function (e) { return -fDot(e, theta0); });
    let f = value(y);
    let its = 0;
    for (;;) {
      its += 1;
      const m = margins(y);
      const grad = lin.slice();
      const terms = lin.map(Math.abs);
      const H = [];
      for (let a = 0; a < k; a++) H.push(new Array(k).fill(0.0));
      m.forEach(function (mj, j) {
        const sp = sigmoidPair(mj);
        const gs = -beta * count[j] * sp[1];
        const hs = beta * beta * count[j] * sp[0] * sp[1];
        for (let a = 0; a < k; a++) {
          grad[a] += gs * g[j][a];
          terms[a] += Math.abs(gs * g[j][a]);
          for (let b = 0; b < k; b++) H[a][b] += hs * g[j][a] * g[j][b];
        }
      });
      // rlhf._tight_newton's stop: the gradient at rounding level next to its terms, or
      // MAX_NEWTON steps, rather than fail
      let termTop = 0.0;
      terms.forEach(function (v) { termTop = Math.max(termTop, v); });
      if (its > MAX_NEWTON || grad.every(function (v) { return Math.abs(v) <= 1e-14 * termTop; })) break;
      let top = 0.0;
      for (let a = 0; a < k; a++) top = Math.max(top, Math.abs(H[a][a]));
      const ridge = 1e-13 * Math.max(top, 1e-300);      // rlhf._tight_newton's ridge
      for (let a = 0; a < k; a++) H[a][a] += ridge;
      const step = solve(H, grad).map(function (v) { return -v; });
      const slope = fDot(grad, step);
      let alpha = 1.0;
      let trial = y;
      let fTrial = f;
      for (let i = 0; i < 60; i++) {
        trial = y.map(function (v, a) { return v + alpha * step[a]; });
        fTrial = value(trial);
        if (fTrial <= f + 1e-4 * alpha * slope + 1e-12 * (1.0 + Math.abs(f))) break;
        alpha /= 2;
      }
      let moved = 0.0;
      step.forEach(function (v) { moved = Math.max(moved, Math.abs(alpha * v)); });
      y = trial;
      f = fTrial;
      let size = 1.0;
      y.forEach(function (v) { size = Math.max(size, Math.abs(v)); });
      if (moved <= STEP_TOL * size) break;
    }
    return theta0.map(function (t, a) {
      let s = t;
      for (let q = 0; q < k; q++) s += basis[q][a] * y[q];
      return s;
    });
  }

  /** rlhf.fit_features: the judgements' signed vectors, which are tight, the bases of V,
   *  V_T, V_S, the fit theta (theta0 + z_T) and the direction u. */
  function fitFeatures(pairs, features, theta0, beta, votes) {
    const d = theta0.length;
    const w = [];
    const count = [];
    const row = [];
    for (let i = 0; i < pairs.prompt.length; i++) {
      const x = pairs.prompt[i];
      const v = features[x][pairs.chosen[i]].map(function (a, t) {
        return a - features[x][pairs.rejected[i]][t];
      });
      const a = votes ? votes.a[i] : +pairs.votesChosen[i];
      const b = votes ? votes.b[i] : +pairs.votesRejected[i];
      if (a > 0) { w.push(v); count.push(a); row.push(i); }
      if (b > 0) { w.push(v.map(function (q) { return -q; })); count.push(b); row.push(i); }
    }
    const tight = fTight(w);
    const wt = w.filter(function (_, j) { return tight[j]; });
    const basisT = fBasis(wt, d);
    const sepPerp = w.filter(function (_, j) { return !tight[j]; }).map(function (v) {
      let q = v.slice();
      basisT.forEach(function (e) {
        const s = fDot(v, e);
        q = q.map(function (a, t) { return a - s * e[t]; });
      });
      return q;
    });
    const basisS = fBasis(sepPerp, d);
    let direction = new Array(d).fill(0.0);
    if (sepPerp.length) {
      const y = fLdp(sepPerp.map(function (v) { return basisS.map(function (e) { return fDot(v, e); }); }));
      direction = direction.map(function (_, t) {
        let s = 0.0;
        basisS.forEach(function (e, q) { s += e[t] * y[q]; });
        return s;
      });
    }
    const theta = fTightNewton(wt, count.filter(function (_, j) { return tight[j]; }), beta,
      theta0.map(Number), basisT);
    return {row: row, w: w, count: count, tight: tight, basisV: fBasis(w, d), basisT: basisT,
      basisS: basisS, theta: theta, direction: direction,
      separable: tight.some(function (t) { return !t; })};
  }

  /** rlhf.features_optimum: pi*_phi for the rows as they stand (compiled pairs), the
   *  reference log pi_ref (P x K), the features (P x K x d), theta0 (d) and beta, in
   *  optimumOf's shape plus params (theta*, null when any prompt has no finite optimum),
   *  coincide (pi*_phi and pi* agree within 1e-9), drift (u . phi on prompts without a
   *  finite optimum) and table (pi* from the start logits log pi_ref + phi . theta0). */
  function featuresOptimum(pairs, logpRef, features, theta0, beta) {
    const P = logpRef.length;
    const K = logpRef[0].length;
    const fit = fitFeatures(pairs, features, theta0, beta);
    const dotPhi = function (p, y, v) { return fDot(features[p][y], v); };
    const start = logpRef.map(function (row, p) {
      return row.map(function (l, y) { return l + dotPhi(p, y, theta0); });
    });
    const table = optimumOf(pairs, logpRef, start, beta, fitBradleyTerry(pairs));
    const out = {finite: [], probs: [], log_probs: [], theta: [], reward: [], beta_log_z: [],
      heading: [], drift: []};
    for (let p = 0; p < P; p++) {
      let finite = true;
      for (let y = 0; y < K && finite; y++) {
        const diff = features[p][y].map(function (a, t) { return a - features[p][0][t]; });
        let off = 0.0;
        fit.basisS.forEach(function (e) { const s = fDot(diff, e); off += s * s; });
        if (Math.sqrt(off) > FEATURE_TOL * Math.max(1.0, fNorm(diff))) finite = false;
      }
      out.finite.push(finite);
      const drift = features[p].map(function (f) { return finite ? 0.0 : fDot(f, fit.direction); });
      let topDrift = drift[0];
      for (let k = 1; k < K; k++) topDrift = Math.max(topDrift, drift[k]);
      out.drift.push(drift);
      out.heading.push(drift.map(function (v) {
        return !finite && v >= topDrift - HEADING_TOL * Math.max(1.0, Math.abs(topDrift));
      }));
      if (!finite) {
        out.probs.push(null); out.log_probs.push(null); out.theta.push(null);
        out.reward.push(null); out.beta_log_z.push(null);
        continue;
      }
      const theta = logpRef[p].map(function (l, y) { return l + dotPhi(p, y, fit.theta); });
      pushOptimumRow(out, theta, logpRef[p], beta);
    }
    const allFinite = out.finite.every(Boolean);
    out.params = allFinite ? fit.theta.slice() : fit.theta.map(function () { return null; });
    let same = out.finite.every(function (f, p) { return f === table.finite[p]; }) &&
      out.heading.every(function (row, p) {
        return row.every(function (h, k) { return h === table.heading[p][k]; });
      });
    for (let p = 0; p < P && same; p++) {
      if (!out.finite[p]) continue;
      for (let k = 0; k < K; k++) {
        if (!(Math.abs(out.probs[p][k] - table.probs[p][k]) <= COINCIDE_TOL)) same = false;
      }
    }
    out.coincide = same;
    out.table = table;
    out.fit = fit;
    return out;
  }

  /** rest._features: where each row ends on a features model, where the rows share theta
   *  (sim/rest.py's module docstring, last part): a plan {rows, groups: [], features: true}
   *  for featuresRestAt. loss: {name, label_smoothing} (the loss in force). */
  function analyseFeaturesRest(pairs, features, theta0, beta, lr, loss) {
    const nRows = pairs.prompt.length;
    const d = theta0.length;
    const v = [];
    for (let i = 0; i < nRows; i++) {
      const x = pairs.prompt[i];
      v.push(features[x][pairs.chosen[i]].map(function (q, t) {
        return q - features[x][pairs.rejected[i]][t];
      }));
    }
    const a = pairs.votesChosen.map(Number);
    const b = pairs.votesRejected.map(Number);
    const n = a.map(function (q, i) { return q + b[i]; });
    const N = npSum(a) + npSum(b);
    const name = loss.name;
    const all = function (o) {
      return {rows: v.map(function () { return rowRest("open", o); }), groups: [], features: true};
    };
    if (name === "bare_margin") {
      const scale = lr * beta * beta / N;
      const pull = new Array(d).fill(0.0);
      let size = 0.0;
      v.forEach(function (vi, i) {
        for (let t = 0; t < d; t++) pull[t] += (a[i] - b[i]) * vi[t];
        size += Math.abs(a[i] - b[i]) * fNorm(vi);
      });
      return {rows: v.map(function (vi) {
        const pace = fDot(vi, pull);
        if (Math.abs(pace) <= 1e-12 * size * fNorm(vi)) {
          return rowRest("rests", {how: "still", lr_limit: Infinity});
        }
        return rowRest("drifts", {u: pace > 0 ? Infinity : -Infinity, how: "steady",
          pace: scale * pace});
      }), groups: [], features: true};
    }
    if (name === "hinge") return all({how: "theta-hinge"});
    if (name === "ipo") {
      const t = a.map(function (q, i) { return (q - b[i]) / n[i] / (2.0 * beta); });
      const basis = fBasis(v, d);
      const h = v.map(function (vi) { return fDot(vi, theta0); });
      if (basis.length) {
        const g = v.map(function (vi) { return basis.map(function (e) { return fDot(vi, e); }); });
        const k = basis.length;
        const M = [];
        for (let p = 0; p < k; p++) M.push(new Array(k).fill(0.0));
        const rhs = new Array(k).fill(0.0);
        g.forEach(function (gi, i) {
          for (let p = 0; p < k; p++) {
            rhs[p] += gi[p] * n[i] * (t[i] - h[i]);
            for (let q = 0; q < k; q++) M[p][q] += gi[p] * n[i] * gi[q];
          }
        });
        const y = solve(M, rhs);
        g.forEach(function (gi, i) { h[i] += fDot(gi, y); });
      }
      const lam = 2.0 / N * restLam(v, n, d);
      const limit = lam > 0 ? 2.0 / lam : Infinity;
      const rows = v.map(function (_, i) {
        const own = Math.abs(h[i] - t[i]) <= 1e-9 * Math.max(1.0, Math.abs(t[i]));
        return rowRest(lr < limit ? "rests" : "overshoots", {u: beta * h[i],
          how: own ? "own" : "theta", lr_limit: limit});
      });
      const stop = rows.findIndex(function (rr) { return rr.kind === "overshoots"; });
      if (stop >= 0) {
        rows.forEach(function (rr) { if (rr.kind === "rests") { rr.kind = "halts"; rr.via = stop; } });
      }
      return {rows: rows, groups: [], features: true};
    }
    const eps = name !== "robust" ? 0.0
      : +(loss.label_smoothing !== undefined ? loss.label_smoothing : loss.labelSmoothing);
    const ac = a.map(function (q, i) { return (q * (1 - eps) - b[i] * eps) / (1 - 2 * eps); });
    const bc = b.map(function (q, i) { return (q * (1 - eps) - a[i] * eps) / (1 - 2 * eps); });
    const TOLV = 1e-9;                                   // rest.TOL
    if (ac.some(function (q, i) { return q < -TOLV * n[i]; }) ||
        bc.some(function (q, i) { return q < -TOLV * n[i]; })) {
      const found = robustFeaturesRest(v, n, ac, bc, theta0.map(Number), beta, lr, N);
      return found ? {rows: found, groups: [], features: true} : all({how: "theta-robust"});
    }
    const votes = {a: ac.map(function (q) { return Math.max(q, 0.0); }),
      b: bc.map(function (q) { return Math.max(q, 0.0); })};
    const fit = fitFeatures(pairs, features, theta0.map(Number), beta, votes);
    const size = v.map(function (vi) { return Math.max(1.0, fNorm(vi)); });
    const settles = v.map(function (vi, i) {
      let off = 0.0;
      fit.basisS.forEach(function (e) { const s = fDot(vi, e); off += s * s; });
      return Math.sqrt(off) <= FEATURE_TOL * size[i];
    });
    const side = v.map(function (vi) { return fDot(vi, fit.direction); });
    const sepRows = Array.from(new Set(fit.row.filter(function (_, j) {
      return !fit.tight[j];
    }))).sort(function (x, y) { return x - y; });
    const tugging = sepRows.filter(function (i) {
      if (!fit.basisT.length) return false;
      let s2 = 0.0;
      fit.basisT.forEach(function (e) { const s = fDot(v[i], e); s2 += s * s; });
      return Math.sqrt(s2) > FEATURE_TOL * size[i];
    });
    const uFit = v.map(function (vi) { return beta * fDot(vi, fit.theta); });
    const sp = uFit.map(function (u, i) { return sigmoidPair(settles[i] ? u : 0.0); });
    const inside = [];
    const curv = [];
    v.forEach(function (vi, i) {
      if (settles[i] && n[i] > 0) { inside.push(vi); curv.push(n[i] * sp[i][0] * sp[i][1]); }
    });
    const lam = beta * beta / N * restLam(inside, curv, d);
    const limit = lam > 0 ? 2.0 / lam : Infinity;
    const lamWay = beta * beta / N * restLam(v, n.map(function (q) { return q / 4.0; }), d);
    const safe = lamWay > 0 ? 2.0 / lamWay : Infinity;
    const rows = v.map(function (_, i) {
      if (settles[i]) {
        const net = -votes.a[i] * sp[i][1] + votes.b[i] * sp[i][0];
        const own = Math.abs(net) <= 1e-7 * n[i] && !tugging.length ? "own" : "theta";
        let kind = tugging.length ? "approaches" : "rests";
        if (lr >= limit) kind = "overshoots";
        else if (lr >= safe) kind = "heads";
        return rowRest(kind, {u: uFit[i], how: own,
          via: kind === "approaches" ? tugging[0] : -1, lr_limit: limit});
      }
      if (Math.abs(side[i]) > FEATURE_TOL * size[i]) {
        return rowRest("drifts", {u: side[i] > 0 ? Infinity : -Infinity, how: "theta-slowing"});
      }
      return rowRest("open", {how: "theta-path"});
    });
    const calm = !rows.some(function (rr) { return rr.kind === "overshoots" || rr.kind === "heads"; });
    if (!calm) rows.forEach(function (rr) { if (rr.kind === "drifts") rr.how = ""; });
    return {rows: rows, groups: [], features: true};
  }

  /** Eigenvalues of a small symmetric matrix (cyclic Jacobi), ascending: the curvature
   *  of the rest analyses, table and features. */
  function symEigenvalues(M) {
    const m = M.length;
    const A = M.map(function (row) { return row.slice(); });
    for (let sweep = 0; sweep < 100; sweep++) {
      let off = 0.0;
      let diag = 0.0;
      for (let i = 0; i < m; i++) {
        diag += A[i][i] * A[i][i];
        for (let j = i + 1; j < m; j++) off += A[i][j] * A[i][j];
      }
      if (off <= 1e-32 * diag || off === 0.0) break;
      for (let p = 0; p < m; p++) {
        for (let q = p + 1; q < m; q++) {
          if (A[p][q] === 0.0) continue;
          const th = (A[q][q] - A[p][p]) / (2.0 * A[p][q]);
          const t = (th >= 0 ? 1.0 : -1.0) / (Math.abs(th) + Math.sqrt(th * th + 1.0));
          const cs = 1.0 / Math.sqrt(t * t + 1.0);
          const sn = t * cs;
          for (let k = 0; k < m; k++) {
            const akp = A[k][p];
            const akq = A[k][q];
            A[k][p] = cs * akp - sn * akq;
            A[k][q] = sn * akp + cs * akq;
          }
          for (let k = 0; k < m; k++) {
            const apk = A[p][k];
            const aqk = A[q][k];
            A[p][k] = cs * apk - sn * aqk;
            A[q][k] = sn * apk + cs * aqk;
          }
        }
      }
    }
    return A.map(function (row, i) { return row[i]; }).sort(function (x, y) { return x - y; });
  }

  /** rest._robust_rest: robust DPO with a vote share beyond 1 - eps on a features model;
   *  every row rests at the certified minimiser of theta's loss, or null (no claim). */
  function robustFeaturesRest(v, n, ac, bc, theta0, beta, lr, N) {
    const d = theta0.length;
    const basis = fBasis(v, d);
    if (!basis.length) return null;
    const push = new Array(d).fill(0.0);
    v.forEach(function (vi, i) { for (let t = 0; t < d; t++) push[t] += bc[i] * vi[t]; });
    for (let t = 0; t < d; t++) push[t] *= beta;
    const theta = fTightNewton(v, n, beta, theta0, basis, push);
    if (!theta.every(Number.isFinite)) return null;
    const k = basis.length;
    const G = v.map(function (vi) { return basis.map(function (e) { return fDot(vi, e); }); });
    const lin = basis.map(function (e) { return fDot(e, push); });
    const u = v.map(function (vi) { return beta * fDot(vi, theta); });
    const sp = u.map(sigmoidPair);
    const grad = lin.slice();
    const terms = lin.map(Math.abs);
    const H = [];
    for (let a = 0; a < k; a++) H.push(new Array(k).fill(0.0));
    G.forEach(function (gi, i) {
      const gs = -beta * n[i] * sp[i][1];
      const hs = beta * beta * n[i] * sp[i][0] * sp[i][1];
      for (let a = 0; a < k; a++) {
        grad[a] += gs * gi[a];
        terms[a] += Math.abs(gs * gi[a]);
        for (let b = 0; b < k; b++) H[a][b] += hs * gi[a] * gi[b];
      }
    });
    let gTop = 0.0;
    let tTop = 0.0;
    for (let a = 0; a < k; a++) { gTop = Math.max(gTop, Math.abs(grad[a])); tTop = Math.max(tTop, terms[a]); }
    if (!H.every(function (row) { return row.every(Number.isFinite); }) || gTop > 1e-9 * tTop) return null;
    const ev = symEigenvalues(H);
    if (ev[0] <= 1e-9 * ev[k - 1]) return null;
    const lam = ev[k - 1] / N;
    const limit = lam > 0 ? 2.0 / lam : Infinity;
    const lamWay = beta * beta / N * restLam(v, n.map(function (q) { return q / 4.0; }), d);
    const safe = lamWay > 0 ? 2.0 / lamWay : Infinity;
    return v.map(function (_, i) {
      const net = -ac[i] * sp[i][1] + bc[i] * sp[i][0];
      const kind = lr >= limit ? "overshoots" : lr >= safe ? "heads" : "rests";
      return rowRest(kind, {u: u[i], how: Math.abs(net) <= 1e-7 * n[i] ? "own" : "theta",
        lr_limit: limit});
    });
  }

  /** rest.at for a features plan: one theta, still when the whole gradient is exactly 0
   *  (every row then rests where it is); a row at rest for want of a pull rests at its
   *  margin now. */
  function featuresRestAt(plan, margins, grad) {
    const still = grad.every(function (g) {
      return Array.isArray(g) ? g.every(function (q) { return q === 0.0; }) : g === 0.0;
    });
    return plan.rows.map(function (rr, i) {
      if (still) {
        return rowRest("rests", {u: margins[i], how: "still", cycle: rr.cycle, lr_limit: Infinity});
      }
      const out = Object.assign({}, rr);
      if (out.kind === "rests" && out.how === "still") out.u = margins[i];
      return out;
    });
  }

  // ---------------------------------------------------------------------------------------
  // A run through time (sim/simulation.py). Arriving at step t, the scenario's events for t
  // apply first, then record t is computed from theta_t; advance() runs the update
  // t -> t+1 with the settings in force at t. A live action at step t is an event at t: it
  // applies at once and record t is recomputed.
  // ---------------------------------------------------------------------------------------

  /** The update left the loss non-finite; the run stays at its last finite step. */
  class Diverged extends Error {
    constructor(sim, step) {
      super("the run diverged at step " + step + ": the loss stopped being a finite number " +
        "(loss " + sim.loss_type + ", beta " + formatG(sim.beta) + ", learning_rate " +
        formatG(sim.learning_rate) + "). Gradient descent with steps too large for the " +
        "loss's curvature overshoots further at every update; a smaller learning_rate " +
        "avoids it");
      this.name = "Diverged";
      this.step = step;
      this.scenario_id = sim.scenario_id;
      this.loss_type = sim.loss_type;
      this.beta = sim.beta;
      this.learning_rate = sim.learning_rate;
    }
  }

  function copy2(a) { return a.map(function (row) { return row.slice(); }); }

  /** Python's int() of what flip() is given, with Python's messages for what it refuses. */
  function pyInt(v) {
    const fail = function (name, message) {
      const err = name === "TypeError" ? new TypeError(message) : new RangeError(message);
      err.name = name;
      return err;
    };
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "number") {
      if (v !== v) throw fail("ValueError", "cannot convert float NaN to integer");
      if (!Number.isFinite(v)) throw fail("OverflowError", "cannot convert float infinity to integer");
      return Math.trunc(v);
    }
    if (typeof v === "string") {
      if (/^\s*[+-]?\d+(_\d+)*\s*$/.test(v)) return parseInt(v.replace(/_/g, ""), 10);
      throw fail("ValueError", "invalid literal for int() with base 10: " + pyStrRepr(v));
    }
    const type = v === null || v === undefined ? "NoneType"
      : (Array.isArray(v) ? "list" : (typeof v === "object" ? "dict" : typeof v));
    throw fail("TypeError", "int() argument must be a string, a bytes-like object or a real " +
      "number, not '" + type + "'");
  }

  // ---------------------------------------------------------------------------------------
  // Where each row comes to rest, or that it never does (sim/rest.py, function by
  // function): the groups of linked rows, Fujishige's decomposition of the cut function of
  // the (corrected) votes into levels, tight sets and blocks, each block's fit, and the
  // curvature that decides whether the steps settle. No simulation: closed forms and the
  // structure of the rows.
  // ---------------------------------------------------------------------------------------

  const REST_MAX_GROUP = 16;    // rest.MAX_GROUP: every subset of a group's replies is tried
  const REST_TOL = 1e-9;        // rest.TOL: relative tolerance of the structural decisions
  const REST_NEVER = ["approaches", "drifts", "swings", "overshoots"];

  /** rest.RowRest, as a plain object (via, the row in the whole table; -1 for none). */
  function rowRest(kind, o) {
    o = o || {};
    return {kind: kind, u: o.u === undefined ? NaN : o.u, how: o.how || "",
      via: o.via === undefined ? -1 : o.via, cycle: !!o.cycle,
      lr_limit: o.lr_limit === undefined ? NaN : o.lr_limit,
      pace: o.pace === undefined ? NaN : o.pace};
  }

  /** rest.RowRest.claim: the margin the page states (data-u), NaN for "never rests", null
   *  for no claim. */
  function restClaim(rr) {
    if (rr.kind === "rests") return rr.u;
    return REST_NEVER.indexOf(rr.kind) >= 0 ? NaN : null;
  }

  /** rest.groups: the rows linked through shared replies, in the order of their first row. */
  function restGroups(pairs) {
    const n = pairs.prompt.length;
    const parent = [];
    for (let i = 0; i < n; i++) parent.push(i);
    const find = function (i) {
      while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; }
      return i;
    };
    const owner = new Map();
    for (let i = 0; i < n; i++) {
      [pairs.chosen[i], pairs.rejected[i]].forEach(function (y) {
        const key = pairs.prompt[i] * pairs.K + y;
        if (owner.has(key)) parent[find(i)] = find(owner.get(key));
        else owner.set(key, i);
      });
    }
    const out = new Map();
    for (let i = 0; i < n; i++) {
      const r = find(i);
      if (!out.has(r)) out.set(r, []);
      out.get(r).push(i);
    }
    return Array.from(out.values());
  }

  /** Largest eigenvalue of D^T diag(coef) D (D: rows x m incidence), by symEigenvalues
   *  (numpy's eigvalsh up to rounding). */
  function restLam(D, coef, m) {
    if (coef.length === 0) return 0.0;
    const A = [];
    for (let i = 0; i < m; i++) {
      A.push(new Array(m).fill(0.0));
      for (let j = 0; j < m; j++) {
        let s = 0.0;
        for (let k = 0; k < coef.length; k++) s += D[k][i] * coef[k] * D[k][j];
        A[i][j] = s;
      }
    }
    const ev = symEigenvalues(A);
    return ev[ev.length - 1];
  }

  function restIncidence(c, r, m) {
    return c.map(function (ci, k) {
      const row = new Array(m).fill(0.0);
      row[ci] += 1.0;
      row[r[k]] -= 1.0;
      return row;
    });
  }

  function popcount(s) {
    let n = 0;
    while (s) { n += s & 1; s >>>= 1; }
    return n;
  }

  /** rest._cut_values: f(S) for every subset S of the m replies (bit k: reply k in S). */
  function restCutValues(c, r, lo, hi, m) {
    const f = new Array(1 << m).fill(0.0);
    for (let i = 0; i < c.length; i++) {
      for (let s = 0; s < (1 << m); s++) {
        const inc = (s >> c[i]) & 1;
        const inr = (s >> r[i]) & 1;
        f[s] += hi[i] * (inc & (1 - inr)) - lo[i] * (inr & (1 - inc));
      }
    }
    return f;
  }

  /** rest._decompose: levels, blocks, and for each row cut apart whether its margin runs
   *  up and whether at a steady pace. */
  function restDecompose(f, m, c, r, scale) {
    const level = new Array(m).fill(0.0);
    const block = new Array(m).fill(0);
    const up = new Array(c.length).fill(false);
    const steady = new Array(c.length).fill(false);
    let nBlocks = 0;
    const tol = REST_TOL * scale;
    const work = [[0, (1 << m) - 1]];
    while (work.length) {
      const AB = work.pop();
      const A = AB[0];
      const B = AB[1];
      const ground = B & ~A;
      const size = popcount(ground);
      const alpha = (f[B] - f[A]) / size;
      const subs = [];
      const val = [];
      for (let s = 0; s < (1 << m); s++) {
        if ((s & ~ground) !== 0) continue;
        subs.push(s);
        val.push(f[A | s] - f[A] - alpha * popcount(s));
      }
      let low = Infinity;
      val.forEach(function (v) { low = Math.min(low, v); });
      let T = null;
      let pace = false;
      if (low < -tol) {
        T = 0;
        subs.forEach(function (s, k) { if (val[k] <= low + tol) T |= s; });
        pace = true;
      } else {
        let best = null;
        subs.forEach(function (s, k) {
          if (val[k] <= tol && s !== 0 && s !== ground &&
              (best === null || popcount(s) < popcount(best))) best = s;
        });
        if (best !== null) T = best;
      }
      if (T === null) {
        for (let k = 0; k < m; k++) {
          if ((ground >> k) & 1) { level[k] = alpha; block[k] = nBlocks; }
        }
        nBlocks++;
        continue;
      }
      for (let i = 0; i < c.length; i++) {
        if (((ground >> c[i]) & 1) && ((ground >> r[i]) & 1) &&
            ((T >> c[i]) & 1) !== ((T >> r[i]) & 1)) {
          up[i] = ((T >> c[i]) & 1) === 1;
          steady[i] = pace;
        }
      }
      work.push([A, A | T], [A | T, B]);
    }
    return {level: level, block: block, up: up, steady: steady};
  }

  /** rest._block_fit: the margins where the pulls on every reply of a block cancel:
   *  newton (the Bradley-Terry fit) with the linear term push, on the block's replies. */
  function restBlockFit(c, r, a, b, push, m, free) {
    const fit = {x: c.map(function () { return 0; }), c: c, r: r, a: a, b: b};
    const same = [free.map(function (fi) {
      return free.map(function (fj) { return fi && fj ? 1.0 : 0.0; });
    })];
    const w = newton(fit, 1, m, same, [free], [push])[0];
    return c.map(function (ci, i) { return w[ci] - w[r[i]]; });
  }

  /** rest._smooth: per row of a group, for DPO's family on the corrected votes a, b. */
  function restSmooth(c, r, a, b, m, scale) {
    const nRows = c.length;
    const negA = a.map(function (v) { return -v; });
    const f = restCutValues(c, r, negA, b, m);
    const d = restDecompose(f, m, c, r, scale);
    const inside = c.map(function (ci, i) { return d.block[ci] === d.block[r[i]]; });
    const kinds = new Array(nRows).fill("drifts");
    const how = d.steady.map(function (s) { return s ? "steady" : "slowing"; });
    const via = new Array(nRows).fill(-1);
    const own = new Array(nRows).fill("");
    const u = d.up.map(function (v) { return v ? Infinity : -Infinity; });
    const gLim = d.up.map(function (v, i) { return v ? b[i] : -a[i]; });
    const blocks = Array.from(new Set(d.block)).sort(function (x, y) { return x - y; });
    blocks.forEach(function (k) {
      const members = d.block.map(function (v) { return v === k; });
      const rowsIn = [];
      for (let i = 0; i < nRows; i++) if (inside[i] && members[c[i]]) rowsIn.push(i);
      if (rowsIn.length === 0) return;
      const push = new Array(m).fill(0.0);
      const touching = [];
      for (let i = 0; i < nRows; i++) {
        if (inside[i]) continue;
        if (members[c[i]] || members[r[i]]) {
          touching.push(i);
          push[c[i]] += gLim[i];
          push[r[i]] -= gLim[i];
        }
      }
      for (let y = 0; y < m; y++) push[y] = members[y] ? push[y] - d.level[y] : 0.0;
      const sub = restBlockFit(rowsIn.map(function (i) { return c[i]; }),
        rowsIn.map(function (i) { return r[i]; }), rowsIn.map(function (i) { return a[i]; }),
        rowsIn.map(function (i) { return b[i]; }), push, m, members);
      const slow = touching.filter(function (i) { return !d.steady[i]; });
      rowsIn.forEach(function (i, j) {
        u[i] = sub[j];
        const s = sigmoidPair(sub[j]);
        const net = -a[i] * s[1] + b[i] * s[0];
        own[i] = Math.abs(net) <= 1e-7 * (Math.abs(a[i]) + Math.abs(b[i])) ? "own" : "shared";
        if (slow.length) {
          kinds[i] = "approaches"; how[i] = own[i]; via[i] = slow[0];
          return;
        }
        kinds[i] = "rests";
        how[i] = own[i];
        if (own[i] === "shared" && touching.length) via[i] = touching[0];
      });
    });
    return {kinds: kinds, u: u, how: how, via: via, inside: inside, block: d.block, own: own,
      alphaGap: c.map(function (ci, i) { return d.level[ci] - d.level[r[i]]; })};
  }

  /** rest._group: each row of one group (via local to the group). */
  function restGroup(loss, c, r, a, b, m, beta, lr, N) {
    const nRows = c.length;
    const cyc = nRows > m - 1;
    const D = restIncidence(c, r, m);
    const name = loss.name;
    if (name === "bare_margin") {
      const ab = a.map(function (v, i) { return v - b[i]; });
      const x = new Array(m).fill(0.0);
      for (let i = 0; i < nRows; i++) for (let k = 0; k < m; k++) x[k] += D[i][k] * ab[i];
      const scale = lr * beta * beta / N;
      return D.map(function (row) {
        let pace = 0.0;
        for (let k = 0; k < m; k++) pace += row[k] * x[k];
        if (pace === 0.0) return rowRest("rests", {how: "still", cycle: cyc, lr_limit: Infinity});
        return rowRest("drifts", {u: pace > 0 ? Infinity : -Infinity, how: "steady", cycle: cyc,
          pace: scale * pace});
      });
    }
    if (name === "hinge") {
      return c.map(function (_, j) {
        const side = a[j] > b[j] ? 1.0 : -1.0;
        if (cyc) return rowRest("open", {cycle: cyc});
        if (a[j] === b[j]) return rowRest("idle");
        if (a[j] > 0 && b[j] > 0) return rowRest("swings", {u: side});
        return rowRest("stops", {u: side});
      });
    }
    const n = a.map(function (v, i) { return v + b[i]; });
    if (name === "ipo") {
      const t = a.map(function (v, i) { return (v - b[i]) / n[i] / (2.0 * beta); });
      const L = [];
      const rhs = new Array(m).fill(0.0);
      for (let k = 0; k < m; k++) {
        L.push(new Array(m).fill(1.0));
        for (let i = 0; i < nRows; i++) rhs[k] += n[i] * D[i][k] * t[i];
      }
      for (let i = 0; i < nRows; i++) {
        for (let k = 0; k < m; k++) for (let l = 0; l < m; l++) L[k][l] += D[i][k] * n[i] * D[i][l];
      }
      const z = solve(L, rhs);
      const lam = 2.0 / N * restLam(D, n, m);
      const limit = lam > 0 ? 2.0 / lam : Infinity;
      return D.map(function (row, j) {
        let h = 0.0;
        for (let k = 0; k < m; k++) h += row[k] * z[k];
        return rowRest(lr < limit ? "rests" : "overshoots", {u: beta * h,
          how: Math.abs(h - t[j]) <= 1e-9 * Math.max(1.0, Math.abs(t[j])) ? "own" : "shared",
          cycle: cyc, lr_limit: limit});
      });
    }
    if (m > REST_MAX_GROUP) return c.map(function () { return rowRest("open", {cycle: cyc}); });
    const eps = name === "robust" ? loss.labelSmoothing : 0.0;
    const ac = a.map(function (v, i) { return (v * (1 - eps) - b[i] * eps) / (1 - 2 * eps); });
    const bc = b.map(function (v, i) { return (v * (1 - eps) - a[i] * eps) / (1 - 2 * eps); });
    let nMax = -Infinity;
    n.forEach(function (v) { nMax = Math.max(nMax, v); });
    const sm = restSmooth(c, r, ac, bc, m, nMax);
    const lamWay = beta * beta / N * restLam(D, n.map(function (v) { return v / 4.0; }), m);
    const safe = lamWay > 0 ? 2.0 / lamWay : Infinity;
    const curv = sm.u.map(function (v, i) {
      if (!sm.inside[i]) return 0.0;
      const s = sigmoidPair(v);
      return n[i] * s[0] * s[1];
    });
    const limits = new Array(nRows).fill(NaN);
    Array.from(new Set(sm.block)).sort(function (x, y) { return x - y; }).forEach(function (k) {
      const rowsIn = [];
      for (let i = 0; i < nRows; i++) if (sm.inside[i] && sm.block[c[i]] === k) rowsIn.push(i);
      if (!rowsIn.length) return;
      const lam = beta * beta / N * restLam(rowsIn.map(function (i) { return D[i]; }),
        rowsIn.map(function (i) { return curv[i]; }), m);
      rowsIn.forEach(function (i) { limits[i] = lam > 0 ? 2.0 / lam : Infinity; });
    });
    const kinds = sm.kinds.map(function (kind, j) {
      if (kind === "rests" || kind === "approaches") {
        if (lr >= limits[j]) return "overshoots";
        if (lr >= safe) return "heads";
      }
      return kind;
    });
    const calm = !kinds.some(function (k) { return k === "overshoots" || k === "heads"; });
    return kinds.map(function (kind, j) {
      let how = sm.how[j];
      let pace = NaN;
      if (kind === "drifts") {
        if (!calm) how = "";
        else if (how === "steady") pace = -lr * beta * beta / N * sm.alphaGap[j];
      } else if (kind === "overshoots" || kind === "heads" || kind === "approaches") {
        how = sm.own[j];
      }
      return rowRest(kind, {u: sm.u[j], how: how, via: sm.via[j], cycle: cyc,
        lr_limit: limits[j], pace: pace});
    });
  }

  /** rest.analyse: where each row ends with these settings, whatever the policy now. */
  function analyseRest(pairs, beta, learningRate, loss) {
    const N = npSum(pairs.votesChosen) + npSum(pairs.votesRejected);   // Pairs.n_judgements
    const out = new Array(pairs.prompt.length).fill(null);
    const found = [];
    restGroups(pairs).forEach(function (rows) {
      const ys = [];
      rows.forEach(function (i) { ys.push(pairs.chosen[i], pairs.rejected[i]); });
      const replies = Array.from(new Set(ys)).sort(function (x, y) { return x - y; });
      const index = new Map(replies.map(function (y, k) { return [y, k]; }));
      const c = rows.map(function (i) { return index.get(pairs.chosen[i]); });
      const r = rows.map(function (i) { return index.get(pairs.rejected[i]); });
      found.push({x: pairs.prompt[rows[0]], replies: replies, rows: rows});
      const a = rows.map(function (i) { return +pairs.votesChosen[i]; });
      const b = rows.map(function (i) { return +pairs.votesRejected[i]; });
      restGroup(loss, c, r, a, b, replies.length, beta, learningRate, N).forEach(function (rr, j) {
        rr.via = rr.via >= 0 ? rows[rr.via] : -1;
        out[rows[j]] = rr;
      });
    });
    if (loss.name === "ipo") {
      const stop = out.findIndex(function (rr) { return rr.kind === "overshoots"; });
      if (stop >= 0) {
        out.forEach(function (rr) { if (rr.kind === "rests") { rr.kind = "halts"; rr.via = stop; } });
      }
    }
    return {rows: out, groups: found};
  }

  /** rest.at: the plan with what the policy now decides (a group whose gradient is exactly
   *  0 never moves; a row at rest for want of a pull rests at its margin now). */
  function restAt(plan, margins, grad) {
    const out = plan.rows.map(function (rr) { return Object.assign({}, rr); });
    plan.groups.forEach(function (g) {
      const still = g.replies.every(function (y) { return grad[g.x][y] === 0.0; });
      g.rows.forEach(function (i) {
        if (still) {
          out[i] = rowRest("rests", {u: margins[i], how: "still", cycle: out[i].cycle,
            lr_limit: Infinity});
        } else if (out[i].kind === "rests" && out[i].how === "still") {
          out[i].u = margins[i];
        }
      });
    });
    return out;
  }

  class Simulation {
    /** config: the JSONL config line (`dpo-sim run ... --format jsonl`); settingsTable:
     *  sim.settings.table_json(). */
    constructor(config, settingsTable) {
      this._config = config;
      this._settings = indexTable(settingsTable);
      this.scenario_id = config.scenario === undefined ? "replay" : String(config.scenario);
      this.P = config.ref_logits.length;
      this.K = config.ref_logits[0].length;
      this._events = new Map();          // step -> that step's scripted events, in order
      (config.events || []).forEach(function (e) {
        const ev = e.flip !== undefined && e.flip !== null
          ? {step: e.step, flip: e.flip, set: {}} : {step: e.step, flip: null, set: e.set || {}};
        if (!this._events.has(ev.step)) this._events.set(ev.step, []);
        this._events.get(ev.step).push(ev);
      }, this);
      this.model = modelFromConfig(config.model);
      // the start logits (pi*'s, the stacks'): the table's init, or the features model's
      // logits at theta_0; and the parameters at step 0
      this._theta0 = this.model.kind === "table"
        ? copy2(config.init_logits || config.ref_logits)
        : this.model.logits(this.model.init_theta, logSoftmax(config.ref_logits));
      this._params0 = this.model.start(this._theta0);
      this._opt = null;                  // the cached optimum: its rows, fit and beta
      this.reset();
    }

    /** Back to exactly the scenario's start: step 0, no flips, its settings. */
    reset() {
      const c = this._config;
      this.t = 0;
      this.theta = this.model.start(this._params0);    // logits (table) or theta (d)
      this.logp_ref = logSoftmax(c.ref_logits);
      this._settings.run.forEach(function (name) {
        const row = this._settings.byName.get(name);
        const given = c[name] !== undefined ? c[name] : row.default;
        try {
          this[name] = checkSetting(row, given);
        } catch (e) {
          if (!(e instanceof SettingError)) throw e;
          throw new SettingError("scenario " + pyStrRepr(this.scenario_id) + ": " + name +
            ": " + e.message);
        }
      }, this);
      this._flipMask = new Array(c.pairs.length).fill(false);
      this._pairs = compilePairs(c.pairs.map(function (r) {
        return {prompt: r.prompt, chosen: r.chosen, rejected: r.rejected,
          votes_chosen: r.votes_chosen,
          votes_rejected: r.votes_rejected === undefined ? 0 : r.votes_rejected};
      }), this.P, this.K);
      this._compile();
      this.actions = [];                 // live actions, as events (reproducible)
      this._applyEvents(0);
      this.record = this._finish(this._evaluate(this.theta));
      return this.record;
    }

    /** The rows flipped now (by actions or scripted events), in row order. */
    get flipped() {
      const out = [];
      this._flipMask.forEach(function (f, i) { if (f) out.push(i); });
      return out;
    }

    /** The rows as they stand, flips applied. */
    get rows() {
      return this._pairs.rows.map(function (r) {
        return {prompt: r.prompt, chosen: r.chosen, rejected: r.rejected,
          votes_chosen: r.votes_chosen, votes_rejected: r.votes_rejected};
      });
    }

    /** The rows' similarity scores (features only; null on a table). */
    get similarity() {
      return this.model.similarity(this._pairs);
    }

    _compile() {
      /** the loss in force, as one value (LossSpec) */
      this.loss_spec = LossSpec.of(this);
    }

    _evaluate(params, t) {
      return evaluate(params, this.logp_ref, this._pairs, this.beta, this.loss_spec,
        t === undefined ? this.t : t, this.learning_rate, this.model);
    }

    /** The record plus KL(pi || pi*) for the rows and beta in force (write_run's last key)
     *  and, on a features model, KL(pi || pi*_phi) (the protocol's kl_to_rlhf_phi). */
    _finish(rec) {
      rec.kl_to_rlhf = klToOptimum(rec.probs, this.optimum());
      const phi = this.optimumPhi();
      if (phi !== null) rec.kl_to_rlhf_phi = klToOptimum(rec.probs, phi);
      return rec;
    }

    _apply(e) {
      // checked before anything changes: a bad action leaves no trace
      const changes = checkLive(this._settings, e.set || {});
      if (e.flip !== null && e.flip !== undefined) {
        if (!(e.flip >= 0 && e.flip < this._flipMask.length)) {
          throw new RangeError("index " + e.flip + " is out of bounds for axis 0 with size " +
            this._flipMask.length);
        }
        this._flipMask[e.flip] = !this._flipMask[e.flip];
        this._pairs = flipRow(this._pairs, e.flip);
      }
      Object.keys(changes).forEach(function (k) { this[k] = changes[k]; }, this);
      this._compile();
    }

    _applyEvents(t) {
      (this._events.get(t) || []).forEach(function (e) { this._apply(e); }, this);
    }

    /** The scenario's scripted events for step t, in file order. */
    eventsAt(t) {
      return (this._events.get(t) || []).map(function (e) {
        return e.flip !== null ? {step: e.step, flip: e.flip} : {step: e.step, set: e.set};
      });
    }

    /** Run n updates; the record of the step arrived at. Throws Diverged (the run stays at
     *  the last finite step, that step's events undone) when an update leaves the loss
     *  non-finite. */
    advance(n) {
      if (n === undefined) n = 1;
      for (let i = 0; i < n; i++) {
        const lr = this.learning_rate;
        const grad = this.record.grad;
        const theta = this.model.kind === "table"
          ? this.theta.map(function (row, x) {
            return row.map(function (v, k) { return v - lr * grad[x][k]; });
          })
          : this.theta.map(function (v, j) { return v - lr * grad[j]; });
        const t = this.t + 1;
        let saved = null;
        if (this._events.has(t)) {
          saved = this._settingsNow();
          this._applyEvents(t);
        }
        const rec = this._evaluate(theta, t);
        // one scalar test is enough (simulation.py says why)
        if (!Number.isFinite(rec.loss)) {
          if (saved !== null) this._restore(saved);
          throw new Diverged(this, t);
        }
        this.theta = theta;
        this.t = t;
        this.record = this._finish(rec);
      }
      return this.record;
    }

    _settingsNow() {
      const values = {};
      this._settings.run.forEach(function (k) { values[k] = this[k]; }, this);
      return {values: values, mask: this._flipMask.slice(), pairs: this._pairs};
    }

    _restore(saved) {
      Object.keys(saved.values).forEach(function (k) { this[k] = saved.values[k]; }, this);
      this._flipMask = saved.mask;
      this._pairs = saved.pairs;
      this._compile();
    }

    /** A live action at the current step ({flip: i} or {set: {...}}); record t is
     *  recomputed. */
    act(event) {
      const e = {step: this.t, flip: event.flip === undefined ? null : event.flip,
        set: event.set || {}};
      const n = this._flipMask.length;
      if (e.flip !== null && !(e.flip >= 0 && e.flip < n)) {
        throw new RangeError("no row " + e.flip + "; rows are 0.." + (n - 1));
      }
      this._apply(e);
      this.actions.push(e.flip !== null ? {step: e.step, flip: e.flip}
        : {step: e.step, set: Object.assign({}, e.set)});
      this.record = this._finish(this._evaluate(this.theta));
      return this.record;
    }

    flip(i) { return this.act({flip: pyInt(i)}); }

    set(settings) { return this.act({set: Object.assign({}, settings)}); }

    /** Where each row ends (rest.rest_points) with the rows and settings in force, from
     *  the policy now; the rows' structure is analysed again only when they or the settings
     *  change. */
    rest() {
      const key = [this._pairs, this.beta, this.learning_rate, this.loss_spec.loss];
      const k = this._restKey;
      if (!k || k.some(function (v, i) { return v !== key[i]; })) {
        // on a features model the rows share theta (the optima helper's analyseFeaturesRest)
        this._restPlan = this.model.kind === "table"
          ? analyseRest(this._pairs, this.beta, this.learning_rate, this.loss_spec.loss)
          : analyseFeaturesRest(this._pairs, this.model.features, this.model.init_theta,
            this.beta, this.learning_rate, this.loss_spec.loss);
        this._restKey = key;
      }
      return (this._restPlan.features ? featuresRestAt : restAt)(this._restPlan,
        this.record["pairs/margin"], gradLogits(this.record));
    }

    /** pi*_phi, the RLHF optimum for a reward linear in the features (where DPO ends on
     *  a features model), for the rows and beta in force: refitted when either changes
     *  (protocol.RlhfTarget's opt_phi); null on a table. */
    optimumPhi() {
      if (this.model.kind === "table") return null;
      const o = this._optPhi;
      if (!o || o.pairs !== this._pairs || o.beta !== this.beta) {
        this._optPhi = {pairs: this._pairs, beta: this.beta,
          value: featuresOptimum(this._pairs, this.logp_ref, this.model.features,
            this.model.init_theta, this.beta)};
      }
      return this._optPhi.value;
    }

    /** pi*, the RLHF optimum, for the rows and beta in force: refitted when the rows
     *  change (a flip), rebuilt from the same fit when beta changes (cli._RlhfTarget). */
    optimum() {
      const o = this._opt;
      if (o === null || o.pairs !== this._pairs) {
        this._opt = {pairs: this._pairs, fit: fitBradleyTerry(this._pairs), beta: null,
          value: null};
      }
      if (this._opt.beta !== this.beta) {
        this._opt.beta = this.beta;
        this._opt.value = optimumOf(this._pairs, this.logp_ref, this._theta0, this.beta,
          this._opt.fit);
      }
      return this._opt.value;
    }
  }

  return {
    Simulation: Simulation,
    Diverged: Diverged,
    SettingError: SettingError,
    // a live change checked against the table (the page checks before it sends)
    checkLive: function (table, changes) { return checkLive(indexTable(table), changes); },
    storedRowMetrics: storedRowMetrics,
    klCeiling: klCeiling,
    analyseRest: analyseRest,
    restAt: restAt,
    restClaim: restClaim,
    fsum: fsum,
    LOSS_TYPES: LOSS_TYPES.slice(),
    // the loss in force as one value, and the model (sim/losses.py, sim/model.py)
    LossSpec: LossSpec,
    gradLogits: gradLogits,
    modelFromConfig: modelFromConfig,
    similarity: similarity,
    MAX_FEATURES: MAX_FEATURES,
    // building blocks, for tests and the curious
    sigmoidPair: sigmoidPair,
    logSoftmax: logSoftmax,
    objective: objective,
    // for app/offline/stack.js (the stacks of runs: frontier and sweep)
    npSum: npSum,
    compilePairs: compilePairs,
    fitBradleyTerry: fitBradleyTerry,
    optimumOf: optimumOf,
    // pi*_phi on a features model (the optima helper's section)
    featuresOptimum: featuresOptimum,
    fitFeatures: fitFeatures,
    analyseFeaturesRest: analyseFeaturesRest,
    featuresRestAt: featuresRestAt,
    PSI_SERIES: PSI_SERIES,
    pyRepr: pyRepr,
    pyFloatRepr: pyFloatRepr,
    pyStrRepr: pyStrRepr,
    got: got,
    formatG: formatG,
    EXP_MAX: EXP_MAX,
  };
}));
