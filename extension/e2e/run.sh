#!/usr/bin/env bash
# End-to-end test of the VS Code extension: sets up what it needs (setup.sh), packages the
# .vsix, finds or makes a Python with orps, and runs e2e.js (code-server + headless Chromium).
#
#   ORPS_PYTHON=/path/to/python bash extension/e2e/run.sh
#
# Without ORPS_PYTHON it makes a venv in extension/e2e/.venv with `pip install -e <repo>`.
# The screenshot goes to docs/images/comparison-panel.png (ORPS_SCREENSHOT to change it); logs
# and failure screenshots to extension/e2e/artifacts/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
T0=$(date +%s)
timing() { echo "[run.sh] $1: $(( $(date +%s) - $2 ))s"; }

t=$(date +%s)
bash "$HERE/setup.sh"
timing "setup" "$t"

t=$(date +%s)
cd "$ROOT"
if [ ! -d node_modules/vscode-languageclient ] || [ ! -x node_modules/.bin/vsce ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -f extension/dist/orps-*.vsix
npm run --silent package >/dev/null
VSIX="$(ls "$ROOT"/extension/dist/orps-*.vsix | head -n1)"
timing "build and package ($(basename "$VSIX"))" "$t"

t=$(date +%s)
if [ -z "${ORPS_PYTHON:-}" ]; then
  VENV="$HERE/.venv"
  if [ ! -x "$VENV/bin/python" ]; then
    BASE=""
    for candidate in python3.13 python3.12 python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        BASE="$candidate"
        break
      fi
    done
    [ -n "$BASE" ] || { echo "run.sh: no Python 3.11+ found; set ORPS_PYTHON" >&2; exit 1; }
    "$BASE" -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c 'import orps.lsp.server' >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT"
  fi
  ORPS_PYTHON="$VENV/bin/python"
fi
"$ORPS_PYTHON" -c 'import orps.lsp.server' || { echo "run.sh: $ORPS_PYTHON cannot import orps.lsp.server" >&2; exit 1; }
timing "python ($ORPS_PYTHON)" "$t"

t=$(date +%s)
status=0
ORPS_ROOT="$ROOT" ORPS_PYTHON="$ORPS_PYTHON" ORPS_VSIX="$VSIX" node "$HERE/e2e.js" || status=$?
timing "e2e in code-server" "$t"
timing "total" "$T0"
exit $status
