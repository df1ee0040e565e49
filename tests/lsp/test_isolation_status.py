"""``orps/status`` tells the editor how candidates are confined and why that is weaker, if it is."""

from __future__ import annotations

from typing import Any

from tests.lsp.session import SCRIPTED_SETTINGS, LspSession, wait_for
from tests.support.scripted_server import ScriptedServer


def latest_isolation(session: LspSession) -> dict[str, Any]:
    for status in reversed(session.statuses):
        if status.get("isolation"):
            return dict(status["isolation"])
    return {}


async def test_status_carries_the_isolation_in_force(
    session: LspSession, model: ScriptedServer
) -> None:
    await wait_for(lambda: latest_isolation(session).get("kind") == "bubblewrap", 60)
    isolation = latest_isolation(session)
    assert isolation["choice"] == "auto" and isolation["reasons"] == []
    assert "uid 65534" in isolation["description"] and "seccomp filter" in isolation["description"]

    await session.set_settings({**SCRIPTED_SETTINGS, "baseUrl": model.url, "isolation": "none"})
    await wait_for(lambda: latest_isolation(session).get("kind") == "rlimits", 60)
    isolation = latest_isolation(session)
    assert isolation["choice"] == "none"
    assert any("isolation='none'" in reason for reason in isolation["reasons"])
