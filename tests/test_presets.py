"""Every preset does what its "what to watch" text claims.

The numbers come from the engine, but each claim is checked against a fact computed
independently here: the Bradley-Terry closed form (for rows that form no cycle, each row
settles at sigma(u) = votes_chosen / (votes_chosen + votes_rejected)), the ceiling
log(1/min pi_ref), and comparisons between presets.
"""

import math

import numpy as np
import pytest

from dpo_sim.sim.scenario_io import apply_settings, list_presets, load_scenario
from dpo_sim.sim.simulation import run

REQUIRED = {"align": "Align to preferences", "drop-sigma": "Drop the sigma weight",
            "mislabel": "Mislabel a pair"}
ALL = [pid for pid, _, err in list_presets()]
LONG = 6000   # far past every story: long enough to reach the fixed point to ~1e-9


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


@pytest.fixture(scope="module")
def runs():
    """Story-length and long histories, computed once per preset."""
    cache = {}

    def get(pid, long=False):
        key = (pid, long)
        if key not in cache:
            s = load_scenario(pid)
            cache[key] = run(s, LONG if long else s.steps)
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
    # 5 to 20 s at 20 steps per second
    assert 100 <= s.steps <= 400
    assert s.n_prompts >= 1 and s.n_replies >= 2
    assert 0.25 <= s.beta <= 4                      # a beta the toy can show
    sentences = [t for t in s.watch.replace("?", ".").split(". ") if t.strip()]
    assert 1 <= len(sentences) <= 3


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
    long = runs(pid, long=True)[-1]
    assert np.max(np.abs(long.row_sigma - share)) < 1e-8
    assert np.max(np.abs(long.probs - closed_form(s))) < 1e-8
    told = runs(pid)[-1]
    assert np.max(np.abs(told.row_sigma - share)) < 0.015
    assert np.max(np.abs(told.probs - closed_form(s))) < 0.015


# -- align ---------------------------------------------------------------------------------
def test_align_preferred_reply_climbs_then_settles(runs):
    s = load_scenario("align")
    h = runs("align")
    target = closed_form(s)
    for x in range(s.n_prompts):
        best = int(np.argmax(target[x]))
        p = np.array([r.probs[x, best] for r in h])
        assert p[0] == pytest.approx(ref_probs(s)[x, best])
        assert target[x, best] > p[0] + 0.2                  # it has somewhere to climb
        assert np.all(np.diff(p[: s.steps // 4]) > 0)        # climbs
        tail = p[int(0.9 * s.steps):]
        assert tail.max() - tail.min() < 0.01                # settles
        assert abs(p[-1] - target[x, best]) < 0.01


def test_align_kl_plateaus_well_below_the_ceiling(runs):
    s = load_scenario("align")
    h = runs("align")
    kl = np.array([r.kl for r in h])
    target = closed_form(s)
    for x in range(s.n_prompts):
        plateau = kl_to(target[x], ref_probs(s)[x])
        assert abs(kl[-1, x] - plateau) < 0.01
        assert kl[-1, x] < 0.35 * ceiling(s)[x]
        assert kl[-1, x] - kl[int(0.9 * s.steps), x] < 0.01   # flat at the end


def test_align_loss_never_rises(runs):
    loss = np.array([r.loss for r in runs("align", long=True)])
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


def test_drop_sigma_runs_to_a_deterministic_winner(runs):
    s = load_scenario("drop-sigma")
    end = runs("drop-sigma")[-1]
    align_end = runs("align")[-1]
    assert np.all(end.probs.max(axis=1) > 0.99)
    assert np.all(end.kl > 0.95 * ceiling(s))
    assert np.all(end.kl > 3 * align_end.kl)
    assert np.all(end.row_weight == 1.0)                 # the weight never fades


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


def test_mislabel_raises_the_wrong_reply_above_the_honest_favourite(runs):
    i, honest = _mislabelled_row()
    x = honest.prompt
    honest_best = int(np.argmax(closed_form(load_scenario("align"))[x]))
    wrong = honest.rejected
    end = runs("mislabel")[-1]
    assert end.probs[x, wrong] > end.probs[x, honest_best]
    assert end.probs[x, wrong] == end.probs[x].max()
    # the other prompts learn exactly as in align
    others = [y for y in range(end.probs.shape[0]) if y != x]
    assert np.allclose(end.probs[others], runs("align")[-1].probs[others], atol=1e-12)


def test_fix_label_turns_round_after_the_event(runs):
    s = load_scenario("fix-label")
    m = load_scenario("mislabel")
    assert s.rows == m.rows
    flips = [e for e in s.events if e.flip is not None]
    assert len(flips) == 1 and flips[0].flip == _mislabelled_row()[0]
    t0 = flips[0].step
    assert 0 < t0 < s.steps
    row = s.rows[flips[0].flip]
    x, wrong, good = row.prompt, row.chosen, row.rejected
    h = runs("fix-label")
    assert h[t0 - 1].probs[x, wrong] > h[t0 - 1].probs[x, good]     # learnt the bad label
    assert h[-1].probs[x, good] > h[-1].probs[x, wrong]             # and recovered
    # after the fix the data is align's, so it ends at align's fixed point
    assert np.max(np.abs(runs("fix-label", long=True)[-1].probs
                         - closed_form(load_scenario("align")))) < 1e-8


# -- leash -----------------------------------------------------------------------------------
def test_larger_beta_keeps_kl_smaller(runs):
    tight, align, loose = (load_scenario(p) for p in ("tight-leash", "align", "loose-leash"))
    assert tight.beta > align.beta > loose.beta
    for s in (tight, loose):
        assert s.rows == align.rows and s.prompts == align.prompts
    kl = {p: runs(p)[-1].kl for p in ("tight-leash", "align", "loose-leash")}
    assert np.all(kl["tight-leash"] < kl["align"]) and np.all(kl["align"] < kl["loose-leash"])
    assert np.all(kl["loose-leash"] > 2.5 * kl["align"])
    assert np.all(kl["tight-leash"] < kl["align"] / 5)


def test_leash_presets_move_u_at_the_same_pace():
    """learning_rate * beta^2 is the same, so sigma(u) follows the same path for every
    beta (the update of u is lr * beta^2 times a function of u alone)."""
    hs = {p: run(load_scenario(p), 200) for p in ("tight-leash", "align", "loose-leash")}
    for p in ("tight-leash", "loose-leash"):
        s = load_scenario(p)
        assert s.learning_rate * s.beta ** 2 == pytest.approx(0.5)
        for ra, rb in zip(hs["align"], hs[p]):
            assert np.allclose(ra.row_sigma, rb.row_sigma, atol=1e-9)


# -- unanimous -----------------------------------------------------------------------------------
def test_unanimous_keeps_drifting_but_slower_than_without_the_weight():
    s = load_scenario("unanimous")
    assert s.adaptive_weight
    assert all(r.votes_rejected == 0 and r.votes_chosen > 0 for r in s.rows)
    T = s.steps
    on = run(s, 4 * T)
    off = run(apply_settings(s, {"adaptive_weight": "off"}), T)
    for x in range(s.n_prompts):
        top = int(np.argmax(on[T].probs[x]))
        p = np.array([r.probs[x, top] for r in on])
        assert np.all(np.diff(p) > 0)                      # never stops climbing
        assert p[4 * T] > p[T] + 0.01                      # still drifting after the story
        assert p[2 * T] - p[T] < p[T] - p[0]               # but ever more slowly
        kl = np.array([r.kl[x] for r in on])
        assert np.all(np.diff(kl) > 0)
        q = np.array([r.probs[x, top] for r in off])
        assert np.all(q[1:] > p[1:T + 1])                  # the weight only slows it
    w = np.array([r.row_weight for r in on])
    assert np.all(np.diff(w, axis=0) < 0)                  # every weight fades, never 0
    assert np.all(w[-1] > 0)


# -- tie --------------------------------------------------------------------------------------
def test_tie_does_not_move(runs):
    s = load_scenario("tie")
    tied = {r.prompt for r in s.rows if r.votes_chosen == r.votes_rejected}
    assert tied
    only_tied = [x for x in tied if all(r.votes_chosen == r.votes_rejected
                                        for r in s.rows if r.prompt == x)]
    assert only_tied
    pref = ref_probs(s)
    for rec in runs("tie", long=True):
        for x in only_tied:
            assert np.max(np.abs(rec.probs[x] - pref[x])) <= 1e-12
    moving = [x for x in range(s.n_prompts) if x not in tied]
    assert moving and np.all(runs("tie")[-1].kl[moving] > 0.1)


# -- skewed reference ---------------------------------------------------------------------
def test_skewed_reference_moves_relative_to_the_reference(runs):
    s = load_scenario("skewed-reference")
    a = load_scenario("align")
    assert s.rows == a.rows and not np.allclose(s.ref_logits, 0.0)
    pref = ref_probs(s)
    end = runs("skewed-reference")[-1]
    # the same data reaches the same row probabilities as align...
    assert np.allclose(end.row_sigma, runs("align")[-1].row_sigma, atol=1e-9)
    # ...but the ranking inherits the reference: on the Australia prompt the annotators
    # prefer reply 0 over reply 1 (6:4), yet reply 1 stays on top because pi_ref favoured it
    row = next(r for r in s.rows if (r.prompt, r.chosen, r.rejected) == (1, 0, 1))
    assert row.votes_chosen > row.votes_rejected
    assert pref[1, 1] > pref[1, 0] and end.probs[1, 1] > end.probs[1, 0]
    # while on the egg prompt the preferred reply overtakes the mild favourite
    assert pref[0, 1] > pref[0, 0] and end.probs[0, 0] > end.probs[0, 1]
    # and the ceiling is set by the least likely reference reply
    assert np.all(ceiling(s) > np.log(4))
