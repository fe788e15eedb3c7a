"""The dpo-sim command: the run round trip, CSV, --set, --out, determinism, dispatch."""

import csv
import io
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.app.cli import main
from dpo_sim.sim.scenario_io import list_presets, load_scenario, scenario_from_config
from dpo_sim.sim.simulation import Simulation

PY = sys.executable

RANDOM_TOML = """
title = "Random reference with events"
watch = "For the determinism tests."
beta = 1.5
learning_rate = 0.7
steps = 40
init = [[0.1, 0.0, -0.2], [0.0, 0.3, 0.0]]

[reference]
kind = "random"
seed = 7
scale = 0.8

[[prompts]]
text = "Q0"
replies = ["a", "b", "c"]

[[prompts]]
text = "Q1"
replies = ["d", "e", "f"]

[[pairs]]
prompt = 0
chosen = 0
rejected = 2
votes_chosen = 3
votes_rejected = 1

[[pairs]]
prompt = 1
chosen = 1
rejected = 0
votes_chosen = 1

[[events]]
step = 10
flip = 0

[[events]]
step = 20
set = { beta = 0.5, adaptive_weight = false }
"""


def cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return out


def lines(text):
    return [json.loads(x) for x in text.splitlines()]


def replay(config, steps):
    """Re-run in process from the config line alone (without ``rlhf_probs``, which is
    derived from the rest and which scenario_from_config does not know yet)."""
    config = {k: v for k, v in config.items() if k != "rlhf_probs"}
    sim = Simulation(scenario_from_config(config), keep_history=False)
    recs = [sim.record.to_dict()]
    for _ in range(steps):
        recs.append(sim.advance().to_dict())
    return recs


def plain(steps):
    """Step lines without ``kl_to_rlhf`` (derived from pi*, not a record's number)."""
    return [{k: v for k, v in s.items() if k != "kl_to_rlhf"} for s in steps]


@pytest.fixture
def random_toml(tmp_path):
    f = tmp_path / "rand.toml"
    f.write_text(RANDOM_TOML)
    return f


@pytest.mark.parametrize("ref", ["align", "fix-label", "skewed-reference", "random"])
def test_jsonl_round_trip_is_bit_identical(ref, random_toml, capsys):
    ref = str(random_toml) if ref == "random" else ref
    out = lines(cli(["run", ref, "--steps", "150"], capsys))
    config, steps = out[0], out[1:]
    assert config["type"] == "config"
    for key in ("beta", "learning_rate", "adaptive_weight", "loss_type", "prompts",
                "ref_logits", "init_logits", "pairs", "events"):
        assert key in config
    assert [s["step"] for s in steps] == list(range(151))
    assert all(s["type"] == "step" for s in steps)
    for key in ("probs", "kl", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                "rewards/accuracies", "logps/chosen", "logps/rejected", "pairs/weight"):
        assert key in steps[0]
    # JSON floats are written with repr precision, so equality here is bit-identity
    assert replay(config, 150) == plain(steps)


def test_config_describes_the_scenario(random_toml, capsys):
    s = load_scenario(str(random_toml))
    config = lines(cli(["run", str(random_toml), "--steps", "0"], capsys))[0]
    expected_ref = np.random.default_rng(7).normal(scale=0.8, size=(2, 3))
    assert np.array_equal(np.array(config["ref_logits"]), expected_ref)
    assert config["init_logits"] == [[0.1, 0.0, -0.2], [0.0, 0.3, 0.0]]
    assert config["pairs"][0] == {"prompt": 0, "chosen": 0, "rejected": 2,
                                  "votes_chosen": 3, "votes_rejected": 1}
    assert config["events"] == [{"step": 10, "flip": 0},
                                {"step": 20, "set": {"beta": 0.5, "adaptive_weight": False}}]
    assert config["prompts"][1] == {"text": "Q1", "replies": ["d", "e", "f"]}
    assert config["beta"] == s.beta == 1.5


def test_default_steps_come_from_the_scenario(random_toml, capsys):
    out = lines(cli(["run", str(random_toml)], capsys))
    assert out[-1]["step"] == 40
    out = lines(cli(["run", "tie"], capsys))
    assert out[-1]["step"] == load_scenario("tie").steps


def test_events_show_in_the_steps(random_toml, capsys):
    steps = lines(cli(["run", str(random_toml), "--steps", "25"], capsys))[1:]
    assert steps[19]["beta"] == 1.5 and steps[19]["adaptive_weight"] is True
    assert steps[20]["beta"] == 0.5 and steps[20]["adaptive_weight"] is False
    assert steps[21]["pairs/weight"] == [1.0, 1.0]


def test_csv_matches_jsonl(capsys):
    js = lines(cli(["run", "fix-label", "--steps", "120"], capsys))[1:]
    rows = list(csv.DictReader(io.StringIO(cli(["run", "fix-label", "--steps", "120",
                                                "--format", "csv"], capsys))))
    assert len(rows) == len(js) == 121
    for r, j in zip(rows, js):
        assert int(r["step"]) == j["step"]
        assert float(r["beta"]) == j["beta"]
        assert float(r["learning_rate"]) == j["learning_rate"]
        assert bool(int(r["adaptive_weight"])) == j["adaptive_weight"]
        for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                    "rewards/accuracies", "logps/chosen", "logps/rejected"):
            assert float(r[key]) == j[key]          # exact: floats written with repr
        for x, kl in enumerate(j["kl"]):
            assert float(r[f"kl/{x}"]) == kl


def test_set_takes_effect(capsys):
    base = lines(cli(["run", "align", "--steps", "20"], capsys))
    out = lines(cli(["run", "align", "--steps", "20", "--set", "beta=0.5",
                     "--set", "learning_rate=2", "--set", "adaptive_weight=off"], capsys))
    config = out[0]
    assert (config["beta"], config["learning_rate"], config["adaptive_weight"]) == (0.5, 2.0,
                                                                                     False)
    assert all(s["beta"] == 0.5 and s["learning_rate"] == 2.0 for s in out[1:])
    assert all(w == 1.0 for s in out[1:] for w in s["pairs/weight"])
    assert out[-1]["probs"] != base[-1]["probs"]
    # and the config line alone reproduces the run with the overrides
    assert replay(config, 20) == plain(out[1:])
    out = lines(cli(["run", "align", "--set", "steps=7"], capsys))
    assert out[-1]["step"] == 7


def test_out_writes_the_file(tmp_path, capsys):
    f = tmp_path / "run.jsonl"
    assert cli(["run", "align", "--steps", "5", "--out", str(f)], capsys) == ""
    assert f.read_text() == cli(["run", "align", "--steps", "5"], capsys)
    g = tmp_path / "run.csv"
    assert cli(["run", "align", "--steps", "5", "--format", "csv", "--out", str(g)],
               capsys) == ""
    assert len(g.read_text().splitlines()) == 7


@pytest.mark.slow
def test_determinism_across_processes(random_toml, capsys):
    for ref in ("drop-sigma", str(random_toml)):
        cmd = [PY, "-m", "dpo_sim", "run", ref, "--steps", "200"]
        a = subprocess.run(cmd, capture_output=True, timeout=120)
        b = subprocess.run(cmd + ["--format", "jsonl"], capture_output=True, timeout=120)
        assert a.returncode == b.returncode == 0
        assert a.stdout == b.stdout and len(a.stdout) > 1000
        assert a.stdout.decode() == cli(["run", ref, "--steps", "200"], capsys)


def test_presets_command_lists_ids_and_titles(capsys):
    code = main(["presets"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    listed = dict(line.split(None, 1) for line in out.splitlines())
    assert listed["align"] == "Align to preferences"
    assert listed["drop-sigma"] == "Drop the sigma weight"
    assert listed["mislabel"] == "Mislabel a pair"


def test_cli_does_not_import_the_dashboard():
    code = ("import sys, dpo_sim.app.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('panel', 'bokeh', 'param', 'tornado')))")
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


# -- serve and export dispatch (the modules are replaced by recorders) --------------------


def test_no_arguments_serves_with_defaults(fake_server):
    assert main([]) == 0
    assert fake_server == [dict(port=5006, address="127.0.0.1", allow_websocket_origin=None,
                                open_browser=True)]


def test_serve_passes_its_options(fake_server):
    assert main(["serve", "--port", "7001", "--address", "0.0.0.0", "--no-browser",
                 "--allow-websocket-origin", "course.example.org",
                 "--allow-websocket-origin", "localhost:8000"]) == 0
    assert fake_server == [dict(port=7001, address="0.0.0.0",
                                allow_websocket_origin=["course.example.org",
                                                        "localhost:8000"],
                                open_browser=False)]
    assert main(["--port", "7002", "--no-browser"]) == 0      # flags alone mean serve
    assert fake_server[-1]["port"] == 7002 and fake_server[-1]["open_browser"] is False


def test_presets_command_names_broken_files(monkeypatch, tmp_path, capsys):
    import dpo_sim.sim.scenario_io as sio
    MINI_OK = ('title = "Mini"\nwatch = "w"\nbeta = 2.0\nlearning_rate = 1.0\n'
               '[[prompts]]\ntext = "Q"\nreplies = ["a", "b"]\n'
               '[[pairs]]\nprompt = 0\nchosen = 0\nrejected = 1\nvotes_chosen = 1\n')
    (tmp_path / "good.toml").write_text(MINI_OK)
    (tmp_path / "bad.toml").write_text(MINI_OK.replace("beta = 2.0", "beta = 0"))
    monkeypatch.setattr(sio, "_preset_dir", lambda: tmp_path)
    code = main(["presets"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.split() == ["good", "Mini"]
    assert err.strip() == "broken preset bad: presets/bad.toml: beta: must be a number > 0 " \
                          "and <= 100, got 0"
    assert load_scenario("good").title == "Mini"


# -- export: what it prints --------------------------------------------------------------

SUMMARY = re.compile(r"dpo-sim: wrote (?P<path>.+) \((?P<mb>\d+\.\d) MB, (?P<held>.+)\)")


def _summary(out: str) -> re.Match:
    """The one stdout line of a successful export."""
    assert out.endswith("\n") and out.count("\n") == 1, repr(out)
    m = SUMMARY.fullmatch(out.rstrip("\n"))
    assert m, repr(out)
    return m


def test_export_writes_the_interactive_file_by_default(monkeypatch, tmp_path, random_toml,
                                                      capsys):
    """The scenarios given (a TOML file too, --set applied to each), or
    every good preset when none is given; one line says where the file went."""
    calls = []

    def export_interactive(scenarios, out):
        calls.append(([s.id for s in scenarios], [s.beta for s in scenarios], out))
        Path(out).write_bytes(b"x" * 1_234_567)

    mod = types.ModuleType("dpo_sim.app.interactive")
    mod.export_interactive = export_interactive
    monkeypatch.setitem(sys.modules, "dpo_sim.app.interactive", mod)
    out = str(tmp_path / "sim.html")
    assert main(["export", "align", str(random_toml), "--set", "beta=2", "--out", out]) == 0
    assert calls[-1] == (["align", "rand"], [2.0, 2.0], out)
    line = capsys.readouterr().out
    assert line == (f"dpo-sim: wrote {out} (1.23 MB, the interactive simulator with 2 "
                    f"scenarios; open it in a browser, no server needed)\n")
    assert main(["export", "--out", out]) == 0
    good = [pid for pid, _, err in list_presets() if err is None]
    assert calls[-1][0] == good and good[0] == "align"


def test_a_failed_export_prints_nothing_on_stdout(tmp_path, capsys):
    code = main(["export", "align", "--out", str(tmp_path / "missing" / "r.html")])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "does not exist" in err


# -- the RLHF optimum in the JSON lines ---------------------------------------------------


def _without_rlhf(line: str) -> str:
    """A line as the command wrote it before the RLHF keys existed: the same dict minus
    the two keys, dumped the same way (the keys come last, so nothing else moves)."""
    d = json.loads(line)
    assert list(d)[-1] in ("rlhf_probs", "kl_to_rlhf")
    d.pop("rlhf_probs", None)
    d.pop("kl_to_rlhf", None)
    return json.dumps(d)


@pytest.mark.parametrize("ref", sorted(p.stem for p in (Path(__file__).resolve().parents[1]
                                                          / "presets").glob("*.toml"))
                         + ["random"])
def test_the_rlhf_keys_change_no_other_number(ref, random_toml, capsys):
    """Every line minus the new keys is, character for character, what the run's own
    config and records give (the output before the keys were added)."""
    path = str(random_toml) if ref == "random" else ref
    out = cli(["run", path], capsys).splitlines()
    scenario = load_scenario(path)
    sim = Simulation(scenario, keep_history=False)
    before = [json.dumps(scenario.config()), json.dumps(sim.record.to_dict())]
    before += [json.dumps(sim.advance().to_dict()) for _ in range(scenario.steps)]
    assert [_without_rlhf(x) for x in out] == before


@pytest.mark.slow
def test_the_rlhf_keys_hold_the_optimum_and_the_kl_to_it(capsys):
    from dpo_sim.sim import rlhf

    out = lines(cli(["run", "align", "--steps", "3000"], capsys))
    config, steps = out[0], out[1:]
    assert list(config)[-1] == "rlhf_probs"
    assert all(list(s)[-1] == "kl_to_rlhf" for s in steps)
    sim = Simulation(load_scenario("align"), keep_history=False)
    opt = rlhf.optimum(sim.pairs, sim.logp_ref, sim.scenario.start_logits(), sim.beta)
    assert config["rlhf_probs"] == opt.probs.tolist()
    assert steps[0]["kl_to_rlhf"] == rlhf.kl_to_optimum(sim.record.probs, opt).tolist()
    assert steps[0]["kl_to_rlhf"][0] > 1e-2
    kl = np.array([s["kl_to_rlhf"] for s in steps])
    assert np.all(np.diff(kl[500:], axis=0) < 0)
    assert kl[3000].max() < 1e-20                       # measured 4.7e-21
    # the probabilities at step 3000 are pi* to 2.4e-11
    assert np.abs(np.array(steps[3000]["probs"]) - opt.probs).max() < 3e-11


def test_the_rlhf_keys_are_null_without_a_finite_optimum(random_toml, capsys):
    out = lines(cli(["run", "unanimous", "--steps", "50"], capsys))
    assert out[0]["rlhf_probs"] == [None, None]
    assert all(s["kl_to_rlhf"] == [None, None] for s in out[1:])
    # prompt 0 has a 3:1 row, prompt 1 a 1:0 row: null for prompt 1 only
    out = lines(cli(["run", str(random_toml), "--steps", "5"], capsys))
    assert out[0]["rlhf_probs"][1] is None and len(out[0]["rlhf_probs"][0]) == 3
    assert all(s["kl_to_rlhf"][1] is None and s["kl_to_rlhf"][0] > 0 for s in out[1:])


def test_the_optimum_follows_flips_and_beta_mid_run(random_toml, capsys):
    """Scripted events change the rows (a flip) or beta: pi* is recomputed from that step
    on, for the rows and beta in force, with the scenario's start logits."""
    from dpo_sim.sim import rlhf

    # fix-label: row 1 flipped back at step 100
    steps = lines(cli(["run", "fix-label", "--steps", "300"], capsys))[1:]
    sim = Simulation(load_scenario("fix-label"), keep_history=False)
    theta0 = sim.scenario.start_logits()
    before = rlhf.optimum(sim.pairs, sim.logp_ref, theta0, sim.beta)
    sim.advance(100)
    after = rlhf.optimum(sim.pairs, sim.logp_ref, theta0, sim.beta)
    assert not np.allclose(before.probs, after.probs)
    probs = np.array([s["probs"] for s in steps])
    for t in (0, 99):
        assert steps[t]["kl_to_rlhf"] == rlhf.kl_to_optimum(probs[t], before).tolist()
    for t in (100, 300):
        assert steps[t]["kl_to_rlhf"] == rlhf.kl_to_optimum(probs[t], after).tolist()
    # the random scenario: a flip at step 10, beta 1.5 -> 0.5 at step 20; prompt 1 has a
    # unanimous row (null throughout)
    steps = lines(cli(["run", str(random_toml), "--steps", "30"], capsys))[1:]
    sim = Simulation(load_scenario(str(random_toml)), keep_history=False)
    theta0 = sim.scenario.start_logits()
    for t, s in enumerate(steps):
        if t:
            sim.advance()
        opt = rlhf.optimum(sim.pairs, sim.logp_ref, theta0, sim.beta)
        want = rlhf.kl_to_optimum(np.array(s["probs"]), opt)
        assert s["kl_to_rlhf"][0] == want[0] and s["kl_to_rlhf"][1] is None
    assert steps[19]["kl_to_rlhf"] != steps[20]["kl_to_rlhf"]


def test_csv_has_no_rlhf_columns(capsys):
    """The CSV layout is the page's (sim.export_csv); the RLHF keys are JSON lines only."""
    header = cli(["run", "align", "--steps", "1", "--format", "csv"], capsys).splitlines()[0]
    assert "rlhf" not in header


def test_the_config_line_as_written_rebuilds_the_scenario(capsys):
    """presets/README.md: scenario_from_config(json.loads(first_line)) rebuilds the run."""
    config = lines(cli(["run", "align", "--steps", "0"], capsys))[0]
    scenario_from_config(config)
