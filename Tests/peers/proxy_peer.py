#!/usr/bin/env python3
"""Runs pproxy (an independent HTTP CONNECT and SOCKS5 proxy from PyPI) on 127.0.0.1 for the proxy
tests, both kinds requiring a username and password, and reports which tunnels it opened.

Prints `ready {"socks": PORT, "http": PORT, "username": U, "password": P}`, then answers one JSON
request per line:
  {"op": "log"}  ->  {"ok": true, "tunnels": [{"kind": "socks5"|"http", "target": "HOST:PORT"}],
                      "refused": N}   (N: connections refused for their credentials)
It stops pproxy and exits when stdin closes.
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

USERNAME = "wharf"
PASSWORD = "p@ss:w0rd"  # characters a URL must percent-encode


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    socks, http = free_port(), free_port()
    credentials = f"{USERNAME}:{PASSWORD}"
    # --auth 0: pproxy otherwise trusts an address for 30 days once it has authenticated, and the
    # tests send wrong passwords from the same address.
    command = [
        sys.executable, "-m", "pproxy", "-v", "--auth", "0",
        "-l", f"socks5://127.0.0.1:{socks}#{credentials}",
        "-l", f"http://127.0.0.1:{http}#{credentials}",
    ]
    # Unbuffered, so that each tunnel is in the log as soon as pproxy opens it.
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    proxy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    lines = []
    lock = threading.Lock()

    def read():
        for line in proxy.stdout:
            with lock:
                lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 20
    while time.time() < deadline:
        with lock:
            serving = sum(1 for line in lines if line.startswith("Serving on"))
        if serving == 2:
            break
        if proxy.poll() is not None:
            sys.exit("pproxy exited: " + "\n".join(lines))
        time.sleep(0.05)
    else:
        sys.exit("pproxy did not start: " + "\n".join(lines))

    print("ready " + json.dumps({"socks": socks, "http": http, "username": USERNAME, "password": PASSWORD}), flush=True)
    tunnel = re.compile(r"^(socks5|http) 127\.0\.0\.1:\d+ -> (\S+)$")
    try:
        for request in sys.stdin:
            if not request.strip():
                continue
            op = json.loads(request).get("op")
            if op != "log":
                print(json.dumps({"ok": False, "error": "unknown op", "message": str(op)}), flush=True)
                continue
            with lock:
                snapshot = list(lines)
            tunnels = [{"kind": m.group(1), "target": m.group(2)} for m in map(tunnel.match, snapshot) if m]
            refused = sum(1 for line in snapshot if "Unauthorized" in line)
            print(json.dumps({"ok": True, "tunnels": tunnels, "refused": refused, "lines": snapshot[-40:]}), flush=True)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


if __name__ == "__main__":
    main()
