#!/usr/bin/env python3
"""How much resident memory `wharf` takes to move one large document each way.

The target (the media issue): a 100 MiB document through Wharf both ways grows its resident memory by
less than 16 MiB. This is a benchmark, not a test: it prints the figures beside the budget and exits 0
even when they are over it (with an "OVER BUDGET" line); it exits 1 only when the run itself fails (a
peer does not start, a transfer times out, the bytes do not match).

usage: python3 Benchmarks/media_memory.py [--size-mib 100] [--budget-mib 16] [--timeout 600] [--rounds 1]

  --rounds N repeats both directions N times in the same wharf (a row each), to tell a first-use
  cost from one each document pays.
  The binary: $WHARF_BINARY, else .build/release/wharf if it exists, else .build/debug/wharf.
  Python 3.11 and the PyPI packages the peers under Tests/peers need (websockets, noiseprotocol,
  xeddsa, cryptography, pyaileys); `make test-deps` installs them.

What runs, all on 127.0.0.1: Tests/peers/fake_whatsapp.py (the WhatsApp server, the phone and the
HTTPS media host with its test CA), `wharf` with a fresh data directory, linked as 491701234567 by the
fake phone, a webhook receiver in this process, and Tests/peers/wa_contact.py (pyaileys) as the
contact 4915550002 "Bob".

The two directions, each on the same random file:
  inbound   Bob sends the document; Wharf gets the message, fetches the encrypted file from the media
            host and decrypts it to disk (eagerly, the default), posts message.received, and the
            signed URL in that event is downloaded here in 1 MiB chunks and its SHA-256 compared.
  outbound  The file is POSTed as multipart/form-data to /v1/sessions/{id}/messages (streamed from
            disk); Wharf stores the upload, encrypts it and uploads it to the media host and sends the
            message; the job is polled until `sent`. Then Bob downloads and decrypts it and its
            SHA-256 is compared (after the measured window: Wharf has no part in that).

Memory, from /proc/PID/status of the wharf process: before each direction VmRSS is the baseline and
`5` written to /proc/PID/clear_refs resets VmHWM (the peak RSS) to it; after the direction VmHWM is the
peak and growth = peak - baseline. VmRSS is also sampled every 50 ms during the direction, and the
largest sample is printed beside VmHWM as a cross-check (it can only be lower or equal). Should
clear_refs not be writable, the sampled peak stands in and the output says so.

The peers (pyaileys reads and encrypts a file whole in memory) use a few hundred MiB of their own; only
wharf's process is measured. Disk: about 7 times the file size in temporary files, all removed.
"""
import argparse
import hashlib
import http.client
import http.server
import json
import os
import platform
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "support"))
from wharf_process import ADMIN_KEY, ADMIN_PASSWORD  # noqa: E402  (the Python tests' admin credentials)

MIB = 1 << 20
CHUNK = MIB
WHARF_PHONE = "491701234567"
CONTACT_PHONE = "4915550002"
SAMPLE_EVERY = 0.05  # seconds


class Failure(Exception):
    """The run could not be completed (as opposed to figures over budget)."""


# Processes and their output


class Lines:
    """A child's output stream read by a thread, so that lines can be awaited with a timeout; the last
    lines are kept for error messages."""

    def __init__(self, stream, name):
        self.name = name
        self.queue = queue.Queue()
        self.tail = []
        threading.Thread(target=self.pump, args=(stream,), daemon=True).start()

    def pump(self, stream):
        for line in stream:
            self.tail = (self.tail + [line])[-40:]
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout, what):
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise Failure(f"{self.name}: no {what} within {timeout:.0f} s") from None
        if line is None:
            raise Failure(f"{self.name} exited while waiting for {what}")
        return line.rstrip("\n")


def stop(process, gently=None, timeout=20):
    """Ends one child started here: `gently` (close its stdin, or terminate) first, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    try:
        if gently:
            gently()
        else:
            process.terminate()
        process.wait(timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait(timeout=10)


def log_tail(path, lines=30):
    try:
        with open(path, errors="replace") as file:
            return "".join(file.readlines()[-lines:])
    except OSError:
        return ""


class FakeWhatsApp:
    def __init__(self, work):
        self.log = os.path.join(work, "fake_whatsapp.log")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests", "peers", "fake_whatsapp.py")],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines = Lines(self.process.stdout, "fake_whatsapp.py")
        try:
            words = self.lines.next(60, "ready line").split()
        except Failure as error:
            raise Failure(f"{error}\n{log_tail(self.log)}") from None
        if len(words) != 4 or words[0] != "ready":
            raise Failure(f"fake_whatsapp.py said {' '.join(words)!r}, not 'ready WS CONTROL ROOTKEY'")
        self.ws, self.control, self.root = words[1:]
        self.media = request_json("GET", self.control + "/media/info")[1]

    def post(self, path, body):
        return request_json("POST", self.control + path, body)

    def stop(self):
        stop(self.process, gently=self.process.stdin.close)


class Contact:
    """wa_contact.py: one JSON request per line, one answer per line, in order."""

    def __init__(self, server, work):
        self.log = os.path.join(work, "wa_contact.log")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "Tests", "peers", "wa_contact.py"), "--control", server.control,
                 "--ws", server.ws, "--root", server.root, "--phone", CONTACT_PHONE, "--push-name", "Bob"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines = Lines(self.process.stdout, "wa_contact.py")
        try:
            line = self.lines.next(90, "ready line")
            while not line.startswith("ready "):
                line = self.lines.next(90, "ready line")
        except Failure as error:
            raise Failure(f"{error}\n{log_tail(self.log)}") from None
        self.ready = json.loads(line[len("ready "):])

    def call(self, request, timeout):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.next(max(0.1, deadline - time.monotonic()), f"answer to {request['op']}")
            except Failure as error:
                raise Failure(f"{error}\n{log_tail(self.log)}") from None
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not a protocol line
            if isinstance(answer, dict) and "event" not in answer:
                break
        if not answer.get("ok"):
            raise Failure(f"wa_contact.py {request['op']} failed: {answer.get('error')}")
        return answer

    def stop(self):
        stop(self.process, gently=self.process.stdin.close)


def wharf_binary():
    chosen = os.environ.get("WHARF_BINARY")
    if chosen:
        return os.path.abspath(chosen)
    release = os.path.join(ROOT, ".build", "release", "wharf")
    return release if os.path.exists(release) else os.path.join(ROOT, ".build", "debug", "wharf")


class Wharf:
    """The gateway, started as Tests/support/wharf_process.py starts it (same admin credentials and
    test-friendly settings), with the fake server's addresses and the binary chosen above."""

    def __init__(self, binary, server, work):
        if not os.access(binary, os.X_OK):
            raise Failure(f"no wharf executable at {binary} (build it, or set WHARF_BINARY)")
        self.data = os.path.join(work, "data")
        os.mkdir(self.data)
        settings = dict(os.environ, DATA_DIR=self.data, HOST="127.0.0.1", PORT="0", ADMIN_PASSWORD=ADMIN_PASSWORD,
                        ADMIN_API_KEY=ADMIN_KEY, BCRYPT_COST="4", OUTBOUND_ALLOW="127.0.0.1/32",
                        WEBHOOK_RETRY_SCHEDULE="none", WEBHOOK_CONNECT_TIMEOUT_MS="1000", LOG_LEVEL="warning",
                        WA_WS_URL=server.ws, WA_ROOT_KEY=server.root, WA_CA_FILE=server.media["media_ca_file"])
        self.process = subprocess.Popen([binary], env=settings, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pid = self.process.pid
        self.lines = Lines(self.process.stdout, "wharf")
        deadline = time.monotonic() + 60
        while True:
            try:
                line = self.lines.next(max(0.1, deadline - time.monotonic()), "'listening on port' line")
            except Failure as error:
                raise Failure(f"{error}\n{''.join(self.lines.tail)}") from None
            match = re.search(r"listening on port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        self.base = f"http://127.0.0.1:{self.port}"

    def api(self, method, path, body=None, token=ADMIN_KEY):
        return request_json(method, self.base + path, body, token)

    def stop(self):
        stop(self.process)


def request_json(method, url, body=None, token=None, timeout=30):
    """(status, decoded JSON body or None) of one small request."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        connection.request(method, parts.path + ("?" + parts.query if parts.query else ""), body=data, headers=headers)
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(text) if text else None
    except ValueError:
        return response.status, text.decode(errors="replace")


def wait_for(what, condition, timeout, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")


class WebhookReceiver:
    """Records every JSON event Wharf POSTs to it."""

    def __init__(self):
        self.events = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(body)
                except ValueError:
                    event = None
                self.send_response(204)
                self.end_headers()
                if isinstance(event, dict):
                    with receiver.changed:
                        receiver.events.append(event)
                        receiver.changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, what, match, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = next((event for event in self.events if match(event)), None)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    types = sorted({str(event.get("type")) for event in self.events})
                    raise Failure(f"no {what} webhook within {timeout:.0f} s (got: {', '.join(types) or 'none'})")
                self.changed.wait(left)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# Memory


def status_kib(pid):
    """VmRSS, VmHWM and the parts of VmRSS (RssAnon: heap and stacks; RssFile: mapped files, the
    executable's own code among them) of a process, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[name] = int(rest.split()[0])
    return values


def cpu_seconds(pid):
    """User plus system CPU time a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid):
    """Resets VmHWM to the current RSS; whether the kernel let us."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


class Sampler:
    """VmRSS every 50 ms on a thread, keeping the largest."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.peak_anon = 0
        self.peak_file = 0
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                values = status_kib(self.pid)
                self.peak = max(self.peak, values["VmRSS"])
                self.peak_anon = max(self.peak_anon, values.get("RssAnon", 0))
                self.peak_file = max(self.peak_file, values.get("RssFile", 0))
                self.samples += 1
            except (OSError, KeyError):
                return
            if self.done.wait(SAMPLE_EVERY):
                return

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peak


class Window:
    """One direction's measurement: baseline, reset peak, samples, then the peak."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        values = status_kib(self.pid)
        self.baseline = values["VmRSS"]
        self.baseline_anon = values.get("RssAnon", 0)
        self.baseline_file = values.get("RssFile", 0)
        self.hwm_reset = reset_peak(self.pid)
        self.cpu = cpu_seconds(self.pid)
        self.sampler = Sampler(self.pid)
        self.started = time.monotonic()
        return self

    def close(self):
        """Ends the window (the first call counts)."""
        if hasattr(self, "elapsed"):
            return
        self.elapsed = time.monotonic() - self.started
        self.sampled = self.sampler.stop()
        self.cpu = cpu_seconds(self.pid) - self.cpu
        hwm = status_kib(self.pid)["VmHWM"]
        self.hwm = hwm if self.hwm_reset else None
        self.peak = max(hwm if self.hwm_reset else 0, self.sampled)
        self.growth = self.peak - self.baseline

    def __exit__(self, *failure):
        if failure[0] is None:
            self.close()
        else:
            self.sampler.stop()
        return False


# The two directions


def make_file(path, size):
    """A random file of `size` bytes, written in 1 MiB chunks; its SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            file.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_streaming(port, path, timeout):
    """GETs a Wharf URL in 1 MiB reads, waiting out 503 (still being fetched); (size, SHA-256 hex,
    how many 503s came first)."""
    deadline = time.monotonic() + timeout
    waits = 0
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            if response.status == 503 and time.monotonic() < deadline:
                response.read()
                waits += 1
                time.sleep(min(1.0, float(response.getheader("Retry-After") or 1)))
                continue
            if response.status != 200:
                raise Failure(f"GET {path.split('?')[0]}: {response.status} {response.read(2000).decode(errors='replace')}")
            digest = hashlib.sha256()
            size = 0
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            return size, digest.hexdigest(), waits
        finally:
            connection.close()


def post_multipart(port, path, token, fields, file_field, file_name, content_type, file_path):
    """POSTs a multipart/form-data form with one file part streamed from disk (Content-Length set, so
    not chunked); (status, decoded JSON)."""
    boundary = "wharf-bench-" + os.urandom(12).hex()
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
             f"Content-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = os.path.getsize(file_path)

    def body():
        yield head
        with open(file_path, "rb") as file:
            while chunk := file.read(CHUNK):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", path, body=body(), headers={
            "Authorization": "Bearer " + token, "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail))})
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text.decode(errors="replace")


def inbound(wharf, contact, hooks, source, sha, size, timeout):
    """Bob sends the document; it is read back through the webhook's signed URL."""
    phases = {}
    with Window(wharf.pid) as window:
        sent = contact.call({"op": "send_media", "to": f"{WHARF_PHONE}@s.whatsapp.net", "kind": "document", "path": source,
                             "fileName": "big.pdf", "mimetype": "application/pdf", "caption": "inbound benchmark",
                             "ackTimeout": 120}, timeout=timeout)
        phases["contact encrypted and uploaded, message sent"] = time.monotonic() - window.started
        message_id = sent["id"]
        event = hooks.wait(f"message.received of {message_id}", lambda e: e.get("type") == "message.received"
                           and isinstance(e.get("data"), dict) and e["data"].get("id") == message_id, timeout)
        phases["message.received webhook"] = time.monotonic() - window.started
        media = event["data"].get("media")
        if isinstance(media, list):
            media = media[0] if media else None
        if not isinstance(media, dict) or not media.get("url"):
            raise Failure(f"the message.received event has no media URL: {json.dumps(event)[:2000]}")
        if media.get("sha256") not in (None, sha):
            raise Failure(f"the event's media.sha256 {media.get('sha256')} is not the file's {sha}")
        link = urllib.parse.urlsplit(media["url"])
        got_size, got_sha, waits = fetch_streaming(wharf.port, link.path + "?" + link.query, timeout)
        window.close()
        phases[f"signed URL downloaded (after {waits} × 503 still fetching)"] = window.elapsed
    if (got_size, got_sha) != (size, sha):
        raise Failure(f"inbound: got {got_size} bytes with SHA-256 {got_sha}, sent {size} with {sha}")
    return window, phases


def outbound(wharf, contact, token, session, source, sha, size, work, timeout):
    """The document is uploaded to the API and sent to Bob, who downloads it."""
    phases = {}
    with Window(wharf.pid) as window:
        status, job = post_multipart(wharf.port, f"/v1/sessions/{session}/messages", token,
                                     {"chatId": "+" + CONTACT_PHONE, "type": "document", "caption": "outbound benchmark"},
                                     "file", "big.pdf", "application/pdf", source)
        phases["upload accepted (202)"] = time.monotonic() - window.started
        if status != 202 or not isinstance(job, dict) or "jobId" not in job:
            raise Failure(f"POST messages (multipart): {status} {job}")

        def finished():
            found = wharf.api("GET", f"/v1/jobs/{job['jobId']}", token=token)[1]
            return found if isinstance(found, dict) and found.get("status") in ("sent", "failed") else None

        done = wait_for(f"job {job['jobId']} to be sent", finished, timeout, every=0.2)
        window.close()
        phases["job sent"] = window.elapsed
    if done["status"] != "sent" or not done.get("messageId"):
        raise Failure(f"outbound job failed: {json.dumps(done)[:2000]}")
    # Bob's side, outside the window: Wharf is not involved in the download.
    contact.call({"op": "wait", "for": "message", "match": {"id": done["messageId"]}, "timeout": timeout}, timeout=timeout + 10)
    out = os.path.join(work, "bob-download.bin")
    contact.call({"op": "download", "id": done["messageId"], "path": out}, timeout=timeout)
    got_size, got_sha = os.path.getsize(out), file_sha256(out)
    os.remove(out)
    if (got_size, got_sha) != (size, sha):
        raise Failure(f"outbound: Bob got {got_size} bytes with SHA-256 {got_sha}, sent {size} with {sha}")
    return window, phases


# Setup and report


def link_session(wharf, server, hooks, timeout):
    """A tenant without humanizing delays, its webhook, and a web session linked by the fake phone."""
    tenant = {"name": "Bench", "username": "bench", "password": "bench password 1", "maxSessions": 2,
              "settings": {"humanize": {"typingMs": 0, "pauseMs": 0, "gapMs": 0, "markRead": False}}}
    status, body = wharf.api("POST", "/v1/tenants", tenant)
    if status != 201:
        raise Failure(f"POST /v1/tenants: {status} {body}")
    status, body = wharf.api("POST", "/v1/login", {"username": "bench", "password": "bench password 1"})
    if status != 200:
        raise Failure(f"POST /v1/login: {status} {body}")
    token = body["token"]
    status, body = wharf.api("POST", "/v1/webhooks", {"url": hooks.url}, token=token)
    if status not in (200, 201):
        raise Failure(f"POST /v1/webhooks: {status} {body}")
    status, body = wharf.api("POST", "/v1/sessions", {"name": "phone", "engine": "web"}, token=token)
    if status not in (200, 201):
        raise Failure(f"POST /v1/sessions: {status} {body}")
    session = body["id"]
    qr = wait_for("a QR code", lambda: (wharf.api("GET", f"/v1/sessions/{session}/qr", token=token)[1] or {}).get("qr"), timeout)
    status, body = server.post("/scan", {"qr": qr, "phone": WHARF_PHONE})
    if status != 200:
        raise Failure(f"POST /scan: {status} {body}")
    wait_for("the session to connect",
             lambda: (wharf.api("GET", f"/v1/sessions/{session}", token=token)[1] or {}).get("status") == "connected", timeout)
    return token, session


def machine():
    memory = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1])
    return memory, os.cpu_count(), len(os.sched_getaffinity(0))


def revision():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10)
        if head.returncode == 0:
            return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def composition(window):
    """What the sampled peaks were made of, and the CPU time wharf used."""
    sampler = window.sampler
    return (f"  {sampler.samples} RSS samples; sampled peaks: RssAnon {mib(sampler.peak_anon)} "
            f"(+{mib(sampler.peak_anon - window.baseline_anon)}), RssFile {mib(sampler.peak_file)} "
            f"(+{mib(sampler.peak_file - window.baseline_file)}); wharf CPU {window.cpu:.2f} s")


def report(rows, size, budget_mib, hwm_ok):
    budget_kib = budget_mib * 1024
    headers = ["direction", "file", "baseline RSS", "peak RSS", "sampled peak", "growth", "budget", "within budget",
               "elapsed", "MiB/s"]
    table = [headers]
    for name, window in rows:
        table.append([name, f"{size / MIB:.0f} MiB", mib(window.baseline), mib(window.peak),
                      mib(window.sampled), mib(window.growth), f"{budget_mib} MiB", "yes" if window.growth < budget_kib else "no",
                      f"{window.elapsed:.2f} s", f"{size / MIB / window.elapsed:.1f}"])
    widths = [max(len(row[column]) for row in table) for column in range(len(headers))]
    for index, row in enumerate(table):
        cells = (cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths)))
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if not hwm_ok:
        print("note: /proc/PID/clear_refs was not writable, so 'peak RSS' is the sampled peak (VmHWM could not be reset)")
    over = [(name, window) for name, window in rows if window.growth >= budget_kib]
    for name, window in over:
        print(f"OVER BUDGET: {name} grew resident memory by {mib(window.growth)}, budget {budget_mib} MiB")
    if not over:
        print(f"within budget: both directions grew resident memory by less than {budget_mib} MiB")


def main():
    parser = argparse.ArgumentParser(description="Resident memory of wharf while a large document goes through it both ways.")
    parser.add_argument("--size-mib", type=int, default=100, help="the document's size (default 100; Wharf takes up to 100)")
    parser.add_argument("--budget-mib", type=int, default=16, help="the allowed growth of resident memory (default 16)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed for each wait (default 600)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat both directions this many times in the same wharf, a row each (default 1)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    binary = wharf_binary()
    build = "release" if "/release/" in binary else "debug" if "/debug/" in binary else "unknown"
    memory, cpus, usable = machine()
    command = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:])

    print("Wharf media memory benchmark")
    print(f"command: {command}")
    print(f"binary: {os.path.relpath(binary, ROOT) if binary.startswith(ROOT) else binary} ({build} build), revision {revision()}")
    print(f"machine: {cpus} CPUs ({usable} usable), MemTotal {memory / 1024 / 1024:.1f} GiB ({memory} kB), "
          f"{platform.system()} {platform.release()} {platform.machine()}, Python {platform.python_version()}")
    sys.stdout.flush()

    if not os.access(binary, os.X_OK):
        print(f"benchmark failed: no wharf executable at {binary} (build it, or set WHARF_BINARY)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="wharf-media-bench-")
    server = wharf = contact = hooks = None
    try:
        source = os.path.join(work, "big.pdf")
        sha = make_file(source, size)
        print(f"file: {size} bytes of random data, SHA-256 {sha}")
        server = FakeWhatsApp(work)
        hooks = WebhookReceiver()
        wharf = Wharf(binary, server, work)
        token, session = link_session(wharf, server, hooks, 60)
        contact = Contact(server, work)
        time.sleep(2)  # let the freshly linked session settle before the first baseline
        print(f"wharf pid {wharf.pid}, port {wharf.port}; RSS when linked and idle: {mib(status_kib(wharf.pid)['VmRSS'])}")
        sys.stdout.flush()

        rows = []
        for number in range(1, args.rounds + 1):
            suffix = f" #{number}" if args.rounds > 1 else ""
            window, phases = inbound(wharf, contact, hooks, source, sha, size, args.timeout)
            rows.append(("inbound" + suffix, window))
            print(f"inbound{suffix}: " + "; ".join(f"{name} at {seconds:.2f} s" for name, seconds in phases.items()))
            print(composition(window))
            time.sleep(2)
            window, phases = outbound(wharf, contact, token, session, source, sha, size, work, args.timeout)
            rows.append(("outbound" + suffix, window))
            print(f"outbound{suffix}: " + "; ".join(f"{name} at {seconds:.2f} s" for name, seconds in phases.items())
                  + "; Bob's download matched")
            print(composition(window))
            time.sleep(2)
        print(f"wharf RSS at the end: {mib(status_kib(wharf.pid)['VmRSS'])}")
        print()
        report(rows, size, args.budget_mib, all(window.hwm_reset for _, window in rows))
        return 0
    except Failure as failure:
        sys.stdout.flush()
        print(f"benchmark failed: {failure}", file=sys.stderr)
        if wharf is not None and wharf.lines.tail:
            print("last wharf output:\n" + "".join(wharf.lines.tail), file=sys.stderr)
        return 1
    finally:
        for peer in (contact, wharf, server, hooks):
            if peer is not None:
                try:
                    peer.stop()
                except Exception as error:  # cleanup goes on
                    print(f"while stopping {type(peer).__name__}: {error}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
