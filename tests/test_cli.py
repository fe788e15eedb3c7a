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
from dpo_sim.sim.scenario_io import load_scenario, scenario_from_config
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
    """Re-run in process from the config line alone."""
    sim = Simulation(scenario_from_config(config), keep_history=False)
    recs = [sim.record.to_dict()]
    for _ in range(steps):
        recs.append(sim.advance().to_dict())
    return recs


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
    assert replay(config, 150) == steps


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
    assert replay(config, 20) == out[1:]
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


def test_export_passes_scenarios_steps_and_out(monkeypatch, tmp_path, random_toml):
    calls = []

    def export_html(scenarios, steps, out):       # a recorder that writes a small file
        calls.append((scenarios, steps, out))
        Path(out).write_text("<html></html>")
        return Path(out)

    mod = types.ModuleType("dpo_sim.app.export")
    mod.export_html = export_html
    monkeypatch.setitem(sys.modules, "dpo_sim.app.export", mod)
    out = str(tmp_path / "x.html")
    assert main(["export", "align", str(random_toml), "--out", out, "--steps", "30",
                 "--set", "beta=2"]) == 0
    (scenarios, steps, path), = calls
    assert [s.id for s in scenarios] == ["align", "rand"]
    assert [s.beta for s in scenarios] == [2.0, 2.0]
    assert steps == 30 and path == out
    assert main(["export", "tie", "--out", out]) == 0
    assert calls[-1][1] is None


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


def test_export_says_where_the_file_went_and_its_size(tmp_path, capsys, monkeypatch):
    """The real export: the line names the file, its real size (MB of 10^6 bytes, rounded
    as printed) and what it holds; nothing goes to stderr."""
    monkeypatch.chdir(tmp_path)
    out = cli(["export", "align", "drop-sigma", "--steps", "30", "--out", "replay.html"],
              capsys)
    m = _summary(out)
    assert m["path"] == "replay.html"
    size = (tmp_path / "replay.html").stat().st_size
    assert size > 1e6                                  # Bokeh's JS is inline
    assert m["mb"] == f"{size / 1e6:.1f}"
    assert m["held"] == "2 scenarios, 30 steps each"

    out = cli(["export", "align", "--steps", "1", "--out", str(tmp_path / "sub.html")], capsys)
    m = _summary(out)
    assert m["path"] == str(tmp_path / "sub.html")
    assert m["mb"] == f"{(tmp_path / 'sub.html').stat().st_size / 1e6:.1f}"
    assert m["held"] == "1 scenario, 1 step"


def test_export_summary_names_each_scenario_s_own_steps(monkeypatch, tmp_path, capsys):
    """Without --steps each scenario keeps its own length; the line says so, with the size
    of the file as written (a recorder stands in for the export)."""
    def export_html(scenarios, steps, out):
        Path(out).write_bytes(b"x" * 2_345_678)
        return Path(out)

    mod = types.ModuleType("dpo_sim.app.export")
    mod.export_html = export_html
    monkeypatch.setitem(sys.modules, "dpo_sim.app.export", mod)
    out = tmp_path / "r.html"
    steps = [load_scenario(p).steps for p in ("align", "tie")]
    assert steps[0] != steps[1]
    m = _summary(cli(["export", "align", "tie", "--out", str(out)], capsys))
    assert m["mb"] == "2.3"
    assert m["held"] == f"2 scenarios, {steps[0]} and {steps[1]} steps"


def test_a_failed_export_prints_nothing_on_stdout(tmp_path, capsys):
    code = main(["export", "align", "--out", str(tmp_path / "missing" / "r.html")])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "does not exist" in err
