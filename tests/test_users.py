"""Users and their sessions, against a real hub process: real JWTs (HS256 with the hub's secret,
RS256 from a JWKS served by a local HTTP server), every door tried with another user's ids."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hub.cli import main as cli_main
from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls

SECRET = "s" * 40
ISSUER, AUDIENCE = "https://id.example", "agent-hub"


def token(user: str, *, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": user, "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class Jwks:
    """An identity provider's key set, served over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        ec_public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        keys = [{**public, "kid": "k1", "alg": "RS256", "use": "sig"},
                {**ec_public, "kid": "k2", "alg": "ES256", "use": "sig"}]  # fmt: skip
        body = json.dumps({"keys": keys})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def token(self, user: str, key: Any = None, kid: str = "k1") -> str:
        now = int(time.time())
        claims = {"sub": user, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
        if kid == "k2":
            return jwt.encode(claims, self.ec_key, algorithm="ES256", headers={"kid": kid})
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    yield server
    server.close()


def start(tmp_path: Path, llm: ScriptedLLM, jwks: Jwks, **env: str) -> HubProcess:
    return HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__AUTH_JWT_SECRET=SECRET,
        AGENT_RUNTIME__AUTH_JWKS_URL=jwks.url,
        AGENT_RUNTIME__AUTH_JWT_ISSUER=ISSUER,
        AGENT_RUNTIME__AUTH_JWT_AUDIENCE=AUDIENCE,
        **env,
    ).start()


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM, jwks: Jwks) -> Iterator[HubProcess]:
    process = start(tmp_path, llm, jwks)
    yield process
    process.stop()


def client(hub: HubProcess, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.http_url, headers=headers, timeout=10)


async def refused_socket(hub: HubProcess, path: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{hub.ws_url}{path}", additional_headers=headers):
            pass
    return refused.value.response.status_code


async def test_alice_cannot_reach_bobs_session_by_any_door(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    alice, bob = bearer(token("alice")), bearer(token("bob"))
    write = ToolCalls([("w-1", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), write)
    async with client(hub, bob) as as_bob:
        assert (await as_bob.post("/sessions", json={"session_id": "bobs"})).status_code == 201
        stream = await as_bob.post(
            "/agent/message/stream", json={"session_id": "bobs", "content": "write code"}
        )  # noqa: E501
        assert b'"requires_approval":true' in stream.content
    async with client(hub, alice) as as_alice:
        listed = (await as_alice.get("/sessions")).json()["sessions"]
        assert [s["session_id"] for s in listed] == []
        attempts = [
            as_alice.get("/sessions/bobs/history"),
            as_alice.get("/sessions/bobs/pending-approvals"),
            as_alice.get("/agents/bobs/current"),
            as_alice.post("/sessions/bobs/cancel"),
            as_alice.post("/sessions/bobs/agent", json={"agent": "ask"}),
            as_alice.post("/sessions/bobs/approvals/w-1", json={"decision": "approve"}),
            as_alice.post("/agent/message/stream", json={"session_id": "bobs", "content": "hi"}),
            as_alice.post("/auth/ws-ticket", json={"session_id": "bobs"}),
        ]
        for attempt in attempts:
            answer = await attempt
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
            assert answer.json()["detail"] == "no session 'bobs'"  # as for one that does not exist
        taken = await as_alice.post("/sessions", json={"session_id": "bobs"})
        assert taken.status_code == 409
    assert await refused_socket(hub, "/ws/bobs", alice) == 404
    async with client(hub, bob) as as_bob:  # bob's approval is still his to give
        pending = (await as_bob.get("/sessions/bobs/pending-approvals")).json()["approvals"]
        assert [a["call_id"] for a in pending] == ["w-1"]
    async with client(hub, {"X-Internal-Auth": API_KEY}) as as_service:
        everyone = (await as_service.get("/sessions")).json()["sessions"]
        assert [(s["session_id"], s["owner"]) for s in everyone] == [("bobs", "bob")]
        assert (await as_service.get("/sessions/bobs/history")).status_code == 200


async def test_sessions_made_with_the_key_belong_to_no_user(hub: HubProcess) -> None:
    async with client(hub, {"X-Internal-Auth": API_KEY}) as as_service:
        await as_service.post("/sessions", json={"session_id": "shared"})
    async with client(hub, bearer(token("alice"))) as as_alice:
        assert (await as_alice.get("/sessions/shared/history")).status_code == 404
        assert (await as_alice.get("/auth/me")).json() == {"user": "alice", "admin": False}


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda j: token("alice", exp=int(time.time()) - 120), "expired"),
        (lambda j: token("alice", aud="someone-else"), "Audience"),
        (lambda j: token("alice", iss="https://evil.example"), "issuer"),
        (lambda j: token("alice", secret="x" * 40), "Signature verification failed"),
        (lambda j: token("alice")[:-4] + "AAAA", "Signature verification failed"),
        (lambda j: jwt.encode({"sub": "alice", "exp": 2**40}, None, algorithm="none"), "'none'"),
        (lambda j: token("alice", exp=None), "exp"),
        (lambda j: j.token("alice", rsa.generate_private_key(public_exponent=65537,
                                                             key_size=2048)), "Signature"),
        (lambda j: j.token("alice", kid="unknown"), "no key"),
        (lambda j: "not.a.jwt", "token refused"),
    ],
)  # fmt: skip
async def test_bad_tokens_are_refused_with_a_reason(
    hub: HubProcess, jwks: Jwks, make: Any, why: str
) -> None:
    bad = bearer(make(jwks))
    async with client(hub, bad) as as_someone:
        answer = await as_someone.get("/sessions")
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "unauthorized" and why in body["detail"], body
    assert await refused_socket(hub, "/ws/x", bad) == 401


async def test_a_provider_token_from_the_jwks_works_on_every_door(
    hub: HubProcess, jwks: Jwks, llm: ScriptedLLM
) -> None:
    carol = bearer(jwks.token("carol"))
    llm.push(routed(), Text(["hi"]))
    async with connect(f"{hub.ws_url}/ws/carols", additional_headers=carol) as ws:
        assert orjson.loads(await ws.recv())["type"] == "session_ready"
        await ws.send(orjson.dumps({"type": "user_message", "content": "write code"}).decode())
        while orjson.loads(await ws.recv())["type"] != "run_finished":
            pass
    async with client(hub, carol) as as_carol:
        listed = (await as_carol.get("/sessions")).json()["sessions"]
    assert [(s["session_id"], s["owner"]) for s in listed] == [("carols", "carol")]
    async with client(hub, bearer(jwks.token("dave", kid="k2"))) as as_dave:  # ES256
        assert (await as_dave.get("/auth/me")).json() == {"user": "dave", "admin": False}


async def test_a_ticket_opens_only_its_session_for_its_user(hub: HubProcess) -> None:
    alice = bearer(token("alice"))
    async with client(hub, alice) as as_alice:
        ticket = (await as_alice.post("/auth/ws-ticket", json={"session_id": "mine"})).json()
    async with connect(f"{hub.ws_url}/ws/mine?ticket={ticket['ticket']}") as ws:
        assert orjson.loads(await ws.recv())["type"] == "session_ready"
    async with client(hub, alice) as as_alice:
        again = (await as_alice.post("/auth/ws-ticket", json={"session_id": "mine"})).json()
    assert await refused_socket(hub, f"/ws/other?ticket={again['ticket']}", {}) == 401
    async with client(hub, bearer(token("alice"))) as as_alice:
        assert [s["owner"] for s in (await as_alice.get("/sessions")).json()["sessions"]] == [
            "alice"
        ]


async def test_a_decision_records_the_user_who_made_it(hub: HubProcess, llm: ScriptedLLM) -> None:
    alice = bearer(token("alice"))
    llm.push(routed(), ToolCalls([("w-2", "write_file", {"path": "a.md", "content": "x"})]))
    async with connect(f"{hub.ws_url}/ws/audit", additional_headers=alice) as ws:
        await ws.recv()
        await ws.send(orjson.dumps({"type": "user_message", "content": "write code"}).decode())
        while orjson.loads(await ws.recv())["type"] != "tool_call":
            pass
        await ws.send(orjson.dumps({"type": "hitl_decision", "call_id": "w-2",
                                    "decision": "reject", "feedback": "no"}).decode())  # fmt: skip
        resolved = orjson.loads(await ws.recv())
        while resolved["type"] != "approval_resolved":
            resolved = orjson.loads(await ws.recv())
    assert resolved["decided_by"].endswith("(alice)") and resolved["decided_by"].startswith("ide:")
    async with client(hub, alice) as as_alice:
        history = (await as_alice.get("/sessions/audit/history")).json()["messages"]
    (message,) = [m for m in history if m["role"] == "user"]
    assert message["author"] == resolved["decided_by"]  # the same client, the same user


async def test_limits_per_user_have_their_own_errors(
    tmp_path: Path, llm: ScriptedLLM, jwks: Jwks
) -> None:
    hub = start(
        tmp_path, llm, jwks,
        AGENT_RUNTIME__MAX_CONNECTIONS_PER_USER="1",
        AGENT_RUNTIME__MAX_RUNNING_SESSIONS_PER_USER="1",
    )  # fmt: skip
    alice, bob = bearer(token("alice")), bearer(token("bob"))
    try:
        llm.push(routed(), Hang(["working"]))
        async with connect(f"{hub.ws_url}/ws/one", additional_headers=alice) as ws:
            await ws.recv()
            assert await refused_socket(hub, "/ws/two", alice) == 429  # one socket each
            async with connect(f"{hub.ws_url}/ws/bobs", additional_headers=bob) as other:
                assert orjson.loads(await other.recv())["type"] == "session_ready"
            await ws.send(orjson.dumps({"type": "user_message", "content": "write code"}).decode())
            while orjson.loads(await ws.recv()).get("token") != "working":
                pass  # alice's one session is running now
            async with client(hub, alice) as as_alice:
                body = {"session_id": "two", "content": "hi"}
                second = await as_alice.post("/agent/message/stream", json=body)
            llm.release()
        assert (second.status_code, second.json()["error"]) == (429, "rate_limited")
        assert "AGENT_RUNTIME__MAX_RUNNING_SESSIONS_PER_USER" in second.json()["detail"]
    finally:
        hub.stop()


def test_the_cli_prints_a_token_the_hub_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENT_RUNTIME__AUTH_JWT_SECRET", SECRET)
    assert cli_main(["token", "--user", "alice", "--ttl", "90m"]) == 0
    printed = capsys.readouterr().out.strip()
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice" and 5390 <= claims["exp"] - time.time() <= 5400
    with pytest.raises(SystemExit):
        cli_main(["token", "--user", "alice", "--ttl", "soon"])
    monkeypatch.delenv("AGENT_RUNTIME__AUTH_JWT_SECRET")
    assert cli_main(["token", "--user", "alice"]) == 2
