"""A plain (non-editable) install must find the presets: build the wheel, unpack it into an
empty folder, and run the CLI from another folder with only that folder on the path."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                        "-w", str(dist), str(ROOT)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{p.stdout}\n{p.stderr}")
    (wheel,) = dist.glob("dpo_sim-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # -I: isolated mode, so neither the repository nor the editable install is importable;
    # numpy comes from the running interpreter's site-packages, added explicitly.
    import numpy

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), str(Path(numpy.__file__).parents[1])])}
    code = ("import sys; sys.path[:0] = __import__('os').environ['PYTHONPATH'].split("
            "__import__('os').pathsep); from app.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-I", "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_the_wheel_holds_every_preset(installed, tmp_path):
    shipped = sorted(p.stem for p in (installed / "presets").glob("*.toml"))
    in_repo = sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
    assert shipped == in_repo and "align" in shipped
    assert (installed / "presets" / "README.md").exists()


def test_the_installed_cli_finds_presets_from_another_folder(installed, tmp_path):
    p = _run(installed, tmp_path, "presets")
    assert p.returncode == 0, p.stderr
    ids = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    assert set(ids) == {q.stem for q in (ROOT / "presets").glob("*.toml")}
    p = _run(installed, tmp_path, "run", "align", "--steps", "3")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 5 and '"type": "config"' in lines[0]
    # The modules really came from the unpacked wheel, not from the repository.
    code = "import presets, sim; print(presets.__file__); print(sim.__file__)"
    q = subprocess.run([sys.executable, "-I", "-c",
                        "import sys, os; sys.path[:0] = os.environ['PYTHONPATH'].split("
                        "os.pathsep); " + code], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(installed)},
                       capture_output=True, text=True)
    assert q.returncode == 0, q.stderr
    assert all(line.startswith(str(installed)) for line in q.stdout.split())
