#!/usr/bin/env python3
"""Checks XEdDSA signatures with the `xeddsa` package (libxeddsa) and makes some of its own.

stdin: {"verify": [{"key": hex, "message": hex, "signature": hex}], "sign": [hex messages]}
stdout: {"verified": [bool], "signed": [{"key": hex, "message": hex, "signature": hex}]}

Every other signature it makes is in the older libsignal style (Edwards key with sign bit 1, the bit
stored in the signature's last byte), which verifiers must accept too.
"""
import json
import os
import sys

import xeddsa

import wa_certificates

request = json.load(sys.stdin)
verified = [
    wa_certificates.verify(bytes.fromhex(item["key"]), bytes.fromhex(item["message"]), bytes.fromhex(item["signature"]))
    for item in request["verify"]
]
signed = []
for index, message in enumerate(request["sign"]):
    private, public = wa_certificates.keypair()
    message = bytes.fromhex(message)
    if index % 2 == 0:
        signature = wa_certificates.sign(private, message)
    else:
        forced = xeddsa.priv_force_sign(private, True)
        signature = bytearray(xeddsa.ed25519_priv_sign(forced, message, os.urandom(64)))
        signature[63] |= 0x80
    signed.append({"key": public.hex(), "message": message.hex(), "signature": bytes(signature).hex()})
json.dump({"verified": verified, "signed": signed}, sys.stdout)
