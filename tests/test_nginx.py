"""docs/hosting.md's nginx configurations, run as written (issue 11).

The two ```nginx blocks of the hosting guide are taken from the document itself, given
loopback addresses in place of the example's, and run by Debian's nginx in front of real
`dpo-sim serve --prefix /dpo --use-xheaders` processes. Through the proxy: the page opens,
its websocket goes through nginx, it plays and a flip shows. With two backends behind
`ip_hash`: every client address keeps to one backend (HTML, status and websocket alike),
and different client networks are spread over both. Clients pick their address with a
source address in 127.0.0.0/8 (all of it is loopback on Linux): `ip_hash` hashes the first
three octets of an IPv4 address, so 127.0.k.1 for several k are different clients to it.

scripts/test installs nginx where it can (root and apt-get) and then sets
DPO_SIM_NEED_NGINX=1, which turns a missing nginx into a failure instead of a skip.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from browser import ROOT, DashboardPage, Server, free_port, wait_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HOSTING = ROOT / "docs" / "hosting.md"
#: nginx's temporary folders (NAME_temp_path), each in the test's own folder
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                     else None)
    if path is None:
        if os.environ.get("DPO_SIM_NEED_NGINX") == "1":
            pytest.fail("nginx is not installed (scripts/test installs Debian's nginx)")
        pytest.skip("nginx is not installed (scripts/test installs it with apt-get as root)")
    return path


def guide_blocks() -> list[str]:
    """The ```nginx blocks of docs/hosting.md, in order."""
    return re.findall(r"```nginx\n(.*?)```", HOSTING.read_text(), flags=re.S)


def substitute(text: str, old: str, new: str) -> str:
    """Replace one line of the guide's example; the guide must still hold it exactly once."""
    assert text.count(old) == 1, f"docs/hosting.md no longer says {old!r} once"
    return text.replace(old, new)


def one_backend_config(block: str, listen: int, backend: int) -> str:
    """The guide's first block is a `location` for an existing server { } block."""
    assert block.lstrip().startswith("# inside the server { ... } block")
    block = substitute(block, "proxy_pass http://127.0.0.1:5006;",
                       f"proxy_pass http://127.0.0.1:{backend};")
    return f"server {{\n    listen 127.0.0.1:{listen};\n{block}}}\n"


def two_backend_config(block: str, listen: int, backends: tuple[int, int]) -> str:
    block = substitute(block, "server 10.0.0.11:5006;", f"server 127.0.0.1:{backends[0]};")
    block = substitute(block, "server 10.0.0.12:5006;", f"server 127.0.0.1:{backends[1]};")
    return substitute(block, "listen 443 ssl;", f"listen 127.0.0.1:{listen};")


class Nginx:
    """Debian's nginx in the foreground with everything under one temporary folder."""

    def __init__(self, tmp: Path, servers: str):
        for d in TEMP_PATHS:
            (tmp / d).mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""   # temp files in a private /tmp
        conf = tmp / "nginx.conf"
        conf.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log info;\nevents {{}}\n"
            f"http {{\n    access_log {tmp}/access.log;\n"
            + "".join(f"    {d}_temp_path {tmp}/{d};\n" for d in TEMP_PATHS)
            + servers + "}\n")
        self.tmp = tmp
        self.proc = subprocess.Popen([nginx_binary(), "-e", str(tmp / "error.log"),
                                      "-p", str(tmp), "-c", str(conf)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return (self.tmp / "error.log").read_text() if (self.tmp / "error.log").exists() else ""


def status_from(port: int, path: str, source: str = "127.0.0.1") -> dict:
    """GET path/dpo-sim-status on port, from the client address `source`."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", path + "dpo-sim-status")
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read()[:300])
        return json.loads(r.read())
    finally:
        c.close()


def assert_no_sessions(ports: list[int]) -> None:
    """No backend holds a session (their readiness probes and the status requests make
    none), so the page's session is the only one after it opens."""
    assert not any(status_from(p, "/dpo/")["sessions"] for p in ports), \
        [status_from(p, "/dpo/") for p in ports]


def play_and_flip(browser, url: str, proxy_port: int) -> DashboardPage:
    """Open the page through the proxy, play, flip a row: everything works through nginx."""
    d = DashboardPage(browser, url).open("?speed=60")
    assert d.websockets and all(f"127.0.0.1:{proxy_port}/dpo/" in w for w in d.websockets), \
        d.websockets
    d.play_until(20)
    was = d.values()["flip-0"]["pressed"]
    d.flip(0).click()
    d.wait_js("was => window.__e2e.q('[data-testid=\"flip-0\"]')"
              ".getAttribute('aria-pressed') !== was", was)
    assert d.step() >= 20 and not d.errors, d.errors
    return d


@pytest.fixture()
def backends():
    proxy_ports = (free_port(), free_port())
    origin = [a for p in proxy_ports for a in ("--allow-websocket-origin", f"127.0.0.1:{p}")]
    # ready when the status answers: a GET of the page would leave a session (to wait out)
    servers = [Server("--prefix", "/dpo", "--use-xheaders", *origin, path="dpo/",
                      ready="dpo-sim-status") for _ in range(2)]
    yield proxy_ports, servers
    for s in servers:
        s.stop()


def test_hosting_guides_nginx_configurations_work_as_written(browser, backends, tmp_path):
    (one_port, two_port), servers = backends
    first, second = guide_blocks()[:2]
    assert "upstream dpo_sim" in second and "ip_hash;" in second
    nginx = Nginx(tmp_path, one_backend_config(first, one_port, servers[0].port)
                  + two_backend_config(second, two_port, (servers[0].port, servers[1].port)))
    try:
        wait_http(f"http://127.0.0.1:{two_port}/dpo/dpo-sim-status")
        pids = {status_from(s.port, "/dpo/")["pid"]: s.port for s in servers}
        assert len(pids) == 2

        # ip_hash: each client network keeps to one backend, and the networks use both
        seen = {}
        for k in range(1, 13):
            source = f"127.0.{k}.1"
            answers = {status_from(two_port, "/dpo/", source)["pid"] for _ in range(3)}
            assert len(answers) == 1, f"{source} reached {answers}: not sticky"
            seen[source] = answers.pop()
        assert set(seen.values()) == set(pids), f"one backend took every client: {seen}"

        # the page through each configuration: HTML, scripts, websocket and play
        assert_no_sessions([s.port for s in servers])
        mine = pids[status_from(two_port, "/dpo/")["pid"]]     # where 127.0.0.x goes
        d = play_and_flip(browser, f"http://127.0.0.1:{two_port}/dpo/", two_port)
        counts = {s.port: status_from(s.port, "/dpo/")["sessions"] for s in servers}
        assert counts[mine] == 1 and sum(counts.values()) == 1, (mine, counts)
        d.close()
        d = play_and_flip(browser, f"http://127.0.0.1:{one_port}/dpo/", one_port)
        d.close()
    finally:
        log = nginx.stop()
        out = [s.stop() for s in servers]
    assert "[emerg]" not in log and "[crit]" not in log, log[-2000:]
    assert not any("Traceback" in o for o in out), out
