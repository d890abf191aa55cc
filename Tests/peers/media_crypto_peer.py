#!/usr/bin/env python3
"""WhatsApp's media encryption, written independently of Wharf over `cryptography`, so the Swift
tests can check Wharf's files both ways: what Wharf encrypts must decrypt here (MAC checked), and
what this encrypts must decrypt in Wharf.

usage:
  media_crypto_peer.py encrypt TYPE MEDIAKEY_HEX PLAIN_IN ENC_OUT
  media_crypto_peer.py decrypt TYPE MEDIAKEY_HEX ENC_IN PLAIN_OUT
Each prints one JSON line: {"fileSha256", "fileEncSha256", "fileLength"} (hex digests), or exits 1
with the reason on stderr (a bad MAC, bad padding).

The scheme: HKDF-SHA256(mediaKey, no salt, "WhatsApp <Image|Video|Audio|Document> Keys", 112) gives
iv (16) ‖ cipherKey (32) ‖ macKey (32) ‖ refKey (32); the file is AES-256-CBC/PKCS#7 ciphertext
followed by HMAC-SHA256(macKey, iv ‖ ciphertext)[:10].
"""
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = {
    "image": "Image", "sticker": "Image", "video": "Video", "gif": "Video",
    "audio": "Audio", "ptt": "Audio", "document": "Document",
}


def keys(media_key, kind):
    info = f"WhatsApp {INFO[kind]} Keys".encode()
    expanded = HKDF(algorithm=hashes.SHA256(), length=112, salt=None, info=info).derive(media_key)
    return expanded[:16], expanded[16:48], expanded[48:80]


def encrypt(kind, media_key, plain):
    iv, cipher_key, mac_key = keys(media_key, kind)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]
    return ciphertext + mac


def decrypt(kind, media_key, encrypted):
    iv, cipher_key, mac_key = keys(media_key, kind)
    ciphertext, mac = encrypted[:-10], encrypted[-10:]
    expected = hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]
    if not hmac.compare_digest(expected, mac):
        raise ValueError("MAC mismatch")
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def main():
    op, kind, key_hex, source, destination = sys.argv[1:6]
    media_key = bytes.fromhex(key_hex)
    data = open(source, "rb").read()
    try:
        if op == "encrypt":
            plain, encrypted = data, encrypt(kind, media_key, data)
            out = encrypted
        else:
            plain, encrypted = decrypt(kind, media_key, data), data
            out = plain
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        sys.exit(1)
    open(destination, "wb").write(out)
    print(json.dumps({
        "fileSha256": hashlib.sha256(plain).hexdigest(),
        "fileEncSha256": hashlib.sha256(encrypted).hexdigest(),
        "fileLength": len(plain),
    }))


if __name__ == "__main__":
    main()
