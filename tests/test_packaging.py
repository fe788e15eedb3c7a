"""Installing dpo-sim: one top-level package, ``dpo_sim``, that lives next to other software.

The wheel is built from a clean copy of the tracked files (a stale ``build/`` folder in the
working tree cannot leak into it), then used the way people use it: unpacked into a
folder and run from elsewhere; installed into a virtual environment beside another
distribution that ships top-level ``app``, ``sim`` and ``presets`` packages (installed
after it, then uninstalled); and run from a folder that holds an ``app.py`` and a
``sim.py``, as a Flask, Streamlit or Panel project folder often does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tracked_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _tracked_copy(tmp_path_factory.mktemp("src"))
    dist = tmp_path_factory.mktemp("dist")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                        "-w", str(dist), str(src)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{p.stdout}\n{p.stderr}")
    (whl,) = dist.glob("dpo_sim-*.whl")
    return whl


@pytest.fixture(scope="module")
def unpacked(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _site_packages() -> str:
    """This interpreter's site-packages (numpy, panel, ...), for a bare environment."""
    import numpy

    return str(Path(numpy.__file__).parents[1])


def _isolated(site: Path, cwd: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    # -I: isolated mode, so neither the repository nor the editable install is importable.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), _site_packages()])}
    boot = "import sys, os; sys.path[:0] = os.environ['PYTHONPATH'].split(os.pathsep); "
    return subprocess.run([sys.executable, "-I", "-c", boot + code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_wheel_installs_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as z:
        tops = {n.split("/")[0] for n in z.namelist()}
        names = set(z.namelist())
    assert {t for t in tops if not t.endswith(".dist-info")} == {"dpo_sim"}
    shipped = sorted(Path(n).stem for n in names
                     if n.startswith("dpo_sim/presets/") and n.endswith(".toml"))
    assert shipped == sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
    assert "dpo_sim/presets/README.md" in names and "dpo_sim/__main__.py" in names
    assert "dpo_sim/app/page.py" in names and "dpo_sim/sim/engine.py" in names
    # data files: the page's modules (every one app/bundle.py joins, and their styles),
    # the twin of the engine and the offline page's frame, KaTeX and its fonts
    ui = ROOT / "app" / "ui"
    for f in [*ui.glob("*.js"), *ui.glob("*.css"), *(ui / "views").glob("*.js"),
              *(ui / "views").glob("*.css"), ui / "package.json"]:
        assert "dpo_sim/app/ui/" + f.relative_to(ui).as_posix() in names, f
    for f in ("engine.js", "stack.js", "page.html"):
        assert f"dpo_sim/app/offline/{f}" in names
    assert "dpo_sim/app/static/katex/katex.min.js" in names
    assert any(n.startswith("dpo_sim/app/static/katex/fonts/") and n.endswith(".woff2")
               for n in names)


def test_the_unpacked_wheel_runs_from_another_folder(unpacked, tmp_path):
    cli = "from dpo_sim.app.cli import main; sys.exit(main(sys.argv[1:]))"
    p = _isolated(unpacked, tmp_path, cli, "presets")
    assert p.returncode == 0, p.stderr
    ids = {line.split()[0] for line in p.stdout.splitlines() if line.strip()}
    assert ids == {q.stem for q in (ROOT / "presets").glob("*.toml")}
    p = _isolated(unpacked, tmp_path, cli, "export", "tie", "--out", str(tmp_path / "t.html"))
    assert p.returncode == 0, p.stderr                 # the offline file, from the wheel
    assert "window.dpoSim" in (tmp_path / "t.html").read_text(encoding="utf-8")
    p = _isolated(unpacked, tmp_path, cli, "run", "align", "--steps", "3")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 5 and '"type": "config"' in lines[0]
    # the modules really came from the unpacked wheel, not from the repository
    q = _isolated(unpacked, tmp_path, "import dpo_sim.presets as pr, dpo_sim.sim.engine as e;"
                                      " print(pr.__file__); print(e.__file__)")
    assert q.returncode == 0, q.stderr
    assert all(line.startswith(str(unpacked)) for line in q.stdout.split())


def _neighbour_wheel(dest: Path) -> Path:
    """A wheel of another project that ships top-level app, sim and presets packages, as
    many projects do (pip gives no warning when two distributions share a name)."""
    files = {
        "app/__init__.py": "",
        "app/cli.py": "def main(argv=None):\n    print('NEIGHBOUR')\n    return 0\n",
        "app/dashboard.py": "def create_dashboard(**kw):\n    return 'NEIGHBOUR'\n",
        "sim/__init__.py": "",
        "sim/engine.py": "raise ImportError('NEIGHBOUR sim')\n",
        "presets/__init__.py": "",
        "neighbour-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: neighbour\n"
                                             "Version: 1.0\n",
        "neighbour-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                          "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record.append(f"{name},sha256={digest.rstrip(b'=').decode()},{len(text.encode())}")
    record.append("neighbour-1.0.dist-info/RECORD,,")
    files["neighbour-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = dest / "neighbour-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def env_with_neighbour(wheel, tmp_path_factory):
    """A fresh virtual environment: dpo-sim's wheel, then the neighbour's. Dependencies
    come from this interpreter's site-packages through a .pth line (no download)."""
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    py = root / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(_site_packages() + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
           "--no-index", "--quiet"]
    subprocess.run(pip + [str(wheel)], check=True, capture_output=True)
    subprocess.run(pip + [str(_neighbour_wheel(root))], check=True, capture_output=True)
    return root


def test_a_neighbour_with_top_level_app_and_sim_breaks_nothing(env_with_neighbour, tmp_path):
    root = env_with_neighbour
    py, cli = str(root / "bin" / "python"), str(root / "bin" / "dpo-sim")
    p = subprocess.run([cli, "presets"], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and "NEIGHBOUR" not in p.stdout, p.stdout + p.stderr
    assert "align" in p.stdout
    # the neighbour's own packages still work for the neighbour
    q = subprocess.run([py, "-c", "import app.cli; app.cli.main()"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert q.stdout.strip() == "NEIGHBOUR"
    # uninstalling the neighbour removes its files, not ours
    subprocess.run([sys.executable, "-m", "pip", "--python", py, "uninstall", "-y",
                    "--quiet", "neighbour"], check=True, capture_output=True)
    p = subprocess.run([py, "-m", "dpo_sim", "run", "align", "--steps", "2"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 4, p.stderr


def test_a_folder_holding_app_py_and_sim_py_breaks_nothing(tmp_path):
    """The folder a command runs in comes first on sys.path for ``python -c`` and
    ``python -m``: files named like our parts there must not shadow them."""
    for name in ("app.py", "sim.py", "presets.py"):
        (tmp_path / name).write_text(f"raise SystemExit('the local {name} was imported')\n")
    code = ("import dpo_sim; s = dpo_sim.load_scenario('align'); "
            "h = dpo_sim.run(s, steps=3); d = dpo_sim.create_dashboard(scenario='drop-sigma');"
            " import json; print(len(h), type(d).__name__, dict(json.loads(d.data)['query'])"
            "['scenario'])")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["4", "SimPage", "drop-sigma"]
    p = subprocess.run([sys.executable, "-m", "dpo_sim", "presets"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "align" in p.stdout, p.stderr
