"""Speed of the engine: one recorded step of the seed-sized scenario, and a stack of runs.

A script, not a test: it prints numbers and asserts nothing. Targets on the project's
2-core machine: one step with every metric <= 50 us; a stack >= 10 million run-steps/s.

    python benchmarks/bench_engine.py
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.simulation import Simulation
from dpo_sim.sim.stack import RunStack


def seed_sized_scenario() -> Scenario:
    """2 prompts x 4 replies, 5 rows with split votes: the size of the seed scenario."""
    prompts = (Prompt("p0", ("a", "b", "c", "d")), Prompt("p1", ("a", "b", "c", "d")))
    rows = (Row(0, 0, 1, 8, 2), Row(0, 0, 2, 9, 1), Row(0, 1, 3, 7, 3),
            Row(1, 2, 0, 6, 4), Row(1, 2, 3, 10, 0))
    return Scenario(id="bench", title="bench", watch="", beta=0.5, learning_rate=1.0,
                    adaptive_weight=True, prompts=prompts, ref_logits=np.zeros((2, 4)),
                    rows=rows)


def blas_line() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        conf = blas.get("openblas configuration", "").strip()
        return f"{blas.get('name')} {blas.get('version')} ({conf})"
    except Exception as e:  # the info is informative only
        return f"unavailable ({e})"


def features_scenario(d: int) -> Scenario:
    """The seed-sized scenario on a features model with d shared parameters (seeded)."""
    from dataclasses import replace

    from dpo_sim.sim.model import FeaturesModel
    phi = np.random.default_rng(d).normal(scale=0.3, size=(2, 4, d))
    return replace(seed_sized_scenario(), model=FeaturesModel(phi, np.zeros(d)))


def time_step(keep_history: bool, steps: int = 2000, repeats: int = 15,
              clock=time.perf_counter, scenario: Scenario | None = None) -> tuple:
    """(median, best) over repeats of the mean time of one Simulation.advance(1), in
    microseconds; each repeat starts from reset()."""
    sim = Simulation(scenario or seed_sized_scenario(), keep_history=keep_history)
    per = []
    for _ in range(repeats):
        sim.reset()
        t0 = clock()
        for _ in range(steps):
            sim.advance(1)
        per.append((clock() - t0) / steps * 1e6)
    return statistics.median(per), min(per)


def history_bytes(steps: int = 72_000) -> tuple:
    """(allocated, used) bytes per step of Simulation.history after ``steps`` steps of the
    seed scenario (72,000 = an hour of play at 20 steps/s)."""
    from dpo_sim.sim.scenario_io import load_scenario
    sim = Simulation(load_scenario("align"))
    sim.advance(steps)
    h = sim.history
    return h.nbytes / len(h), h.array().nbytes / len(h)


def time_stack(R: int = 4096, steps: int = 200, repeats: int = 9,
               adaptive_weight: bool = True, clock=time.perf_counter) -> tuple:
    """(median, best) run-steps per second of RunStack.step on a stack of R runs with per-run
    beta and learning rate (each result fed back, as a sweep does)."""
    sc = seed_sized_scenario()
    pairs = Pairs.from_rows([r.as_tuple() for r in sc.rows], sc.n_prompts, sc.n_replies)
    stack = RunStack(pairs, sc.ref_logits)
    beta = np.geomspace(0.05, 5.0, R)
    lr = np.full(R, 1.0)
    rates = []
    for _ in range(repeats):
        theta = np.zeros((R, sc.n_prompts, sc.n_replies))
        t0 = clock()
        for _ in range(steps):
            theta = stack.step(theta, beta, lr, LossSpec(adaptive_weight))
        rates.append(R * steps / (clock() - t0))
    return statistics.median(rates), max(rates)


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, cores {os.cpu_count()}")
    print(f"BLAS: {blas_line()}")
    print("OPENBLAS_CORETYPE=" + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
          + " OPENBLAS_L2_SIZE=" + os.environ.get("OPENBLAS_L2_SIZE", "(unset)"))
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}  (other work on the machine slows "
          "every number below)".format(*os.getloadavg()))
    # wall time is what a user sees; CPU time of this process is what the code costs when
    # other processes share the two cores (it excludes time spent waiting for a core)
    alloc, used = history_bytes()
    print(f"history of the seed scenario (align: 2 x 4, 6 rows) after an hour of play "
          f"(72,000 steps): {alloc:.0f} bytes/step allocated, {used:.0f} used "
          f"(target well under 500)")
    for name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        for keep in (True, False):
            med, best = time_step(keep, clock=clock)
            print(f"[{name}] one step with metrics (keep_history={keep}): median {med:.1f} us,"
                  f" best {best:.1f} us  (target <= 50 us)")
        for d in (3, 16):
            med, best = time_step(False, clock=clock, scenario=features_scenario(d))
            print(f"[{name}] one step, features model d = {d}: median {med:.1f} us, best "
                  f"{best:.1f} us")
        for weight in (True, False):
            med, best = time_stack(adaptive_weight=weight, clock=clock)
            print(f"[{name}] stack of runs RunStack.step, R = 4096, adaptive_weight={weight}: "
                  f"median "
                  f"{med / 1e6:.2f} M run-steps/s, best {best / 1e6:.2f} M  (target >= 10 M)")


if __name__ == "__main__":
    main()
