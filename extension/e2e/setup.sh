#!/usr/bin/env bash
# Installs what the end-to-end test needs, from a clean clone: Debian's chromium, the headers
# code-server's native modules build against, ripgrep, and code-server + playwright-core in
# extension/e2e/node_modules (never in the extension's own dependencies).
#
# code-server's own postinstall downloads ripgrep from GitHub, which is out of reach here: so the
# packages are installed with --ignore-scripts, Debian's rg is linked where @vscode/ripgrep looks
# for its binary (its postinstall then skips the download), and the native modules are rebuilt.
# Idempotent: a finished setup leaves a marker and the next run returns at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MARKER="$HERE/node_modules/.orps-e2e-ready"
CODE_SERVER="$HERE/node_modules/code-server"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
{ command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1; } || need_apt+=(build-essential)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -f "$MARKER" ] && [ "$MARKER" -nt "$HERE/package.json" ]; then
  echo "setup: code-server and playwright-core already installed"
  exit 0
fi

cd "$HERE"
echo "setup: npm install (code-server, playwright-core) without scripts"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error
# Top-level native modules of code-server (argon2, ...), without its postinstall.
npm rebuild argon2 --loglevel=error

echo "setup: VS Code's dependencies inside code-server"
cd "$CODE_SERVER/lib/vscode"
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# npm_config_yes: node-pty's postinstall runs `npx node-gyp` (from the npm registry).
npm_config_yes=true npm rebuild --loglevel=error

echo "setup: code-server's postinstall (links and built-in extensions)"
cd "$CODE_SERVER"
npm_config_yes=true npm_config_unsafe_perm=true \
  npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64" \
  sh ./postinstall.sh >/dev/null

touch "$MARKER"
echo "setup: done"
