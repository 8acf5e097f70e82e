"""`/approve/{token}`: one approval on a small page, for a phone, reached from the webhook's link
(`hub/webhooks.py`). The signed token is the credential; the decision goes through the
session's one command path, so the first decision wins wherever it came from."""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from db.records import ApprovalStatus, StoredApproval
from hub import protocol
from hub.requests import read_body
from hub.session.commands import Command, Refused, Sender
from hub.state import hub_state
from hub.webhooks import ApprovalLink
from tools.validation import describe

SENDER = Sender(role="rest", name="approval link")
STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; margin: 0; padding: 16px; max-width: 640px; }
h1 { font-size: 20px; margin: 0 0 8px; } .muted { color: #667085; }
pre { background: #f4f5f7; padding: 12px; border-radius: 8px; white-space: pre-wrap; }
textarea { width: 100%; box-sizing: border-box; font: inherit; min-height: 72px; }
.buttons { display: flex; gap: 12px; margin-top: 12px; }
button { flex: 1; font: inherit; padding: 14px; border-radius: 8px; border: 1px solid #d0d5dd; }
button.approve { background: #12b76a; color: white; border: 0; }
button.reject { background: #f04438; color: white; border: 0; }
"""


async def show(request: Request) -> Response:
    link = _link(request)
    if link is None:
        return _page("This link is not valid", "It may have expired.", status=404)
    approval = await hub_state(request).store.get_approval(link.call_id)
    if approval is None or approval.session_id != link.session_id:
        return _page("This link is not valid", "The call it names is not known.", status=404)
    if approval.status is not ApprovalStatus.PENDING:
        return _decided(approval)
    call = approval.call
    arguments = json.dumps(call.arguments, indent=2, ensure_ascii=False)
    body = f"""
<p class="muted">{_e(call.agent)} wants to run, in session {_e(link.session_id)}:</p>
<h1 data-testid="tool">{_e(call.tool_name)}</h1>
<pre data-testid="arguments">{_e(arguments)}</pre>
<form method="post">
  <label for="feedback">Feedback for the agent (sent with Reject)</label>
  <textarea id="feedback" name="feedback" data-testid="feedback"></textarea>
  <div class="buttons">
    <button class="approve" name="decision" value="approve" data-testid="approve">Approve</button>
    <button class="reject" name="decision" value="reject" data-testid="reject">Reject</button>
  </div>
</form>"""
    return _page("Approval needed", body, raw=True)


async def decide(request: Request) -> Response:
    link = _link(request)
    if link is None:
        return _page("This link is not valid", "It may have expired.", status=404)
    form = parse_qs((await read_body(request)).decode(errors="replace"))
    decision = (form.get("decision") or [""])[0]
    if decision not in ("approve", "reject"):
        return _page("Nothing decided", "Choose Approve or Reject.", status=422)
    feedback = (form.get("feedback") or [""])[0].strip() or None
    try:
        frame = protocol.HitlDecision(
            call_id=link.call_id,
            decision=decision,
            feedback=feedback if decision == "reject" else None,
        )
    except ValidationError as exc:
        return _page("Not decided", describe(exc, whole="the form"), status=422)
    session = await hub_state(request).registry.open(link.session_id)
    outcome = await session.submit(Command(frame=frame, sender=SENDER))
    if isinstance(outcome, Refused):
        return _page("Not decided", outcome.message, status=409)
    done = "Approved" if decision == "approve" else "Rejected"
    return _page(done, "The agent goes on; you can close this page.")


def _link(request: Request) -> ApprovalLink | None:
    notifier = hub_state(request).approval_notifier
    return notifier.links.read(request.path_params["token"]) if notifier is not None else None


def _decided(approval: StoredApproval) -> Response:
    who = approval.decided_by or "someone"
    return _page("Already decided", f"This call was {approval.status.value} by {who}.")


def _page(title: str, body: str, *, raw: bool = False, status: int = 200) -> Response:
    content = body if raw else f'<p data-testid="message">{_e(body)}</p>'
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · agent hub</title><style>{STYLE}</style></head>
<body><h1 data-testid="title">{_e(title)}</h1>{content}</body></html>""",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)


routes = [
    Route("/approve/{token}", show, methods=["GET"]),
    Route("/approve/{token}", decide, methods=["POST"]),
]
