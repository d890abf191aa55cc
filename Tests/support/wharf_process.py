"""A real `wharf` for the Python-driven tests (browser, n8n, OpenAPI): the debug build on a free
port with a fresh data directory, and a small JSON client for its API."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import http.server
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_PASSWORD = "admin password for the python tests"
ADMIN_KEY = "admin-key-for-the-python-tests-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """A threaded test server that does not drop connections in a burst: Wharf's deliverers open
    several at once, and the default accept backlog (5) makes the kernel drop SYNs, which a 1 s
    connect timeout with no retries (the tests' settings) turns into a lost delivery."""

    daemon_threads = True
    request_queue_size = 128


class Wharf:
    """The debug binary (`swift build` first) with test-friendly settings; `env` overrides them."""

    def __init__(self, **env):
        self.data = tempfile.mkdtemp(prefix="wharf-python-")
        binary = os.path.join(ROOT, ".build", "debug", "wharf")
        settings = dict(os.environ, DATA_DIR=self.data, HOST="127.0.0.1", PORT="0", ADMIN_PASSWORD=ADMIN_PASSWORD,
                        ADMIN_API_KEY=ADMIN_KEY, BCRYPT_COST="4", OUTBOUND_ALLOW="127.0.0.1/32",
                        WEBHOOK_RETRY_SCHEDULE="none", WEBHOOK_CONNECT_TIMEOUT_MS="1000", LOG_LEVEL="warning")
        settings.update(env)
        self.log = []
        self.process = subprocess.Popen([binary], env=settings, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.process.stdout.readline()
            self.log.append(line)
            match = re.search(r"listening on port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                self.base = f"http://127.0.0.1:{self.port}"
                threading.Thread(target=lambda: [self.log.append(l) for l in self.process.stdout], daemon=True).start()
                return
        raise RuntimeError("wharf did not start:\n" + "".join(self.log))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        shutil.rmtree(self.data, ignore_errors=True)

    def api(self, method, path, body=None, token=None, headers=None):
        """(status, JSON or None) of one call; `token` goes in as a bearer token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", "Bearer " + token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                return error.code, json.loads(text) if text else None
            except ValueError:
                return error.code, text

    def tenant(self, username, password=None, max_sessions=3):
        """Creates a tenant as the admin and returns (tenant id, JWT)."""
        password = password or f"{username} password 1"
        status, tenant = self.api("POST", "/v1/tenants", {"name": username.title(), "username": username, "password": password,
                                                          "maxSessions": max_sessions}, token=ADMIN_KEY)
        assert status == 201, (status, tenant)
        status, login = self.api("POST", "/v1/login", {"username": username, "password": password})
        assert status == 200, (status, login)
        return tenant["id"], login["token"]

    def wait_for(self, what, condition, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out waiting for " + what + "; wharf's last log lines:\n" + "".join(self.log[-20:]))
