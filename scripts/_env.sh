# Shared set-up for scripts/start and scripts/test: a project-local virtual environment,
# (re)installed only when pyproject.toml changes. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DPO_SIM_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_venv() {  # $1: the extras to install, e.g. "" or "[test]"
    local extras="$1" stamp="$VENV/.dpo-sim-installed$1"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "dpo-sim: creating a virtual environment in $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "dpo-sim: installing dpo-sim$extras into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT$extras" >&2
        touch "$stamp"
    fi
}
