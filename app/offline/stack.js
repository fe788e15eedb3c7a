/* dpo-sim's stacks of runs in JavaScript: the reward-KL frontier with its beta sweep and the
 * beta x learning-rate map, the twins of sim/frontier.py (frontier_reply) and sim/sweep.py
 * (sweep_reply), computed with the twin engine (app/offline/engine.js). The replies are the
 * same JSON-able dicts as Python's (tests/test_js_stack.py holds them to 1e-12).
 *
 * A stack's runs are independent: each is run alone here, on flat typed arrays, with the
 * operations per element of sim/stack.py's RunStack.step (which are the ones of a single
 * run, sim/engine.py) in the same order, so a cell is the run the engine would make. Where
 * plain gradient descent is past its stable step (the hatched cells, and a few at their
 * edge) a run is chaotic, or leaves an unstable symmetric point the way its first rounding
 * decides: there the last-bit differences of V8's exp and log against NumPy's grow, and
 * the cell's numbers differ between the two (tests/test_js_stack.py finds those cells in
 * NumPy alone, by one-ulp noise, and holds every other cell to 1e-12).
 *
 * Plain ES2019, no DOM, no imports; needs engine.js first:
 * - Node.js: require("./stack.js") (it requires ./engine.js itself);
 * - a page: <script> engine.js, then <script> stack.js: window.DPOStack;
 * - a Web Worker: a Blob of engine.js's text, this file's text and the line
 *   "DPOStack.serveWorker(self);" (see app/ui/offline_requests.js): messages {id, input,
 *   cmd} in, {id, reply} or {id, error} out, input = DPOStack.snapshot(sim).
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory(require("./engine.js"));
  } else {
    root.DPOStack = factory(root.DPO);
  }
}(typeof self !== "undefined" ? self : this, function (DPO) {
  "use strict";

  // sim/frontier.py
  const CURVE_POINTS = 400;
  const MAX_SWEEP_STEPS = 5000;
  // sim/sweep.py
  const N_BETA = 64;
  const N_LR = 64;
  const BETA_RANGE = [0.05, 5.0];
  const LR_RANGE = [0.01, 10.0];
  const MAX_STEPS = 1000;
  const WINDOW = 16;
  const RISE_TOL = 1e-9;
  const EXP_MAX = 709.0;
  // sim/sweep.py, stability_limit: what each kind of limit says
  const WHY = {
    features: "no prediction on a features model: its curvature at rest depends on where " +
      "the shared theta settles, so only the measured cells are shown",
    bare_margin: "the bare margin is linear in the logits: no curvature, so no step is too " +
      "large for it",
    hinge: "the hinge has a kink and no curvature: once a pair's margin reaches u = 1, plain " +
      "gradient steps overshoot it at any learning rate, so the hatched cells are the runs " +
      "that got there within the steps",
    ipo: "IPO is a quadratic whose curvature does not depend on beta",
    dpo: "the curvature of the DPO loss at rest is beta^2 q(1-q) per judgement, q the pair's " +
      "preference probability there",
  };

  /** np.maximum: NaN if either is NaN. */
  function npMax(a, b) {
    return (a !== a || b !== b) ? NaN : (a >= b ? a : b);
  }

  /** A number for JSON: null for NaN and the infinities. */
  function num(v) {
    return Number.isFinite(v) ? v : null;
  }

  function nums(a) {
    return Array.from(a, num);
  }

  /** np.linspace(start, stop, n): i * step + start, the last point exactly stop. */
  function linspace(start, stop, n) {
    const out = new Array(n);
    const step = (stop - start) / (n - 1);
    for (let i = 0; i < n; i++) out[i] = i * step + start;
    out[n - 1] = stop;
    return out;
  }

  /** np.geomspace(start, stop, n) for positive ends: 10 ** linspace of the log10s, the ends
   *  exactly start and stop. */
  function geomspace(start, stop, n) {
    const out = linspace(Math.log10(start), Math.log10(stop), n).map(function (y) {
      return Math.pow(10.0, y);
    });
    out[0] = start;
    out[n - 1] = stop;
    return out;
  }

  /** sweep.grid_values: n values from lo to hi, log-spaced, each to 3 significant digits. */
  function gridValues(lo, hi, n) {
    return geomspace(lo, hi, n).map(function (v) { return parseFloat(v.toPrecision(3)); });
  }

  /** frontier.SWEEP_BETAS: 13 betas, 0.1 to 10, three per factor of ten. */
  const SWEEP_BETAS = gridValues(0.1, 10.0, 13);

  // ---------------------------------------------------------------------------------------
  // What a stack needs of a simulation: the scenario's start and settings, the rows as they
  // stand, the loss in force. From a DPO.Simulation, or from its snapshot (a Worker's).
  // ---------------------------------------------------------------------------------------

  /** The JSON-able part of a live simulation a stack reads (what a Worker is sent). */
  function snapshot(sim) {
    const cfg = sim._config;
    const scenario = function (name) {
      return cfg[name] !== undefined ? cfg[name] : sim._settings.byName.get(name).default;
    };
    return {
      P: sim.P, K: sim.K,
      ref_logits: cfg.ref_logits,
      init_logits: sim._theta0,
      model: sim.model.config(),
      true_reward: cfg.true_reward === undefined ? null : cfg.true_reward,
      scenario: {beta: scenario("beta"), learning_rate: scenario("learning_rate"),
        steps: scenario("steps")},
      rows: sim.rows,
      loss: sim.loss_spec.toDict(),
    };
  }

  /** The input of a stack: a DPO.Simulation or a snapshot of one. */
  function inputOf(sim) {
    const snap = sim instanceof DPO.Simulation ? snapshot(sim) : sim;
    const pairs = sim instanceof DPO.Simulation ? sim._pairs
      : DPO.compilePairs(snap.rows, snap.P, snap.K);
    const logpRef = sim instanceof DPO.Simulation ? sim.logp_ref
      : DPO.logSoftmax(snap.ref_logits);
    const model = sim instanceof DPO.Simulation ? sim.model : DPO.modelFromConfig(snap.model);
    const loss = sim instanceof DPO.Simulation ? sim.loss_spec : DPO.LossSpec.of(snap.loss);
    // theta0: the start logits (pi*'s); params0: the parameters every run starts from
    return {P: snap.P, K: snap.K, pairs: pairs, logpRef: logpRef, theta0: snap.init_logits,
      model: model, params0: model.start(snap.init_logits), trueReward: snap.true_reward,
      scenario: snap.scenario, loss: loss};
  }

  // ---------------------------------------------------------------------------------------
  // One run of a stack (sim/stack.py, RunStack.step; sim/sweep.py, mean_loss).
  // ---------------------------------------------------------------------------------------

  const KIND = {sigmoid: 0, robust: 1, ipo: 2, hinge: 3, bare_margin: 4};

  /** The compiled rows and scratch arrays for running one policy after another. A run's
   *  parameters are flat: the P*K logits of a table, theta (d) of a features model (made
   *  into logits and the gradient pulled back as sim/stack.py's RunStack does, which is
   *  model.logits / model.pullback element by element). */
  function runner(inp) {
    const P = inp.P;
    const K = inp.K;
    const PK = P * K;
    const pairs = inp.pairs;
    const N = pairs.N;
    const lref = new Float64Array(PK);
    for (let x = 0; x < P; x++) for (let k = 0; k < K; k++) lref[x * K + k] = inp.logpRef[x][k];
    const table = inp.model.kind === "table";
    const d = table ? 0 : inp.model.d;
    const NP = table ? PK : d;                  // parameters per run
    const F = new Float64Array(PK * d);         // phi(x, y)_j at (x K + y) d + j
    if (!table) {
      for (let x = 0; x < P; x++) {
        for (let k = 0; k < K; k++) {
          for (let j = 0; j < d; j++) F[(x * K + k) * d + j] = inp.model.features[x][k][j];
        }
      }
    }
    const X = new Float64Array(PK);             // a features run's logits
    const gp = new Float64Array(d);             // its gradient in theta

    /** The logits of parameters (the parameters themselves on a table; scratch space on
     *  a features model: log pi_ref, then + phi_j theta_j for j = 0..d-1). */
    function logitsOf(theta) {
      if (table) return theta;
      for (let f = 0; f < PK; f++) {
        let v = lref[f];
        for (let j = 0; j < d; j++) v += F[f * d + j] * theta[j];
        X[f] = v;
      }
      return X;
    }
    const fc = Int32Array.from(pairs.flatC);
    const fr = Int32Array.from(pairs.flatR);
    const vc = Float64Array.from(pairs.vc);
    const vr = Float64Array.from(pairs.vr);
    const ez = new Float64Array(K);
    const ratio = new Float64Array(PK);       // log pi - log pi_ref; the log-softmax's z
    const u = new Float64Array(N);
    const g = new Float64Array(PK);
    const loss = inp.loss.loss;
    const kind = KIND[loss.name];
    const c = kind === KIND.robust ? loss.c : 0.0;
    const terms = new Float64Array(N);

    /** ratio = log softmax(theta) - logp_ref and, with beta, u of every row. */
    function margins(theta, beta) {
      for (let x = 0; x < P; x++) {
        const o = x * K;
        let m = npMax(theta[o], theta[o + 1]);
        for (let k = 2; k < K; k++) m = npMax(m, theta[o + k]);
        for (let k = 0; k < K; k++) {
          const z = theta[o + k] - m;
          ratio[o + k] = z;
          ez[k] = Math.exp(z);
        }
        let norm = ez[0] + ez[1];
        for (let k = 2; k < K; k++) norm += ez[k];
        const ln = Math.log(norm);
        for (let k = 0; k < K; k++) ratio[o + k] = (ratio[o + k] - ln) - lref[o + k];
      }
      if (beta !== undefined) {
        for (let i = 0; i < N; i++) u[i] = (ratio[fc[i]] - ratio[fr[i]]) * beta;
      }
    }

    /** One gradient-descent update of the parameters theta (Float64Array NP), in place. */
    function step(theta, beta, lr) {
      if (kind !== KIND.bare_margin) margins(logitsOf(theta), beta);
      g.fill(0.0);
      for (let i = 0; i < N; i++) {
        let wf;
        let wb;
        if (kind <= KIND.robust) {
          const e = Math.exp(Math.min(-u[i], EXP_MAX));
          const a = 1.0 / (e + 1.0);
          wf = e * a + c;
          wb = a + c;
          if (kind === KIND.sigmoid) { wf = e * a; wb = a; }
        } else if (kind === KIND.ipo) {
          wf = (((0.5 - u[i]) / beta) * 2.0) / beta;
          wb = (((0.5 - (-u[i])) / beta) * 2.0) / beta;
        } else if (kind === KIND.hinge) {
          wf = u[i] < 1.0 ? 1.0 : 0.0;
          wb = u[i] > -1.0 ? 1.0 : 0.0;
        } else {
          wf = 1.0;
          wb = 1.0;
        }
        const coef = (vr[i] * wb - vc[i] * wf) * beta;
        g[fc[i]] += coef;
        g[fr[i]] -= coef;
      }
      if (table) {
        for (let f = 0; f < PK; f++) theta[f] = theta[f] - g[f] * lr;
        return;
      }
      gp.fill(0.0);                              // the pullback, in (x, y) order
      for (let f = 0; f < PK; f++) {
        const gf = g[f];
        for (let j = 0; j < d; j++) gp[j] += F[f * d + j] * gf;
      }
      for (let j = 0; j < d; j++) theta[j] = theta[j] - gp[j] * lr;
    }

    /** sweep.mean_loss: the mean loss over all judgements at parameters theta. */
    function meanLoss(theta, beta) {
      margins(logitsOf(theta), beta);
      for (let i = 0; i < N; i++) {
        const t = loss.pairTerms(u[i], beta);
        terms[i] = t[0] * vc[i] + t[1] * vr[i];
      }
      return DPO.npSum(terms, 0, N);
    }

    /** Per prompt, max(sum_k pi (log pi - log pi_ref), 0) with pi = exp(log pi). */
    function kl(lp) {
      const out = new Float64Array(P);
      for (let x = 0; x < P; x++) {
        let s = 0.0;
        for (let k = 0; k < K; k++) {
          const f = x * K + k;
          s += Math.exp(lp[f]) * (lp[f] - lref[f]);
        }
        out[x] = npMax(s, 0.0);
      }
      return out;
    }

    /** log pi at parameters theta, flat, as numerics.log_softmax rounds it: (logits - max)
     *  - log norm. */
    function logSoftmaxFlat(params) {
      const theta = logitsOf(params);
      const out = new Float64Array(PK);
      for (let x = 0; x < P; x++) {
        const o = x * K;
        let m = npMax(theta[o], theta[o + 1]);
        for (let k = 2; k < K; k++) m = npMax(m, theta[o + k]);
        let norm = Math.exp(theta[o] - m) + Math.exp(theta[o + 1] - m);
        for (let k = 2; k < K; k++) norm += Math.exp(theta[o + k] - m);
        const ln = Math.log(norm);
        for (let k = 0; k < K; k++) out[o + k] = (theta[o + k] - m) - ln;
      }
      return out;
    }

    const start = table ? new Float64Array(PK) : Float64Array.from(inp.params0);
    const startLogits = new Float64Array(PK);    // sweep.Sweep.start, flat
    for (let x = 0; x < P; x++) {
      for (let k = 0; k < K; k++) {
        startLogits[x * K + k] = inp.theta0[x][k];
        if (table) start[x * K + k] = inp.theta0[x][k];
      }
    }

    return {P: P, K: K, PK: PK, NP: NP, start: start, startLogits: startLogits, step: step,
      meanLoss: meanLoss, logp: logSoftmaxFlat, kl: kl, logits: logitsOf};
  }

  // ---------------------------------------------------------------------------------------
  // The frontier (sim/frontier.py).
  // ---------------------------------------------------------------------------------------

  /** frontier.true_reward: r* per prompt, its source, which prompts have it, linked. */
  function trueReward(inp) {
    const P = inp.P;
    if (inp.trueReward !== null && inp.trueReward !== undefined) {
      const finite = inp.trueReward.map(function (row) { return row.every(Number.isFinite); });
      return {reward: inp.trueReward.map(function (row, x) {
        return row.map(function (v) { return finite[x] ? v : NaN; });
      }), finite: finite, source: "scenario", linked: new Array(P).fill(true)};
    }
    const fit = DPO.fitBradleyTerry(inp.pairs);
    return {
      reward: fit.reward.map(function (row, x) {
        return row.map(function (v) { return fit.finite[x] ? v : NaN; });
      }),
      finite: fit.finite.slice(),
      source: "bradley-terry",
      linked: fit.group.map(function (row) { return row.every(function (v) { return v === 0; }); }),
    };
  }

  function rowMax(a) {
    let m = a[0];
    for (let k = 1; k < a.length; k++) m = npMax(m, a[k]);
    return m;
  }

  function rowMin(a) {
    let m = a[0];
    for (let k = 1; k < a.length; k++) m = (a[k] !== a[k] || m !== m) ? NaN : Math.min(m, a[k]);
    return m;
  }

  /** frontier._top: the replies with the best reward, ties within TIE_TOL (relative). */
  const TIE_TOL = 1e-12;
  function isTop(r) {
    const best = rowMax(r);
    const floor = best - TIE_TOL * Math.max(1.0, Math.abs(best));
    return r.map(function (v) { return v >= floor; });
  }

  /** frontier._b_range. */
  function bRange(lp, r) {
    const top = rowMax(r);
    const spread = top - rowMin(r);
    const atTop = isTop(r);
    let below = -Infinity;
    let any = false;
    r.forEach(function (v, k) { if (!atTop[k]) { any = true; below = Math.max(below, v); } });
    const gap = any ? top - below : spread;
    const refSpan = rowMax(lp) - rowMin(lp);
    return [gap / ((30.0 + refSpan) + Math.log(r.length)), spread * 1e5];
  }

  /** (KL(pi_b || pi_ref), E_{pi_b}[r]) of the tilt pi_b = softmax(lp + r / b). */
  function tiltPoint(lp, r, b) {
    const K = lp.length;
    const row = lp.map(function (v, k) { return v + r[k] / b; });
    let m = npMax(row[0], row[1]);
    for (let k = 2; k < K; k++) m = npMax(m, row[k]);
    const z = row.map(function (v) { return v - m; });
    let norm = Math.exp(z[0]) + Math.exp(z[1]);
    for (let k = 2; k < K; k++) norm += Math.exp(z[k]);
    const ln = Math.log(norm);
    const logp = z.map(function (v) { return v - ln; });
    const klTerms = [];
    const eTerms = [];
    for (let k = 0; k < K; k++) {
      const p = Math.exp(logp[k]);
      klTerms.push(p * (logp[k] - lp[k]));
      eTerms.push(p * r[k]);
    }
    return [npMax(DPO.npSum(klTerms), 0.0), DPO.npSum(eTerms)];
  }

  /** frontier.frontier: the curve of one prompt (lp = log pi_ref, r = r*). */
  function frontierOf(lp, r, n) {
    const pRef = lp.map(Math.exp);
    const start = DPO.npSum(pRef.map(function (p, k) { return p * r[k]; }));
    const best = rowMax(r);
    const topMass = [];
    const atTop = isTop(r);
    r.forEach(function (v, k) { if (atTop[k]) topMass.push(pRef[k]); });
    const klEnd = npMax(-Math.log(DPO.npSum(topMass)), 0.0);
    if (best === rowMin(r)) {
      return {kl: [0.0], reward: [start], kl_end: 0.0, best: best, start: start};
    }
    const range = bRange(lp, r);
    const bs = geomspace(range[1], range[0], n);
    const kl = [0.0];
    const e = [start];
    bs.forEach(function (b) {
      const pt = tiltPoint(lp, r, b);
      kl.push(pt[0]);
      e.push(pt[1]);
    });
    kl.push(klEnd);
    e.push(best);
    for (let i = 1; i < kl.length; i++) {      // np.maximum.accumulate
      kl[i] = npMax(kl[i - 1], kl[i]);
      e[i] = npMax(e[i - 1], e[i]);
    }
    return {kl: kl, reward: e, kl_end: klEnd, best: best, start: start};
  }

  function wholeArg(cmd, name, dflt, lo, hi, where) {
    const v = cmd[name] === undefined || cmd[name] === null ? dflt : cmd[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(where + ": " + name + " must be a whole number from " + lo + " to " +
        hi + ", got " + DPO.pyRepr(v));
    }
    return v;
  }

  /** frontier_reply (sim/frontier.py): the frontier of every prompt and the beta sweep. */
  function frontierReply(sim, cmd) {
    cmd = cmd || {};
    const n = wholeArg(cmd, "points", CURVE_POINTS, 2, 4000, "frontier");
    const inp = inputOf(sim);
    const tr = trueReward(inp);
    const ceiling = DPO.klCeiling(inp.logpRef);
    const prompts = [];
    for (let x = 0; x < inp.P; x++) {
      if (!tr.finite[x]) {
        prompts.push({finite: false, linked: tr.linked[x], r: null, kl: [], reward: [],
          kl_end: null, best: null, start: null, kl_ceiling: ceiling[x],
          logp_ref: nums(inp.logpRef[x])});
        continue;
      }
      const f = frontierOf(inp.logpRef[x], tr.reward[x], n);
      prompts.push({finite: true, linked: tr.linked[x], r: nums(tr.reward[x]), kl: nums(f.kl),
        reward: nums(f.reward), kl_end: f.kl_end, best: f.best, start: f.start,
        kl_ceiling: ceiling[x], logp_ref: nums(inp.logpRef[x])});
    }
    const sc = inp.scenario;
    const lrBeta2 = sc.learning_rate * (sc.beta * sc.beta);
    const steps = Math.min(sc.steps, MAX_SWEEP_STEPS);
    const run = runner(inp);
    const r0 = tr.reward.map(function (row) {
      return row.map(function (v) { return Number.isFinite(v) ? v : 0.0; });
    });
    const lrs = SWEEP_BETAS.map(function (b) { return lrBeta2 / (b * b); });
    const kls = [];
    const rewards = [];
    SWEEP_BETAS.forEach(function (beta, i) {
      const theta = run.start.slice();
      for (let t = 0; t < steps; t++) run.step(theta, beta, lrs[i]);
      const lp = run.logp(theta);
      kls.push(nums(run.kl(lp)));
      const e = [];
      for (let x = 0; x < inp.P; x++) {
        let s = 0.0;
        for (let k = 0; k < inp.K; k++) s += Math.exp(lp[x * inp.K + k]) * r0[x][k];
        e.push(tr.finite[x] ? num(s) : null);
      }
      rewards.push(e);
    });
    return {
      op: "frontier",
      source: tr.source,
      prompts: prompts,
      sweep: {beta: SWEEP_BETAS.slice(), learning_rate: nums(lrs), lr_beta2: lrBeta2,
        steps: steps, scenario_steps: sc.steps, kl: kls, reward: rewards},
      settings: inp.loss.toDict(),
    };
  }

  // ---------------------------------------------------------------------------------------
  // The beta x learning-rate map (sim/sweep.py).
  // ---------------------------------------------------------------------------------------

  const PSI = DPO.PSI_SERIES;        // (n - 1) / n! for n = 2..10 (engine.js: klTerm's)

  /** sweep._psi_terms for one reply: pi*(y) psi(d), d = log pi - log pi*. */
  function psiTerm(logp, logStar) {
    const star = Math.exp(logStar);
    if (Math.exp(logp) === 0.0) return star;
    const d = logp - logStar;
    if (Math.abs(d) < 0.0625) {
      let acc = 0.0;
      for (let i = PSI.length - 1; i >= 0; i--) acc = acc * d + PSI[i];
      return star * d * d * acc;
    }
    if (d > 30.0) return Math.exp(logp) * (d - 1.0) + star;
    return star * (d * Math.exp(d) - Math.expm1(d));
  }

  /** sweep.stability_limit: {kind, value, why}. */
  function stabilityLimit(inp) {
    const loss = inp.loss.loss;
    if (inp.model.kind !== "table") return {kind: null, value: Infinity, why: WHY.features};
    if (loss.name === "bare_margin") return {kind: null, value: Infinity, why: WHY.bare_margin};
    if (loss.name === "hinge") return {kind: null, value: Infinity, why: WHY.hinge};
    let value = Infinity;
    DPO.analyseRest(inp.pairs, 1.0, 0.0, loss).rows.forEach(function (rr) {
      if (rr.lr_limit === rr.lr_limit) value = Math.min(value, rr.lr_limit);
    });
    if (loss.name === "ipo") return {kind: "lr", value: value, why: WHY.ipo};
    return {kind: "lr*beta^2", value: value, why: WHY.dpo};
  }

  /** sweep_reply (sim/sweep.py): the grid of runs, their instability and the prediction. */
  function sweepReply(sim, cmd) {
    cmd = cmd || {};
    const inp = inputOf(sim);
    const sc = inp.scenario;
    const steps = wholeArg(cmd, "steps", Math.min(sc.steps, MAX_STEPS), 1, MAX_STEPS, "sweep");
    const nb = wholeArg(cmd, "n_beta", N_BETA, 2, 128, "sweep");
    const nl = wholeArg(cmd, "n_lr", N_LR, 2, 128, "sweep");
    const betas = gridValues(BETA_RANGE[0], BETA_RANGE[1], nb);
    const lrs = gridValues(LR_RANGE[0], LR_RANGE[1], nl);
    const run = runner(inp);
    const P = inp.P;
    const K = inp.K;
    const PK = run.PK;
    const window = Math.min(WINDOW, steps);
    const fit = DPO.fitBradleyTerry(inp.pairs);
    const R = nb * nl;
    const out = {kl: new Array(R), loss: new Array(R), kl_opt: new Array(R),
      diverged: new Array(R), oscillating: new Array(R)};
    let moved = false;
    const watched = new Float64Array(window + 1);
    const theta = new Float64Array(run.NP);
    betas.forEach(function (beta, i) {
      const opt = DPO.optimumOf(inp.pairs, inp.logpRef, inp.theta0, beta, fit);
      lrs.forEach(function (lr, j) {
        theta.set(run.start);
        const loss0 = run.meanLoss(theta, beta);
        let w = 0;
        for (let t = 0; t < steps; t++) {
          if (t >= steps - window) watched[w++] = run.meanLoss(theta, beta);
          run.step(theta, beta, lr);
        }
        const fin = run.meanLoss(theta, beta);
        watched[w++] = fin;
        let rise = false;
        for (let q = 1; q < w; q++) {
          if (watched[q] - watched[q - 1] > RISE_TOL * npMax(1.0, Math.abs(watched[q - 1]))) {
            rise = true;
          }
        }
        let finite = Number.isFinite(fin);
        let same = true;
        const logits = run.logits(theta);
        for (let f = 0; f < PK; f++) {
          if (!Number.isFinite(logits[f])) finite = false;
          if (logits[f] !== run.startLogits[f]) same = false;
        }
        if (!same) moved = true;
        const cell = i * nl + j;
        out.diverged[cell] = !finite ||
          !(fin <= loss0 + RISE_TOL * npMax(1.0, Math.abs(loss0)));
        out.oscillating[cell] = finite && rise;
        const lp = run.logp(theta);
        const kl = run.kl(lp);
        out.kl[cell] = num(DPO.npSum(kl) / P);
        out.loss[cell] = num(fin);
        let sum = 0.0;
        let count = 0;
        for (let x = 0; x < P; x++) {
          const star = opt.log_probs[x];
          if (star === null) continue;
          let s = 0.0;
          for (let k = 0; k < K; k++) s += psiTerm(lp[x * K + k], star[k]);
          if (Number.isFinite(s)) { sum += s; count++; }
        }
        out.kl_opt[cell] = count > 0 ? num(sum / count) : null;
      });
    });
    const boundary = betas.map(function (_, i) {
      let j = nl;
      while (j > 0 && (out.diverged[i * nl + j - 1] || out.oscillating[i * nl + j - 1])) j--;
      return j > 0 && j < nl ? Math.sqrt(lrs[j - 1] * lrs[j]) : null;
    });
    const lim = stabilityLimit(inp);
    const ceiling = DPO.klCeiling(inp.logpRef);
    return {
      op: "sweep",
      beta: betas, learning_rate: lrs,
      steps: steps, scenario_steps: sc.steps, max_steps: MAX_STEPS,
      kl: out.kl, loss: out.loss, kl_opt: out.kl_opt,
      diverged: out.diverged, oscillating: out.oscillating,
      boundary: boundary, moved: moved,
      limit: {kind: lim.kind, value: num(lim.value), why: lim.why},
      kl_ceiling: DPO.npSum(ceiling) / ceiling.length,
      settings: inp.loss.toDict(),
    };
  }

  // ---------------------------------------------------------------------------------------
  // A Worker's side: answers {id, input, cmd} with {id, reply} or {id, error}.
  // ---------------------------------------------------------------------------------------

  /** Install the message handler in a Worker's global scope. */
  function serveWorker(scope) {
    scope.onmessage = function (ev) {
      const m = ev.data;
      try {
        const op = m.cmd && m.cmd.op;
        let reply;
        if (op === "sweep") reply = sweepReply(m.input, m.cmd);
        else if (op === "frontier") reply = frontierReply(m.input, m.cmd);
        else throw new RangeError("unknown op " + DPO.pyRepr(op) + "; known: frontier, sweep");
        scope.postMessage({id: m.id, reply: reply});
      } catch (e) {
        scope.postMessage({id: m.id, error: String(e && e.message ? e.message : e)});
      }
    };
  }

  return {
    frontierReply: frontierReply,
    sweepReply: sweepReply,
    snapshot: snapshot,
    serveWorker: serveWorker,
    gridValues: gridValues,
    runner: function (sim) { return runner(inputOf(sim)); },
    SWEEP_BETAS: SWEEP_BETAS.slice(),
    CURVE_POINTS: CURVE_POINTS,
    MAX_STEPS: MAX_STEPS,
  };
}));
