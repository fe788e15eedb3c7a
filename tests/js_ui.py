"""The page's view modules (app/ui/) run in Node for the tests: ``node_ui(jobs)`` runs a batch
of jobs through ``tests/js_ui_driver.mjs`` in one Node process; ``ui_texts()`` is the part of
``app/texts.py`` those modules read (``UI_TEXT_NAMES``: what the page's JSON of the texts,
``ctx.T``, must carry for them)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np

from dpo_sim.app import texts

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "js_ui_driver.mjs"

#: The names of app/texts.py that rest_text.js, views/formula.js and views/pulls.js read.
UI_TEXT_NAMES = texts.VIEW_TEXT_NAMES


def ui_texts() -> dict:
    return {k: getattr(texts, k) for k in UI_TEXT_NAMES}


def finite_json(v):
    """Non-finite numbers as the driver's strings (JSON has no NaN or Infinity)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "__NaN__" if v != v else ("__Inf__" if v > 0 else "__-Inf__")
    if isinstance(v, dict):
        return {k: finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_json(x) for x in v]
    return v


def _back(v):
    if isinstance(v, str) and v in ("__NaN__", "__Inf__", "__-Inf__"):
        return {"__NaN__": math.nan, "__Inf__": math.inf, "__-Inf__": -math.inf}[v]
    if isinstance(v, dict):
        return {k: _back(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_back(x) for x in v]
    return v


def node_ui(jobs: list[dict]) -> list:
    """Run the jobs through the driver in one Node process."""
    text = json.dumps(finite_json({"T": ui_texts(), "jobs": jobs}), allow_nan=False)
    p = subprocess.run([NODE, str(DRIVER)], capture_output=True, text=True, timeout=300,
                       input=text)
    assert p.returncode == 0, p.stderr[-4000:]
    return _back(json.loads(p.stdout))


def rest_dict(rr) -> dict:
    """A sim.rest.RowRest as the engine sends it to the page."""
    return {"kind": rr.kind, "u": rr.u, "how": rr.how, "via": rr.via, "cycle": rr.cycle,
            "lr_limit": rr.lr_limit, "pace": rr.pace}


def statements_job(rests, pairs, rec) -> dict:
    """The "statements" job for one table: rests (RowRest per row), pairs (sim.pairs.Pairs,
    flips applied), rec (the record on screen: its loss settings, beta, learning rate)."""
    rows = [{"votes_chosen": float(a), "votes_rejected": float(b)}
            for a, b in zip(pairs.votes_chosen, pairs.votes_rejected)]
    settings = {"loss_type": rec.loss_type, "adaptive_weight": bool(rec.adaptive_weight),
                "label_smoothing": float(rec.label_smoothing), "beta": float(rec.beta),
                "learning_rate": float(rec.learning_rate)}
    return {"kind": "statements", "rests": [rest_dict(r) for r in rests], "rows": rows,
            "settings": settings}


def sim_rest(sim) -> tuple:
    """Where each row of a Simulation ends from its policy now (``sim.rest``), as the
    engine answers the page."""
    from dpo_sim.sim import rest

    rec = sim.record
    return rest.rest_points(sim.pairs, sim.beta, sim.learning_rate, sim.loss_spec.loss,
                            rec.row_margin, rec.grad_logits, sim.scenario.model)


def page_view(sim, looked: int = 0) -> dict:
    """What the page's controller hands a view (docs/ui.md), from a Simulation (the
    engine's numbers, as sim/protocol.py sends them): rows after flips, the prompts, the
    record, the pulls, the rest objects, the row looked at, the reference's probabilities
    (refProbs)."""
    from dpo_sim.sim.dpo import row_pulls

    pairs, rec = sim.pairs, sim.record
    rows = [dict(zip(("prompt", "chosen", "rejected", "votes_chosen", "votes_rejected"), r))
            for r in zip(pairs.prompt.tolist(), pairs.chosen.tolist(),
                         pairs.rejected.tolist(), pairs.votes_chosen.tolist(),
                         pairs.votes_rejected.tolist())]
    p_for, p_against, net = row_pulls(rec.row_margin, pairs, sim.loss_spec.loss, rec.beta)
    return {"cfg": {"prompts": [{"text": p.text, "replies": list(p.replies)}
                                for p in sim.scenario.prompts]},
            "rows": rows, "rec": rec.to_dict(),
            "pulls": {"pull_for": p_for.tolist(), "pull_against": p_against.tolist(),
                      "net": net.tolist()},
            "rest": [rest_dict(r) for r in sim_rest(sim)], "looked": looked,
            "refProbs": np.exp(sim.logp_ref).tolist(), "settings": {}}


def html_tree(html: str) -> list:
    """An HTML fragment as the nested [tag, {attrs}, ...children] of tests/js_fake_dom.mjs
    (text joined, character references decoded, empty text dropped)."""
    from html.parser import HTMLParser

    root: list = ["#root", {}]
    stack = [root]

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            node = [tag, {k: ("" if v is None else v) for k, v in attrs}]
            stack[-1].append(node)
            stack.append(node)

        def handle_endtag(self, tag):
            assert stack[-1][0] == tag, (tag, stack[-1][0])
            stack.pop()

        def handle_data(self, data):
            top = stack[-1]
            if len(top) > 2 and isinstance(top[-1], str):
                top[-1] += data
            elif data:
                top.append(data)

    P(convert_charrefs=True).feed(html)
    return root[2:]


# -- reading the driver's trees ([tag, {attrs}, ...children]) -------------------------------
def find_testid(tree, testid):
    """The first element of a tree with this data-testid, or None."""
    if isinstance(tree, list):
        if isinstance(tree[1], dict) and tree[1].get("data-testid") == testid:
            return tree
        for kid in tree[2:]:
            found = find_testid(kid, testid)
            if found:
                return found
    return None


def tree_text(tree) -> str:
    """The text of a tree, as textContent would give it."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return ""
    return "".join(tree_text(k) for k in tree[2:])
