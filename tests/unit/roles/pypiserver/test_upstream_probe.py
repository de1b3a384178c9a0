"""Over SSH, the role asks the upstream from the host before anything changes (tasks/upstream_probe.yml): an
upstream the host cannot reach stops the run with the URL and the error, within the upstream's timeout. Runs the
role's own probe tasks through ansible-playbook on localhost (the host here) against local servers."""

import http.server
import socket
import threading
import time

import pytest
from localplay import role_play, run_play


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    play = tmp_path_factory.mktemp("probe") / "play.yml"
    play.write_text(role_play("upstream_probe"))
    return lambda **extra: run_play(play, dict({"pypiserver_upstream_enabled": True}, **extra), timeout=120)


class Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    seen = []

    def do_HEAD(self):  # noqa: N802
        Answer.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.send_response(Answer.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Answer.status, Answer.seen = 200, []
    yield f"http://127.0.0.1:{server.server_port}/simple/"
    server.shutdown()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_reachable_upstream_passes_with_one_head_request(probe, upstream):
    result = probe(pypiserver_upstream_url=upstream, pypiserver_upstream_username="mirror",
                   pypiserver_upstream_password="probe-secret-51aa")
    assert result.returncode == 0, result.stdout[-3000:]
    assert [(m, p) for m, p, _auth in Answer.seen] == [("HEAD", "/simple/")]
    assert Answer.seen[0][2].startswith("Basic ")  # its credentials, as the service will send them
    assert "probe-secret-51aa" not in result.stdout + result.stderr


@pytest.mark.parametrize("status", [405, 501])
def test_a_server_that_does_not_do_head_was_still_reached(probe, upstream, status):
    Answer.status = status
    result = probe(pypiserver_upstream_url=upstream)
    assert result.returncode == 0, result.stdout[-3000:]


def test_an_unreachable_upstream_stops_the_run_naming_the_url_and_the_error(probe):
    url = f"http://127.0.0.1:{_closed_port()}/simple/"
    result = probe(pypiserver_upstream_url=url)
    printed = " ".join(result.stdout.split())
    assert result.returncode == 2, printed[-3000:]
    assert f"This host cannot use the upstream {url}" in printed and "Connection refused" in printed
    assert "Nothing has been changed" in printed


@pytest.mark.parametrize("status", [401, 503])
def test_a_refusal_or_a_server_error_is_named(probe, upstream, status):
    Answer.status = status
    result = probe(pypiserver_upstream_url=upstream)
    printed = " ".join(result.stdout.split())
    assert result.returncode == 2 and f"it answered HTTP {status}" in printed, printed[-3000:]


def test_a_silent_upstream_fails_within_the_timeout(probe):
    """A host that accepts and never answers (a black-holing firewall looks like this or worse)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        started = time.monotonic()
        result = probe(pypiserver_upstream_url=url, pypiserver_upstream_timeout_seconds=2)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    printed = " ".join(result.stdout.split())
    assert result.returncode == 2 and f"This host cannot use the upstream {url}" in printed, printed[-3000:]
    assert "timed out" in printed.lower() and "(within 2 s)" in printed
    assert elapsed < 30  # ansible-playbook's own start-up included
