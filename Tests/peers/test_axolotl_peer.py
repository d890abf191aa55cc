#!/usr/bin/env python3
"""Self-test of axolotl_peer.py through its JSON-line interface: oracle processes talking to each
other, so the Swift tests can rely on every operation they use.

usage: python3 Tests/peers/test_axolotl_peer.py
"""
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Oracle:
    def __init__(self, name):
        self.name = name
        self.process = subprocess.Popen([sys.executable, str(HERE / "axolotl_peer.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        word, _, rest = self.process.stdout.readline().strip().partition(" ")
        assert word == "ready", word
        self.identity = json.loads(rest)

    def call(self, op, **request):
        self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def __call__(self, op, **request):
        answer = self.call(op, **request)
        assert answer["ok"], f"{self.name} {op}: {answer}"
        return answer

    def fails(self, op, error, **request):
        answer = self.call(op, **request)
        assert not answer["ok"] and answer["error"] == error, f"{self.name} {op}: expected {error}, got {answer}"
        return answer

    def close(self):
        self.process.stdin.close()
        self.process.wait(10)


results = []


def check(name):
    def run(step):
        try:
            step()
            results.append(True)
            print(f"ok   {name}", flush=True)
        except Exception:
            results.append(False)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    return run


def main():
    started = time.monotonic()
    alice, bob, carol = Oracle("alice"), Oracle("bob"), Oracle("carol")
    try:
        steps(alice, bob, carol)
    finally:
        for oracle in (alice, bob, carol):
            oracle.close()
    failed = results.count(False)
    print(f"took {time.monotonic() - started:.1f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def steps(alice, bob, carol):
    # WhatsApp-style padding at the end, to show the oracle leaves it alone.
    hello = b"hello bob".hex() + "030303"
    kept = {}

    @check("a bundle, a pkmsg from it, and the plaintext back byte for byte")
    def _():
        bundle = bob("bundle")
        kept["first bundle"] = bundle
        assert bundle["identityKey"].startswith("05") and len(bundle["identityKey"]) == 66, bundle
        assert len(bundle["signedPreKeySignature"]) == 128 and bundle["preKeyId"] == 1, bundle
        alice("process_bundle", peer="bob", bundle=bundle)
        sent = alice("encrypt", peer="bob", plaintext=hello)
        assert sent["type"] == "pkmsg" and sent["ciphertext"].startswith("33"), sent
        assert bob("decrypt", peer="alice", type="pkmsg", ciphertext=sent["ciphertext"])["plaintext"] == hello
        session = bob("session", peer="alice")
        assert session["version"] == 3 and session["remoteRegistrationId"] == alice.identity["registrationId"], session

    @check("the answer is a msg (0x33 ‖ proto ‖ 8-byte MAC) and ends Alice's pending prekey")
    def _():
        reply = bob("encrypt", peer="alice", plaintext="00ff")
        assert reply["type"] == "msg" and reply["ciphertext"].startswith("33"), reply
        assert alice("decrypt", peer="bob", type="msg", ciphertext=reply["ciphertext"])["plaintext"] == "00ff"
        assert not alice("session", peer="bob")["pendingPreKey"]
        assert alice("encrypt", peer="bob", plaintext="01")["type"] == "msg"
        kept["lost"] = "01"  # never delivered: the next steps skip over it

    @check("a bad MAC is InvalidMessageException and leaves the session usable")
    def _():
        sent = alice("encrypt", peer="bob", plaintext="02")["ciphertext"]
        bent = sent[:-2] + format(int(sent[-2:], 16) ^ 1, "02x")
        bob.fails("decrypt", "InvalidMessageException", peer="alice", type="msg", ciphertext=bent)
        assert bob("decrypt", peer="alice", type="msg", ciphertext=sent)["plaintext"] == "02"
        kept["replay"] = sent

    @check("a replay is DuplicateMessageException")
    def _():
        bob.fails("decrypt", "DuplicateMessageException", peer="alice", type="msg", ciphertext=kept["replay"])

    @check("out of order: 3, 1, 2")
    def _():
        sent = [alice("encrypt", peer="bob", plaintext=f"1{i}")["ciphertext"] for i in range(3)]
        for i in (2, 0, 1):
            assert bob("decrypt", peer="alice", type="msg", ciphertext=sent[i])["plaintext"] == f"1{i}"

    @check("a bundle without a one-time prekey gives a pkmsg without one, which decrypts")
    def _():
        bundle = bob("bundle", oneTime=False)
        assert "preKeyId" not in bundle
        carol("process_bundle", peer="bob", bundle=bundle)
        sent = carol("encrypt", peer="bob", plaintext="c0")
        assert sent["type"] == "pkmsg"
        assert bob("decrypt", peer="carol", type="pkmsg", ciphertext=sent["ciphertext"])["plaintext"] == "c0"

    @check("a used one-time prekey is gone: InvalidKeyIdException")
    def _():
        carol("process_bundle", peer="bob", device=2, bundle=kept["first bundle"])
        sent = carol("encrypt", peer="bob", device=2, plaintext="c1")
        bob.fails("decrypt", "InvalidKeyIdException", peer="carol", device=2, type="pkmsg", ciphertext=sent["ciphertext"])

    @check("an old session state still decrypts after a new pkmsg replaced it")
    def _():
        old = alice("encrypt", peer="bob", plaintext="0d")["ciphertext"]  # on the first session, held back
        alice("process_bundle", peer="bob", bundle=bob("bundle"))  # Alice starts over
        fresh = alice("encrypt", peer="bob", plaintext="0e")
        assert fresh["type"] == "pkmsg" and alice("session", peer="bob")["previousStates"] == 1
        assert bob("decrypt", peer="alice", type="pkmsg", ciphertext=fresh["ciphertext"])["plaintext"] == "0e"
        assert bob("session", peer="alice")["previousStates"] == 1
        assert bob("decrypt", peer="alice", type="msg", ciphertext=old)["plaintext"] == "0d"

    @check("save and restore a session: send again from a state the peer has moved past")
    def _():
        record = alice("save_session", peer="bob")["record"]
        first = alice("encrypt", peer="bob", plaintext="a1")["ciphertext"]
        assert bob("decrypt", peer="alice", type="pkmsg", ciphertext=first)["plaintext"] == "a1"
        alice("restore_session", peer="bob", record=record)
        again = alice("encrypt", peer="bob", plaintext="a2")["ciphertext"]  # the same chain key as "a1"
        bob.fails("decrypt", "DuplicateMessageException", peer="alice", type="pkmsg", ciphertext=again)

    @check("an identity change: accepted under 'always', refused under 'tofu'")
    def _():
        before = bob("remote_identity", peer="alice")["identityKey"]
        changed = alice("identity", dropSessions=True)
        assert changed["identityKey"] != before
        alice("process_bundle", peer="bob", bundle=bob("bundle"))
        sent = alice("encrypt", peer="bob", plaintext="1d")["ciphertext"]
        assert bob("decrypt", peer="alice", type="pkmsg", ciphertext=sent)["plaintext"] == "1d"
        assert bob("remote_identity", peer="alice")["identityKey"] == changed["identityKey"]
        bob("trust", mode="tofu")
        alice("identity", identityPrivate="11" * 32, dropSessions=True)
        alice("process_bundle", peer="bob", bundle=bob("bundle"))
        sent = alice("encrypt", peer="bob", plaintext="1e")["ciphertext"]
        bob.fails("decrypt", "UntrustedIdentityException", peer="alice", type="pkmsg", ciphertext=sent)
        bob("trust", mode="always")

    @check("keys in the fake server's /accounts shape; no session is NoSessionException")
    def _():
        keys = bob("keys", count=3)
        assert len(keys["preKeys"]) == 3 and keys["identity"] == bob("bundle", oneTime=False)["identityKey"], keys
        assert keys["signedPreKey"]["id"] == 1 and len(keys["signedPreKey"]["signature"]) == 128
        carol.fails("encrypt", "NoSessionException", peer="nobody", plaintext="00")
        carol.fails("decrypt", "NoSessionException", peer="nobody", type="msg", ciphertext=kept["replay"])


if __name__ == "__main__":
    main()
