#!/usr/bin/env python3
"""End-to-end check of fake_whatsapp.py as a relay, with pyaileys clients (wa_contact.py) only: it
proves the relay independently of Wharf's Swift code.

usage: python3 Tests/peers/test_relay.py     (needs pyaileys==0.1.5 and the fake server's packages)

Three clients: Alice (her phone, device 0), Bob (his phone, device 0) and Bob's companion device.
The steps share one server and run in order; each prints `ok`/`FAIL`, the last line is the count.
The media steps go through the fake media host over HTTPS (trusting only its test CA) with files
made up on the spot, a 20 MiB document among them; the media retry request is sealed here, with
`cryptography`, as a client would seal it.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import protowire  # the script's own folder is on sys.path

HERE = Path(__file__).resolve().parent
ALICE_PHONE, BOB_PHONE, CAROL_PHONE, DAVE_PHONE = "4915550001", "4915550002", "4915550003", "4915550004"


class Process:
    def __init__(self, *args, log=None):
        env = dict(os.environ)
        if log:
            env["WA_PEER_LOG"] = log
        self.process = subprocess.Popen([sys.executable, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=open(log or os.devnull, "a"), text=True, env=env, cwd=HERE)

    def line(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.process.args[1]} ended")
        return line.strip()

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Server(Process):
    def __init__(self):
        super().__init__(HERE / "fake_whatsapp.py", log=os.environ.get("FAKE_WHATSAPP_LOG"))
        _, self.ws, self.control_url, self.root = self.line().split()

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.control_url + path, data, {"Content-Type": "application/json"}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as failure:
            return failure.code, json.load(failure)

    def state(self):
        return self.control("GET", "/state")[1]

    def media(self, method, target, body=None, headers=None, host=None):
        """One HTTPS request to the media host, trusting its test CA alone -> (status, body bytes)."""
        info = self.control("GET", "/media/info")[1]
        address, port = info["media_host"].split(":")
        context = ssl.create_default_context(cafile=info["media_ca_file"])
        connection = http.client.HTTPSConnection(host or address, int(port), context=context, timeout=30)
        try:
            connection.request(method, target, body, headers or {})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()


class Peer(Process):
    def __init__(self, server, phone, name, device=None):
        args = [HERE / "wa_contact.py", "--ws", server.ws, "--control", server.control_url, "--root", server.root,
                "--phone", phone, "--push-name", name]
        if device is not None:
            args += ["--device", device]
        super().__init__(*args, log=os.environ.get("WA_PEER_LOG"))
        word, _, rest = self.line().partition(" ")
        assert word == "ready", f"{name}: {word} {rest}"
        self.info = json.loads(rest)
        self.jid, self.lid, self.name = self.info["jid"], self.info["lid"], name
        self.user = self.jid.split(":")[0].split("@")[0] + "@s.whatsapp.net"
        self.lid_user = self.lid.split(":")[0].split("@")[0] + "@lid"

    def __call__(self, op, **request):
        answer = self.ask(op, **request)
        if not answer.get("ok") and op != "wait":
            raise AssertionError(f"{self.name} {op}: {answer}")
        return answer

    def ask(self, op, **request):
        """The answer as it is, a failure included."""
        self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.line())

    def wait(self, kind, count=1, timeout=10, **match):
        answer = self("wait", **{"for": kind, "match": match, "count": count, "timeout": timeout})
        assert answer["ok"], f"{self.name} waited for {count} {kind} {match}: {answer['items']}"
        return answer["items"]


results = []


def check(name):
    def run(step):
        started = time.monotonic()
        try:
            step()
            results.append(True)
            print(f"ok   {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception:
            results.append(False)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        return step
    return run


def main():
    started = time.monotonic()
    server = Server()
    alice = Peer(server, ALICE_PHONE, "Alice")
    bob = Peer(server, BOB_PHONE, "Bob")
    companion = Peer(server, BOB_PHONE, "Bob")  # device 2 of Bob's account
    peers = [alice, bob, companion]
    try:
        run_steps(server, alice, bob, companion)
        run_media_steps(server, alice, bob, companion)
        run_group_steps(server, alice, bob, companion)
    finally:
        for peer in peers:
            peer.close()
        server.close()
    failed = results.count(False)
    print(f"took {time.monotonic() - started:.1f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run_steps(server, alice, bob, companion):
    first = {}

    @check("the companion is device 2 of Bob's account; usync lists devices that uploaded keys")
    def _():
        assert companion.jid == f"{BOB_PHONE}:2@s.whatsapp.net", companion.jid
        accounts = server.state()["accounts"]
        assert accounts[BOB_PHONE]["listed"] == [0, 2], accounts[BOB_PHONE]
        devices = alice.wait("notification", type="devices")
        assert any(f"{BOB_PHONE}:2@s.whatsapp.net" in d["node"] for d in devices), devices

    @check("text from Alice reaches both of Bob's devices")
    def _():
        first["id"] = alice("send_text", to=bob.user, text="hello Bob")["id"]
        for device in (bob, companion):
            message = device.wait("message", id=first["id"])[0]
            assert message["text"] == "hello Bob" and message["chat"] == alice.user, message
            assert message["encTypes"] == ["pkmsg"] and message["attrs"]["notify"] == "Alice", message
            assert message["from"] == alice.user, message  # her device 0: no ":0" on the wire

    @check("Bob replies with a quote; his companion gets it as a DeviceSentMessage")
    def _():
        reply = bob("send_text", to=alice.user, text="hi Alice", quoted={"id": first["id"], "text": "hello Bob"},
                    mentions=[alice.user])["id"]
        message = alice.wait("message", id=reply)[0]
        assert message["text"] == "hi Alice" and message["quotedId"] == first["id"], message
        assert message["mentions"] == [alice.user] and "extendedTextMessage" in message["message"], message
        assert message["quotedText"] == "hello Bob" and message["quotedParticipant"] == alice.user, message
        copy = companion.wait("message", id=reply)[0]
        assert copy["deviceSent"] and copy["chat"] == alice.user and copy["text"] == "hi Alice", copy
        assert copy["attrs"]["recipient"] == alice.user, copy
        first["reply"] = reply

    @check("Alice's second message is a msg on the established session")
    def _():
        again = alice("send_text", to=bob.user, text="second")["id"]
        assert bob.wait("message", id=again)[0]["encTypes"] == ["msg"]

    @check("receipts: delivery from each device, read to the sender and to the reader's companion")
    def _():
        delivered = alice.wait("receipt", count=2, id=first["id"])
        assert {r["from"] for r in delivered} == {bob.user, companion.jid}, delivered
        bob("receipt", ids=[first["id"]], type="read")
        read = alice.wait("receipt", id=first["id"], type="read")[0]
        assert read["from"] == bob.user, read
        synced = companion.wait("receipt", id=first["id"], type="read")[0]
        assert synced["recipient"] == alice.user and synced["from"] == bob.user, synced
        receipts = [r for r in server.state()["receipts"] if r["type"] == "read"]
        assert receipts and receipts[-1]["delivered"], receipts

    @check("chat states reach the other account's devices")
    def _():
        alice("chatstate", to=bob.user, state="composing")
        alice("chatstate", to=bob.user, state="recording")
        alice("chatstate", to=bob.user, state="paused")
        for device in (bob, companion):
            states = device.wait("chatstate", count=3, **{"from": alice.user})
            assert [s["state"] for s in states] == ["composing", "recording", "paused"], states
            assert states[1]["media"] == "audio"

    @check("presence: a subscriber sees Alice come online and go away")
    def _():
        bob("subscribe", to=alice.user)
        bob.wait("presence", type="unavailable", **{"from": alice.user})
        alice("presence", type="available", name="Alice A.")
        bob.wait("presence", type="available", **{"from": alice.user})
        alice("presence", type="unavailable")
        bob.wait("presence", count=2, type="unavailable", **{"from": alice.user})
        assert server.state()["accounts"][ALICE_PHONE]["pushName"] == "Alice A."

    @check("offline queue: a message for a disconnected device arrives after it logs in again")
    def _():
        companion("disconnect")
        queued = alice("send_text", to=bob.user, text="while you were away")["id"]
        bob.wait("message", id=queued)
        state = server.state()
        assert state["devices"][companion.jid]["pending"] >= 1, state["devices"][companion.jid]
        companion("connect")
        assert companion.wait("message", id=queued)[0]["text"] == "while you were away"
        offline = [s for s in companion("list", of="stanza", match={"tag": "ib"})["items"] if "<offline" in s["node"]]
        assert 'count="0"' not in offline[-1]["node"], offline
        deadline = time.monotonic() + 5
        while server.state()["devices"][companion.jid]["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.state()["devices"][companion.jid]["pending"] == 0

    @check("LID addressing: Alice migrates; Bob sees her LID with sender_pn, and answers by LID")
    def _():
        status, answer = server.control("POST", "/addressing", {"phone": ALICE_PHONE, "mode": "lid"})
        assert status == 200 and answer["lid"] == alice.lid_user, answer
        # pyaileys keeps sessions per address and does not migrate PN sessions to LID, so a LID
        # chat with it starts on LID addresses: Alice writes to Bob's LID.
        sent = alice("send_text", to=bob.lid_user, text="via lid")["id"]
        message = bob.wait("message", id=sent)[0]
        assert message["from"] == alice.lid_user and message["attrs"]["addressing_mode"] == "lid", message
        assert message["attrs"]["sender_pn"] == alice.user and message["encTypes"] == ["pkmsg"], message
        answer = bob("send_text", to=alice.lid_user, text="lid back")["id"]
        back = alice.wait("message", id=answer)[0]
        assert back["from"] == bob.lid_user and back["text"] == "lid back", back

    @check("a message addressed to a LID-migrated account's phone number still reaches it")
    def _():
        sent = bob("send_text", to=alice.user, text="by number")["id"]
        message = alice.wait("message", id=sent)[0]
        assert message["from"] == bob.user and message["text"] == "by number", message
        server.control("POST", "/addressing", {"phone": ALICE_PHONE, "mode": "pn"})

    @check("a corrupted message fails to decrypt; the retry receipt brings a resend that works")
    def _():
        assert server.control("POST", "/faults", {"jid": bob.jid, "corrupt": 1})[0] == 200
        sent = alice("send_text", to=bob.user, text="bent")["id"]
        bob.wait("decryptError", id=sent)
        companion.wait("message", id=sent)  # only Bob's phone got the broken copy
        retry = bob("retry_receipt", id=sent)
        assert retry["count"] == 1 and not retry["keys"], retry
        resent = bob.wait("message", id=sent)[0]
        assert resent["text"] == "bent" and resent["retryCount"] == "1", resent
        recorded = [r for r in server.state()["retries"] if r["id"] == sent]
        assert recorded[0]["count"] == 1 and recorded[0]["registration"] == bob.info["registrationId"], recorded
        assert recorded[0]["keys"] is None and alice.wait("retryReceipt", id=sent)[0]["resent"]

    @check("a second retry carries <keys>; the sender builds a new session from them")
    def _():
        server.control("POST", "/faults", {"jid": bob.jid, "corrupt": 2})
        sent = alice("send_text", to=bob.user, text="bent twice")["id"]
        bob.wait("decryptError", id=sent)
        bob("retry_receipt", id=sent)
        bob.wait("decryptError", count=2, id=sent)  # the resend was broken too
        retry = bob("retry_receipt", id=sent)
        assert retry["count"] == 2 and retry["keys"], retry
        resent = bob.wait("message", id=sent)[0]
        assert resent["text"] == "bent twice" and resent["encTypes"] == ["pkmsg"] and resent["retryCount"] == "2", resent
        recorded = [r for r in server.state()["retries"] if r["id"] == sent]
        assert [r["count"] for r in recorded] == [1, 2] and recorded[1]["keys"]["key"]["id"] == retry["preKeyId"], recorded
        assert recorded[1]["keys"]["identity"] and recorded[1]["keys"]["skey"]["signature"], recorded

    @check("low one-time prekeys: the server tells the device, when a fetch crosses the threshold and on demand")
    def _():
        server.control("POST", "/prekey-threshold", {"value": 100})
        carol = Peer(server, CAROL_PHONE, "Carol")
        try:
            carol("send_text", to=alice.user, text="hi, I am new")
            note = alice.wait("notification", type="encrypt")[0]
            assert '<count value="' in note["node"] and note["from"].endswith("s.whatsapp.net"), note
            status, forced = server.control("POST", "/notify-prekeys", {"jid": carol.jid, "count": 3})
            assert status == 200
            assert '<count value="3"/>' in carol.wait("notification", id=forced["id"])[0]["node"]
        finally:
            carol.close()
            server.control("POST", "/prekey-threshold", {"value": 5})

    @check("a dropped ack: the message is delivered, the sender hears nothing")
    def _():
        server.control("POST", "/faults", {"jid": alice.jid, "dropAcks": 1})
        sent = alice("send_text", to=bob.user, text="no ack", ackTimeout=1)
        assert not sent["acked"] and bob.wait("message", id=sent["id"])
        assert any(a["id"] == sent["id"] and a["dropped"] for a in server.state()["acks"])

    @check("an axolotl-keyed device: pyaileys writes to it, its inbox decrypts, its answer goes in by /deliver")
    def _():
        oracle = subprocess.Popen([sys.executable, str(HERE / "axolotl_peer.py")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

        def call(op, **request):
            oracle.stdin.write(json.dumps({"op": op, **request}) + "\n")
            oracle.stdin.flush()
            answer = json.loads(oracle.stdout.readline())
            assert answer["ok"], answer
            return answer

        try:
            assert oracle.stdout.readline().startswith("ready ")
            status, dave = server.control("POST", "/accounts", {"phone": DAVE_PHONE, "pushName": "Dave",
                                                                "keys": call("keys", count=5)})
            assert status == 200 and "creds" not in dave, dave
            sent = alice("send_text", to=f"{DAVE_PHONE}@s.whatsapp.net", text="hi Dave")["id"]
            entry = next(e for e in server.state()["inbox"][dave["jid"]] if e["id"] == sent)
            assert entry["enc"][0]["type"] == "pkmsg" and not entry["acked"], entry
            padded = bytes.fromhex(call("decrypt", peer="alice", type="pkmsg", ciphertext=entry["enc"][0]["bytes"])["plaintext"])
            message = protowire.parse(padded[:-padded[-1]])  # WhatsApp's padding: n bytes of n
            assert protowire.first(message, 1) == b"hi Dave", message

            body = protowire.message((1, "hi Alice, Dave here")) + bytes([3, 3, 3])
            enc = call("encrypt", peer="alice", plaintext=body.hex())
            assert enc["type"] == "msg"
            node = {"tag": "message", "attrs": {"from": dave["jid"], "id": "DAVE0001", "type": "text", "t": str(int(time.time())),
                                                "notify": "Dave"},
                    "content": [{"tag": "enc", "attrs": {"v": "2", "type": enc["type"]}, "bytes": enc["ciphertext"]}]}
            assert server.control("POST", "/deliver", {"jid": alice.jid, "node": node})[0] == 200
            assert alice.wait("message", id="DAVE0001")[0]["text"] == "hi Alice, Dave here"

            # Dave reinstalls: new identity, new keys for the same device. Everyone else hears of it.
            call("identity", dropSessions=True)
            status, _ = server.control("POST", "/accounts", {"phone": DAVE_PHONE, "device": 0, "keys": call("keys", count=5)})
            assert status == 200
            note = alice.wait("notification", type="encrypt", **{"from": f"{DAVE_PHONE}@s.whatsapp.net"})[0]
            assert "<identity/>" in note["node"], note
        finally:
            oracle.stdin.close()
            oracle.wait(10)

    @check("a hand-made stanza is delivered verbatim and listed in the inbox")
    def _():
        node = {"tag": "message", "attrs": {"from": alice.user, "id": "HANDMADE1", "type": "text", "t": "1"},
                "content": [{"tag": "enc", "attrs": {"v": "2", "type": "msg"}, "bytes": "33" + "00" * 40}]}
        status, answer = server.control("POST", "/deliver", {"jid": bob.jid, "node": node})
        assert status == 200 and answer["queued"] and answer["sent"] == 1, answer
        bob.wait("decryptError", id="HANDMADE1")
        inbox = server.state()["inbox"][bob.jid]
        assert any(e["id"] == "HANDMADE1" and e["enc"][0]["bytes"].startswith("33") for e in inbox)


def sha256_hex(path):
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while data := source.read(1 << 20):
            digest.update(data)
    return digest.hexdigest()


def target_of(url_or_path):
    """The request target (path and query) of a media URL or direct path."""
    split = urllib.parse.urlsplit(url_or_path)
    return split.path + (f"?{split.query}" if split.query else "")


def retry_key(media_key_hex):
    return HKDF(hashes.SHA256(), 32, None, b"WhatsApp Media Retry Notification").derive(bytes.fromhex(media_key_hex))


def node_bytes(node_text, tag):
    """The bytes of <tag> in wa_contact's node text, where bytes show as [N bytes HEX]."""
    found = re.search(rf"<{tag}>\[\d+ bytes ([0-9a-f]*)\]</{tag}>", node_text)
    assert found, f"no <{tag}> bytes in {node_text}"
    return bytes.fromhex(found[1])


def run_media_steps(server, alice, bob, companion):
    work = Path(tempfile.mkdtemp(prefix="test-relay-media-"))
    sent = {}
    try:
        _media_steps(server, alice, bob, companion, work, sent)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _media_steps(server, alice, bob, companion, work, sent):
    info = server.control("GET", "/media/info")[1]

    @check("the media host is announced in /state; its certificate is for 127.0.0.1 and localhost")
    def _():
        state = server.state()
        assert state["media_host"] == info["media_host"] and state["media_host"].startswith("127.0.0.1:"), state["media_host"]
        assert Path(state["media_ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        for host in ("127.0.0.1", "localhost"):
            status, _ = server.media("GET", "/v/t62.7118-24/nothing_n.enc?ccb=11-4", host=host)
            assert status == 404, (host, status)

    @check("media_conn: the server names its media host and one auth for the run")
    def _():
        conn = alice("media_conn")
        assert conn["hosts"] == [info["media_host"]] and conn["auth"] == info["auth"] and conn["ttl"] == 300, conn
        assert bob("media_conn")["auth"] == info["auth"]
        answers = [s for s in alice("list", of="stanza", match={"tag": "iq"})["items"] if "<media_conn" in s["node"]]
        assert 'auth_ttl="3600"' in answers[-1]["node"] and 'max_buckets="12"' in answers[-1]["node"], answers

    @check("uploads: a wrong token is refused with 400, a wrong auth with 401; a right one is served back")
    def _():
        body = os.urandom(5000)
        token = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
        wrong = base64.urlsafe_b64encode(hashlib.sha256(b"other").digest()).decode().rstrip("=")
        status, _ = server.media("POST", f"/mms/image/{wrong}?auth={info['auth']}&token={wrong}", body)
        assert status == 400, status
        status, _ = server.media("POST", f"/mms/image/{token}?auth=not-the-auth&token={token}", body)
        assert status == 401, status
        status, answer = server.media("POST", f"/mms/document/{token}?auth={info['auth']}&token={token}", body)
        assert status == 200, (status, answer)
        answer = json.loads(answer)
        assert answer["url"] == f"https://{info['media_host']}{answer['direct_path']}", answer
        assert re.fullmatch(r"/v/t62\.[0-9.-]+/\d+_\d+_\d+_n\.enc\?ccb=11-4&oh=01_[\w-]+&oe=[0-9A-F]+&_nc_sid=5e03e0",
                            answer["direct_path"]), answer
        assert server.media("GET", answer["direct_path"]) == (200, body)
        assert server.media("GET", answer["direct_path"].split("?")[0]) == (200, body)  # the path alone
        listed = [u for u in server.control("GET", "/media/uploads")[1] if u["direct_path"] == answer["direct_path"]]
        assert listed[0]["media_type"] == "document" and listed[0]["enc_sha256"] == hashlib.sha256(body).hexdigest()

    @check("an image, a voice note and a 20 MiB document from Alice: Bob downloads byte-identical files")
    def _():
        files = {"image": (work / "photo.jpg", 300_000), "voice": (work / "note.ogg", 40_000),
                 "document": (work / "report.bin", 20 << 20)}
        for kind, (path, size) in files.items():
            path.write_bytes(os.urandom(size))
        sent["image"] = alice("send_media", kind="image", to=bob.user, path=str(files["image"][0]), caption="look")
        sent["voice"] = alice("send_media", kind="voice", to=bob.user, path=str(files["voice"][0]), seconds=3)
        sent["document"] = alice("send_media", kind="document", to=bob.user, path=str(files["document"][0]),
                                 fileName="report.bin", mimetype="application/octet-stream")
        uploads = {u["enc_sha256"]: u for u in server.control("GET", "/media/uploads")[1]}
        for kind, media_type in (("image", "image"), ("voice", "audio"), ("document", "document")):
            answer, (path, size) = sent[kind], files[kind]
            assert answer["acked"] and answer["fileSha256"] == sha256_hex(path), answer
            upload = uploads[answer["fileEncSha256"]]
            assert upload["media_type"] == media_type and upload["direct_path"] == answer["directPath"], upload
            assert answer["url"] == upload["url"], answer
            message = bob.wait("message", id=answer["id"])[0]
            media = message["media"]
            assert media["fileLength"] == size, media
            assert media["fileSha256"] == answer["fileSha256"] and media["directPath"] == answer["directPath"], media
            assert message["attrs"]["type"] == "media", message["attrs"]
            out = work / f"{kind}.out"
            got = bob("download", id=answer["id"], path=str(out))
            assert got["sha256"] == sha256_hex(path) and got["size"] == size and got["macChecked"], got
            assert out.read_bytes() == path.read_bytes()
        image = bob("list", of="message", match={"id": sent["image"]["id"]})["items"][0]["media"]
        assert image["kind"] == "image" and image["caption"] == "look" and image["mimetype"] == "image/jpeg", image
        voice = bob("list", of="message", match={"id": sent["voice"]["id"]})["items"][0]["media"]
        assert voice["kind"] == "audio" and voice["ptt"] is True and voice["seconds"] == 3, voice
        document = bob("list", of="message", match={"id": sent["document"]["id"]})["items"][0]["media"]
        assert document["kind"] == "document" and document["fileName"] == "report.bin", document
        assert sent["voice"]["mediaType"] == "ptt" and sent["document"]["mediaType"] == "document", sent
        companion.wait("message", id=sent["document"]["id"])  # Bob's other device has it too
        sent["files"] = files

    @check("a video, an audio file and a sticker arrive with their kinds and download")
    def _():
        for kind, name, extra in (("video", "clip.mp4", {"seconds": 7, "caption": "clip"}), ("audio", "song.mp3", {"seconds": 9}),
                                  ("sticker", "sticker.webp", {})):
            path = work / name
            path.write_bytes(os.urandom(30_000))
            answer = alice("send_media", kind=kind, to=bob.user, path=str(path), **extra)
            media = bob.wait("message", id=answer["id"])[0]["media"]
            expected = {"video": ("video", "video/mp4"), "audio": ("audio", "audio/mpeg"), "sticker": ("sticker", "image/webp")}[kind]
            assert (media["kind"], media["mimetype"]) == expected and media["seconds"] == extra.get("seconds"), media
            assert media["ptt"] in (None, False) and answer["mediaType"] == kind, (media, answer)
            got = bob("download", id=answer["id"], path=str(work / f"{name}.out"))
            assert got["sha256"] == sha256_hex(path) and got["macChecked"], got

    @check("an expired path answers 410, and a download of it fails with the reason")
    def _():
        image = sent["image"]
        status, answer = server.control("POST", "/media/expire", {"direct_path": image["directPath"]})
        assert status == 200 and answer["status"] == 410, answer
        assert server.media("GET", target_of(image["url"]))[0] == 410
        failed = companion.ask("download", id=image["id"], path=str(work / "expired.out"))
        assert not failed["ok"] and "410" in failed["error"], failed
        server.control("POST", "/media/expire", {"direct_path": sent["voice"]["directPath"], "status": 404})
        assert server.media("GET", sent["voice"]["directPath"])[0] == 404

    @check("media retry: Bob's companion asks his phone for the expired image and gets a new path")
    def _():
        image = sent["image"]
        status, owner = server.control("POST", "/media/owner", {
            "message_id": image["id"], "media_key": image["mediaKey"], "media_type": "image",
            "direct_path": image["directPath"]})
        assert status == 200 and owner["known"], owner
        key, iv = retry_key(image["mediaKey"]), os.urandom(12)
        request = AESGCM(key).encrypt(iv, protowire.message((1, image["id"])), image["id"].encode())
        companion("send_raw", node={"tag": "receipt", "attrs": {"id": image["id"], "to": bob.user, "type": "server-error"},
                                    "content": [{"tag": "encrypt", "content": [{"tag": "enc_p", "bytes": request.hex()},
                                                                               {"tag": "enc_iv", "bytes": iv.hex()}]},
                                                {"tag": "rmr", "attrs": {"jid": alice.user, "from_me": "false"}}]})
        note = companion.wait("notification", type="mediaretry", id=image["id"])[0]
        assert note["from"] == bob.user and f'<rmr jid="{alice.user}" from_me="false"/>' in note["node"], note
        acks = companion("list", of="stanza", match={"tag": "ack", "id": image["id"]})["items"]
        assert any(a["attrs"].get("class") == "receipt" and a["attrs"].get("type") == "server-error" for a in acks), acks
        plain = AESGCM(key).decrypt(node_bytes(note["node"], "enc_iv"), node_bytes(note["node"], "enc_p"),
                                    image["id"].encode())
        fields = protowire.parse(plain)
        new_path = protowire.first(fields, 2).decode()
        assert protowire.first(fields, 1).decode() == image["id"] and protowire.first(fields, 3) == 1, fields
        assert new_path != image["directPath"] and new_path.startswith("/v/"), new_path
        status, body = server.media("GET", new_path)
        assert status == 200 and hashlib.sha256(body).hexdigest() == image["fileEncSha256"], status
        assert server.media("GET", image["directPath"])[0] == 410  # the old path stays expired
        got = companion("download", id=image["id"], path=str(work / "retried.out"), directPath=new_path)
        assert got["sha256"] == image["fileSha256"] and got["macChecked"], got
        retries = server.control("GET", "/media/retries")[1]
        assert retries[-1]["result"] == "success" and retries[-1]["requestDecrypted"] is True, retries[-1]
        assert retries[-1]["directPath"] == new_path and retries[-1]["chat"] == alice.user, retries[-1]

    @check("media retry for a message the phone does not know: <error code=\"2\"/> (NOT_FOUND)")
    def _():
        companion("send_raw", node={"tag": "receipt", "attrs": {"id": "NOSUCHMEDIA1", "to": bob.user, "type": "server-error"},
                                    "content": [{"tag": "encrypt", "content": [{"tag": "enc_p", "bytes": "00" * 30},
                                                                               {"tag": "enc_iv", "bytes": "00" * 12}]},
                                                {"tag": "rmr", "attrs": {"jid": alice.user, "from_me": "false"}}]})
        note = companion.wait("notification", type="mediaretry", id="NOSUCHMEDIA1")[0]
        assert '<error code="2"/>' in note["node"] and "<encrypt>" not in note["node"], note
        retries = server.control("GET", "/media/retries")[1]
        assert retries[-1]["result"] == "not_found" and not retries[-1]["registered"], retries[-1]

    @check("media retry with a request that does not decrypt: <error code=\"3\"/> (DECRYPTION_ERROR)")
    def _():
        voice = sent["voice"]
        server.control("POST", "/media/owner", {"message_id": voice["id"], "media_key": voice["mediaKey"],
                                                "media_type": "ptt", "direct_path": voice["directPath"]})
        companion("send_raw", node={"tag": "receipt", "attrs": {"id": voice["id"], "to": bob.user, "type": "server-error"},
                                    "content": [{"tag": "encrypt", "content": [{"tag": "enc_p", "bytes": "00" * 30},
                                                                               {"tag": "enc_iv", "bytes": "00" * 12}]},
                                                {"tag": "rmr", "attrs": {"jid": alice.user, "from_me": "false"}}]})
        note = companion.wait("notification", type="mediaretry", id=voice["id"])[0]
        assert '<error code="3"/>' in note["node"], note
        retries = server.control("GET", "/media/retries")[1]
        assert retries[-1]["result"] == "decryption_error" and retries[-1]["requestDecrypted"] is False, retries[-1]

    @check("a file published with /media/store is served as stored")
    def _():
        path = work / "handmade.enc"
        path.write_bytes(os.urandom(70_000))
        status, stored = server.control("POST", "/media/store", {"path": str(path), "media_type": "video"})
        assert status == 200 and stored["enc_sha256"] == sha256_hex(path) and stored["size"] == 70_000, stored
        assert server.media("GET", target_of(stored["url"])) == (200, path.read_bytes())


def run_group_steps(server, alice, bob, companion):
    group = {}

    @check("a group made through /groups: every member device hears of it (w:gp2 create)")
    def _():
        status, made = server.control("POST", "/groups", {"subject": "Relay group", "creator": ALICE_PHONE,
                                                           "members": [BOB_PHONE]})
        assert status == 200 and made["id"].endswith("@g.us"), made
        group["id"] = made["id"]
        for peer in (alice, bob, companion):
            note = peer.wait("notification", type="w:gp2", **{"from": group["id"]})[0]
            assert "<create" in note["node"] and 'subject="Relay group"' in note["node"], note

    @check("pyaileys' group send (w:g2 metadata, SKDM per device, one skmsg) decrypts on both of Bob's devices")
    def _():
        sent = alice("send_text", to=group["id"], text="hello group")
        assert sent["acked"] and sent["ackError"] is None, sent
        for device in (bob, companion):
            # pyaileys reports each <enc> it decrypts: the sender key alone first, then the text.
            message = device.wait("message", id=sent["id"], text="hello group")[0]
            assert message["chat"] == group["id"], message
            assert message["encTypes"] == ["pkmsg", "skmsg"] and message["attrs"]["participant"] == alice.user, message
        relayed = server.state()["groupMessages"][-1]
        assert sorted(relayed["distributedTo"]) == sorted([bob.jid, companion.jid]), relayed
        ack = alice("list", of="stanza", match={"tag": "ack", "id": sent["id"]})["items"][0]
        assert ack["attrs"]["phash"].startswith("2:") and len(ack["attrs"]["phash"]) == 10, ack

    @check("Bob answers in the group; the second message of each sender is a bare skmsg")
    def _():
        answer = bob("send_text", to=group["id"], text="hi all")
        message = alice.wait("message", id=answer["id"], text="hi all")[0]
        assert message["attrs"]["participant"] == bob.user, message
        again = alice("send_text", to=group["id"], text="second")
        assert bob.wait("message", id=again["id"])[0]["encTypes"] == ["skmsg"]

    @check("a member removed gets the removal and no later messages; a non-member cannot read the group")
    def _():
        status, answer = server.control("POST", "/groups/act", {"group": group["id"], "actor": ALICE_PHONE,
                                                                 "action": "remove", "members": [BOB_PHONE]})
        assert status == 200 and answer["results"][0]["error"] is None, answer
        note = bob.wait("notification", type="w:gp2", **{"from": group["id"]}, count=2)[-1]
        assert "<remove" in note["node"] and BOB_PHONE in note["node"], note
        later = alice("send_text", to=group["id"], text="without Bob")
        assert alice("list", of="stanza", match={"tag": "ack", "id": later["id"]})["items"]
        assert bob.ask("wait", **{"for": "message", "match": {"id": later["id"]}, "timeout": 1})["ok"] is False
        # pyaileys asks for the group's metadata first, which a non-member is refused (403).
        refused = bob.ask("send_text", to=group["id"], text="let me in")
        assert not refused["ok"] and "group metadata" in refused["error"], refused


if __name__ == "__main__":
    main()
