#!/usr/bin/env python3
"""Recomputes the phone-code pairing derivations with `cryptography`, for Wharf's Swift to match.

stdin: {"code", "publicKey", "salt", "iv", "companionEphemeral", "primaryEphemeral", "identity",
        "primaryIdentity", "advRandom", "bundleSalt", "bundleNonce"} (hex; private keys raw X25519)
stdout: {"wrapped", "bundle", "advSecret", "unwrapped"} (hex)
"""
import json
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

raw = json.load(sys.stdin)
given = {key: (value if key == "code" else bytes.fromhex(value)) for key, value in raw.items()}


def code_key(salt):
    return PBKDF2HMAC(hashes.SHA256(), 32, salt, 2 << 16).derive(given["code"].encode())


def ctr(key, iv, data):
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(data)


def hkdf(material, salt, info):
    return HKDF(hashes.SHA256(), 32, salt, info).derive(material)


wrapped = given["salt"] + given["iv"] + ctr(code_key(given["salt"]), given["iv"], given["publicKey"])

# The phone's side of the exchange: it wraps its ephemeral key the same way; the companion unwraps it.
primary_ephemeral = X25519PrivateKey.from_private_bytes(given["primaryEphemeral"])
primary_public = primary_ephemeral.public_key().public_bytes_raw()
primary_wrapped = given["bundleSalt"] + given["iv"] + ctr(code_key(given["bundleSalt"]), given["iv"], primary_public)

companion = X25519PrivateKey.from_private_bytes(given["companionEphemeral"])
identity = X25519PrivateKey.from_private_bytes(given["identity"])
primary_identity = X25519PrivateKey.from_private_bytes(given["primaryIdentity"])
shared = companion.exchange(primary_ephemeral.public_key())
bundle_key = hkdf(shared, given["bundleSalt"], b"link_code_pairing_key_bundle_encryption_key")
plain = identity.public_key().public_bytes_raw() + primary_identity.public_key().public_bytes_raw() + given["advRandom"]
bundle = given["bundleSalt"] + given["bundleNonce"] + AESGCM(bundle_key).encrypt(given["bundleNonce"], plain, None)
adv = hkdf(shared + identity.exchange(primary_identity.public_key()) + given["advRandom"], None, b"adv_secret")

json.dump({"wrapped": wrapped.hex(), "primaryWrapped": primary_wrapped.hex(), "bundle": bundle.hex(),
           "advSecret": adv.hex(), "primaryIdentityPublic": primary_identity.public_key().public_bytes_raw().hex()},
          sys.stdout)
