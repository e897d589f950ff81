"""``relaykit serve`` as an operator runs it: a subprocess reading ``relaykit.toml``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from relaykit.service import hash_api_key

RELAYKIT = str(Path(sys.executable).with_name("relaykit"))
DOCUMENT = Path(__file__).parents[2] / "docs" / "openapi.json"
KEY = "rk_serve_command_test_key_0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, key: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_on_the_configured_port_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        'public_base_url = "https://relay.example.org"\n'
        f"[service]\nport = {port}\n"
        f'[tenants.north-high]\napi_keys = ["{hash_api_key(KEY)}"]\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    process = subprocess.Popen(
        [RELAYKIT, "-c", str(config), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "relaykit serve did not start"
                time.sleep(0.05)
        anonymous = _get(f"http://127.0.0.1:{port}/v1/connectors")
        keyed = _get(f"http://127.0.0.1:{port}/v1/connectors", KEY)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)

    assert health == (200, {"status": "ok"})
    assert anonymous[0] == 401
    assert keyed == (200, {"connectors": []})
    assert process.returncode == 0, stderr
    assert "https://relay.example.org" in stderr
    assert KEY not in stderr


def test_serve_openapi_prints_the_committed_document() -> None:
    done = subprocess.run(
        [RELAYKIT, "serve", "--openapi"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == DOCUMENT.read_text("utf-8")


def test_serve_with_a_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text("[service]\nmax_body_bytes = 0\n", encoding="utf-8")

    done = subprocess.run(
        [RELAYKIT, "-c", str(config), "serve"], capture_output=True, text=True, timeout=30
    )

    assert done.returncode == 2
    assert "service.max_body_bytes" in done.stderr
