"""The host's own HTTP services answer nginx on kept-alive connections (HTTP/1.1) without the
delayed-ACK stall: http.server sends the headers and the body as two writes, and with Nagle's
algorithm on, the body waits for the peer's delayed acknowledgement (about 40 ms on Linux) on every
request after the first. The upstream service's project pages cost 44 ms each through nginx that
way (a sequential pip install of 30 public projects paid 1.3 s), and every trusted-publishing
exchange 44 ms. Measured here on loopback, as nginx talks to them."""

import http.client
import http.server
import statistics
import threading
import time

import pytest
from privatepypi_host import oidc, upstream

# with the stall every answer after the first takes 40 ms or more; without it well under 5 ms
BOUND_SECONDS = 0.02


@pytest.mark.parametrize("handler", [upstream.Handler, oidc.Handler], ids=["upstream", "oidc"])
def test_a_kept_alive_connection_gets_each_answer_without_a_stall(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        seconds = []
        for _request in range(12):
            began = time.perf_counter()
            connection.request("GET", "/health")
            answer = connection.getresponse()
            assert answer.status == 200 and answer.read()
            seconds.append(time.perf_counter() - began)
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    # the first answer has no stall either way; the median of the rest is the kept-alive cost
    assert statistics.median(seconds[1:]) < BOUND_SECONDS, [round(s * 1000, 1) for s in seconds]
