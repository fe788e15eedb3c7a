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

from dpo_sim.sim.scenario_io import apply_settings, list_presets, load_scenario
from dpo_sim.sim.simulation import run

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
    assert np.max(np.abs(rest.probs - closed_form(s))) < 1e-8
    told = runs(pid)[-1]
    assert np.max(np.abs(told.row_sigma - share)) < 0.015
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
    reference's odds between its two replies by the vote odds (6:4 gives × 1.5)'."""
    s, a = load_scenario("skewed-reference"), load_scenario("align")
    says(s, "each pair settles at the same vote share as in align", "(6:4 gives × 1.5)")
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
