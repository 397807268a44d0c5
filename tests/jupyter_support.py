"""A real Jupyter Server (token auth, a real ipykernel) and a real client session against it.

The stateful third-party server of issue 11: every later request carries what an
earlier response minted (the ``_xsrf`` cookie and form field, the login cookie, kernel
and session ids, a file name the server chose). Used by tests/test_jupyter_session.py,
and meant for reuse (``--compare messages`` on the same cassette): :func:`record_session`
records one cassette through ``retape record`` and returns its path.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.recorder_support import start_recorder
from tests.support import PYTHON, free_port, running

TIMEOUT = 30.0  # a kernel starts in 1-3 s; generous for a loaded machine
TOKEN_ENV = "JUPYTER_TOKEN"


@contextlib.contextmanager
def jupyter_server(token: str, root: Path, *, regressed: bool = False) -> Iterator[str]:
    """Run ``jupyter server`` on a free loopback port; yield its base URL.

    ``regressed``: the same server whose ``python3`` kernel cannot start (its kernel
    spec names a missing interpreter), so ``POST /api/kernels`` answers an error: a
    chain step that fails, as on a broken build.
    """
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    args = [
        PYTHON, "-m", "jupyter_server", "--allow-root", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
        "--ServerApp.log_level=WARN",
    ]  # fmt: skip
    if regressed:  # the user data dir's kernel specs come first
        spec = root / ".data" / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        argv = ["/nonexistent/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
    env = {
        TOKEN_ENV: token,
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_DATA_DIR": str(root / ".data"),
        "IPYTHONDIR": str(root / ".ipython"),
        "JUPYTER_PREFER_ENV_PATH": "0",  # our data dir's kernel specs before the venv's
    }
    with running(args, port=port, env=env):
        yield f"http://127.0.0.1:{port}"


def running_kernels(base: str, token: str) -> list[dict]:
    response = httpx.get(
        f"{base}/api/kernels", headers={"Authorization": f"token {token}"}, timeout=TIMEOUT
    )
    response.raise_for_status()
    return response.json()


def _execute(base: str, kernel_id: str, cookies: httpx.Cookies) -> None:
    """One cell over the kernel's websocket: execute_request, then the reply and idle."""
    url = base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id, "username": "retape", "session": session,
            "msg_type": "execute_request", "version": "5.3",
        },
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {
            "code": "print(6 * 7)", "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
        },
    }  # fmt: skip
    with connect(
        f"{url}?session_id={session}",
        additional_headers={"Cookie": cookie},
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        ws.send(json.dumps(request))
        replied = idle = False
        while not (replied and idle):
            message = json.loads(ws.recv(timeout=TIMEOUT))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            replied |= kind == "execute_reply"
            idle |= kind == "status" and message["content"]["execution_state"] == "idle"


def jupyter_session(base: str, token: str) -> None:
    """What a user's client does: log in with the token (cookie + ``_xsrf``), start a
    kernel and run a cell on it, open a notebook session, create and edit a file,
    then delete everything it created."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        page = client.get("/login")
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert xsrf, "no _xsrf field on the login page"
        login = client.post("/login", data={"_xsrf": xsrf.group(1), "password": token})
        assert login.status_code == 302, login.status_code
        api = {"X-XSRFToken": client.cookies["_xsrf"]}
        client.get("/api/status").raise_for_status()
        kernel = client.post("/api/kernels", json={"name": "python3"}, headers=api)
        assert kernel.status_code == 201, kernel.text
        kernel_id = kernel.json()["id"]
        client.get(f"/api/kernels/{kernel_id}").raise_for_status()
        _execute(base, kernel_id, client.cookies)
        session = client.post(
            "/api/sessions",
            json={"path": "notes.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            headers=api,
        )
        assert session.status_code == 201, session.text
        session_id = session.json()["id"]
        client.get(f"/api/sessions/{session_id}").raise_for_status()
        created = client.post("/api/contents", json={"type": "file", "ext": ".txt"}, headers=api)
        assert created.status_code == 201, created.text
        name = created.json()["path"]
        body = {"type": "file", "format": "text", "content": "hello from retape"}
        client.put(f"/api/contents/{name}", json=body, headers=api).raise_for_status()
        client.get(f"/api/contents/{name}").raise_for_status()
        for path in (f"/api/sessions/{session_id}", f"/api/kernels/{kernel_id}"):
            assert client.delete(path, headers=api).status_code == 204
        assert client.delete(f"/api/contents/{name}", headers=api).status_code == 204
        left = client.get("/api/kernels", headers={"Authorization": f"token {token}"})
        assert left.json() == [], left.text


def record_session(out: Path, *, token: str, root: Path, home: Path) -> Path:
    """Record :func:`jupyter_session` against a fresh server through ``retape record``."""
    with jupyter_server(token, root) as base, start_recorder(base, out=out, home=home) as rec:
        jupyter_session(rec.url, token)
        code, output = rec.stop()
        assert code == 0, output
    return out


def session_id_placeholders(cassette: Path) -> list[str]:
    """The placeholders the client-chosen ``session_id=`` of the channels URL became: the
    name says session, so it is redacted like a credential and replay needs a value."""
    return sorted(set(re.findall(r"session_id=<redacted:(\d+)>", cassette.read_text())))


def password_placeholder(cassette: Path) -> str:
    """The number of the placeholder the login form's password (the token) became."""
    found = re.search(r"password=<redacted:(\d+)>", cassette.read_text())
    assert found, "the login password was not redacted"
    return found.group(1)
