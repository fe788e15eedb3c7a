/* The engine's side of the page in the offline file: the commands of sim/protocol.py,
 * answered by the JavaScript twin (engine.js, window.DPO) in the browser. The replies are
 * sim/protocol.py's, field for field (tests/test_protocol.py holds them equal to 1e-12),
 * so the page cannot tell which engine it is talking to. */

const MAX_ADVANCE = 100000;
const ERROR_NAMES = { RangeError: "IndexError", SettingError: "SettingError",
                      TypeError: "TypeError", Error: "ValueError" };
const RECORD_KEYS = ["type", "step", "beta", "learning_rate", "adaptive_weight", "loss",
  "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
  "logps/chosen", "logps/rejected", "kl", "probs", "rewards", "pairs/margin", "pairs/sigma",
  "pairs/weight", "loss_type", "label_smoothing"];

function nullNaN(a) { return a.map((v) => (v !== v ? null : v)); }

/** A text cell of the CSV (sim/export_csv.py's text_cell): a leading ' when it begins like a
 * spreadsheet formula (=, +, -, @, tab, CR), quoted when it holds a comma, quote or line
 * break. Numbers are written as numbers, never through this. */
export function csvText(text) {
  let t = String(text);
  if (/^[=+\-@\t\r]/.test(t)) t = "'" + t;
  if (/[,"\n\r]/.test(t)) t = '"' + t.replace(/"/g, '""') + '"';
  return t;
}

export function makeSession(DPO, settingsTable, scenarios) {
  const RUN = settingsTable.filter((s) => s.scope === "run" && s.name !== "steps").map((s) => s.name);
  let sim = null;
  let cfg = null;

  function recordJson(rec) {
    const d = {};
    for (const k of RECORD_KEYS) d[k] = rec[k];
    d.type = "step";
    if (rec.theta !== undefined) d.theta = rec.theta;   // a features model's parameters
    d.kl_to_rlhf = nullNaN(rec.kl_to_rlhf);
    if (rec.kl_to_rlhf_phi !== undefined) d.kl_to_rlhf_phi = nullNaN(rec.kl_to_rlhf_phi);
    return d;
  }
  function seriesRow(rec) {
    return [rec.step, rec.loss, rec["rewards/chosen"], rec["rewards/rejected"],
      rec["rewards/margins"], rec.adaptive_weight ? 1 : 0, DPO.LOSS_TYPES.indexOf(rec.loss_type),
      ...rec.kl];
  }
  function state() {
    const s = { t: sim.t, flipped: sim.flipped };
    for (const k of RUN) s[k] = sim[k];
    s.rows = sim.rows;
    const scores = sim.similarity;          // a features model's similarity per row
    if (scores) s.rows.forEach((r, i) => { r.similarity = scores[i]; });
    return s;
  }
  function pulls(rec) {
    const loss = sim.loss_spec.loss;
    const out = { pull_for: [], pull_against: [], net: [] };
    sim.rows.forEach((r, i) => {
      const w = loss.pairTerms(rec["pairs/margin"][i], rec.beta);   // [.., .., w(u), w(-u)]
      const a = r.votes_chosen * w[2], b = r.votes_rejected * w[3];
      out.pull_for.push(a); out.pull_against.push(b); out.net.push(a - b);
    });
    return out;
  }
  function optJson(o) {
    return { finite: o.finite, probs: o.probs, log_probs: o.log_probs, theta: o.theta,
             reward: o.reward, beta_log_z: o.beta_log_z, heading: o.heading };
  }
  function reply(recs, structure) {
    const rec = sim.record;
    const out = { state: state(), record: recordJson(rec), series: recs.map(seriesRow),
                  stored: DPO.storedRowMetrics(rec, sim.rows, sim), pulls: pulls(rec),
                  rest: sim.rest() };
    if (structure) {
      out.opt = optJson(sim.optimum());
      const phi = sim.optimumPhi();         // pi*_phi: a features model only
      if (phi !== null) {
        out.opt_phi = Object.assign(optJson(phi), { params: nullNaN(phi.params),
                                                    coincide: phi.coincide });
      }
    }
    return out;
  }
  function whole(v, name) {
    if (typeof v !== "number" || v !== Math.trunc(v)) throw new Error(name + " must be a whole number");
    return v;
  }
  function load(cmd) {
    if (cmd.config) cfg = cmd.config;
    else {
      const id = String(cmd.scenario);
      if (!(id in scenarios)) throw new Error("no scenario '" + id.slice(0, 40) + "'");
      cfg = scenarios[id];
    }
    sim = new DPO.Simulation(cfg, settingsTable);
    const out = reply([sim.record], true);
    out.op = "load";
    out.logp_ref = sim.logp_ref;
    out.model = sim.model.config();
    out.kl_ceiling = DPO.klCeiling(sim.logp_ref);
    return out;
  }
  function advance(n) {
    if (!(n > 0 && n <= MAX_ADVANCE)) throw new Error("advance: n must be 1.." + MAX_ADVANCE + ", got " + n);
    const recs = [];
    let diverged = null;
    const pairs0 = sim._pairs, set0 = RUN.map((k) => sim[k]).join("|");
    for (let k = 0; k < n; k++) {
      try { recs.push(sim.advance(1)); } catch (err) {
        if (!(err instanceof DPO.Diverged)) throw err;
        diverged = { step: err.step, message: err.message };
        break;
      }
    }
    const changed = sim._pairs !== pairs0 || RUN.map((k) => sim[k]).join("|") !== set0;
    const out = reply(recs, changed);
    out.op = "advance";
    if (diverged) out.diverged = diverged;
    return out;
  }
  function csv() {
    const again = new DPO.Simulation(Object.assign({}, cfg, { events: (cfg.events || []).concat(sim.actions) }),
                                     settingsTable);
    const P = cfg.prompts.length, K = cfg.prompts[0].replies.length, N = cfg.pairs.length;
    const head = ["step", "beta", "learning_rate", "adaptive_weight", "loss", "rewards/chosen",
      "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"];
    for (let x = 0; x < P; x++) head.push("kl/" + x);
    for (const q of ["probs", "rewards"]) for (let x = 0; x < P; x++) for (let y = 0; y < K; y++) head.push(q + "/" + x + "/" + y);
    for (let i = 0; i < N; i++) head.push("pairs/" + i + "/margin", "pairs/" + i + "/sigma", "pairs/" + i + "/weight");
    head.push("loss_type", "label_smoothing");
    for (let j = 0; j < sim.model.d; j++) head.push("theta[" + j + "]");   // features only
    const r = DPO.pyFloatRepr;
    const lines = [head.map(csvText).join(",")];
    const line = (rec) => {
      const v = [String(rec.step), r(rec.beta), r(rec.learning_rate), rec.adaptive_weight ? "1" : "0"];
      for (const name of head.slice(4, 11)) v.push(r(rec[name]));
      rec.kl.forEach((q) => v.push(r(q)));
      rec.probs.forEach((row) => row.forEach((q) => v.push(r(q))));
      rec.rewards.forEach((row) => row.forEach((q) => v.push(r(q))));
      for (let i = 0; i < N; i++) v.push(r(rec["pairs/margin"][i]), r(rec["pairs/sigma"][i]), r(rec["pairs/weight"][i]));
      v.push(String(DPO.LOSS_TYPES.indexOf(rec.loss_type)), r(rec.label_smoothing));
      if (rec.theta !== undefined) rec.theta.forEach((q) => v.push(r(q)));
      lines.push(v.join(","));
    };
    line(again.record);
    for (let t = 0; t < sim.t; t++) line(again.advance(1));
    return lines.join("\n") + "\n";
  }
  function handle(cmd) {
    const op = cmd && cmd.op;
    try {
      if (op === "load") return load(cmd);
      if (!sim) throw new Error("no scenario loaded yet");
      if (op === "reset") { sim.reset(); return reply([sim.record], true); }
      if (op === "flip") { sim.flip(whole(cmd.row, "row")); return reply([sim.record], true); }
      if (op === "set") {
        if (!cmd.changes || typeof cmd.changes !== "object") throw new Error("set: changes must be an object of settings");
        sim.set(cmd.changes);
        return reply([sim.record], true);
      }
      if (op === "advance") return advance(whole(cmd.n, "n"));
      if (op === "csv") return { op: "csv", csv: csv() };
    } catch (err) {
      if (err instanceof DPO.Diverged) throw err;
      return { op: op === undefined ? null : op, error: { name: ERROR_NAMES[err.name] || "ValueError", message: err.message } };
    }
    const said = op == null ? "(no op given)" : "'" + String(op).slice(0, 40) + "'";
    return { op: op === undefined ? null : op, error: { name: "ValueError", message: "unknown command " + said } };
  }
  return { handle, sim: () => sim };
}

/** The offline host's engine: every command answered at once, in order. */
export function makeLocalEngine(DPO, settingsTable, scenarios, extra) {
  const session = makeSession(DPO, settingsTable, scenarios);
  return {
    send(cmd, onReply) { onReply(session.handle(cmd)); },
    request(cmd, cb) {
      if (extra && extra(cmd, cb)) return;
      cb(session.handle(cmd));
    },
    session,
  };
}
