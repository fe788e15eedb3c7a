"""Speed of the sweep map and the frontier's beta sweep.

A script, not a test: it prints numbers and asserts nothing. Target on the project's
2-core machine: the sweep map's 64 x 64 grid (4,096 runs, ``sim.sweep.run_sweep``, with
the loss watched over the last updates and the distance to pi* at the end) in under a
second for the presets' 400 steps and for ``sweep.MAX_STEPS`` (the most a sweep runs).

    python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

from dpo_sim.sim import frontier, sweep
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation


def time_sweep(sid: str, steps: int, loss_type: str = "sigmoid", adaptive_weight: bool = True,
               repeats: int = 5, clock=time.perf_counter) -> tuple:
    """(median, best) seconds of one 64 x 64 sweep of a preset for ``steps`` updates."""
    s = load_scenario(sid)
    pairs = Simulation(s).pairs
    times = []
    for _ in range(repeats):
        t0 = clock()
        sweep.run_sweep(pairs, s.ref_logits, s.start_logits(), steps,
                        LossSpec(adaptive_weight, loss_type))
        times.append(clock() - t0)
    return statistics.median(times), min(times)


def time_beta_sweep(sid: str, repeats: int = 5, clock=time.perf_counter) -> tuple:
    """(median, best) seconds of the frontier's sweep over beta (13 runs, the preset's
    steps)."""
    s = load_scenario(sid)
    pairs = Simulation(s).pairs
    times = []
    for _ in range(repeats):
        t0 = clock()
        frontier.beta_sweep(pairs, s.ref_logits, s.start_logits(), frontier.SWEEP_BETAS,
                            s.learning_rate * s.beta ** 2, s.steps)
        times.append(clock() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, cores {os.cpu_count()}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}  (other work on the machine slows "
          "every number below)".format(*os.getloadavg()))
    grid = f"{sweep.N_BETA} x {sweep.N_LR} = {sweep.N_BETA * sweep.N_LR} runs"
    for name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        for steps in (400, sweep.MAX_STEPS):
            for lt, w in (("sigmoid", True), ("ipo", True), ("sigmoid", False)):
                med, best = time_sweep("align", steps, lt, w, clock=clock)
                print(f"[{name}] sweep map, align, {grid}, N = {steps} steps, loss {lt}"
                      f"{'' if w else ' (weight off)'}: median {med:.3f} s, best {best:.3f} s"
                      f"  ({med / (sweep.N_BETA * sweep.N_LR * steps) * 1e9:.0f} ns per "
                      f"run-step; target < 1 s)")
        med, best = time_beta_sweep("align", clock=clock)
        print(f"[{name}] frontier beta sweep, align, {len(frontier.SWEEP_BETAS)} runs x 400 "
              f"steps: median {med * 1e3:.1f} ms, best {best * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
