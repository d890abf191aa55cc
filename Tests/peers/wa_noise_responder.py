#!/usr/bin/env python3
"""Plays the server side of WhatsApp's Noise handshake with the `noiseprotocol` package, for Wharf's
Swift initiator to handshake against over stdin/stdout (one `word hex` line per message).

usage: wa_noise_responder.py MODE, where MODE is one of
  ok           a good chain for the server static key
  wrong-root   the intermediate is signed by a root other than the one announced
  wrong-leaf   the leaf certifies some other key than the server static key
  expired      both certificates expired a day ago

Lines out: `root <hex>`, `now <seconds>`, then `server <hex>` (the ServerHello HandshakeMessage),
then after `finish <hex>`: `client-static <hex>` and `payload <hex>`; then each `frame <hex>` in is
answered with `frame <hex>` holding b"echo:" + the plaintext. Any failure prints `error <text>`.

WhatsApp differs from standard Noise XX in one step: after `-> e` it does not mix the empty payload
into the hash. noiseprotocol follows the standard, so this harness removes that one MixHash.
"""
import sys
import time

from noise.connection import Keypair, NoiseConnection

import protowire
import wa_certificates

PROLOGUE = b"WA\x06\x03"


def say(word, data):
    print(word, data.hex() if isinstance(data, (bytes, bytearray)) else data, flush=True)


def hear(expected):
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    word, _, data = line.strip().partition(" ")
    if word != expected:
        raise SystemExit(f"expected {expected}, got {word}")
    return bytes.fromhex(data)


def skip_first_payload_hash(connection):
    state = connection.noise_protocol.handshake_state.symmetric_state
    standard = state.decrypt_and_hash

    def once(ciphertext):
        state.decrypt_and_hash = standard
        assert ciphertext == b"", "WhatsApp's first message carries no payload"
        return b""

    state.decrypt_and_hash = once


def main(mode):
    now = int(time.time())
    root_private, root_public = wa_certificates.keypair()
    intermediate_private, _ = wa_certificates.keypair()
    static_private, static_public = wa_certificates.keypair()
    say("root", root_public)
    say("now", now)

    signing_root = wa_certificates.keypair()[0] if mode == "wrong-root" else root_private
    leaf_key = wa_certificates.keypair()[1] if mode == "wrong-leaf" else static_public
    issued = now - 3 * 86400 if mode == "expired" else now
    chain = wa_certificates.chain(signing_root, intermediate_private, leaf_key, issued)

    noise = NoiseConnection.from_name(b"Noise_XX_25519_AESGCM_SHA256")
    noise.set_as_responder()
    noise.set_prologue(PROLOGUE)
    noise.set_keypair_from_private_bytes(Keypair.STATIC, static_private)
    noise.start_handshake()

    hello = protowire.parse(hear("hello"))
    client_ephemeral = protowire.first(protowire.parse(protowire.first(hello, 2)), 1)
    skip_first_payload_hash(noise)
    noise.read_message(client_ephemeral)

    # noiseprotocol writes e || enc(s) || enc(payload); WhatsApp carries them as three fields.
    reply = bytes(noise.write_message(chain))
    server_hello = protowire.message((1, reply[:32]), (2, reply[32:80]), (3, reply[80:]))
    say("server", protowire.message((3, server_hello)))

    finish = protowire.parse(protowire.first(protowire.parse(hear("finish")), 4))
    handshake = noise.noise_protocol.handshake_state  # dropped once the handshake completes
    payload = noise.read_message(protowire.first(finish, 1) + protowire.first(finish, 2))
    say("client-static", handshake.rs.public_bytes)
    say("payload", bytes(payload))

    while True:
        plaintext = noise.decrypt(hear("frame"))
        say("frame", noise.encrypt(b"echo:" + plaintext))


if __name__ == "__main__":
    try:
        main(sys.argv[1] if len(sys.argv) > 1 else "ok")
    except Exception as error:  # reported to the Swift test, which fails with it
        say("error", repr(error).encode())
        sys.exit(1)
