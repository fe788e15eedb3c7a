"""The engine's side of the page: one command in, one reply out, as plain JSON-ready data.

The page's controller (app/ui/controller.js) never touches an engine directly. It sends
commands (``load``, ``reset``, ``set``, ``flip``, ``advance``, ``csv``) and draws what
comes back. On the served page this module answers them with the NumPy engine, one small
message per screen update; in the offline file ``app/ui/local_engine.js`` answers the same
commands with the JavaScript twin, and tests/test_protocol.py holds the two replies equal
to 1e-12. docs/ui.md lists the commands and the fields of a reply.
"""

from __future__ import annotations

import io
import json
import math
from collections import OrderedDict

import numpy as np

from . import rest, rlhf
from .dpo import kl_ceiling, row_pulls
from .engine import Record, stored_row_metrics
from .export_csv import write_csv
from .history import loss_code
from .scenario import Scenario
from .scenario_io import ScenarioError, scenario_from_config
from .settings import RUN, SettingError
from .simulation import Diverged, Simulation

#: The most steps one ``advance`` may ask for (a link replays at most this many at once).
MAX_ADVANCE = 100_000


def or_null(values) -> list:
    """Floats for JSON, None (null) where the value is NaN."""
    return [None if v != v else v for v in np.asarray(values).tolist()]


class RlhfTarget:
    """pi*, the RLHF optimum (``sim.rlhf``), for the rows and beta a Simulation has now:
    refitted when a flip changes the rows, rebuilt from the same fit when beta changes.
    The start logits are the scenario's: no update changes a group's sum of logits, so
    they fix pi* at every step of the run. On a features model they are
    ``model.logits(start params, logp_ref)``, and ``opt_phi`` is pi*_phi
    (``rlhf.features_optimum``: where DPO ends there), refitted on flips and beta changes
    (its fit depends on beta through theta0); None on a table."""

    def __init__(self, sim: Simulation):
        self._sim = sim
        scenario = sim.scenario
        self._model = getattr(scenario, "model", None)
        self._features = getattr(self._model, "kind", "table") == "features"
        self._theta0 = (self._model.logits(scenario.start_params(), sim.logp_ref)
                        if self._features else scenario.start_logits())
        self._pairs = self._beta = self._fit = self.opt = self.opt_phi = None
        self.update()

    def update(self) -> rlhf.Optimum:
        sim = self._sim
        if sim.pairs is not self._pairs:
            self._pairs, self._fit, self._beta = sim.pairs, rlhf.fit_bradley_terry(sim.pairs), None
        if sim.beta != self._beta:
            self._beta = sim.beta
            self.opt = rlhf.optimum(sim.pairs, sim.logp_ref, self._theta0, sim.beta,
                                    fit=self._fit)
            if self._features:
                self.opt_phi = rlhf.features_optimum(sim.pairs, sim.logp_ref, self._model,
                                                     sim.beta, table=self.opt)
        return self.opt


def optimum_json(opt: rlhf.Optimum) -> dict:
    """pi* for the page: a prompt with no finite optimum has null rows."""
    ok = opt.finite.tolist()

    def rows(a):
        return [row if f else None for row, f in zip(a.tolist(), ok)]

    return {"finite": ok, "probs": rows(opt.probs), "log_probs": rows(opt.log_probs),
            "theta": rows(opt.theta), "reward": rows(opt.reward),
            "beta_log_z": [v if f else None for v, f in zip(opt.beta_log_z.tolist(), ok)],
            "heading": opt.heading.tolist()}


def optimum_phi_json(opt: rlhf.FeaturesOptimum) -> dict:
    """pi*_phi for the page: ``optimum_json``'s shape plus ``params`` (theta*, null where
    no finite theta is one) and ``coincide`` (pi*_phi and pi* agree, 1e-9)."""
    return {**optimum_json(opt), "params": or_null(opt.params),
            "coincide": bool(opt.coincide)}


def state_json(sim: Simulation) -> dict:
    """The run's position and settings, and the rows as they stand (flips applied); on a
    features model each row has its ``similarity`` score (``model.similarity``)."""
    p = sim.pairs
    rows = [dict(zip(("prompt", "chosen", "rejected", "votes_chosen", "votes_rejected"), r))
            for r in zip(p.prompt.tolist(), p.chosen.tolist(), p.rejected.tolist(),
                         p.votes_chosen.tolist(), p.votes_rejected.tolist())]
    sim_scores = sim.model.similarity(p)
    if sim_scores is not None:
        for row, v in zip(rows, sim_scores.tolist()):
            row["similarity"] = v
    return {"t": sim.t, "flipped": list(sim.flipped),
            **{k: getattr(sim, k) for k in RUN if k != "steps"}, "rows": rows}


def series_row(rec: Record) -> list:
    """One step for the charts over time: step, loss, chosen, rejected, margin, the weight
    (1/0), the loss's code (sim.history.loss_code), then KL per prompt."""
    return [rec.step, rec.loss, rec.rewards_chosen, rec.rewards_rejected, rec.rewards_margins,
            1 if rec.adaptive_weight else 0, loss_code(rec.loss_type), *rec.kl.tolist()]


class Session:
    """One page's run on the server: a Simulation, its pi* and its rest plan, answering the
    page's commands. ``scenarios``: the ones a ``load`` may name by id (the presets)."""

    def __init__(self, scenarios: dict[str, Scenario]):
        self.scenarios = scenarios
        self.sim: Simulation | None = None
        self._target: RlhfTarget | None = None
        self._plan_key = self._plan = None

    # -- answering ---------------------------------------------------------------------
    def handle(self, cmd: dict) -> dict:
        """The reply to one command. A command the engine refuses (a bad setting, a row
        that does not exist) changes nothing and answers ``{"error": {...}}``."""
        op = cmd.get("op") if isinstance(cmd, dict) else None
        try:
            if op == "load":
                return self._load(cmd)
            if self.sim is None:
                raise ValueError("no scenario loaded yet")
            if op == "reset":
                self.sim.reset()
                return self._reply([self.sim.record], structure=True)
            if op == "flip":
                self.sim.flip(_whole(cmd.get("row"), "row"))
                return self._reply([self.sim.record], structure=True)
            if op == "set":
                changes = cmd.get("changes")
                if not isinstance(changes, dict):
                    raise ValueError("set: changes must be an object of settings")
                self.sim.set(**changes)
                return self._reply([self.sim.record], structure=True)
            if op == "advance":
                return self._advance(_whole(cmd.get("n"), "n"))
            if op == "csv":
                return {"op": "csv", "csv": self.csv()}
            if op in ("frontier", "sweep"):
                return stack_reply(self.sim, cmd)
        except (SettingError, ScenarioError, ValueError, IndexError, TypeError) as e:
            return {"op": op, "error": {"name": type(e).__name__, "message": str(e)}}
        said = "(no op given)" if op is None else "'" + str(op)[:40] + "'"
        return {"op": op, "error": {"name": "ValueError",
                                    "message": f"unknown command {said}"}}

    def _load(self, cmd: dict) -> dict:
        if "config" in cmd:
            scenario = scenario_from_config(cmd["config"], file="the page's scenario")
        else:
            sid = str(cmd.get("scenario"))
            if sid not in self.scenarios:
                raise ValueError(f"no scenario {sid[:40]!r}")
            scenario = self.scenarios[sid]
        # the page keeps the charts' history itself: the server keeps no records
        self.sim = Simulation(scenario, keep_history=False)
        self._target = RlhfTarget(self.sim)
        reply = self._reply([self.sim.record], structure=True)
        reply["op"] = "load"
        reply["logp_ref"] = self.sim.logp_ref.tolist()
        reply["model"] = scenario.model.config()
        reply["kl_ceiling"] = kl_ceiling(self.sim.logp_ref).tolist()
        return reply

    def _advance(self, n: int) -> dict:
        if not 0 < n <= MAX_ADVANCE:
            raise ValueError(f"advance: n must be 1..{MAX_ADVANCE}, got {n}")
        sim, recs, diverged = self.sim, [], None
        pairs_before = sim.pairs
        settings_before = tuple(getattr(sim, k) for k in RUN)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(n):
                try:
                    recs.append(sim.advance())
                except Diverged as e:
                    diverged = {"step": e.step, "message": str(e)}
                    break
        # a scripted event inside the steps changes the rows or the settings
        changed = (sim.pairs is not pairs_before
                   or tuple(getattr(sim, k) for k in RUN) != settings_before)
        reply = self._reply(recs, structure=changed)
        reply["op"] = "advance"
        if diverged:
            reply["diverged"] = diverged
        return reply

    def _reply(self, recs: list[Record], structure: bool) -> dict:
        sim = self.sim
        opt = self._target.update()
        rec = sim.record
        d = rec.to_dict()
        d["kl_to_rlhf"] = or_null(rlhf.kl_to_optimum(rec.probs, opt))
        opt_phi = self._target.opt_phi
        if opt_phi is not None:
            d["kl_to_rlhf_phi"] = or_null(rlhf.kl_to_optimum(rec.probs, opt_phi))
        loss = sim.loss_spec.loss
        pf, pa, net = row_pulls(rec.row_margin, sim.pairs, loss, sim.beta)
        out = {"state": state_json(sim), "record": d,
               "series": [series_row(r) for r in recs],
               "stored": stored_row_metrics(rec, sim.pairs, loss),
               "pulls": {"pull_for": pf.tolist(), "pull_against": pa.tolist(),
                         "net": net.tolist()},
               "rest": [vars(r) for r in self.rest()]}
        if structure:
            out["opt"] = optimum_json(opt)
            if opt_phi is not None:
                out["opt_phi"] = optimum_phi_json(opt_phi)
        return out

    def rest(self) -> tuple:
        """Where each row ends (``sim.rest``), the plan cached per rows and settings."""
        sim = self.sim
        key = (id(sim.pairs), sim.beta, sim.learning_rate, sim.loss_spec)
        if self._plan_key != key:
            self._plan = rest.analyse(sim.pairs, sim.beta, sim.learning_rate,
                                      sim.loss_spec.loss, getattr(sim.scenario, "model", None))
            self._plan_key = key
        rec = sim.record
        return rest.at(self._plan, rec.row_margin, rec.grad_logits)

    def csv(self) -> str:
        """The run so far as the CLI's CSV (sim/export_csv.py): replayed from the scenario
        and the live actions (the run is deterministic, so the server keeps no records)."""
        sim = self.sim
        again = Simulation(sim.replay_scenario(), keep_history=False)
        recs = [again.record]
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(sim.t):
                recs.append(again.advance())
        out = io.StringIO()
        write_csv(recs, out)
        return out.getvalue()


#: The stacks of runs answered lately, shared by every session of the process: they depend
#: on the scenario, the rows as they stand, the loss in force and the command only, so a
#: class opening the same lesson computes each once.
_STACKS: OrderedDict = OrderedDict()
STACKS_KEPT = 32


def stack_reply(sim: Simulation, cmd: dict) -> dict:
    """``{op: "frontier"}`` or ``{op: "sweep"}``: ``frontier.frontier_reply`` or
    ``sweep.sweep_reply`` for the run as it stands, from the cache when another session
    asked the same."""
    from .frontier import frontier_reply
    from .sweep import sweep_reply

    key = json.dumps([sim.scenario.config(), list(sim.flipped), sim.loss_spec.to_dict(),
                      cmd], sort_keys=True, default=str)
    if key in _STACKS:
        _STACKS.move_to_end(key)
        return _STACKS[key]
    reply = (frontier_reply if cmd.get("op") == "frontier" else sweep_reply)(sim, cmd)
    _STACKS[key] = reply
    while len(_STACKS) > STACKS_KEPT:
        _STACKS.popitem(last=False)
    return reply


def _whole(v, name: str) -> int:
    """A whole number from a command (the message names the field, not the value: the
    twin writes values otherwise)."""
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or v != int(v)):
        raise ValueError(f"{name} must be a whole number")
    return int(v)
