"""Who decided an approval, read back from the store, decides who runs the call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.run.approvals import Decider, resume
from agents.run.steps import Ready
from db.records import ApprovalStatus, StoredApproval, StoredCall, ToolCallStatus

NOW = datetime.now(UTC)
CALL = StoredCall(
    "w1", "s", "coder", "write_file", {"path": "a.py", "content": "x"},
    ToolCallStatus.PENDING, None, None, None, NOW,
)  # fmt: skip


def approved(decided_by: str, role: str | None) -> StoredApproval:
    return StoredApproval(CALL, ApprovalStatus.APPROVED, None, None, decided_by, role, None, NOW)


@pytest.mark.parametrize(
    ("decided_by", "role", "ide_runs_it"),
    [
        ("ide:3f2a", "ide", True),
        ("console:9b1c", "console", False),
        ("rest", "rest", False),
        ("ide:3f2a", None, True),  # decided before roles were stored
        ("rest", None, False),
        ("something:odd", None, False),
    ],
)
def test_an_in_band_ide_approval_is_not_sent_again(
    decided_by: str, role: str | None, ide_runs_it: bool
) -> None:
    assert Decider.of(approved(decided_by, role)).runs_the_call is ide_runs_it
    assert resume(approved(decided_by, role)) == Ready(CALL.arguments, resend=not ide_runs_it)
