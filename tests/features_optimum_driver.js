/* Runs app/offline/engine.js's DPO.featuresOptimum on a batch of features scenarios for
 * tests/test_rlhf_features.py. stdin: [{rows: [[x, c, r, a, b], ...], P, K, logp_ref,
 * features, theta0, beta}, ...]; stdout: one JSON list, per job pi*_phi without its fit
 * and table (the table's pi* is checked by tests/test_js_engine.py). A job with kind
 * "rest" (and lr, loss {name, label_smoothing}, margins, grad) gets instead each row's
 * rest object from DPO.analyseFeaturesRest and DPO.featuresRestAt, its numbers as
 * strings (JSON has no infinity). */
"use strict";

const path = require("path");
const DPO = require(path.join(__dirname, "..", "app", "offline", "engine.js"));

let text = "";
process.stdin.on("data", function (chunk) { text += chunk; });
process.stdin.on("end", function () {
  const out = JSON.parse(text).map(function (job) {
    const rows = job.rows.map(function (r) {
      return {prompt: r[0], chosen: r[1], rejected: r[2], votes_chosen: r[3], votes_rejected: r[4]};
    });
    const pairs = DPO.compilePairs(rows, job.P, job.K);
    if (job.kind === "rest") {
      const plan = DPO.analyseFeaturesRest(pairs, job.features, job.theta0, job.beta, job.lr,
        job.loss);
      return DPO.featuresRestAt(plan, job.margins, job.grad).map(function (rr) {
        return {kind: rr.kind, u: String(rr.u), how: rr.how, via: rr.via, cycle: rr.cycle,
          lr_limit: String(rr.lr_limit), pace: String(rr.pace)};
      });
    }
    const opt = DPO.featuresOptimum(pairs, job.logp_ref, job.features, job.theta0, job.beta);
    return {finite: opt.finite, probs: opt.probs, theta: opt.theta, log_probs: opt.log_probs,
      reward: opt.reward, beta_log_z: opt.beta_log_z, heading: opt.heading, drift: opt.drift,
      params: opt.params, coincide: opt.coincide, tight: opt.fit.tight,
      table_finite: opt.table.finite};
  });
  process.stdout.write(JSON.stringify(out));
});
