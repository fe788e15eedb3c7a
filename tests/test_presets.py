"""Every preset does what its "what to watch" text, its comments and presets/README.md say.

Each number a learner reads is checked here, and where possible against a fact computed
without the engine: the Bradley-Terry closed form (for rows that form no cycle, each row
settles at sigma(u) = votes_chosen / (votes_chosen + votes_rejected)), the softmax of the
reference logits, the KL formula, the ceiling log(1/min pi_ref), the straight-line motion of
the logits under the bare margin, and comparisons between presets. A test also checks that
the text still quotes the number it checks (``says``), so text and test cannot drift apart.
"""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.sim.scenario import Event
from dpo_sim.sim.scenario_io import apply_settings, list_presets, load_scenario
from dpo_sim.sim.simulation import Simulation, run

#: whole runs of every preset: part of the full suite, not of the quick loop
pytestmark = pytest.mark.slow

REQUIRED = {"align": "Align to preferences", "drop-sigma": "Drop the sigma weight",
            "mislabel": "Mislabel a pair"}
ALL = [pid for pid, _, err in list_presets()]
REST = 3000      # far past every story: every converging preset is at rest to ~1e-10 here
FOREVER = 20000  # for claims about "never", "keeps" and "for ever" (marked slow)
PRESETS = Path(__file__).resolve().parent.parent / "presets"


def final_rows(s):
    """The rows as (prompt, chosen, rejected, vc, vr) after the scenario's scripted flips."""
    rows = [list(r.as_tuple()) for r in s.rows]
    for e in s.events:
        if e.flip is not None:
            r = rows[e.flip]
            r[1], r[2] = r[2], r[1]
    return rows


def closed_form(s, rows=None):
    """The DPO fixed point for rows that form no cycle, computed without the engine.

    Each row fixes theta[c] - theta[r] = theta_ref[c] - theta_ref[r] + logit(share) / beta.
    Every judgement adds +g to one logit and -g to another, so within each connected group of
    replies the sum of the logits keeps its starting value; that pins the free offset."""
    rows = final_rows(s) if rows is None else rows
    P, K = s.n_prompts, s.n_replies
    ref = np.asarray(s.ref_logits, float)
    init = s.start_logits()
    theta = init.copy()
    for x in range(P):
        adj = {y: [] for y in range(K)}
        for (p, c, r, vc, vr) in rows:
            if p == x:
                d = ref[x, c] - ref[x, r] + math.log(vc / vr) / s.beta
                adj[c].append((r, -d))     # a[r] = a[c] - d
                adj[r].append((c, d))
        seen = {}
        for start in range(K):
            if start in seen:
                continue
            comp, seen[start], stack = [start], 0.0, [start]
            while stack:
                y = stack.pop()
                for z, d in adj[y]:
                    if z in seen:
                        assert abs(seen[z] - (seen[y] + d)) < 1e-9, "rows form a cycle"
                        continue
                    seen[z] = seen[y] + d
                    comp.append(z)
                    stack.append(z)
            a = np.array([seen[y] for y in comp])
            shift = (init[x, comp].sum() - a.sum()) / len(comp)
            theta[x, comp] = a + shift
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def is_forest(rows, K):
    parent = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a
    for p, c, r, *_ in rows:
        a, b = find((p, c)), find((p, r))
        if a == b:
            return False
        parent[a] = b
    return True


def kl_to(p, q):
    return float(np.sum(p * np.log(p / q)))


def ref_probs(s):
    e = np.exp(s.ref_logits - s.ref_logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ceiling(s):
    return np.log(1.0 / ref_probs(s).min(axis=1))


def softmax(theta):
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def net_votes(s):
    """(P, K) judgements for each reply minus judgements against it (the page's star)."""
    net = np.zeros((s.n_prompts, s.n_replies))
    for p, c, r, vc, vr in final_rows(s):
        net[p, c] += vc - vr
        net[p, r] -= vc - vr
    return net


def col(h, f):
    """One quantity over a history, as an array (first axis: step)."""
    return np.array([f(r) for r in h])


def says(s, *phrases):
    """The watch text still quotes the numbers a test checks (spaces normalised)."""
    text = " ".join(s.watch.split())
    for phrase in phrases:
        assert phrase in text, f"{s.id}: the watch text no longer says {phrase!r}"


def comment_says(pid, *phrases):
    """The preset file (its comments included) still says what a test checks."""
    text = " ".join((PRESETS / f"{pid}.toml").read_text().replace("#", " ").split())
    for phrase in phrases:
        assert phrase in text, f"{pid}.toml no longer says {phrase!r}"


def pct(p, digits=0):
    """A probability as the page's percentage, rounded as the text rounds it."""
    return round(100 * float(p), digits)


@pytest.fixture(scope="module")
def runs():
    """Histories computed once per module: runs(pid) is the story (the preset's steps),
    runs(pid, REST) a long run, runs(pid, n, beta=4, ...) a run with settings changed."""
    cache = {}

    def get(pid, steps=None, **settings):
        key = (pid, steps, tuple(sorted(settings.items())))
        if key not in cache:
            s = load_scenario(pid)
            if settings:
                s = apply_settings(s, {k: str(v) for k, v in settings.items()})
            cache[key] = run(s, s.steps if steps is None else steps)
        return cache[key]
    return get


# -- every preset ------------------------------------------------------------------------
def test_required_presets_exist_with_their_titles():
    titles = {pid: title for pid, title, err in list_presets()}
    for pid, title in REQUIRED.items():
        assert titles.get(pid) == title
    assert len(ALL) >= 3 + 4


@pytest.mark.parametrize("pid", ALL)
def test_preset_loads_and_fits_a_lesson(pid):
    s = load_scenario(pid)
    assert s.id == pid and s.title.strip() and s.watch.strip()
    # presets/README: "the story is told in 15 to 20 seconds at 20 steps per second"
    assert 15 <= s.steps / 20 <= 20
    assert s.n_prompts >= 1 and s.n_replies >= 2
    assert 0.25 <= s.beta <= 4                      # a beta the toy can show
    sentences = [t for t in s.watch.replace("?", ".").split(". ") if t.strip()]
    assert 1 <= len(sentences) <= 3


def _readme_table():
    """The rows of the presets table in presets/README.md, by id."""
    rows = {}
    for line in (PRESETS / "README.md").read_text().splitlines():
        m = re.match(r"\| `([\w-]+)` \| (.+?) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (.+) \|$", line)
        if m:
            rows[m[1]] = m.groups()[1:]
    return rows


def test_presets_readme_table_matches_the_files():
    table = _readme_table()
    assert set(table) == set(ALL)
    for pid, (title, beta, lr, steps, _) in table.items():
        s = load_scenario(pid)
        assert (title, float(beta), float(lr), int(steps)) == (s.title, s.beta,
                                                                 s.learning_rate, s.steps)


@pytest.mark.parametrize("pid", ALL)
def test_probabilities_stay_valid(pid, runs):
    for rec in runs(pid):
        assert np.all(np.isfinite(rec.probs))
        assert np.allclose(rec.probs.sum(axis=1), 1.0, atol=1e-12)


def _converging(pid):
    s = load_scenario(pid)
    rows = final_rows(s)
    return (s.adaptive_weight and all(vc > 0 and vr > 0 for *_, vc, vr in rows)
            and is_forest(rows, s.n_replies)
            and not any(e.set for e in s.events))


CONVERGING = [pid for pid in ALL if _converging(pid)]


def test_the_closed_form_covers_most_presets():
    assert {"align", "mislabel", "fix-label", "tight-leash", "loose-leash", "tie",
            "skewed-reference"} <= set(CONVERGING)


@pytest.mark.parametrize("pid", CONVERGING)
def test_rows_settle_at_their_vote_share(pid, runs):
    """Bradley-Terry: with no cycle, every row ends at sigma(u) = vc / (vc + vr), and the
    policy at the closed form; by the end of the story it is already close."""
    s = load_scenario(pid)
    share = np.array([vc / (vc + vr) for *_, vc, vr in final_rows(s)])
    # the engine reports each row's sigma for its current chosen-over-rejected direction
    rest = runs(pid, REST)[-1]
    assert np.max(np.abs(rest.row_sigma - share)) < 1e-8
    told = runs(pid)[-1]
    assert np.max(np.abs(told.row_sigma - share)) < 0.015
    if s.model.kind != "table":     # the table's closed form (tests/test_presets_features.py
        return                      # has the features presets' own)
    assert np.max(np.abs(rest.probs - closed_form(s))) < 1e-8
    assert np.max(np.abs(told.probs - closed_form(s))) < 0.015


# -- align ---------------------------------------------------------------------------------
def test_align_good_reply_climbs_from_25_percent_and_stops(runs):
    """'The good reply of each prompt climbs from 25 % and stops (61 % on the egg prompt,
    50 % on the Australia prompt) once each pair's sigma(u) equals its vote share: 0.70 for
    a 7:3 pair.'"""
    s = load_scenario("align")
    says(s, "climbs from 25 %", "61 % on the egg prompt", "50 % on the Australia prompt",
         "0.70 for a 7:3 pair")
    h = runs("align", REST)
    target = closed_form(s)
    assert [pct(p) for p in target[:, 0]] == [61, 50]        # the closed form's rest
    for x in range(s.n_prompts):
        assert int(np.argmax(target[x])) == 0                # reply 0, the good answer
        p = col(h, lambda r, x=x: r.probs[x, 0])
        assert p[0] == 1 / s.n_replies == 0.25
        assert np.all(np.diff(p[: 3 * s.steps // 4]) > 0)   # climbs
        assert np.all(np.abs(p[int(0.9 * s.steps):] - target[x, 0]) < 0.005)   # and stops
        assert pct(p[s.steps]) == pct(target[x, 0])          # the story shows the rest value
    row = next(i for i, r in enumerate(s.rows) if (r.votes_chosen, r.votes_rejected) == (7, 3))
    assert round(float(h[s.steps].row_sigma[row]), 2) == 0.70


def test_align_kl_levels_off_far_below_the_ceiling(runs):
    """'KL levels off at 0.37 and 0.29, far below its ceiling log 4 = 1.39.'"""
    s = load_scenario("align")
    says(s, "KL levels off at 0.37 and 0.29", "log 4 = 1.39")
    assert round(math.log(4), 2) == 1.39
    assert np.allclose(ceiling(s), math.log(4))
    target = closed_form(s)
    plateau = [kl_to(target[x], ref_probs(s)[x]) for x in range(s.n_prompts)]
    assert [round(k, 2) for k in plateau] == [0.37, 0.29]
    h = runs("align")
    kl = col(h, lambda r: r.kl)
    assert [round(k, 2) for k in kl[-1]] == [0.37, 0.29]
    assert np.allclose(runs("align", REST)[-1].kl, plateau, atol=1e-9)
    assert np.all(kl[-1] < 0.3 * ceiling(s))                 # far below
    assert np.all(kl[-1] - kl[int(0.9 * s.steps)] < 0.005)   # flat at the end


def test_align_stops_because_the_pulls_balance_not_because_the_weights_vanish(runs):
    """'The weights do not fade to 0 (the 7:3 pair keeps 0.30): the run stops because the 7
    votes pulling with weight 0.30 balance the 3 pulling back with weight 0.70.'"""
    s = load_scenario("align")
    says(s, "the 7:3 pair keeps 0.30", "(7 × 0.30 = 3 × 0.70)")
    rest = runs("align", REST)[-1]
    vc = np.array([r.votes_chosen for r in s.rows], float)
    vr = np.array([r.votes_rejected for r in s.rows], float)
    # at rest the stored side's weight is sigma(-u) = 1 - share = vr / (vc + vr), not 0
    assert np.allclose(rest.row_weight, vr / (vc + vr), atol=1e-9)
    assert np.all(rest.row_weight >= 0.1 - 1e-9)
    row = next(i for i, r in enumerate(s.rows) if (r.votes_chosen, r.votes_rejected) == (7, 3))
    assert round(float(rest.row_weight[row]), 3) == 0.300
    assert round(float(runs("align")[-1].row_weight[row]), 3) == 0.300   # shown at step 400
    # the net pull of each row, vc * sigma(-u) - vr * sigma(u), is zero at rest
    pull = vc * rest.row_weight - vr * rest.row_sigma
    assert np.max(np.abs(pull)) < 1e-8
    assert pytest.approx(3 * 0.70) == 7 * 0.30
    # and the policy has stopped: one more step changes nothing visible
    assert np.max(np.abs(runs("align", REST)[-2].probs - rest.probs)) < 1e-12


def test_align_loss_never_rises(runs):
    loss = col(runs("align", REST), lambda r: r.loss)
    assert loss[0] == pytest.approx(math.log(2), abs=1e-15)
    assert np.all(np.diff(loss) <= 1e-15)
    assert loss[-1] < loss[0] - 0.1


# -- drop-sigma ----------------------------------------------------------------------------
def test_drop_sigma_is_align_with_the_weight_off():
    a, d = load_scenario("align"), load_scenario("drop-sigma")
    assert a.adaptive_weight and not d.adaptive_weight
    assert (a.rows, a.prompts, a.beta, a.learning_rate) == (d.rows, d.prompts, d.beta,
                                                             d.learning_rate)
    assert np.array_equal(a.ref_logits, d.ref_logits)


def test_drop_sigma_logits_move_at_constant_speed_set_by_net_votes(runs):
    """'each logit moves at a constant speed set by its reply's net votes': with weight 1
    the mean gradient is -beta * net / n_judgements whatever the policy, so
    theta_t = theta_0 + t * learning_rate * beta * net / n_judgements, for ever."""
    s = load_scenario("drop-sigma")
    says(s, "nothing ever stops", "constant speed set by its reply's net votes")
    n = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    speed = s.learning_rate * s.beta * net_votes(s) / n
    h = runs("drop-sigma", REST)
    for t in (0, 1, 56, 276, 400, 1000, REST):
        assert np.allclose(h[t].probs, softmax(s.start_logits() + t * speed), rtol=0,
                           atol=1e-12)
    u = col(h, lambda r: r.row_margin)
    assert np.allclose(u, np.arange(len(h))[:, None] * u[1], rtol=1e-9, atol=0)
    assert np.all(col(h, lambda r: r.row_weight) == 1.0)          # the weight never fades


def test_drop_sigma_most_net_votes_passes_99_percent_and_kl_reaches_the_ceiling(runs):
    """'The reply with the most net votes, the good answer on each prompt, passes 99 % (at
    step 56 on the egg prompt, step 276 on the Australia prompt), and by step 400 KL is
    within 1 % of its ceiling, log 4 = 1.39.'"""
    s = load_scenario("drop-sigma")
    says(s, "at step 56 on the egg prompt, step 276 on the Australia prompt",
         "by step 400 KL is within 1 % of its ceiling, log 4 = 1.39")
    net = net_votes(s)
    assert [int(np.argmax(net[x])) for x in range(s.n_prompts)] == [0, 0]   # the good answer
    n = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    speed = s.learning_rate * s.beta * net / n
    # the first step at which the good answer passes 99 %: closed form and engine agree
    closed = [next(t for t in range(1000) if softmax(t * speed)[x, 0] > 0.99)
              for x in range(s.n_prompts)]
    h = runs("drop-sigma")
    p = col(h, lambda r: r.probs[:, 0])
    engine = [int(np.argmax(p[:, x] > 0.99)) for x in range(s.n_prompts)]
    assert closed == engine == [56, 276]
    end = h[s.steps]
    assert np.all(end.kl > 0.99 * ceiling(s)) and np.allclose(ceiling(s), math.log(4))
    assert np.all(end.probs.max(axis=1) > 0.99)
    assert np.all(end.kl > 3 * runs("align")[-1].kl)


# -- mislabel / fix-label ------------------------------------------------------------------
def _mislabelled_row():
    a, m = load_scenario("align"), load_scenario("mislabel")
    diff = [i for i, (ra, rm) in enumerate(zip(a.rows, m.rows)) if ra != rm]
    assert len(a.rows) == len(m.rows) and len(diff) == 1
    i = diff[0]
    ra, rm = a.rows[i], m.rows[i]
    assert (rm.prompt, rm.chosen, rm.rejected) == (ra.prompt, ra.rejected, ra.chosen)
    assert (rm.votes_chosen, rm.votes_rejected) == (ra.votes_chosen, ra.votes_rejected)
    return i, ra


def test_mislabel_is_align_but_one_row():
    """The comment: 'Everything else is exactly `align`.'"""
    a, m = load_scenario("align"), load_scenario("mislabel")
    _mislabelled_row()
    assert (a.prompts, a.beta, a.learning_rate, a.adaptive_weight, a.steps, a.events) == (
        m.prompts, m.beta, m.learning_rate, m.adaptive_weight, m.steps, m.events)
    assert np.array_equal(a.ref_logits, m.ref_logits)


def test_mislabel_swapped_row_is_learned_like_an_honest_one(runs):
    """'the swapped row heads for sigma(u) = 0.9, its 9:1 share, just like the honest row in
    align.'"""
    s = load_scenario("mislabel")
    says(s, "heads for sigma(u) = 0.9, its 9:1 share")
    i, honest = _mislabelled_row()
    assert honest.votes_chosen / (honest.votes_chosen + honest.votes_rejected) == 0.9
    mis = col(runs("mislabel", REST), lambda r: r.row_sigma[i])
    ali = col(runs("align", REST), lambda r: r.row_sigma[i])
    assert abs(mis[-1] - 0.9) < 1e-8 and abs(ali[-1] - 0.9) < 1e-8
    assert np.all(np.diff(mis) > 0) and mis[s.steps] > 0.88          # heads for 0.9


def test_mislabel_raises_the_microwave_above_the_good_answer(runs):
    """'the microwave advice passes the good answer at the first step and ends above 80 %
    (84 % at step 400), while the Australia prompt moves exactly as in align.'"""
    s = load_scenario("mislabel")
    says(s, "passes the good answer at the first step", "ends above 80 % (84 % at step 400)")
    i, honest = _mislabelled_row()
    x, good, wrong = honest.prompt, honest.chosen, honest.rejected
    assert "Microwave" in s.prompts[x].replies[wrong]
    h = runs("mislabel", REST)
    p = col(h, lambda r: r.probs[x])
    assert np.all(p[1:, wrong] > p[1:, good]) and p[0, wrong] == p[0, good]
    assert np.all(p[1:, wrong] == p[1:].max(axis=1))                 # on top
    assert pct(p[s.steps, wrong]) == 84 and p[s.steps:, wrong].min() > 0.8
    assert abs(p[-1, wrong] - closed_form(s)[x, wrong]) < 1e-8       # at rest 85.4 %
    # the other prompts learn exactly as in align, at every step
    others = [y for y in range(s.n_prompts) if y != x]
    a = runs("align", REST)
    for t in range(0, REST + 1, 50):
        assert np.allclose(h[t].probs[others], a[t].probs[others], rtol=0, atol=1e-12)


def test_fix_label_turns_round_after_the_event(runs):
    """'For 100 steps the model learns the wrong label and the microwave climbs to 79 %. ...
    the good answer is back on top by step 110 and ends where align ends (61 %).'"""
    s = load_scenario("fix-label")
    says(s, "For 100 steps", "the microwave climbs to 79 %", "back on top by step 110",
         "ends where align ends (61 %)")
    m = load_scenario("mislabel")
    assert s.rows == m.rows
    comment_says("fix-label", "The learning rate is 1 (align and mislabel use 0.5)",
                 "the resting point does not depend on the learning rate")
    assert s.learning_rate == 1 and m.learning_rate == load_scenario("align").learning_rate == 0.5
    flips = [e for e in s.events if e.flip is not None]
    assert len(flips) == 1 and flips[0].flip == _mislabelled_row()[0]
    t0 = flips[0].step
    assert t0 == 100 < s.steps
    row = s.rows[flips[0].flip]
    x, wrong, good = row.prompt, row.chosen, row.rejected
    h = runs("fix-label")
    p = col(h, lambda r: r.probs[x])
    assert np.all(np.diff(p[:t0 + 1, wrong]) > 0) and pct(p[t0, wrong]) == 79
    assert p[: t0 + 1, wrong].max() == p[t0, wrong]                  # its peak
    assert int(np.argmax(p[t0:, good] > p[t0:, wrong])) + t0 == 110  # first step back on top
    assert np.all(p[110:, good] == p[110:].max(axis=1))              # and it stays there
    # after the fix the data is align's, so it ends at align's closed form
    target = closed_form(load_scenario("align"))
    assert pct(target[x, good]) == 61 and pct(p[-1, good]) == 61
    assert np.max(np.abs(h[-1].probs - target)) < 0.01
    assert np.max(np.abs(runs("fix-label", REST)[-1].probs - target)) < 1e-8


def test_fix_label_keeps_no_memory_beyond_its_logits(runs):
    """'the model keeps no memory of the old data beyond its current logits': the run after
    the fix equals a fresh run on align's rows started from the logits at step 100."""
    s = load_scenario("fix-label")
    says(s, "keeps no memory of the old data beyond its current logits")
    h = runs("fix-label")
    t0 = 100
    fresh = dataclasses.replace(load_scenario("align"), learning_rate=s.learning_rate,
                                init_logits=np.log(h[t0].probs), events=())
    g = run(fresh, s.steps - t0)
    for k in range(0, s.steps - t0 + 1, 10):
        assert np.allclose(g[k].probs, h[t0 + k].probs, rtol=0, atol=1e-12)


# -- leash -----------------------------------------------------------------------------------
def test_leash_presets_are_align_with_another_beta():
    a = load_scenario("align")
    for p in ("tight-leash", "loose-leash"):
        s = load_scenario(p)
        assert (s.rows, s.prompts, s.adaptive_weight) == (a.rows, a.prompts, a.adaptive_weight)
        assert np.array_equal(s.ref_logits, a.ref_logits) and not s.events


def test_larger_beta_keeps_kl_smaller(runs):
    tight, align, loose = (load_scenario(p) for p in ("tight-leash", "align", "loose-leash"))
    assert tight.beta > align.beta > loose.beta
    kl = {p: runs(p)[-1].kl for p in ("tight-leash", "align", "loose-leash")}
    assert np.all(kl["tight-leash"] < kl["align"]) and np.all(kl["align"] < kl["loose-leash"])
    assert np.all(kl["tight-leash"] < kl["align"] / 5)


def test_leash_presets_move_u_at_the_same_pace(runs):
    """presets/README: 'learning_rate * beta^2 = 0.5 as in align, so each pair's sigma(u)
    follows the same path' (the update of u is lr * beta^2 times a function of u alone)."""
    for p in ("tight-leash", "loose-leash"):
        s = load_scenario(p)
        assert s.learning_rate * s.beta ** 2 == pytest.approx(0.5)
        for ra, rb in zip(runs("align"), runs(p)):
            assert np.allclose(ra.row_sigma, rb.row_sigma, atol=1e-9)


def test_tight_leash_stays_near_the_reference(runs):
    """'With beta = 4 ... no bar moves more than 9 points from its green tick, and KL stays
    below 0.03 (align: 0.37 and 0.29).'"""
    s = load_scenario("tight-leash")
    says(s, "With beta = 4", "no bar moves more than 9 points from its green tick",
         "KL stays below 0.03 (align: 0.37 and 0.29)")
    assert s.beta == 4
    h = runs("tight-leash", REST)
    probs, kl = col(h, lambda r: r.probs), col(h, lambda r: r.kl)
    assert np.max(np.abs(probs - ref_probs(s))) < 0.09
    assert kl.max() < 0.03
    # the closed form agrees, without the engine
    target = closed_form(s)
    assert np.max(np.abs(target - ref_probs(s))) < 0.09
    assert max(kl_to(target[x], ref_probs(s)[x]) for x in range(s.n_prompts)) < 0.03


@pytest.mark.slow
def test_unanimous_labels_slip_even_a_tight_leash(runs):
    """tight-leash: 'with 10:0 labels and these settings KL keeps rising (0.22, 0.41, 0.69 at
    steps 400, 2000, 20000).'"""
    s = load_scenario("tight-leash")
    says(s, "This leash holds because the votes are split: with 10:0 labels and these "
            "settings KL keeps rising (0.22, 0.41, 0.69 at steps 400, 2000, 20000)")
    comment_says("tight-leash", "The leash holds only because the votes are split: with 10:0 "
                 "labels KL keeps rising even at beta = 4")
    h = runs("unanimous", FOREVER, beta=s.beta, learning_rate=s.learning_rate)
    kl = col(h, lambda r: r.kl)
    assert np.all(np.diff(kl, axis=0) > 0)
    assert [round(float(kl[t, 0]), 2) for t in (400, 2000, FOREVER)] == [0.22, 0.41, 0.69]
    assert np.allclose(kl[:, 1], kl[:, 0], rtol=1e-12)         # both prompts alike


def test_loose_leash_needs_large_log_ratio_gaps(runs):
    """'sigma(u) = 0.9 needs h = ln 9 / beta = 8.8, against 2.2 in align'; h is the gap
    between the log-ratios of the chosen and the rejected reply."""
    s = load_scenario("loose-leash")
    says(s, "With beta = 0.25", "4 times larger",
         "sigma(u) = 0.9 needs h = ln 9 / beta = 8.8, against 2.2 in align")
    assert s.beta == 0.25 and 1 / s.beta == 4
    assert round(math.log(9) / s.beta, 1) == 8.8 and round(math.log(9), 1) == 2.2
    rest = runs("loose-leash", REST)[-1]
    lr = np.log(rest.probs) - np.log(ref_probs(s))
    for i, r in enumerate(s.rows):
        if r.votes_chosen / (r.votes_chosen + r.votes_rejected) == 0.9:
            h = lr[r.prompt, r.chosen] - lr[r.prompt, r.rejected]
            assert h == pytest.approx(math.log(9) / s.beta, abs=1e-6)
            assert rest.row_sigma[i] == pytest.approx(0.9, abs=1e-9)


def test_loose_leash_travels_far(runs):
    """'by step 400 the good replies reach 97 % and 82 % and KL is 1.24 and 0.91, more than 3
    times align's.'"""
    s = load_scenario("loose-leash")
    says(s, "by step 400 the good replies reach 97 % and 82 % and KL is 1.24 and 0.91, "
            "more than 3 times align's")
    end = runs("loose-leash")[-1]
    assert s.steps == 400 and [pct(p) for p in end.probs[:, 0]] == [97, 82]
    assert [round(float(k), 2) for k in end.kl] == [1.24, 0.91]
    assert np.all(end.kl > 3 * runs("align")[-1].kl)
    target = closed_form(s)                                       # and at rest, by hand
    kl_rest = np.array([kl_to(target[x], ref_probs(s)[x]) for x in range(s.n_prompts)])
    kl_align = np.array([kl_to(closed_form(load_scenario("align"))[x], ref_probs(s)[x])
                         for x in range(s.n_prompts)])
    assert np.all(kl_rest > 3 * kl_align)
    kl = col(runs("loose-leash", REST), lambda r: r.kl)
    assert np.all(np.abs(kl[s.steps:] - kl_rest) < 0.015)         # it levels off


def test_unanimous_labels_pull_a_loose_leash_to_the_ceiling(runs):
    """loose-leash: 'KL levels off only because the votes are split: with 10:0 labels and
    these settings it runs to its ceiling, log 4 = 1.39.'"""
    s = load_scenario("loose-leash")
    says(s, "with 10:0 labels and these settings it runs to its ceiling, log 4 = 1.39")
    comment_says("loose-leash", "with 10:0 labels KL runs up to its ceiling at this beta")
    kl = col(runs("unanimous", 400, beta=s.beta, learning_rate=s.learning_rate),
             lambda r: r.kl)
    assert np.all(np.diff(kl, axis=0) > 0)
    assert np.all(kl[-1] > 0.999 * math.log(4))


# -- unanimous -----------------------------------------------------------------------------------
def test_unanimous_keeps_drifting_but_slower_than_without_the_weight(runs):
    """'the top reply keeps creeping toward 100 % (97 % at step 400, 99.6 % at step 3000),
    ever more slowly as the weights fade (the first pair's weight: 0.026 at step 400, 0.004
    at step 3000)'; the comment: with the weight off 'the top reply passes 99.99 % by step
    100, against 87 % with the weight on'."""
    s = load_scenario("unanimous")
    says(s, "even with the sigma weight on, the top reply keeps creeping toward 100 % "
            "(97 % at step 400, 99.6 % at step 3000)",
         "ever more slowly", "0.026 at step 400, 0.004 at step 3000")
    assert s.adaptive_weight
    assert all(r.votes_rejected == 0 and r.votes_chosen > 0 for r in s.rows)
    h = runs("unanimous", REST)
    top = col(h, lambda r: r.probs.max(axis=1))
    assert np.all(np.diff(top, axis=0) > 0)                   # never stops climbing
    assert np.all(np.diff(np.diff(top, axis=0), axis=0) < 0)  # ever more slowly
    assert [pct(top[400, 0]), pct(top[REST, 0], 1)] == [97, 99.6]
    w = col(h, lambda r: r.row_weight)
    assert np.all(np.diff(w, axis=0) < 0) and np.all(w[-1] > 0)   # fade, never 0
    assert [round(float(w[t, 0]), 3) for t in (400, REST)] == [0.026, 0.004]
    off = runs("unanimous", s.steps, adaptive_weight="off")
    q = col(off, lambda r: r.probs.max(axis=1))
    assert np.all(q[1:] > top[1:s.steps + 1])                 # the weight only slows it
    comment_says("unanimous", "the top reply passes 99.99 % by step 100, against 87 % with "
                 "the weight on")
    assert np.all(q[100] > 0.9999) and pct(top[100, 0]) == 87


@pytest.mark.slow
def test_unanimous_kl_keeps_rising(runs):
    """'KL keeps rising toward log 4 = 1.39'."""
    s = load_scenario("unanimous")
    says(s, "KL keeps rising toward log 4 = 1.39")
    kl = col(runs("unanimous", FOREVER), lambda r: r.kl)
    assert np.all(np.diff(kl, axis=0) > 0) and np.all(kl < math.log(4))
    assert np.all(kl[FOREVER] - kl[REST] > 0.02)             # still visibly rising


@pytest.mark.parametrize("beta", [0.05, 0.25, 1, 4, 5])     # the sliders' usual range
def test_unanimous_drift_does_not_stop_at_any_usual_beta(runs, beta):
    """'A larger beta does not stop it (run it with beta = 4: KL still climbs from 0.56 at
    step 400 to 0.74 at step 2000)'; presets/README: 'even with a large beta, the drift never
    stops'."""
    s = load_scenario("unanimous")
    says(s, "A larger beta does not stop it",
         "with beta = 4: KL still climbs from 0.56 at step 400 to 0.74 at step 2000")
    readme = " ".join((PRESETS / "README.md").read_text().split())
    assert "with 10:0 labels KL keeps rising even at a large beta" in readme
    assert "even with a large beta, the drift never stops" in readme
    h = runs("unanimous", REST, beta=beta)
    u = col(h, lambda r: r.row_margin)
    assert np.all(np.diff(u, axis=0) > 0)                     # every margin keeps growing
    kl = col(h, lambda r: r.kl)
    assert np.all(np.diff(kl, axis=0) > 0)
    if beta == 4:
        assert [round(float(kl[t, 0]), 2) for t in (400, 2000)] == [0.56, 0.74]


# -- tie --------------------------------------------------------------------------------------
def _tie_row(s):
    """The index of the only row of the pet prompt, which must be a tie."""
    tied = {r.prompt for r in s.rows if r.votes_chosen == r.votes_rejected}
    only = [x for x in tied if all(r.votes_chosen == r.votes_rejected
                                   for r in s.rows if r.prompt == x)]
    assert only == [0]
    rows = [i for i, r in enumerate(s.rows) if r.prompt == 0]
    assert len(rows) == 1
    assert (s.rows[rows[0]].votes_chosen, s.rows[rows[0]].votes_rejected) == (5, 5)
    return rows[0]


def _assert_pet_prompt_never_moved(s, h):
    row = _tie_row(s)
    assert np.all(col(h, lambda r: r.probs[0]) == ref_probs(s)[0])     # bit for bit
    assert np.all(col(h, lambda r: r.row_weight[row]) == 0.5)
    assert np.all(col(h, lambda r: r.kl[0]) == 0.0)


def test_tie_does_not_move(runs):
    """'the two pulls cancel exactly (the row's weight stays 0.5, yet its net pull is 0),
    and the bars stay on the reference ticks'; the comment: 'the gradient on that prompt is
    exactly zero'."""
    s = load_scenario("tie")
    says(s, "five annotators pulled each way", "the row's weight stays 0.5",
         "stay on the reference ticks for ever")
    comment_says("tie", "Its two halves pull with equal force in opposite directions, so the "
                 "gradient on that prompt is exactly zero")
    _assert_pet_prompt_never_moved(s, runs("tie", REST))
    # the gradient on that prompt is exactly zero (5 * sigma(0) - 5 * sigma(0))
    g = run(s, s.steps)[-1].grad
    assert np.all(g[0] == 0.0) and np.any(g[1] != 0.0)


@pytest.mark.slow
def test_tie_does_not_move_for_ever(runs):
    """'... for ever': still bit for bit on the reference after 20000 steps."""
    _assert_pet_prompt_never_moved(load_scenario("tie"), runs("tie", FOREVER))


def test_tie_australia_prompt_settles_as_in_align(runs):
    """'Meanwhile the Australia question settles where it settles in align (the explained
    answer at 50 %), so the model is not stuck.'"""
    s, a = load_scenario("tie"), load_scenario("align")
    says(s, "settles where it settles in align (the explained answer at 50 %)")
    x = 1
    assert s.prompts[x] == a.prompts[x]
    assert {r.as_tuple() for r in s.rows if r.prompt == x} == {
        r.as_tuple() for r in a.rows if r.prompt == x}
    target = closed_form(a)[x]
    assert np.allclose(closed_form(s)[x], target, atol=1e-12)
    assert pct(target[0]) == 50 and pct(runs("tie")[-1].probs[x, 0]) == 50
    assert np.allclose(runs("tie", REST)[-1].probs[x], target, atol=1e-8)
    assert runs("tie")[-1].kl[x] > 0.25


# -- skewed reference ---------------------------------------------------------------------
def test_skewed_reference_percentages_in_the_comment(runs):
    """The comment: egg '21.5 / 35.5 / 21.5 / 21.5 %', Australia '8.3 / 22.5 / 61.0 / 8.3 %'
    (pi_ref = softmax of the reference logits, computed here by hand)."""
    s = load_scenario("skewed-reference")
    for x, quoted in enumerate(["21.5 / 35.5 / 21.5 / 21.5 %", "8.3 / 22.5 / 61.0 / 8.3 %"]):
        comment_says("skewed-reference", quoted)
        z = [math.exp(v) for v in s.ref_logits[x]]
        by_hand = [v / sum(z) for v in z]
        assert " / ".join(f"{100 * p:.1f}" for p in by_hand) + " %" == quoted
        assert np.allclose(runs("skewed-reference")[0].probs[x], by_hand, atol=1e-15)


def test_skewed_reference_odds_are_the_reference_odds_times_the_vote_odds(runs):
    """'each pair settles at the same vote share as in align, which multiplies the
    reference's odds between its two replies by the vote odds to the power 1/β, here β = 1
    (6:4 gives × 1.5)'."""
    s, a = load_scenario("skewed-reference"), load_scenario("align")
    says(s, "each pair settles at the same vote share as in align",
         "by the vote odds to the power 1/β, here β = 1 (6:4 gives × 1.5)")
    assert s.rows == a.rows and not np.allclose(s.ref_logits, 0.0)
    for ra, rb in zip(runs("skewed-reference", REST), runs("align", REST)):
        assert np.allclose(ra.row_sigma, rb.row_sigma, atol=1e-9)
    pref, rest = ref_probs(s), runs("skewed-reference", REST)[-1].probs
    for r in s.rows:
        odds = rest[r.prompt, r.chosen] / rest[r.prompt, r.rejected]
        ref_odds = pref[r.prompt, r.chosen] / pref[r.prompt, r.rejected]
        assert odds == pytest.approx(ref_odds * r.votes_chosen / r.votes_rejected, rel=1e-8)
    # the comment's arithmetic
    comment_says("skewed-reference", "0.368 x 6/4 = 0.55", "0.368 = 1/e",
                 "0.607 x 7/3 = 1.42 > 1 (0.607 = 1/sqrt(e))", "50 % against 28 % at rest")
    assert round(pref[1, 0] / pref[1, 1], 3) == round(1 / math.e, 3) == 0.368
    assert round(0.368 * 6 / 4, 2) == round(rest[1, 0] / rest[1, 1], 2) == 0.55
    assert round(pref[0, 0] / pref[0, 1], 3) == round(math.exp(-0.5), 3) == 0.607
    assert round(0.607 * 7 / 3, 2) == round(rest[0, 0] / rest[0, 1], 2) == 1.42
    assert [pct(rest[1, 1]), pct(rest[1, 0])] == [50, 28]


def test_skewed_reference_australia_ranking_follows_the_reference(runs):
    """'by step 400 the reference's favourite "Sydney." has fallen from 61 % to 16 %, but the
    bare "Canberra." (22 % in the reference) has reached 50 %, still above the explained
    answer (8 % in the reference, now 27 %) that annotators preferred 6:4.'"""
    s = load_scenario("skewed-reference")
    says(s, '"Sydney." has fallen from 61 % to 16 %', '"Canberra." (22 % in the reference) '
         "has reached 50 %", "(8 % in the reference, now 27 %) that annotators preferred 6:4")
    replies = s.prompts[1].replies
    explained, bare, sydney = 0, 1, 2
    assert (replies[bare], replies[sydney]) == ("Canberra.", "Sydney.")
    row = next(r for r in s.rows if (r.prompt, r.chosen, r.rejected) == (1, explained, bare))
    assert (row.votes_chosen, row.votes_rejected) == (6, 4)
    pref = ref_probs(s)[1]
    assert [pct(pref[y]) for y in (sydney, bare, explained)] == [61, 22, 8]
    assert int(np.argmax(pref)) == sydney
    h = runs("skewed-reference", REST)
    end = h[s.steps].probs[1]
    assert s.steps == 400 and [pct(end[y]) for y in (sydney, bare, explained)] == [16, 50, 27]
    assert np.all(col(h, lambda r: r.probs[1, bare] > r.probs[1, explained]))   # every step
    # the page's star marks the most net votes: the explained answer (8 against 6), which is
    # not where DPO puts the most probability here
    net = net_votes(s)[1]
    assert int(np.argmax(net)) == explained and net[explained] > net[bare]
    assert int(np.argmax(h[-1].probs[1])) == bare


def test_skewed_reference_egg_prompt_good_answer_passes_the_favourite(runs):
    """The comment: 'the good answer passes "Boil it." at step 22 and ends ahead of it, 52 %
    against 37 %'."""
    s = load_scenario("skewed-reference")
    comment_says("skewed-reference",
                 'passes "Boil it." at step 22 and ends ahead of it, 52 % against 37 %')
    pref = ref_probs(s)[0]
    assert int(np.argmax(pref)) == 1 and s.prompts[0].replies[1] == "Boil it."
    h = runs("skewed-reference", REST)
    p = col(h, lambda r: r.probs[0])
    assert int(np.argmax(p[:, 0] > p[:, 1])) == 22 and np.all(p[22:, 0] > p[22:, 1])
    assert [pct(p[s.steps, 0]), pct(p[s.steps, 1])] == [52, 37]
    assert [pct(p[-1, 0]), pct(p[-1, 1])] == [52, 37]
    assert np.all(ceiling(s) > np.log(4))


# -- both-fall --------------------------------------------------------------------------
def _by_hand_dpo(s, steps):
    """Plain gradient descent on the mean DPO loss, written out for rows with one prompt
    and a uniform reference (so the log-ratio margin is the logit gap): the logits
    theta_0..theta_steps, computed without the engine."""
    rows = [r.as_tuple() for r in s.rows]
    n = sum(vc + vr for *_, vc, vr in rows)
    theta = np.zeros(s.n_replies)
    out = [theta.copy()]
    for _ in range(steps):
        grad = np.zeros(s.n_replies)
        for _, c, r, vc, vr in rows:
            u = s.beta * (theta[c] - theta[r])
            pull = vc / (1 + math.exp(u)) - vr / (1 + math.exp(-u))   # vc sigma(-u) - vr sigma(u)
            grad[c] -= s.beta * pull / n
            grad[r] += s.beta * pull / n
        theta = theta - s.learning_rate * grad
        out.append(theta.copy())
    return np.array(out)


def test_both_fall_is_a_ladder_of_hard_labels():
    """The comment: 'three hard labels (1:0) down the ladder'; 'Reply 1 and reply 2 each
    appear twice, once as the chosen reply and once as the rejected one.'"""
    s = load_scenario("both-fall")
    assert (s.n_prompts, s.n_replies, s.beta, s.learning_rate) == (1, 4, 1, 0.5)
    assert np.all(s.ref_logits == 0) and s.adaptive_weight and s.loss_type == "sigmoid"
    assert [r.as_tuple() for r in s.rows] == [(0, 0, 1, 1, 0), (0, 1, 2, 1, 0), (0, 2, 3, 1, 0)]
    comment_says("both-fall", "three hard labels (1:0) down the ladder",
                 "Reply 1 and reply 2 each appear twice")


def test_both_fall_every_pair_is_learned_yet_the_chosen_reward_peaks_and_turns_negative(runs):
    """'the margin rises at every step and accuracy is 100 % from step 2 on, yet
    rewards/chosen peaks at step 9 and is negative from step 24 on, and logps/chosen ends far
    below its start (-3.37 at step 300, against -1.39)'; checked against gradient descent
    written out by hand."""
    s = load_scenario("both-fall")
    says(s, "the margin rises at every step", "accuracy is 100 % from step 2 on",
         "rewards/chosen peaks at step 9 and is negative from step 24 on",
         "logps/chosen ends far below its start (−3.37 at step 300, against −1.39)")
    comment_says("both-fall", "rises only until step 9 and is negative from step 24 on",
                 "logps/chosen is rewards/chosen minus log 4")
    h = runs("both-fall")
    assert s.steps == 300 and len(h) == 301
    margins = col(h, lambda r: r.rewards_margins)
    assert np.all(np.diff(margins) > 0)
    acc = col(h, lambda r: r.rewards_accuracies)
    assert np.all(acc[2:] == 1.0) and np.all(acc[:2] < 1.0)
    chosen = col(h, lambda r: r.rewards_chosen)
    assert int(np.argmax(chosen)) == 9
    assert np.all(np.diff(chosen[:10]) > 0) and np.all(np.diff(chosen[9:]) < 0)
    assert np.all(chosen[1:24] > 0) and np.all(chosen[24:] < 0)
    logps = col(h, lambda r: r.logps_chosen)
    assert np.allclose(logps, chosen - math.log(4), rtol=0, atol=1e-14)
    assert logps[0] == pytest.approx(-math.log(4), abs=1e-15) and round(logps[0], 2) == -1.39
    assert round(logps[s.steps], 2) == -3.37 and np.all(logps[24:] < logps[0])
    # the same story from gradient descent written out by hand
    theta = _by_hand_dpo(s, s.steps)
    logp = theta - np.log(np.exp(theta).sum(axis=1, keepdims=True))
    by_hand = (logp[:, 0] + logp[:, 1] + logp[:, 2]) / 3      # chosen: replies 0, 1, 2
    assert np.allclose(by_hand, logps, rtol=0, atol=1e-12)
    assert int(np.argmax(by_hand)) == 9
    assert int(np.argmax(by_hand + math.log(4) < 0)) == 24
    assert np.allclose(np.exp(logp), col(h, lambda r: r.probs[0]), rtol=0, atol=1e-12)


def test_both_fall_rejected_reward_falls_too(runs):
    """The title: 'Chosen and rejected both fall'."""
    s = load_scenario("both-fall")
    assert s.title == "Chosen and rejected both fall"
    h = runs("both-fall")
    assert np.all(np.diff(col(h, lambda r: r.rewards_rejected)) < 0)
    assert h[s.steps].rewards_chosen < 0 and h[s.steps].rewards_rejected < 0


def test_both_fall_the_best_reply_takes_the_mass_and_the_second_falls(runs):
    """'while the best reply takes the mass (97 % at step 300) the second falls from 25 % to
    3 % though it won its own row: a chosen reply's reward can rise at most to log 4 = 1.39,
    but a reward can fall without bound'; the comment: 'by step 300 the second reply's
    logit has risen by 1.57, the best reply's by 5.00'."""
    s = load_scenario("both-fall")
    says(s, "(97 % at step 300)", "the second falls from 25 % to 3 % though it won its own row",
         "can rise at most to log 4 = 1.39")
    comment_says("both-fall", "the second reply's logit has risen by 1.57, the best reply's by "
                 "5.00", "loses probability at every step, from 25 % to 3 %")
    h = runs("both-fall")
    p = col(h, lambda r: r.probs[0])
    assert pct(p[s.steps, 0]) == 97 and np.all(np.diff(p[:, 0]) > 0)
    assert p[0, 1] == 0.25 and pct(p[s.steps, 1]) == 3 and np.all(np.diff(p[:, 1]) < 0)
    assert 1 in {r.chosen for r in s.rows} and 1 in {r.rejected for r in s.rows}
    assert np.all(col(h, lambda r: r.row_margin[1])[2:] > 0)          # yet it wins its row
    rewards = col(h, lambda r: r.rewards[0])
    assert round(math.log(4), 2) == 1.39 and np.all(rewards[:, 0] < math.log(4))
    assert np.all(np.diff(rewards[:, 3]) < 0) and rewards[-1, 3] < -8   # no floor
    theta = _by_hand_dpo(s, s.steps)
    assert theta[0, 0] == theta[0, 1] == 0.0
    assert [round(float(theta[s.steps, y]), 2) for y in (1, 0)] == [1.57, 5.00]
    assert np.allclose(theta.sum(axis=1), 0.0, atol=1e-13)            # the group's sum


# -- mass-flow --------------------------------------------------------------------------
def test_mass_flow_reference_and_row():
    """The comment: 'it gives "Toronto." 90 %, "Montreal." 9 % and the right answer
    "Ottawa." only 1 %'; 'One row: nine annotators out of ten preferred "Ottawa." to
    "Toronto."'; 'Nobody was asked about "Montreal."'."""
    s = load_scenario("mass-flow")
    comment_says("mass-flow", 'it gives "Toronto." 90 %, "Montreal." 9 % and the right answer '
                 '"Ottawa." only 1 %', "pi_ref = 1 %, 90 %, 9 % (to rounding, within 2e-16)")
    assert s.prompts[0].replies == ("Ottawa.", "Toronto.", "Montreal.")
    assert np.allclose(ref_probs(s)[0], [0.01, 0.90, 0.09], rtol=0, atol=2e-16)
    assert np.allclose(s.ref_logits[0], [0.0, math.log(90), math.log(9)], rtol=0, atol=0)
    assert [r.as_tuple() for r in s.rows] == [(0, 0, 1, 9, 1)]
    assert s.beta == 1 and s.adaptive_weight


def test_mass_flow_rests_at_one_to_ten_to_three(runs):
    """The comment: 'at rest the probabilities are in the ratio 1 : 10 : 3, that is 1/14,
    10/14 and 3/14', the pair's share 'from 91 % to 11/14 = 79 %'; worked out here by hand:
    the row fixes theta_O - theta_T = log(1/90) + log 9, the update keeps theta_O + theta_T,
    and theta_M never moves."""
    s = load_scenario("mass-flow")
    comment_says("mass-flow", "1:90 x 9 = 1:10", "from 91 % to 11/14 = 79 %",
                 "in the ratio 1 : 10 : 3, that is 1/14, 10/14 and 3/14")
    t0 = s.ref_logits[0]
    gap = t0[0] - t0[1] + math.log(9) / s.beta
    total = t0[0] + t0[1]
    theta = np.array([(total + gap) / 2, (total - gap) / 2, t0[2]])
    target = np.exp(theta) / np.exp(theta).sum()
    assert np.allclose(target, [1 / 14, 10 / 14, 3 / 14], rtol=0, atol=1e-15)
    assert np.allclose(closed_form(s)[0], target, rtol=0, atol=1e-15)
    assert round(100 * 11 / 14) == 79 and pct(ref_probs(s)[0, :2].sum()) == 91
    rest = runs("mass-flow", REST)[-1]
    assert np.max(np.abs(rest.probs[0] - target)) < 1e-12
    assert rest.row_sigma[0] == pytest.approx(0.9, abs=1e-12)
    assert rest.probs[0, 0] / rest.probs[0, 1] == pytest.approx(1 / 10, rel=1e-12)


def test_mass_flow_odds_follow_beta_and_the_diamond_leaves_montreal_at_its_start(runs):
    """'it multiplies the reference's odds of the pair by the vote odds to the power 1/β
    (here β = 1)': at β = 2 the odds end at 1:90 x 9^(1/2) = 1:30. 'The votes say nothing
    about "Montreal.", so the diamond puts it where DPO leaves it: at its start logit': the
    page's pi* (sim.rlhf) gives Montreal the logit it starts with, 3/14 at β = 1, which is
    where the run ends."""
    from dpo_sim.sim.dpo import log_probs
    from dpo_sim.sim.rlhf import optimum

    s = load_scenario("mass-flow")
    says(s, "by the vote odds to the power 1/β (here β = 1)",
         "the diamond puts it where DPO leaves it: at its start logit")
    comment_says("mass-flow", "The diamond takes the one DPO reaches, which leaves the "
                 "reply's start logit where it was, so it marks 3/14 too")
    end = runs("mass-flow", REST, beta=2.0)[-1].probs[0]
    assert end[0] / end[1] == pytest.approx(3 / 90, rel=1e-9)
    for beta in (1.0, 2.0, 0.5):
        sim = Simulation(s.with_settings(beta=beta), keep_history=False)
        opt = optimum(sim.pairs, sim.logp_ref, s.start_logits(), beta)
        assert opt.theta[0, 2] == s.start_logits()[0, 2]          # untouched, bit for bit
        rec = sim.advance(10_000)
        assert np.max(np.abs(rec.probs[0] - opt.probs[0])) < 1e-12, beta
    opt = optimum(sim.pairs, log_probs(s.ref_logits), s.start_logits(), 1.0)
    assert opt.probs[0, 2] == pytest.approx(3 / 14, abs=1e-15)


def test_mass_flow_moves_ratios_not_ranks(runs):
    """'Annotators preferred "Ottawa." to "Toronto." 9:1 and the row settles at exactly that
    share, sigma(u) = 0.9, yet "Toronto." stays on top (90 % -> 71 %) while "Ottawa." climbs
    only from 1 % to 7 %'; '... the reply no one labelled, which rises from 9 % to 21 %,
    three times the right answer's share'."""
    s = load_scenario("mass-flow")
    says(s, '"Ottawa." to "Toronto." 9:1', "exactly that share, σ(u) = 0.9",
         '"Toronto." stays on top (90 % → 71 %)', '"Ottawa." climbs only from 1 % to 7 %',
         "from 1:90 to 1:10", "leaves the logit of \"Montreal.\" untouched",
         "rises from 9 % to 21 %, three times the right answer's share")
    h = runs("mass-flow", REST)
    p = col(h, lambda r: r.probs[0])
    end = p[s.steps]
    assert [pct(v) for v in p[0]] == [1, 90, 9] and [pct(v) for v in end] == [7, 71, 21]
    assert round(float(h[s.steps].row_sigma[0]), 2) == 0.90
    assert np.all(np.argmax(p, axis=1) == 1)                        # Toronto on top, always
    moving = slice(0, 150)                                          # before rounding level
    assert np.all(np.diff(p[moving, 0]) > 0) and np.all(np.diff(p[moving, 2]) > 0)
    assert np.all(np.diff(p[moving, 1]) < 0)
    gain = p[-1] - p[0]
    assert int(np.argmax(gain)) == 2                                # the unlabelled gains most
    assert p[-1, 2] / p[-1, 0] == pytest.approx(3, rel=1e-12)
    # theta_M never moves and theta_O + theta_T keeps its start: so log pO + log pT -
    # 2 log pM (the normaliser cancels) stays at its start value at every step
    lp = np.log(p)
    inv = lp[:, 0] + lp[:, 1] - 2 * lp[:, 2]
    assert np.allclose(inv, inv[0], rtol=0, atol=1e-12)
    assert np.all(col(runs("mass-flow"), lambda r: r.rewards[0, 2])
                  >= 0)                                             # Montreal only gains


def test_mass_flow_and_dpo_is_rlhf_learning_rate_slows_the_story(runs):
    """The comments: 'with 0.5 the bars would reach their rest within 2 seconds' (mass-flow)
    and 'with 0.5 the bars would reach their markers within 2 seconds' (dpo-is-rlhf);
    presets/README: 'with 0.5 their bars would be at rest (within half a point) within 2
    seconds'. At 20 steps per second, 2 seconds are 40 steps."""
    readme = " ".join((PRESETS / "README.md").read_text().split())
    assert ("`mass-flow` and `dpo-is-rlhf` use a learning rate of 0.125 so that the approach "
            "to rest can be watched: with 0.5 their bars would be at rest (within half a "
            "point) within 2 seconds") in readme
    comment_says("mass-flow", "The learning rate is 0.125 (align uses 0.5)",
                 "with 0.5 the bars would reach their rest within 2 seconds")
    comment_says("dpo-is-rlhf", "The learning rate is 0.125 (align uses 0.5)",
                 "with 0.5 the bars would reach their markers within 2 seconds")
    for pid in ("mass-flow", "dpo-is-rlhf"):
        s = load_scenario(pid)
        assert s.learning_rate == 0.125 and load_scenario("align").learning_rate == 0.5
        rest = runs(pid, REST)[-1].probs
        fast = col(runs(pid, s.steps, learning_rate=0.5), lambda r: r.probs)
        assert np.all(np.abs(fast[40:] - rest) < 0.005)
        slow = col(runs(pid), lambda r: r.probs)
        assert np.max(np.abs(slow[100] - rest)) > 0.005                # still on its way
        assert np.max(np.abs(slow[s.steps] - rest)) < 0.001            # at rest by the end


# -- rock-paper-scissors ------------------------------------------------------------------
def test_rock_paper_scissors_majorities_form_a_cycle():
    """'Every row has a 7:3 majority (paper over rock, scissors over paper, rock over
    scissors)'."""
    s = load_scenario("rock-paper-scissors")
    says(s, "Every row has a 7:3 majority (paper over rock, scissors over paper, rock over "
            "scissors)")
    names = [t.rstrip(".").lower() for t in s.prompts[0].replies]
    assert names == ["rock", "paper", "scissors"]
    wins = {(names[r.chosen], names[r.rejected]) for r in s.rows
            if (r.votes_chosen, r.votes_rejected) == (7, 3)}
    assert wins == {("paper", "rock"), ("scissors", "paper"), ("rock", "scissors")}
    assert len(s.rows) == 3 and np.all(s.ref_logits == 0) and s.n_prompts == 1
    # every reply wins one row and loses one: its net votes are 0
    assert np.all(net_votes(s) == 0)


def test_rock_paper_scissors_pulls_cancel_round_the_cycle():
    """The comment: 'At u = 0 a row pulls its chosen reply up by 7 x 0.5 - 3 x 0.5 = 2 (in
    units of beta / 30) ... every reply gets +2 from the row it wins and -2 from the row it
    loses'; by hand and in the engine's gradient."""
    s = load_scenario("rock-paper-scissors")
    comment_says("rock-paper-scissors", "7 x 0.5 - 3 x 0.5 = 2 (in units of beta / 30)",
                 "the gradient is exactly zero, and the policy never leaves the reference")
    n = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    assert n == 30 and 7 * 0.5 - 3 * 0.5 == 2
    pull = np.zeros(s.n_replies)
    for r in s.rows:
        f = r.votes_chosen * 0.5 - r.votes_rejected * 0.5
        pull[r.chosen] += f
        pull[r.rejected] -= f
    assert np.all(pull == 0.0)
    assert np.all(run(s, 1)[-1].grad == 0.0)


def test_rock_paper_scissors_log_2_is_the_least_loss():
    """The comment: 'The loss stays at log 2 = 0.69, and that is the best this data allows';
    the mean loss written out by hand (tests/naive_dpo.py) at random policies."""
    import naive_dpo as naive

    s = load_scenario("rock-paper-scissors")
    comment_says("rock-paper-scissors", "The loss stays at log 2 = 0.69, and that is the "
                 "best this data allows")
    rows = [r.as_tuple() for r in s.rows]
    rng = np.random.default_rng(0)
    ref = np.zeros((1, 3))
    assert naive.mean_loss(ref, ref, rows, s.beta) == pytest.approx(math.log(2), abs=1e-15)
    for scale in (1e-3, 0.1, 1, 5):
        for _ in range(50):
            theta = rng.normal(scale=scale, size=(1, 3))
            assert naive.mean_loss(theta, ref, rows, s.beta) > math.log(2)


def test_rock_paper_scissors_rlhf_agrees():
    """The comment: 'a Bradley-Terry reward fitted to these votes gives the three replies the
    same reward, so its optimal policy is the reference too'."""
    from dpo_sim.sim.numerics import log_softmax
    from dpo_sim.sim.pairs import Pairs
    from dpo_sim.sim.rlhf import optimum

    s = load_scenario("rock-paper-scissors")
    comment_says("rock-paper-scissors", "gives the three replies the same reward, so its "
                 "optimal policy is the reference too")
    pairs = Pairs.from_rows([r.as_tuple() for r in s.rows], s.n_prompts, s.n_replies)
    opt = optimum(pairs, log_softmax(s.ref_logits), s.start_logits(), s.beta)
    assert opt.finite.all()
    assert np.allclose(opt.reward, opt.reward[0, 0], rtol=0, atol=1e-12)
    assert np.allclose(opt.probs, 1 / 3, rtol=0, atol=1e-15)


@pytest.mark.slow
def test_rock_paper_scissors_nothing_ever_moves():
    """'nothing ever moves: the bars stay at 1/3, every sigma(u) at 0.5 and the loss at
    log 2 = 0.69, step after step'; '... the gradient is exactly 0': at every one of 20000
    steps, bit for bit."""
    from dpo_sim.sim.simulation import Simulation

    s = load_scenario("rock-paper-scissors")
    says(s, "nothing ever moves", "the bars stay at 1/3, every σ(u) at 0.5 and the loss at "
            "log 2 = 0.69, step after step", "the gradient is exactly 0")
    assert round(math.log(2), 2) == 0.69
    sim = Simulation(s, keep_history=False)
    rec = sim.record
    start = rec.probs.copy()
    assert np.allclose(start, 1 / 3, rtol=0, atol=1e-16)
    for t in range(FOREVER + 1):
        if t:
            rec = sim.advance()
        assert np.all(rec.grad == 0.0)
        assert np.array_equal(rec.probs, start)
        assert rec.loss == math.log(2) and np.all(rec.row_sigma == 0.5)
        assert np.all(rec.kl == 0.0)
    assert rec.step == FOREVER


# -- ipo-stops-drift ----------------------------------------------------------------------
def _ipo_target_logits(s):
    """The logits at which every row has h = 1/(2 beta), each prompt's sum of logits kept at
    its start value (0): a small linear system, solved without the engine."""
    h = 1 / (2 * s.beta)
    theta = np.zeros((s.n_prompts, s.n_replies))
    for x in range(s.n_prompts):
        rows = [r for r in s.rows if r.prompt == x]
        A = np.zeros((len(rows) + 1, s.n_replies))
        b = np.zeros(len(rows) + 1)
        for i, r in enumerate(rows):
            A[i, r.chosen], A[i, r.rejected], b[i] = 1.0, -1.0, h
        A[-1] = 1.0
        theta[x] = np.linalg.solve(A, b)
    return theta


def test_ipo_stops_drift_is_unanimous_under_ipo():
    """The comment: 'The prompts, replies, reference and rows are exactly `unanimous`'s:
    every row 10:0.'"""
    s, u = load_scenario("ipo-stops-drift"), load_scenario("unanimous")
    comment_says("ipo-stops-drift", "The prompts, replies, reference and rows are exactly "
                 "`unanimous`'s: every row 10:0")
    assert (s.prompts, s.rows, s.events) == (u.prompts, u.rows, u.events)
    assert np.array_equal(s.ref_logits, u.ref_logits) and s.init_logits is None
    assert all((r.votes_chosen, r.votes_rejected) == (10, 0) for r in s.rows)
    assert (s.loss_type, u.loss_type, s.beta, s.adaptive_weight) == ("ipo", "sigmoid", 0.25,
                                                                      True)


def test_ipo_stops_drift_learning_rate_is_far_below_the_stability_bound():
    """The comment: 'For these rows that bound is 6 / (2 + sqrt 2) = 1.76 whatever beta is;
    0.2 is far below it'. The mean IPO loss is sum over rows of (votes / n) (h - h*)^2, so
    its Hessian in the logits is 2 sum (votes / n) (e_c - e_r)(e_c - e_r)^T, built here."""
    s = load_scenario("ipo-stops-drift")
    comment_says("ipo-stops-drift", "that bound is 6 / (2 + sqrt 2) = 1.76 whatever beta is; "
                 "0.2 is far below it")
    n = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    H = np.zeros((s.n_prompts, s.n_replies, s.n_replies))
    for r in s.rows:
        e = np.zeros(s.n_replies)
        e[r.chosen], e[r.rejected] = 1.0, -1.0
        H[r.prompt] += 2 * (r.votes_chosen + r.votes_rejected) / n * np.outer(e, e)
    top = max(np.linalg.eigvalsh(H[x]).max() for x in range(s.n_prompts))
    bound = 2 / top
    assert bound == pytest.approx(6 / (2 + math.sqrt(2)), rel=1e-12) and round(bound, 2) == 1.76
    assert s.learning_rate == 0.2 and s.learning_rate * top < 1    # no overshoot at all


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_ipo_stops_drift_bound_is_where_gradient_descent_breaks(runs):
    """Just below the bound the run converges, just above it diverges."""
    from dpo_sim.sim.simulation import Diverged

    h = runs("ipo-stops-drift", REST, learning_rate=1.7)
    target = _ipo_target_logits(load_scenario("ipo-stops-drift"))
    assert np.max(np.abs(h[-1].probs - softmax(target))) < 1e-9
    with pytest.raises(Diverged):
        runs("ipo-stops-drift", FOREVER, learning_rate=1.8)


@pytest.mark.slow
def test_ipo_stops_drift_every_margin_stops_at_its_target(runs):
    """'even a 10:0 row has a finite target, the margin h = 1/(2 beta) = 2 at beta = 0.25:
    the good answers stop at 78 % and KL settles at 0.66 by step 150 and stays there for
    good'; the comment: '(78 %, 10 %, 10 %, 1 %)'. 20000 steps, checked against the target
    solved by hand."""
    s = load_scenario("ipo-stops-drift")
    says(s, "the margin h = 1/(2β) = 2 at β = 0.25", "the good answers stop at 78 %",
         "KL settles at 0.66 by step 150 and stays there for good")
    comment_says("ipo-stops-drift", "h = 1/(2 beta), whatever the votes: 2 at beta = 0.25",
                 "the good answer ends 2 above the two replies it was compared with and 4 "
                 "above the third", "(78 %, 10 %, 10 %, 1 %)")
    assert 1 / (2 * s.beta) == 2
    target = _ipo_target_logits(s)
    for x in range(s.n_prompts):
        assert sorted(target[x]) == pytest.approx([-2, 0, 0, 2], abs=1e-12)
        assert target[x, 0] == pytest.approx(2, abs=1e-12)          # the good answer on top
    pstar = softmax(target)
    assert [pct(v) for v in sorted(pstar[0], reverse=True)] == [78, 10, 10, 1]
    kl_star = [kl_to(pstar[x], ref_probs(s)[x]) for x in range(s.n_prompts)]
    assert [round(k, 2) for k in kl_star] == [0.66, 0.66]
    h = runs("ipo-stops-drift", FOREVER)
    probs = col(h, lambda r: r.probs)
    assert np.all(np.isfinite(probs))
    end = h[FOREVER]
    lr = np.log(end.probs) - np.log(ref_probs(s))
    for r in s.rows:
        assert lr[r.prompt, r.chosen] - lr[r.prompt, r.rejected] == pytest.approx(2, abs=1e-9)
    assert np.max(np.abs(end.probs - pstar)) < 1e-12
    kl = col(h, lambda r: r.kl)
    assert np.allclose(kl[REST:], kl[FOREVER], rtol=0, atol=1e-12)       # stopped changing
    assert np.allclose(kl[FOREVER], kl_star, rtol=0, atol=1e-12)
    assert np.all(np.abs(kl[150:] - kl_star) < 1e-3) and np.all(np.abs(kl[100] - kl_star) > 1e-3)
    assert [pct(v) for v in probs[s.steps, :, 0]] == [78, 78]
    # every step moves the logits closer to the target (learning rate far below the bound)
    theta = np.log(probs) - np.log(probs).mean(axis=2, keepdims=True)    # each sum is 0
    dist = np.abs(theta - target).max(axis=(1, 2))
    moving = dist > 1e-12
    assert np.all(np.diff(dist)[moving[1:]] < 0)


@pytest.mark.slow
def test_ipo_stops_drift_dpo_keeps_drifting_at_the_same_settings(runs):
    """'Switch the loss to sigmoid (DPO) with the same beta and learning rate and nothing
    stops: switched at step 150, KL passes IPO's resting value at once (step 151) and runs on
    toward its ceiling log 4 = 1.39 (1.14 at step 400, 1.38 at step 3000); a run started with
    sigmoid passes it at step 267 (0.96 at step 400)'."""
    s = load_scenario("ipo-stops-drift")
    says(s, "Switch the loss to sigmoid (DPO) with the same β and learning rate and nothing "
            "stops", "switched at step 150, KL passes IPO's resting value at once (step 151)",
         "toward its ceiling log 4 = 1.39 (1.14 at step 400, 1.38 at step 3000)",
         "a run started with sigmoid passes it at step 267 (0.96 at step 400)")
    comment_says("ipo-stops-drift", "With the loss switched to sigmoid (DPO) at the same beta "
                 "and learning rate the drift of `unanimous` comes back")
    ipo_rest = runs("ipo-stops-drift", FOREVER)[-1].kl
    # a run started with sigmoid
    h = runs("ipo-stops-drift", FOREVER, loss_type="sigmoid")
    assert all(r.loss_type == "sigmoid" for r in (h[0], h[-1]))
    kl = col(h, lambda r: r.kl)
    assert np.all(np.diff(kl[:REST + 1], axis=0) > 0)                     # keeps increasing
    assert np.all(kl[FOREVER] > kl[REST]) and np.all(kl < math.log(4))
    assert [int(np.argmax(kl[:, x] > ipo_rest[x])) for x in range(s.n_prompts)] == [267, 267]
    assert round(float(kl[400, 0]), 2) == 0.96
    assert np.allclose(kl[:, 1], kl[:, 0], rtol=1e-12)
    u = col(h, lambda r: r.row_margin)
    assert np.all(np.diff(u[:REST + 1], axis=0) > 0)                     # no margin stops
    # the loss switched at step 150, as the learner does it: at once past IPO's rest
    switched = dataclasses.replace(s, events=(Event(150, set={"loss_type": "sigmoid"}),))
    kl = col(run(switched, REST), lambda r: r.kl)
    assert np.all(kl[150] <= ipo_rest) and np.all(kl[151] > ipo_rest)
    assert np.all(np.diff(kl[151:REST + 1], axis=0) > 0)
    assert [round(float(kl[t, 0]), 2) for t in (400, REST)] == [1.14, 1.38]
    assert np.all(kl[REST] < math.log(4))


# -- dpo-is-rlhf --------------------------------------------------------------------------
def _bradley_terry_by_hand(s, iterations=2000):
    """Hunter's minorise-maximise iteration for Bradley-Terry strengths (one prompt):
    gamma_i <- wins_i / sum_j n_ij / (gamma_i + gamma_j). Returns r = log gamma, mean 0."""
    K = s.n_replies
    wins, n = np.zeros(K), np.zeros((K, K))
    for r in s.rows:
        wins[r.chosen] += r.votes_chosen
        wins[r.rejected] += r.votes_rejected
        n[r.chosen, r.rejected] += r.votes_chosen + r.votes_rejected
        n[r.rejected, r.chosen] += r.votes_chosen + r.votes_rejected
    g = np.ones(K)
    for _ in range(iterations):
        g = wins / (n / (g[:, None] + g[None, :])).sum(axis=1)
        g = g / np.exp(np.log(g).mean())
    return np.log(g)


def _dpo_is_rlhf_optimum(s):
    from dpo_sim.sim.numerics import log_softmax
    from dpo_sim.sim.pairs import Pairs
    from dpo_sim.sim.rlhf import optimum

    pairs = Pairs.from_rows([r.as_tuple() for r in s.rows], s.n_prompts, s.n_replies)
    return optimum(pairs, log_softmax(s.ref_logits), s.start_logits(), s.beta)


def test_dpo_is_rlhf_rows_and_reference():
    """The comment: 'three replies, every pair judged by ten annotators, every row 7:3';
    'the base model likes the short answer (19 %, 51 %, 31 %)'; 'pi_ref = 18.6 %, 50.6 %,
    30.7 %'; 'the good answer would beat the microwave at 0.84'."""
    s = load_scenario("dpo-is-rlhf")
    comment_says("dpo-is-rlhf", "every pair judged by ten annotators, every row 7:3",
                 "the base model likes the short answer (19 %, 51 %, 31 %)",
                 "pi_ref = 18.6 %, 50.6 %, 30.7 %",
                 "the good answer would beat the microwave at 0.84")
    assert (s.n_prompts, s.n_replies, s.beta) == (1, 3, 1)
    assert {(r.chosen, r.rejected) for r in s.rows} == {(0, 1), (1, 2), (0, 2)}
    assert all((r.votes_chosen, r.votes_rejected) == (7, 3) for r in s.rows)
    assert not is_forest(final_rows(s), s.n_replies)                 # a triangle
    pref = ref_probs(s)[0]
    assert [pct(p) for p in pref] == [19, 51, 31]
    assert [pct(p, 1) for p in pref] == [18.6, 50.6, 30.7]
    assert s.prompts[0].replies[1] == "Boil it." and "Microwave" in s.prompts[0].replies[2]
    gap = math.log(7 / 3)                                             # sigma(gap) = 0.7
    assert round(1 / (1 + math.exp(-2 * gap)), 2) == 0.84


def test_dpo_is_rlhf_optimum_by_hand():
    """pi* = pi_ref exp(r / beta) / Z with r fitted by a second algorithm (Hunter's MM)
    equals sim.rlhf.optimum; the fit puts the rows at 0.64, 0.64 and 0.76, not at their
    0.70 ('the rows settle where a Bradley-Terry reward model fitted to the same 30 votes
    puts them, at 0.64, 0.64 and 0.76'; the comment: 'the compromise (0.64, 0.64 and
    0.76)')."""
    s = load_scenario("dpo-is-rlhf")
    says(s, "Every row is 7:3, but no policy can hold all three at 0.70",
         "a Bradley–Terry reward model fitted to the same 30 votes puts them, at 0.64, 0.64 "
         "and 0.76")
    comment_says("dpo-is-rlhf", "the compromise (0.64, 0.64 and 0.76)")
    assert sum(r.votes_chosen + r.votes_rejected for r in s.rows) == 30
    r = _bradley_terry_by_hand(s)
    shares = [1 / (1 + math.exp(-(r[row.chosen] - r[row.rejected]))) for row in s.rows]
    assert [round(v, 2) for v in shares] == [0.64, 0.64, 0.76]
    w = np.exp(np.log(ref_probs(s)[0]) + r / s.beta)
    pstar = w / w.sum()
    opt = _dpo_is_rlhf_optimum(s)
    assert opt.finite.all()                       # split votes: strongly connected beats
    assert np.allclose(opt.probs[0], pstar, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_dpo_is_rlhf_converges_to_pi_star(runs):
    """'A second marker on every bar shows pi*, the policy RLHF would reach with that reward,
    the same beta and the same reference, and the bars run to their markers (the good answer
    from 19 % to 33 %, the microwave from 31 % to 17 %) while the KL to pi* falls to 0'."""
    from dpo_sim.sim.rlhf import kl_to_optimum

    s = load_scenario("dpo-is-rlhf")
    says(s, "A second marker on every bar shows π*, the policy RLHF would reach",
         "the bars run to their markers (the good answer from 19 % to 33 %, the microwave from "
         "31 % to 17 %)", "the KL to π* falls to 0",
         "DPO reaches the policy RLHF would reach, without training a reward model and "
         "without sampling")
    opt = _dpo_is_rlhf_optimum(s)
    pstar = opt.probs
    assert [pct(v) for v in pstar[0]] == [33, 50, 17]
    h = runs("dpo-is-rlhf", FOREVER)
    p = col(h, lambda r: r.probs)
    assert [pct(p[0, 0, y]) for y in (0, 2)] == [19, 31]
    assert [pct(p[s.steps, 0, y]) for y in (0, 2)] == [33, 17]          # on the markers
    assert np.max(np.abs(p[-1] - pstar)) < 1e-9                         # and converged
    assert np.max(np.abs(p[REST] - pstar)) < 1e-9
    kl = np.array([kl_to_optimum(q, opt)[0] for q in p])
    kl_plain = np.array([kl_to(q[0], pstar[0]) for q in p[: s.steps + 1]])
    assert np.allclose(kl[: s.steps + 1], kl_plain, rtol=1e-6, atol=1e-15)
    assert kl[0] > 0.05 and kl[s.steps] < 1e-9 and kl[-1] < 1e-25
    falling = kl > 1e-25                                                # then rounding
    assert np.all(np.diff(kl)[falling[:-1]] < 0)
    # the rows rest at the Bradley-Terry fit, none at its own vote share
    sig = h[-1].row_sigma
    assert [round(float(v), 2) for v in sig] == [0.64, 0.64, 0.76]
    assert np.all(np.abs(sig - 0.7) > 0.05)


def test_dpo_is_rlhf_page_numbers_match_the_cli(runs):
    """The numbers the page shows come from the same place as `dpo-sim run`'s JSON lines:
    rlhf_probs on the config line is pi*, and kl_to_rlhf ends the story below 1e-9."""
    import io
    import json

    from dpo_sim.app.cli import write_run

    s = load_scenario("dpo-is-rlhf")
    out = io.StringIO()
    write_run(s, s.steps, "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert np.allclose(lines[0]["rlhf_probs"], _dpo_is_rlhf_optimum(s).probs, atol=1e-15)
    kl = [d["kl_to_rlhf"][0] for d in lines[1:]]
    assert len(kl) == s.steps + 1 and kl[-1] < 1e-9 and kl[0] > 0.05
    assert np.allclose([d["probs"] for d in lines[1:]], col(runs("dpo-is-rlhf"),
                                                            lambda r: r.probs), atol=0)
