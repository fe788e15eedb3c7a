"""The three features-model presets do what their texts say, number by number.

``similar-replies`` (likelihood displacement), ``unseen-reply`` (a reply no one judged, pi*
against pi*_phi) and ``shared-prompts`` (rows on one prompt move the others). Every number
their ``watch`` text and their comments quote is parsed from the text (so a text that
changes without its number failing is impossible) and checked against an independent
computation:

- the oracle: the preset read with ``tomllib`` (not the simulator's parser) and run step by
  step with ``tests/naive_dpo.py``'s plain-float features functions, the update written
  here as the chain rule through the features (its gradient checked against finite
  differences of the naive loss);
- closed forms: the Bradley-Terry fit of a reward linear in the features (pi*_phi) where the
  rows fix theta exactly, the table's optimum pi* (a reply in no row keeps its start logit,
  a linked group keeps its logit sum), the similarity score from the vectors;
- and the real engine: ``dpo-sim run ID --format jsonl`` equals the oracle at every step.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import naive_dpo as N

PRESETS = Path(__file__).resolve().parent.parent / "presets"
IDS = ("similar-replies", "unseen-reply", "shared-prompts")


# -- the preset as plain data, without the simulator ----------------------------------------
@functools.cache
def doc(pid: str) -> dict:
    return tomllib.loads((PRESETS / f"{pid}.toml").read_text(encoding="utf-8"))


def setup(pid: str):
    """(ref logits (P, K), phi (P, K, d), rows [(x, c, r, a, b)], beta, lr, theta0)."""
    d = doc(pid)
    assert d["model"]["kind"] == "features"
    P, K = len(d["prompts"]), len(d["prompts"][0]["replies"])
    assert d["reference"]["kind"] == "uniform"
    ref = np.zeros((P, K))
    phi = np.array([p["features"] for p in d["prompts"]], float)
    rows = [(r["prompt"], r["chosen"], r["rejected"], r["votes_chosen"],
             r.get("votes_rejected", 0)) for r in d["pairs"]]
    theta0 = np.array(d["model"].get("init_theta", [0.0] * phi.shape[2]), float)
    return ref, phi, rows, float(d["beta"]), float(d["learning_rate"]), theta0


def naive_gradient(theta, ref, phi, rows, beta):
    """d mean loss / d theta: naive_dpo's per-judgement gradient in the logits, pulled back
    through logits = log pi_ref + Phi theta (sum over every prompt and reply)."""
    g = N.analytic_grad(N.features_logits(theta, ref, phi), ref, rows, beta)
    return np.array([math.fsum(float(phi[x, y, j] * g[x, y]) for x in range(phi.shape[0])
                               for y in range(phi.shape[1])) for j in range(phi.shape[2])])


@functools.cache
def oracle(pid: str, steps: int):
    """The naive run: a list of naive_dpo metrics dicts, each with its "theta"."""
    ref, phi, rows, beta, lr, theta = setup(pid)
    out = []
    for _ in range(steps + 1):
        m = N.features_metrics(theta, ref, phi, rows, beta)
        m["theta"] = theta.copy()
        m["logits"] = N.features_logits(theta, ref, phi)
        out.append(m)
        theta = theta - lr * naive_gradient(theta, ref, phi, rows, beta)
    return out


def story(pid):
    return oracle(pid, doc(pid)["steps"])


def probs(h):
    return np.array([m["probs"] for m in h])


def kl(p, q):
    return float(np.sum(p * np.log(p / q)))


def softmax(v):
    e = np.exp(np.asarray(v, float) - np.max(v))
    return e / e.sum()


# -- the texts ------------------------------------------------------------------------------
def watch(pid):
    return " ".join(doc(pid)["watch"].split())


def comments(pid):
    return " ".join((PRESETS / f"{pid}.toml").read_text().replace("#", " ").split())


def quoted(text, pattern):
    """The numbers a phrase of the text quotes: ``pattern`` is a regex in which each ``#``
    stands for a number (a missing phrase fails here, a changed number fails its
    comparison)."""
    m = re.search(pattern.replace("#", r"(-?\d+(?:\.\d+)?)"), text)
    assert m, f"the text no longer says {pattern!r}"
    return [float(g.replace("−", "-")) for g in m.groups()]


def pct(p):
    return round(100 * float(p))


def test_the_oracles_gradient_is_that_of_the_naive_loss():
    """The update the oracle uses is the gradient of naive_dpo's mean loss in theta
    (central finite differences), on every preset at a few points of its run."""
    for pid in IDS:
        ref, phi, rows, beta, _, _ = setup(pid)
        for t in (0, 5, 50):
            theta = story(pid)[t]["theta"]
            fd = N.features_fd_grad(theta, ref, phi, rows, beta)
            assert np.allclose(naive_gradient(theta, ref, phi, rows, beta), fd,
                               rtol=1e-6, atol=1e-8), (pid, t)


def test_the_three_are_features_presets_with_small_readable_features():
    for pid in IDS:
        d = doc(pid)
        ref, phi, rows, beta, lr, theta0 = setup(pid)
        assert d["model"]["kind"] == "features" and np.all(theta0 == 0)
        assert phi.shape[2] <= 3 and d.get("loss_type", "sigmoid") == "sigmoid"
        names = re.search(r"\[([a-z ,:/0-9]+)\]", comments(pid))
        assert names and len(names[1].split(",")) == phi.shape[2], pid   # every coordinate named
        assert len(d["title"]) <= 80 and len(d["watch"]) <= 1200


# -- similar-replies ------------------------------------------------------------------------
SR = "similar-replies"


def test_similar_replies_one_hard_row_and_its_similarity_score():
    """'their similarity ⟨φ_w, φ_l⟩ − ‖φ_w‖² is 1.21, above 0'; the comment's
    '<phi_w, phi_l> - |phi_w|^2 = 6.1 - 4.89 = 1.21'; the length coordinate is the
    number of words / 10 ('17 words (1.7), the rejected one 30 (3.0)')."""
    ref, phi, rows, *_ = setup(SR)
    assert len(rows) == 1 and rows[0][4] == 0 and rows[0][3] >= 1     # one hard label
    x, w, l, *_ = rows[0]
    fw, fl = phi[x, w], phi[x, l]
    dot, sq = float(fw @ fl), float(fw @ fw)
    (s,) = quoted(watch(SR), r"similarity ⟨φ_w, φ_l⟩ − ‖φ_w‖² is #, above 0")
    assert round(dot - sq, 2) == s == 1.21
    a, b, c = quoted(comments(SR), r"= # - # = # is above 0")
    assert (round(dot, 2), round(sq, 2), round(dot - sq, 2)) == (a, b, c)
    replies = doc(SR)["prompts"][0]["replies"]
    for y, text in enumerate(replies):
        assert phi[0, y, 2] == len(text.split()) / 10, text
    nw, lw, nl, ll = quoted(comments(SR), r"chosen reply has # words \(#\), the "
                                          r"rejected one # \(#\)")
    assert (nw, lw, nl, ll) == (len(replies[w].split()), phi[0, w, 2],
                                len(replies[l].split()), phi[0, l, 2])


def test_similar_replies_each_logit_moves_by_its_projection_on_the_step():
    """The comment's per-reply changes '+0.48 ... -0.39 ... -1.21 ... -3.9' (phi(y) .
    (phi_w - phi_l)), the step direction '[1, 0, -1.3]', '|phi_w - phi_l|^2 = 2.69' and
    '1.21 / 2.69 = 0.45'; the oracle's logits move exactly so: theta moves only along
    phi_w - phi_l, so each logit's change is its projection times the same amount."""
    ref, phi, rows, *_ = setup(SR)
    x, w, l, *_ = rows[0]
    delta = phi[x, w] - phi[x, l]
    text = comments(SR)
    assert quoted(text, r"phi_w - phi_l = \[#, #, #\]") == \
        list(np.round(delta, 2))
    proj = phi[0] @ delta
    said = quoted(text, r"\+# for the bare \"6 to 7 minutes.\" \(in no row\), # "
                        r"for \"About 12 minutes.\", # \(minus the similarity score\) "
                        r"for the chosen reply itself and # for the rejected one")
    assert said == [round(float(proj[2]), 2), round(float(proj[3]), 2),
                    round(float(proj[0]), 2), round(float(proj[1]), 2)]
    n2, = quoted(text, r"\|phi_w - phi_l\|\^2 = #")
    a, b, ratio = quoted(text, r"by # / # = # for every 1 the margin gains")
    assert round(float(delta @ delta), 2) == n2 == b and a == 1.21
    assert round(1.21 / 2.69, 2) == ratio
    (wr,) = quoted(watch(SR), r"lowers its own logit by # for every 1 the margin gains")
    assert wr == ratio
    h = story(SR)
    for t in range(1, len(h)):
        dth = h[t]["theta"] - h[t - 1]["theta"]
        assert np.allclose(np.cross(dth, delta), 0, atol=1e-15)     # along phi_w - phi_l
        dlogit = h[t]["logits"][0] - h[t - 1]["logits"][0]
        dmargin = h[t]["row_margin"][0] - h[t - 1]["row_margin"][0]    # beta = 1: u = h
        assert np.allclose(dlogit, proj / float(delta @ delta) * dmargin, rtol=1e-9,
                           atol=1e-15)
        assert dlogit[w] < 0 and dlogit[w] / dmargin == pytest.approx(-(1.21 / 2.69))


def test_similar_replies_every_judgement_right_yet_the_chosen_reply_falls():
    """'The margin rises at every step and the row is right from step 1 on, yet the chosen
    reply falls at every step, from 25 % to 5 % by step 300'."""
    h = story(SR)
    text = watch(SR)
    assert "The margin rises at every step" in text
    u = np.array([m["row_margin"][0] for m in h])
    assert (np.diff(u) > 0).all()
    (first,) = quoted(text, r"the row is right from step # on")
    acc = np.array([m["rewards/accuracies"] for m in h])
    assert acc[int(first) - 1] == 0 and (acc[int(first):] == 1).all()
    p = probs(h)[:, 0, 0]
    start, end, step = quoted(text, r"the chosen reply falls at every step, from # % to "
                                    r"# % by step #")
    assert (np.diff(p) < 0).all() and int(step) == len(h) - 1
    assert (pct(p[0]), pct(p[-1])) == (start, end)
    assert p[-1] < p[0] / 4                                 # well below its start


def test_similar_replies_the_largest_gain_goes_to_a_reply_in_no_row():
    """'The mass goes to a reply in no row, the bare "6 to 7 minutes.", which climbs from
    25 % to 76 %.'"""
    ref, phi, rows, *_ = setup(SR)
    p = probs(story(SR))[:, 0]
    gain = p[-1] - p[0]
    best = int(np.argmax(gain))
    assert best not in {rows[0][1], rows[0][2]}
    assert doc(SR)["prompts"][0]["replies"][best] == "6 to 7 minutes."
    a, b = quoted(watch(SR), r"the bare \"6 to 7 minutes.\", which climbs from # % to "
                             r"# %")
    assert (pct(p[0, best]), pct(p[-1, best])) == (a, b)


def test_similar_replies_a_table_would_raise_the_chosen_reply():
    """The comment: 'A table cannot do this: there a row's push raises its chosen logit'.
    The same row on a table (one-hot features), same reference and settings: the chosen
    reply's probability rises at every step."""
    ref, phi, rows, beta, lr, _ = setup(SR)
    assert "A table cannot do this: there a row's push raises its chosen logit" in \
        comments(SR)
    theta = np.array(ref, float)
    prev = None
    for _ in range(doc(SR)["steps"]):
        p = N.metrics(theta, ref, rows, beta)["probs"][0, 0]
        assert prev is None or p > prev
        prev = p
        theta = theta - lr * N.analytic_grad(theta, ref, rows, beta)


# -- unseen-reply ---------------------------------------------------------------------------
UR = "unseen-reply"


def unseen_closed_forms():
    """pi*_phi and pi* by hand. Rows 0 > 2 and 1 > 2 at 8:2 with phi = e_0, e_1, 0, e_0 + e_1:
    the feature-linear Bradley-Terry fit gives theta = [log 4, log 4] (each row at 0.8),
    so pi*_phi ∝ [4, 4, 1, 16]. pi* (a reward per reply): the linked group {0, 1, 2} rests
    at logits a - c = b - c = log 4 with its sum kept (0), the unjudged reply keeps 0."""
    ref, phi, rows, beta, *_ = setup(UR)
    assert [r[:3] for r in rows] == [(0, 0, 2), (0, 1, 2)] and beta == 1.0
    assert all((a, b) == (8, 2) for *_, a, b in rows)
    assert phi[0].tolist() == [[1, 0], [0, 1], [0, 0], [1, 1]]
    opt_phi = np.array([4, 4, 1, 16]) / 25
    L = math.log(4)
    opt = softmax([L / 3, L / 3, -2 * L / 3, 0.0])
    return opt_phi, opt


def test_unseen_reply_the_unjudged_reply_ends_above_every_labelled_one():
    """'yet it climbs from 25 % to 64 %, above every labelled reply (16 %, 16 % and 4 %)';
    comments: 'in the ratio 4 : 4 : 1 : 16, that is 16 %, 16 %, 4 % and 64 %' and each
    row at 'sigma(u) = 0.8'."""
    opt_phi, _ = unseen_closed_forms()
    ref, phi, rows, *_ = setup(UR)
    assert not any(3 in r[1:3] for r in rows)
    assert np.array_equal(phi[0, 3], phi[0, 0] + phi[0, 1])    # the two chosen replies' sum
    h = story(UR)
    p = probs(h)[:, 0]
    a, b, c1, c2, c3 = quoted(watch(UR), r"climbs from # % to # %, above every "
                                         r"labelled reply \(# %, # % and # %\)")
    assert (pct(p[0, 3]), pct(p[-1, 3])) == (a, b)
    assert [pct(v) for v in p[-1, :3]] == [c1, c2, c3]
    assert [pct(v) for v in opt_phi] == [c1, c2, c3, b]
    assert (p[-1, 3] > p[-1, :3]).all()
    assert "in the ratio 4 : 4 : 1 : 16, that is 16 %, 16 %, 4 % and 64 %" in comments(UR)
    (share,) = quoted(comments(UR), r"settles at its vote share, sigma\(u\) = #")
    assert share == 8 / 10
    long = oracle(UR, 1500)[-1]
    assert np.allclose(long["probs"][0], opt_phi, atol=1e-12)
    assert np.allclose(long["row_sigma"], 0.8, atol=1e-12)
    assert np.allclose(long["theta"], [math.log(4)] * 2, atol=1e-12)


def test_unseen_reply_pi_star_keeps_it_near_its_start_and_kl_has_a_floor():
    """'The diamond π* ... leaves it near its start, at 22 %, so KL(π ‖ π*) levels off at
    0.41', 'KL(π ‖ π*_φ) falls to 0'; comments: pi* is '34.7 %, 34.7 %, 8.7 % and 21.9 %'
    and the floor is 'KL(pi*_phi || pi*) = 0.41'."""
    opt_phi, opt = unseen_closed_forms()
    (near,) = quoted(watch(UR), r"leaves it near its start, at # %")
    (floor,) = quoted(watch(UR), r"KL\(π ‖ π\*\) levels off at #")
    assert pct(opt[3]) == near and abs(opt[3] - 0.25) < 0.05
    said = quoted(comments(UR), r"that is # %, # %, # % and # %\. "
                                r"The policy cannot get there")
    assert said == [round(100 * float(v), 1) for v in opt]
    (cfloor,) = quoted(comments(UR), r"KL\(pi\*_phi \|\| pi\*\) = #")
    assert round(kl(opt_phi, opt), 2) == floor == cfloor
    assert "KL(π ‖ π*_φ) falls to 0" in watch(UR)
    h = story(UR)
    to_star = [kl(m["probs"][0], opt) for m in h]
    to_phi = [kl(m["probs"][0], opt_phi) for m in h]
    assert round(to_star[-1], 2) == floor and to_phi[-1] < 1e-10
    assert (np.diff(to_phi) < 0).all()
    # the floor: no policy of the family is nearer pi* than pi*_phi... at least none DPO
    # visits; and pi* lies outside the family (its log-odds are not linear in phi)
    assert min(to_star[len(h) // 2:]) > floor - 0.005
    lo = np.log(opt)
    assert abs((lo[3] - lo[2]) - ((lo[0] - lo[2]) + (lo[1] - lo[2]))) > 0.5


def test_unseen_reply_near_rest_by_step_100():
    """'every bar is within 1 point of its rest by step 100 (5 seconds)' at 20 steps per
    second (and far from it at step 20, one second in)."""
    opt_phi, _ = unseen_closed_forms()
    pts, step, secs = quoted(comments(UR), r"within # points? of its rest by step # "
                                           r"\(# seconds\)")
    p = probs(story(UR))[:, 0]
    assert step / 20 == secs
    assert np.abs(p[int(step)] - opt_phi).max() < pts / 100 < np.abs(p[20] - opt_phi).max()


# -- shared-prompts -------------------------------------------------------------------------
SP = "shared-prompts"


def shared_rest():
    """The rest by hand: rows 0 > 1 (9:1, phi difference e_1) and 0 > 2 (6:4, difference
    e_0) fix theta = [log 1.5, log 9] at beta = 1; each prompt's policy is then
    pi_ref exp(theta . phi) / Z."""
    ref, phi, rows, beta, *_ = setup(SP)
    assert beta == 1.0 and {r[0] for r in rows} == {0}              # rows on one prompt only
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [(0, 1, 9, 1), (0, 2, 6, 4)]
    theta = np.array([math.log(1.5), math.log(9)])
    return theta, np.array([softmax(phi[x] @ theta) for x in range(3)])


def test_shared_prompts_theta_at_rest():
    """Comments: 'sigma(u) = 0.9 and 0.6', '"sounds confident" log 9 = 2.20', '"is correct"
    log 1.5 = 0.41'; the oracle's long run ends there."""
    theta, rest = shared_rest()
    text = comments(SP)
    assert quoted(text, r"sigma\(u\) = # and #") == [0.9, 0.6]
    (conf,) = quoted(text, r"\"sounds confident\" log 9 = #")
    (corr,) = quoted(text, r"\"is correct\" log 1.5 = #")
    assert (round(theta[1], 2), round(theta[0], 2)) == (conf, corr)
    long = oracle(SP, 1500)[-1]
    assert np.allclose(long["theta"], theta, atol=1e-9)
    assert np.allclose(long["row_sigma"], [0.9, 0.6], atol=1e-9)
    assert np.allclose(long["probs"], rest, atol=1e-9)


def test_shared_prompts_helps_and_hurts():
    """'"Canberra." ... climbs from 33 % to 84 %'; '"Mount Kenya." climbs from 33 % to 78 %
    and the right answer, hedged, falls to 13 %'; comments: '27/32 = 84 %', '3/32 = 9 %',
    '2/32 = 6 %', '18/23 = 78 %', '3/23 = 13 %', the first prompt '56 %, 6 % and 37.5 %'."""
    theta, rest = shared_rest()
    ref, phi, rows, *_ = setup(SP)
    d = doc(SP)
    text = watch(SP)
    p = probs(story(SP))
    cb = d["prompts"][1]["replies"].index("Canberra.")
    mk = d["prompts"][2]["replies"].index("Mount Kenya.")
    kili = next(i for i, r in enumerate(d["prompts"][2]["replies"]) if "Kilimanjaro" in r)
    chosen = phi[0, rows[0][1]]
    # helps: a good reply like the chosen one; hurts: a wrong reply sharing one feature
    assert np.array_equal(phi[1, cb], chosen)
    assert phi[2, mk, 0] == 0 and phi[2, mk, 1] == chosen[1] == 1 and phi[2, kili, 0] == 1
    a, b = quoted(text, r"\"Canberra.\" \(right and confident, like \"206.\"\) climbs from "
                        r"# % to # %")
    assert (pct(p[0, 1, cb]), pct(p[-1, 1, cb]), pct(rest[1, cb])) == (a, b, b)
    a, b, c = quoted(text, r"\"Mount Kenya.\" climbs from # % to # % and the right "
                           r"answer, hedged, falls to # %")
    assert (pct(p[0, 2, mk]), pct(p[-1, 2, mk]), pct(rest[2, mk])) == (a, b, b)
    assert pct(p[-1, 2, kili]) == pct(rest[2, kili]) == c and p[-1, 2, kili] < p[0, 2, kili]
    assert (np.diff(p[:, 1, cb]) > 0).all() and (np.diff(p[:, 2, mk]) > 0).all()
    cm = comments(SP)
    assert "27/32 = 84 %" in cm and "3/32 = 9 %" in cm and "2/32 = 6 %" in cm
    assert "18/23 = 78 %" in cm and "3/23 = 13 %" in cm
    assert np.allclose(rest[1], np.array([27, 3, 2]) / 32)
    assert np.allclose(rest[2], np.array([18, 3, 2]) / 23)
    assert [pct(v) for v in rest[1]] == [84, 9, 6] and [pct(v) for v in rest[2]] == [78, 13, 9]
    assert np.allclose(rest[0], np.array([13.5, 1.5, 9]) / 24)
    assert "13.5 : 1.5 : 9, that is 56 %, 6 % and 37.5 %" in cm
    assert [pct(v) for v in rest[0][:2]] == [56, 6] and round(100 * rest[0][2], 9) == 37.5


def test_shared_prompts_a_table_leaves_the_other_prompts_alone():
    """'A table would leave both prompts where they start, and so does the diamond π*';
    comments: KL(pi || pi*) on the two unlabelled prompts 'levels off at their KL to the
    reference, 0.56 and 0.43'."""
    theta, rest = shared_rest()
    ref, phi, rows, beta, lr, _ = setup(SP)
    assert "A table would leave both prompts where they start, and so does the diamond π*" \
        in watch(SP)
    table = np.array(ref, float)
    for _ in range(doc(SP)["steps"]):
        table = table - lr * N.analytic_grad(table, ref, rows, beta)
    assert np.array_equal(table[1:], ref[1:])               # not a bit moved
    a, b = quoted(comments(SP), r"reference, # and #")
    u = np.ones(3) / 3
    assert [round(kl(rest[x], u), 2) for x in (1, 2)] == [a, b]
    end = probs(story(SP))[-1]
    assert [round(kl(end[x], u), 2) for x in (1, 2)] == [a, b]


def test_shared_prompts_near_rest_by_step_100():
    """'every bar is within 3 points of its rest by step 100 (5 seconds)'."""
    _, rest = shared_rest()
    pts, step, secs = quoted(comments(SP), r"within # points? of its rest by step # "
                                           r"\(# seconds\)")
    p = probs(story(SP))
    assert step / 20 == secs
    assert np.abs(p[int(step)] - rest).max() < pts / 100 < np.abs(p[20] - rest).max()


# -- the real engine: dpo-sim run equals the oracle ------------------------------------------
def cli_run(pid: str, steps: int) -> list[dict]:
    from dpo_sim.app.cli import main as cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["run", pid, "--steps", str(steps), "--format", "jsonl"]) == 0
    return [json.loads(x) for x in out.getvalue().splitlines()]


@pytest.mark.parametrize("pid", IDS)
def test_the_engine_equals_the_oracle_at_every_step(pid):
    lines = cli_run(pid, doc(pid)["steps"])
    config, steps = lines[0], lines[1:]
    ref, phi, *_ = setup(pid)
    assert config["model"]["kind"] == "features"
    assert np.array_equal(np.array(config["model"]["features"]), phi)
    h = story(pid)
    assert len(steps) == len(h)
    for rec, m in zip(steps, h):
        assert np.allclose(rec["probs"], m["probs"], rtol=1e-9, atol=1e-12), rec["step"]
        assert np.allclose(rec["theta"], m["theta"], rtol=1e-9, atol=1e-12), rec["step"]
        for key in ("loss", "rewards/margins", "rewards/accuracies", "logps/chosen"):
            assert rec[key] == pytest.approx(m[key], rel=1e-9, abs=1e-12), (key, rec["step"])
        assert np.allclose(rec["pairs/margin"], m["row_margin"], rtol=1e-9, atol=1e-12)
        if pid == UR:       # KL(pi || pi*), pi* by hand: the floor the texts quote
            want = kl(m["probs"][0], unseen_closed_forms()[1])
            assert rec["kl_to_rlhf"][0] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_the_engines_similarity_is_the_vectors():
    from dpo_sim.sim.scenario_io import load_scenario
    from dpo_sim.sim.simulation import Simulation

    for pid in IDS:
        s = load_scenario(pid)
        ref, phi, rows, *_ = setup(pid)
        sim = s.model.similarity(Simulation(s).pairs)
        want = [float(phi[x, c] @ phi[x, r] - phi[x, c] @ phi[x, c]) for x, c, r, *_ in rows]
        assert np.allclose(sim, want, rtol=0, atol=1e-12), pid


def test_the_readmes_quote_the_watch_texts_numbers():
    """presets/README.md's table and README.md's lesson list describe each of the three
    with numbers its watch text quotes (checked above), and no other."""
    root = PRESETS.parent
    for path in (PRESETS / "README.md", root / "README.md"):
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                 if ln.startswith("| `")]
        for pid in IDS:
            row = next(ln for ln in lines if ln.startswith(f"| `{pid}` |"))
            for num in re.findall(r"\d+(?:\.\d+)? %|\d+\.\d+", row.split(" | ")[-1]):
                assert num in watch(pid), (path.name, pid, num)


def test_docs_model_quotes_the_presets_numbers():
    """docs/model.md's section "Shared parameters: the features model": every decimal,
    percentage and fraction it states about the presets is one a preset file states (and
    the tests above check), and its general claims hold on the presets' vectors: a table's
    score is -1, a positive score needs |phi_l| > |phi_w|."""
    md = (PRESETS.parent / "docs" / "model.md").read_text(encoding="utf-8")
    section = md.split("## 14. Shared parameters: the features model", 1)[1].split("\n## ")[0]
    section = " ".join(section.split())
    files = " ".join(comments(pid) for pid in IDS)
    nums = re.findall(r"\d+/\d+ = \d+ %|\d+(?:\.\d+)? %|\d+\.\d+|\d+ : \d+ : \d+ : \d+", section)
    assert len(nums) > 20
    for num in nums:
        if num in ("1.5",):                  # log 1.5: in the comments as "log 1.5 = 0.41"
            assert "log 1.5" in files
            continue
        assert num in files, num
    eye = np.eye(2)
    assert float(eye[0] @ eye[1] - eye[0] @ eye[0]) == -1.0
    _, phi, rows, *_ = setup(SR)
    x, w, l, *_ = rows[0]
    assert np.linalg.norm(phi[x, l]) > np.linalg.norm(phi[x, w])


def test_the_reading_levels_numbers_are_the_oracles():
    """app/learn_texts.FACTS about these presets, against the naive run (not the engine:
    tests/test_learn.py checks the same facts against dpo-sim run)."""
    from dpo_sim.app import learn_texts as T

    names = {"probs": "probs", "kl": "kl", "logps/chosen": "logps/chosen",
             "pairs/margin": "row_margin"}
    facts = [f for f in T.FACTS if f.scenario in IDS]
    assert len(facts) >= 6
    for f in facts:
        m = oracle(f.scenario, f.step)[f.step]
        if f.metric == "kl_to_rlhf":           # KL(pi || pi*), pi* by hand (unseen-reply)
            assert f.scenario == UR
            v = kl(m["probs"][0], unseen_closed_forms()[1])
        else:
            v = m[names[f.metric]]
            for i in f.index:
                v = v[i]
        assert f"{float(v) * f.scale:.{f.digits}f}".replace("-", "−") == f.text, f


def test_the_engines_optima_are_the_closed_forms():
    """sim.rlhf against the closed forms above: pi*_phi (features_optimum) where DPO ends,
    pi* (optimum from the model's start logits) with the unjudged reply at its start, the
    floor KL(pi*_phi || pi*) (kl_floor) the texts quote; on shared-prompts pi* is the
    reference on the two prompts without rows; on similar-replies (one hard label) no
    finite pi*_phi. dpo-sim run's config line carries the same pi*."""
    from dpo_sim.sim import rlhf
    from dpo_sim.sim.numerics import log_softmax
    from dpo_sim.sim.scenario_io import load_scenario
    from dpo_sim.sim.simulation import Simulation

    def optima(pid):
        s = load_scenario(pid)
        pairs, logp_ref = Simulation(s).pairs, log_softmax(s.ref_logits)
        start = s.model.logits(s.start_params(), logp_ref)
        return (rlhf.features_optimum(pairs, logp_ref, s.model, s.beta),
                rlhf.optimum(pairs, logp_ref, start, s.beta))

    opt_phi, opt = unseen_closed_forms()
    phi_e, star_e = optima(UR)
    assert np.allclose(phi_e.probs[0], opt_phi, atol=1e-12)
    assert np.allclose(phi_e.params, [math.log(4)] * 2, atol=1e-12)
    assert np.allclose(star_e.probs[0], opt, atol=1e-12)
    assert rlhf.kl_floor(phi_e)[0] == pytest.approx(kl(opt_phi, opt), abs=1e-12)
    config = cli_run(UR, 1)[0]
    assert np.allclose(config["rlhf_probs"][0], opt, atol=1e-12)

    theta, rest = shared_rest()
    phi_e, star_e = optima(SP)
    assert np.allclose(phi_e.probs, rest, atol=1e-12)
    assert np.allclose(star_e.probs[1:], 1 / 3, atol=1e-15)
    a, b = quoted(comments(SP), r"reference, # and #")
    assert [round(float(v), 2) for v in rlhf.kl_floor(phi_e)[1:]] == [a, b]

    phi_e, _ = optima(SR)
    assert not phi_e.finite.any()
