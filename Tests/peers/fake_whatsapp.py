#!/usr/bin/env python3
"""A local fake of WhatsApp Web's multi-device server, for Wharf's Swift client to connect to in tests.

Written from the protocol facts alone, independently of Wharf's Swift code. It speaks the real
transport (WebSocket, 3-byte frames, Noise XX with a test certificate chain, binary XML nodes) and
plays the server and the user's phone: QR and phone-code pairing, login, keepalive, logout; and it
relays end-to-end encrypted 1:1 traffic between devices it knows (it never decrypts anything). It also
runs the media CDN (HTTPS uploads and downloads) and answers media retry requests as the phone would.

usage: fake_whatsapp.py        (needs the PyPI packages websockets, noiseprotocol, xeddsa, cryptography)

It prints one line, `ready ws://127.0.0.1:PORT/ws/chat http://127.0.0.1:CPORT ROOTKEYHEX`, where
ROOTKEYHEX is the test root key the client must trust, and exits when its stdin closes. Every stanza
in and out is logged to stderr. The media host is not on that line (its four words are parsed as
they are): GET /state or GET /media/info tell its address and the CA file to trust.

The directory. An account is a phone number with a LID user (LIDUSER@lid) and devices: device 0 is
the phone, companions are 2, 3, … (key index = device - 1). Devices come from pairing (/scan,
/pair-code: Wharf's), from POST /accounts with generated credentials (pyaileys via wa_contact.py,
which logs in with them), or from POST /accounts with keys only (a device that never connects; an
oracle such as axolotl_peer.py reads its inbox in /state and answers through /deliver). A device
is listed by usync, and gets bundles fetched, only once it has Signal keys (its first prekey
upload, or the keys given): a listed device without keys would make every sender's send fail. The
requesting device is listed too, as WhatsApp does; clients leave themselves out.

Login and delivery. Login checks the noise key registered for username:device. Stanzas for a
device (messages, receipts, notifications) are delivered once its connection sent
<iq xmlns="passive"><active/></iq>: first the backlog in order, then <ib><offline count=N/></ib>
(N = stanzas in the backlog; no <offline_preview>), then live. Each stays pending until the device
acknowledges it: a message by any <receipt> for its id (delivery, read, retry…) or
<ack class="message">, a receipt or notification by <ack class=…>; everything pending goes out
again on the device's next connection. Chat states and presences go only to active connections.

Relaying (groups: see fake_groups.py):
  <message id to type [t]><participants><to jid=DEVICE><enc/></to>…</participants>[<device-identity/>]
  or one <enc> for the `to` device itself (retry and peer form; a user JID means its device 0)
    -> each DEVICE gets <message from=SENDER_DEVICE id t type [notify=push name] [category] [edit]>
       <enc …as sent…/>[<device-identity/>]</message>. A copy for the sender's own other device
       adds recipient=CHAT (the message's `recipient`, else its `to`); the sender gets
       <ack class="message" id from=TO t [phash]> (phash only if the message carried one: the
       server's own 8-character whatsmeow-style hash over the listed devices of both accounts).
  Addressing: the sender shows as LIDUSER:D@lid with addressing_mode="lid" and sender_pn=PHONE@s.whatsapp.net
    when it addressed a LID (to=…@lid) or its account is in "lid" mode (POST /addressing), else as
    PHONE:D@s.whatsapp.net (plus sender_lid when the account has lidHints). Own-device copies add
    peer_recipient_pn when the chat is a LID (peer_recipient_lid with lidHints). A message to a
    LID-migrated account's phone number is delivered all the same, in the PN namespace: the real
    server keeps a 1:1 chat in the namespace the sender addressed it in, and only the sender's own
    migration makes it show by LID. usync answers a `<lid/>` query only for "lid"-mode accounts.
  <receipt id to [type] [recipient] [participant] [t]>[<list><item id/></list>|<retry/>…]</receipt>
    -> <receipt from=READER_DEVICE id t [type] [recipient] [participant]>…same children…</receipt> to
       every device of the `to` account (type="retry": only the `to` device), and for read/played a
       copy to the reader's own other devices with recipient=THE CHAT (read-self/played-self: only
       those); the reader gets <ack class="receipt" id from=TO [type]>.
  <chatstate to=JID><composing [media="audio"]/>|<paused/></chatstate>
    -> <chatstate from=SENDER_USER>…</chatstate> to the `to` account's active connections.
  <presence [type=available|unavailable] [name]> sets the connection's presence (name: the push
    name); <presence type=subscribe to=JID> answers <presence from=USER [type=unavailable last=T]>
    at once and on every change of that account (available while any of its connections is).

The media host (WhatsApp's "mmg" CDN): HTTPS on 127.0.0.1 with a certificate for 127.0.0.1 and
localhost from a CA made at start (its PEM in media_ca_file; trust that file alone). It runs in its
own thread and streams: uploads go to disk as they arrive, downloads come from disk in 1 MiB chunks,
so 100 MiB files are fine. Files live in a temporary directory removed when the server exits.
  POST /mms/<image|video|audio|document|…>/<TOKEN>?auth=AUTH&token=TOKEN, body the encrypted file
    -> 200 {"url": "https://HOST" + direct_path, "direct_path": "/v/t62.7118-24/…_n.enc?ccb=11-4&oh=…
       &oe=HEX&_nc_sid=5e03e0"}: 401 for another AUTH (before the body with Expect: 100-continue),
       400 unless TOKEN is base64url(SHA-256(body)) (unpadded, as Baileys and pyaileys send it; padded,
       as whatsmeow sends it, is accepted), 404 for another path. pyaileys uploads stickers to
       /mms/image and voice notes to /mms/audio, as Baileys does.
  GET|HEAD https://HOST<direct_path> -> 200 with the bytes and Content-Length (Range: bytes=A-[B] ->
    206); matched on the path alone, so any query (the one given, whatsmeow's &hash=…, none) works;
    404 for an unknown path; once expired (POST /media/expire) 410 or the status chosen.
  <iq xmlns="w:m" type="set"><media_conn/></iq> from a logged-in device -> <media_conn auth=AUTH
    ttl="300" auth_ttl="3600" max_buckets="12"><host hostname="127.0.0.1:PORT"/></media_conn>, one
    random AUTH per run.

Media retry (docs/research/wa-media-facts.md §8). The server plays the account's own primary phone,
which keeps the media key of every message its account got; a test tells it the key with POST
/media/owner. A device sends
  <receipt id=MSG type="server-error" to=OWN_USER><encrypt><enc_p>GCM(ServerErrorReceipt{1: MSG})</enc_p>
  <enc_iv>12 bytes</enc_iv></encrypt><rmr jid=CHAT from_me="true|false" [participant]/></receipt>
    -> <ack class="receipt" id=MSG from=OWN_USER type="server-error">, not relayed, and then
       <notification type="mediaretry" id=MSG t from=OWN_USER><rmr …echoed…/><encrypt><enc_p/><enc_iv/>
       </encrypt></notification> with enc_p = GCM(MediaRetryNotification{1: MSG, 2: NEW_DIRECT_PATH,
       3: SUCCESS=1}) under a fresh IV; the file is published again under NEW_DIRECT_PATH (the old
       path keeps answering what it did). GCM: AES-256-GCM, key HKDF-SHA256(mediaKey, no salt,
       "WhatsApp Media Retry Notification", 32), AAD the message id in UTF-8. The notification's id
       is the message id, not a fresh one: whatsmeow, Baileys and whatsapp-rust take the message id
       (and the AAD) from it. Without <encrypt> the file is published all the same (Baileys says the
       real server does so). Instead of <encrypt>: <error code="2"/> (NOT_FOUND) for a message id the
       phone was not told of or whose file is gone, <error code="3"/> (DECRYPTION_ERROR) when enc_p
       does not decrypt to the message id.

IQs answered: encrypt set (prekey upload: registration, type, identity, list, skey; adds to the
keys left), get count (<count value=N/>), get key (<list><user jid><registration/><type/>
<identity/><skey/>[<key/>]</user>…</list>, flat as pyaileys reads it; one one-time prekey popped per
fetch, <key> left out when none is left, <user jid><error code="404"/></user> for an unknown
device), get digest, set rotate (new signed prekey); usync (devices with key-index on companions,
lid, contact); passive active/passive; w:p ping; w props (empty); w:m media_conn (above); anything
else an empty result (and kept in the connection's "received" in /state).

Notifications: <notification from="s.whatsapp.net" type="encrypt"><count value=N/></notification> to
a device when a fetch leaves it fewer one-time prekeys than the threshold (once until it uploads
enough; default 5, like whatsmeow's minimum); <notification from=PHONE@s.whatsapp.net lid=LID
type="devices"><add|remove device_hash device_lid_hash><device jid lid [key-index]/></…>
</notification> to every other device when an account gains a listed device or loses one;
<notification from=PHONE@s.whatsapp.net type="encrypt"><identity/></notification> to every other
account's devices when a device's identity key changes.

The control server takes and answers JSON:
  GET  /state          devices, accounts, connections, and what the relay saw:
                         devices: {JID: {lid, keyIndex, canLogIn, connected, registrationId, identity,
                           identityMatchesPairing, signedPreKeyId, signedPreKeyValid, preKeys, preKeyIds,
                           pending, faults: {corrupt, dropAcks}}}
                         accounts: {PHONE: {lid, addressing, lidHints, pushName, devices, listed}}
                         inbox: {JID: [{seq, tag, id, from, type, attrs, acked (null: not tracked),
                           corrupted?, enc?: [{type, v, count, bytes}], node}]}: all delivered to it
                         sent: [{from, to, id, type, attrs, participants: [{jid, type, count}],
                           deviceIdentity, delivered: [JID], node}]: every <message> a device sent
                         receipts: [{from, to, id, ids, type, delivered, node}]
                         retries: [{from, to, id, retryId, count, t, v, error, registration (int),
                           keys: null | {type, identity, key: {id, value}, skey: {id, value, signature},
                           deviceIdentity}, node}]
                         chatstates, presences, acks ([{to, id, dropped, error, phash}]), undeliverable,
                         prekeyThreshold, connections
                         media_host ("127.0.0.1:PORT"), media_ca_file (path of the test CA's PEM)
  POST /scan           {"qr", "phone"}: the phone scans a QR code and pairs the device
  POST /pair-code      {"phone", "code"}: the user types the pairing code into the phone
  POST /stream-error   {"code", "jid"?, "conflict"?}: send <stream:error> and close
  POST /drop           {"jid"?}: cut connections without a stanza
  POST /remove-device  {"jid"}: forget a device, kicking it out if connected
  POST /compress       {"on"}: zlib-compress the frames sent from now on
  POST /refs           {"count"}: send fresh <pair-device> refs to every registration connection
  POST /pings          {"answer"}: answer keepalive pings or leave them unanswered (counted in /state)
  POST /accounts       {"phone", "device"?, "pushName"?, "keys"?}: a device without pairing. device
                       defaults to 0 for a new account, else the account's next id. Without keys:
                       -> {phone, device, jid, lid, keyIndex, creds: {noiseKey: {private, public},
                       identityKey: {…}, signedPreKey: {id, private, public, signature}, registrationId,
                       advSecret (base64), account (hex ADVSignedDeviceIdentity signed by the phone,
                       null for device 0, whose identity is the phone's), accountSignatureKey}}, for a
                       client that logs in and uploads its own prekeys. With keys {"registrationId",
                       "identity", "signedPreKey": {"id", "public", "signature"}, "preKeys": [{"id",
                       "public"}]} (hex, 32 or 33 bytes): a device listed at once that never logs in;
                       again for an existing device, it replaces that device's keys (a new identity
                       is announced as an identity change).
  POST /addressing     {"phone", "mode"?: "pn"|"lid", "lidHints"?: bool} -> {phone, mode, lidHints, lid}
  POST /faults         {"jid", "corrupt"?: N, "dropAcks"?: N}: break the MAC of the next N messages
                       delivered to jid (the receiver must send retry receipts; see "retries"), or do
                       not ack its next N messages -> {corrupt, dropAcks} left
  POST /deliver        {"jid", "node", "queue"?}: hand a stanza to a device as is. node is {"tag",
                       "attrs"?, "content"?: [node] | "text", "bytes"?: HEX}; attribute values with
                       an "@" go out as JIDs. Messages, receipts and notifications with an id are
                       queued like relayed ones unless queue is false -> {seq, queued, sent}
  POST /prekey-threshold {"value"}: the one-time prekey count below which devices are told
  POST /notify-prekeys {"jid", "count"?}: send the low-prekey notification now (count: the real
                       number left unless given) -> {id, node}
  GET  /media/info     {media_host, media_ca_file, media_ca_pem, auth (the media_conn auth), dir}
  GET  /media/uploads  [{direct_path, url, size, enc_sha256 (hex), media_type (from the upload path),
                       source: upload|store|retry, republished_from, status (200 or the expiry status),
                       downloads (completed GETs), t}], in publish order
  POST /media/expire   {"direct_path", "status"?: 410}: that path answers status from now on (200 serves
                       it again) -> {direct_path, status}; 404 for an unknown path
  POST /media/corrupt  {"direct_path"}: that path serves its file with one byte flipped (its hashes and MAC
                       no longer match); a media retry republishes the intact file -> {direct_path}
  POST /media/owner    {"message_id", "media_key" (hex, 32 bytes), "media_type", "direct_path"}: what the
                       account's phone knows of a message's media, for media retry -> {message_id,
                       direct_path, known (whether the host has that path)}
  POST /media/store    {"path": LOCAL_FILE, "media_type"?: "document"}: publish an already encrypted file
                       without an upload -> {direct_path, url, size, enc_sha256}
  GET  /media/retries  [{id, from, to, chat, fromMe, participant, registered, requestDecrypted (null:
                       no <encrypt>), result: success|not_found|decryption_error, errorCode, oldDirectPath,
                       directPath, url, t, node, notification}]: every server-error receipt
JIDs in requests may be PN or LID device JIDs.
"""
import asyncio
import base64
import binascii
import datetime
import hashlib
import hmac
import http
import http.server
import ipaddress
import json
import os
import re
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from noise.connection import Keypair, NoiseConnection
import websockets
from websockets.asyncio.server import serve

import protowire
import wa_certificates
import wabinary
from fake_groups import GroupRelay
from wa_noise_responder import PROLOGUE, skip_first_payload_hash
from wabinary import JID, Node, node_from_json

SERVER = JID("", "s.whatsapp.net")
QR_PREFIX = "https://wa.me/settings/linked_devices#"
PAIRING_TIMEOUT = 10
LOG_LIMIT = 4000
MAX_FRAME = (1 << 24) - 1
# Below this many one-time prekeys the server tells a device to upload more (whatsmeow's
# MinPreKeyCount is the same 5); POST /prekey-threshold changes it.
PREKEY_THRESHOLD = 5


def log(text):
    print(text if len(text) <= LOG_LIMIT else text[:LOG_LIMIT] + " …", file=sys.stderr, flush=True)


def now():
    return int(time.time())


def new_id():
    return secrets.token_hex(6)


def result(iq_id, content=None):
    return Node("iq", {"from": SERVER, "type": "result", "id": iq_id}, content)


def error(iq_id, code, text):
    return Node("iq", {"from": SERVER, "type": "error", "id": iq_id}, [Node("error", {"code": code, "text": text})])


def stream_error(code, conflict=None):
    return Node("stream:error", {"code": code}, [Node("conflict", {"type": conflict})] if conflict else None)


def content_bytes(node):
    """A child's content as bytes, whichever string form the client chose to encode it in."""
    if node is None or node.content is None:
        return b""
    return node.content if isinstance(node.content, bytes) else str(node.content).encode()


def signature_valid(key, message, signature):
    if len(key) != 32 or len(signature) != 64:
        return False
    try:
        return wa_certificates.verify(key, message, signature)
    except Exception:  # a key that is no curve point is just a bad signature here
        return False


def x25519(private, public):
    private = private if isinstance(private, X25519PrivateKey) else X25519PrivateKey.from_private_bytes(private)
    return private.exchange(X25519PublicKey.from_public_bytes(public))


def hkdf(secret, salt, info):
    return HKDF(hashes.SHA256(), 32, salt, info).derive(secret)


def code_key(code, salt):
    return PBKDF2HMAC(hashes.SHA256(), 32, salt, 2 << 16).derive(code.encode())


def ctr(key, iv, data):
    """AES-256-CTR; the same call wraps and unwraps."""
    crypt = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return crypt.update(data) + crypt.finalize()


def wrap_ephemeral(code, public):
    """A pairing-code ephemeral key as both sides send it: salt32 ‖ iv16 ‖ AES-CTR(PBKDF2(code), key)."""
    salt, iv = os.urandom(32), os.urandom(16)
    return salt + iv + ctr(code_key(code, salt), iv, public)


def unwrap_ephemeral(code, wrapped):
    return ctr(code_key(code, wrapped[:32]), wrapped[32:48], wrapped[48:80])


def as_jid(value):
    """An address attribute as a JID, whether the client encoded it as a JID or as text."""
    if isinstance(value, JID):
        return value
    if isinstance(value, str) and "@" in value:
        return JID.parse(value)
    return None


def user_of(jid):
    return JID(jid.user, jid.server)


def ad_string(jid):
    """whatsmeow's `user.agent:device@server`, the form participant-list hashes are taken over."""
    return f"{jid.user}.{jid.agent}:{jid.device}@{jid.server}"


def participant_hash(jids):
    """"2:" + unpadded base64 of the first 6 bytes of SHA-256 over the sorted AD strings (whatsmeow's
    form, 8 characters; Baileys truncates the base64 to 6 instead). The server's value is the one
    clients compare against."""
    digest = hashlib.sha256("".join(sorted(ad_string(j) for j in jids)).encode()).digest()
    return "2:" + base64.b64encode(digest[:6]).decode().rstrip("=")


def uint_bytes(value, size):
    return int(value).to_bytes(size, "big")


def corrupt_ciphertext(kind, data):
    """Flips a bit of the MAC, so the receiver's MAC check fails while the message still parses: the
    last byte of a msg (its 8-byte MAC), or the last byte of the SignalMessage inside a pkmsg (field 4
    after the version byte; the pkmsg's own last bytes are registration and signed-prekey ids, whose
    change would fail differently); for anything else (skmsg: its signature) the last byte."""
    data = bytearray(data)
    position = len(data) - 1
    if kind == "pkmsg":
        span = protowire.field_span(bytes(data), 4, start=1)
        if span and span[1] > span[0]:
            position = span[1] - 1
    data[position] ^= 0x01
    return bytes(data)


class BadRequest(Exception):
    pass


@dataclass
class SignalKeys:
    """What a device uploaded with <iq xmlns="encrypt" type="set">: all a peer needs for X3DH."""
    registration_id: int
    identity: bytes
    signed_id: int
    signed_public: bytes
    signed_signature: bytes
    prekeys: dict = field(default_factory=dict)  # id -> public, in upload order; each fetch pops the oldest

    @property
    def signature_valid(self):
        return signature_valid(self.identity, b"\x05" + self.signed_public, self.signed_signature)

    def skey_node(self):
        return Node("skey", {}, [Node("id", {}, uint_bytes(self.signed_id, 3)), Node("value", {}, self.signed_public),
                                 Node("signature", {}, self.signed_signature)])

    @classmethod
    def from_json(cls, keys):
        """The /accounts form: hex keys, 33-byte (0x05-prefixed) public keys accepted too."""
        def key(text):
            raw = bytes.fromhex(text)
            raw = raw[1:] if len(raw) == 33 and raw[0] == 5 else raw
            if len(raw) != 32:
                raise BadRequest(f"a public key of {len(raw)} bytes")
            return raw
        try:
            signed = keys["signedPreKey"]
            return cls(int(keys["registrationId"]), key(keys["identity"]), int(signed["id"]), key(signed["public"]),
                       bytes.fromhex(signed["signature"]),
                       {int(pre["id"]): key(pre["public"]) for pre in keys.get("preKeys", [])})
        except (ValueError, TypeError) as bad:
            raise BadRequest(f"bad keys: {bad}")


@dataclass
class Pending:
    """A stanza a device has not acknowledged yet; sent again on each new connection until it is."""
    entry: dict  # its record in the device's inbox (/state)
    node: Node
    sent_on: set = field(default_factory=set)  # connection ids it went out on


@dataclass
class Device:
    noise_pub: bytes  # None for a device registered with keys only, which never logs in
    identity_pub: bytes
    lid: JID
    created: int
    key_index: int = 0
    keys: SignalKeys = None  # set by its first prekey upload; only then is it listed by usync
    pending: list = field(default_factory=list)  # Pending stanzas, in delivery order
    inbox: list = field(default_factory=list)  # every stanza delivered to it, for /state
    low_prekeys_notified: bool = False
    corrupt: int = 0  # fault: break the ciphertext of the next N messages delivered to it
    drop_acks: int = 0  # fault: do not ack its next N messages


class Phone:
    """The user's primary device for one number: its identity key, its LID user, its next device id."""

    def __init__(self):
        self.identity_private, self.identity_public = wa_certificates.keypair()
        self.lid_user = str(10**14 + secrets.randbelow(9 * 10**14))
        self.next_device = 2
        self.push_name = None
        # "pn": others see its devices as PHONE:D@s.whatsapp.net unless they address it by LID;
        # "lid": always as LID:D@lid, with sender_pn (POST /addressing).
        self.addressing = "pn"
        self.lid_hints = False  # in "pn" mode, add sender_lid / peer_recipient_lid anyway
        self.picture = None  # {"id", "url"} once POST /picture set one


@dataclass
class CodePairing:
    """A companion_hello waiting for the user to type the code into the phone."""
    connection: "Connection"
    wrapped_companion: bytes
    ref: bytes
    finish: asyncio.Future = None  # (wrapped key bundle, companion identity) once companion_finish arrives


class Connection:
    def __init__(self, server, ws, number):
        self.server, self.ws, self.id = server, ws, number
        self.kind = "handshaking"
        self.jid = None
        self.active = False
        self.pings = 0
        self.refs = []
        self.pair_device_id = None
        self.refs_acked = False
        self.received = []
        self.pending = {}  # iq id -> Future of the client's answer
        self.noise = None
        self.remote_static = None
        self.closed = False
        self.buffer = bytearray()
        self.header_seen = False
        self.send_lock = asyncio.Lock()
        self.delivering = False  # backlog flushed after <passive><active/>: live stanzas go out now
        self.presence = None  # "available" / "unavailable" as the client last announced
        self.subscriptions = {}  # phone number -> whether it was subscribed to by LID

    async def read_frame(self):
        """One frame's payload; frames may be split across WebSocket messages or share one."""
        while True:
            if not self.header_seen and len(self.buffer) >= len(PROLOGUE):
                if self.buffer[:4] != PROLOGUE:
                    raise ValueError(f"bad connection header {bytes(self.buffer[:4]).hex()}")
                del self.buffer[:4]
                self.header_seen = True
            if self.header_seen and len(self.buffer) >= 3:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) >= 3 + length:
                    frame = bytes(self.buffer[3:3 + length])
                    del self.buffer[:3 + length]
                    return frame
            message = await self.ws.recv()
            if isinstance(message, str):
                raise ValueError("text WebSocket message")
            self.buffer += message

    async def send_frame(self, payload):
        if len(payload) > MAX_FRAME:
            raise ValueError(f"frame of {len(payload)} bytes")
        await self.ws.send(len(payload).to_bytes(3, "big") + payload)

    # NoiseConnection.encrypt/decrypt refuse more than 65535 bytes (the Noise spec's limit), but
    # WhatsApp frames go up to 16 MiB, so the transport uses the cipher states directly.
    def decrypt(self, frame):
        return self.noise.noise_protocol.cipher_state_decrypt.decrypt_with_ad(None, frame)

    async def send(self, node):
        self.log("->", node)
        async with self.send_lock:  # the nonce counter must follow the order frames go out in
            payload = wabinary.marshal(node, compress=self.server.compress)
            await self.send_frame(self.noise.noise_protocol.cipher_state_encrypt.encrypt_with_ad(None, payload))

    async def close_with(self, node):
        try:
            await self.send(node)
        except websockets.ConnectionClosed:
            pass
        await self.ws.close()

    def drop(self):
        self.ws.transport.abort()

    def expect(self, iq_id):
        future = asyncio.get_running_loop().create_future()
        self.pending[iq_id] = future
        return future

    def log(self, direction, node):
        log(f"[conn {self.id}] {direction} {node}")

    def summary(self):
        return {"id": self.id, "kind": self.kind, "jid": self.jid, "active": self.active, "refs": self.refs,
                "refsAcked": self.refs_acked, "received": self.received, "pings": self.pings,
                "delivering": self.delivering, "presence": self.presence}


# The media host: WhatsApp's CDN ("mmg") for uploads and downloads, over HTTPS with a test CA.

# Upload paths clients use (/mms/<type>/<token>). pyaileys and Baileys send stickers to /mms/image and
# voice notes to /mms/audio; the others are accepted in case a client names them.
UPLOAD_TYPES = {"image", "video", "audio", "document", "sticker", "ptt", "gif", "thumbnail-link",
                "md-msg-hist", "md-app-state"}
# The first directory of real direct paths per media type. Cosmetic: no client parses it.
DIRECT_PATH_DIRS = {"image": "t62.7118-24", "sticker": "t62.15575-24", "video": "t62.7161-24", "gif": "t62.7161-24",
                    "audio": "t62.7117-24", "ptt": "t62.7117-24", "document": "t62.7119-24"}
MEDIA_CHUNK = 1 << 20  # files up to 100 MiB go through; none is ever held in memory whole
MEDIA_CONN_TTL, MEDIA_AUTH_TTL, MEDIA_MAX_BUCKETS = 300, 3600, 12
RETRY_KEY_INFO = b"WhatsApp Media Retry Notification"
# MediaRetryNotification.ResultType; the <error code> of a failed media retry is one of these too.
RETRY_GENERAL_ERROR, RETRY_SUCCESS, RETRY_NOT_FOUND, RETRY_DECRYPTION_ERROR = 0, 1, 2, 3
RETRY_RESULTS = {0: "general_error", 1: "success", 2: "not_found", 3: "decryption_error"}


def upload_token(enc_sha256):
    """The upload token: base64url of SHA-256 of the uploaded (encrypted) body, without padding."""
    return base64.urlsafe_b64encode(enc_sha256).decode().rstrip("=")


def media_retry_key(media_key):
    return HKDF(hashes.SHA256(), 32, None, RETRY_KEY_INFO).derive(media_key)


def make_test_ca(directory):
    """A CA made fresh for this run, and a leaf for 127.0.0.1 and localhost it signed. A client trusts
    the media host by trusting ca.pem alone. The leaf has what Apple's and OpenSSL's strict checks
    want of a TLS server certificate: SAN (no CN matching), serverAuth, a short validity, key ids.
    Returns (CA PEM path, leaf PEM path, leaf key PEM path, CA PEM text)."""
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    end = start + datetime.timedelta(days=30)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake WhatsApp media test CA")])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    paths = [os.path.join(directory, name) for name in ("ca.pem", "leaf.pem", "leaf-key.pem")]
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    for path, data in zip(paths, (ca_pem, leaf.public_bytes(serialization.Encoding.PEM), key_pem)):
        with open(path, "wb") as out:
            out.write(data)
    return (*paths, ca_pem.decode())


@dataclass
class StoredMedia:
    """One published file: what a GET of its direct path answers."""
    direct_path: str  # with its query, as the upload answer gives it
    url: str
    file: str  # on disk; a re-published entry shares its original's file
    size: int
    enc_sha256: bytes
    media_type: str  # from the upload path (/mms/<type>/…), or given to /media/store
    source: str  # "upload", "store" or "retry"
    created: int
    republished_from: str = None  # for "retry": the direct path it stands in for
    status: int = 200  # 200, or what it answers once expired (POST /media/expire)
    downloads: int = 0
    original: str = None  # the intact file, once POST /media/corrupt serves a damaged copy

    def describe(self):
        return {"direct_path": self.direct_path, "url": self.url, "size": self.size,
                "enc_sha256": self.enc_sha256.hex(), "media_type": self.media_type, "source": self.source,
                "republished_from": self.republished_from, "status": self.status, "downloads": self.downloads,
                "t": self.created}


class MediaHost:
    """The fake CDN, served from its own thread (uploads and downloads of 100 MiB must not stall the
    WebSocket loop); the directory below is shared with the asyncio side under a lock. Files live in
    a temporary directory that goes away with the server."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fake-whatsapp-media-")
        self.ca_file, cert_file, key_file, self.ca_pem = make_test_ca(self.dir)
        self.auth = secrets.token_urlsafe(32)  # one per run, as media_conn hands it out
        self.lock = threading.Lock()
        self.files = {}  # direct path without its query -> StoredMedia, in publish order
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_file, key_file)
        self.server = MediaHTTPServer(("127.0.0.1", 0), MediaRequest)
        self.server.media = self
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="media-host", daemon=True).start()

    def info(self):
        return {"media_host": self.host, "media_ca_file": self.ca_file, "media_ca_pem": self.ca_pem,
                "auth": self.auth, "dir": self.dir}

    def find(self, target):
        """The entry for a request target or direct path: matched on the path alone, so the query
        the upload answer gave, another one, or none at all (whatsmeow appends &hash=…&mms-type=…,
        whatsapp-rust ?auth=…&token=…) all reach the same file."""
        path = urllib.parse.urlsplit(target).path
        with self.lock:
            return self.files.get(path)

    def publish(self, file, size, enc_sha256, media_type, source, republished_from=None):
        folder = DIRECT_PATH_DIRS.get(media_type, "t62.7118-24")
        name = f"{secrets.randbelow(10**8)}_{secrets.randbelow(10**16)}_{secrets.randbelow(10**18)}_n.enc"
        expires = format(now() + 30 * 86400, "X")  # `oe`: the URL's expiry, hex Unix seconds
        direct_path = f"/v/{folder}/{name}?ccb=11-4&oh=01_{secrets.token_urlsafe(30)}&oe={expires}&_nc_sid=5e03e0"
        stored = StoredMedia(direct_path, f"https://{self.host}{direct_path}", file, size, enc_sha256, media_type,
                             source, now(), republished_from)
        with self.lock:
            self.files[urllib.parse.urlsplit(direct_path).path] = stored
        log(f"[media] published {media_type} {size} bytes at {direct_path} ({source})")
        return stored

    def republish(self, stored):
        """What the phone's re-upload amounts to: the same (intact) bytes under a new direct path."""
        return self.publish(stored.original or stored.file, stored.size, stored.enc_sha256, stored.media_type, "retry",
                            stored.direct_path)

    def corrupt(self, stored):
        """Serves a copy of the file with one byte flipped in the middle (a CDN handing out the wrong
        bytes); the intact file is kept for the phone's re-upload."""
        fd, target = tempfile.mkstemp(dir=self.dir, suffix=".bad")
        with open(stored.file, "rb") as source, os.fdopen(fd, "wb") as out:
            while data := source.read(MEDIA_CHUNK):
                out.write(data)
        with open(target, "r+b") as out:
            out.seek(stored.size // 2)
            byte = out.read(1)
            out.seek(stored.size // 2)
            out.write(bytes([byte[0] ^ 0x01]))
        with self.lock:
            stored.original = stored.original or stored.file
            stored.file = target

    def store_local(self, path, media_type):
        """Copies a local (already encrypted) file in, in chunks, and publishes it."""
        digest, size = hashlib.sha256(), 0
        fd, target = tempfile.mkstemp(dir=self.dir, suffix=".enc")
        with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
            while data := source.read(MEDIA_CHUNK):
                out.write(data)
                digest.update(data)
                size += len(data)
        return self.publish(target, size, digest.digest(), media_type, "store")

    def uploads(self):
        with self.lock:
            return [stored.describe() for stored in self.files.values()]


class MediaHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        log(f"[media] request from {client_address} failed:\n{traceback.format_exc(limit=3)}")


class MediaRequest(http.server.BaseHTTPRequestHandler):
    """One HTTPS connection to the media host (HTTP/1.1 keep-alive; TLS is set up in this request's
    own thread, so a slow handshake holds up no one else).

      POST /mms/<type>/<TOKEN>?auth=AUTH&token=TOKEN   body: the encrypted file (Content-Length or chunked)
        401 for another auth (answered before the body when the client sent Expect: 100-continue),
        404 for another path, 400 unless TOKEN (the path's, and the query's if given) is the unpadded
        base64url SHA-256 of the body (padded is accepted too: whatsmeow pads), else
        200 {"url": "https://HOST" + direct_path, "direct_path"}.
      GET|HEAD <direct path>   200 with the bytes and Content-Length (a single `Range: bytes=A-[B]`
        gives 206), 404 for an unknown path, the expiry status once expired."""
    protocol_version = "HTTP/1.1"
    server_version = "FakeMMG/1"
    timeout = 60

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request = self.server.media.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format, *args):
        log(f"[media] {self.address_string()} {format % args}")

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body_chunks(self):
        """The request body as it arrives, at most MEDIA_CHUNK bytes at a time."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield from self.read_exactly(size)
                self.rfile.readline()
        else:
            yield from self.read_exactly(int(self.headers.get("Content-Length") or 0))

    def read_exactly(self, left):
        while left > 0:
            data = self.rfile.read(min(left, MEDIA_CHUNK))
            if not data:
                raise ConnectionError("the request body ended early")
            left -= len(data)
            yield data

    def upload_problem(self):
        """(status, reason) when the upload's path or auth is wrong, else None: known before the body."""
        target = urllib.parse.urlsplit(self.path)
        parts = target.path.split("/")
        if len(parts) != 4 or parts[1] != "mms" or parts[2] not in UPLOAD_TYPES or not parts[3]:
            return 404, f"no upload path {target.path}"
        auth = urllib.parse.parse_qs(target.query).get("auth", [None])[0]
        if auth != self.server.media.auth:
            return 401, "wrong media auth" if auth else "no media auth"
        return None

    def handle_expect_100(self):
        if self.command == "POST" and (problem := self.upload_problem()):
            self.close_connection = True  # the body never comes; this connection is done
            self.answer(problem[0], {"error": problem[1]}, {"Connection": "close"})
            return False
        return super().handle_expect_100()

    def do_POST(self):
        media = self.server.media
        problem = self.upload_problem()
        if problem:
            for _ in self.body_chunks():  # read it all, so the client gets to see the answer
                pass
            return self.answer(problem[0], {"error": problem[1]})
        target = urllib.parse.urlsplit(self.path)
        _, _, media_type, token = target.path.split("/")
        query_token = urllib.parse.parse_qs(target.query).get("token", [None])[0]
        digest, size = hashlib.sha256(), 0
        fd, file = tempfile.mkstemp(dir=media.dir, suffix=".enc")
        try:
            with os.fdopen(fd, "wb") as out:
                for data in self.body_chunks():
                    out.write(data)
                    digest.update(data)
                    size += len(data)
        except BaseException:
            os.unlink(file)
            raise
        expected = upload_token(digest.digest())
        tokens = [urllib.parse.unquote(token)] + ([query_token] if query_token is not None else [])
        if any(t.rstrip("=") != expected for t in tokens):
            os.unlink(file)
            return self.answer(400, {"error": f"token is not the body's SHA-256 ({expected})"})
        stored = media.publish(file, size, digest.digest(), media_type, "upload")
        self.answer(200, {"url": stored.url, "direct_path": stored.direct_path})

    def do_GET(self):
        stored = self.server.media.find(self.path)
        if stored is None:
            return self.answer(404, {"error": "no such media"})
        if stored.status != 200:
            return self.answer(stored.status, {"error": "media expired"})
        start, end = 0, stored.size  # [start, end)
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if ranged:
            start = int(ranged[1])
            end = min(int(ranged[2]) + 1, stored.size) if ranged[2] else stored.size
            if start >= end:
                return self.answer(416, {"error": "range not satisfiable"}, {"Content-Range": f"bytes */{stored.size}"})
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(stored.file, "rb") as source:
            source.seek(start)
            left = end - start
            while left > 0 and (data := source.read(min(left, MEDIA_CHUNK))):
                self.wfile.write(data)
                left -= len(data)
        with self.server.media.lock:
            stored.downloads += 1

    do_HEAD = do_GET


class FakeWhatsApp(GroupRelay):
    participant_hash = staticmethod(participant_hash)

    def __init__(self):
        started = now()
        self.root_private, self.root_public = wa_certificates.keypair()
        intermediate_private, _ = wa_certificates.keypair()
        self.static_private, static_public = wa_certificates.keypair()
        self.chain = wa_certificates.chain(self.root_private, intermediate_private, static_public, started)
        self.devices = {}  # "PHONE:DEV@s.whatsapp.net" -> Device
        self.phones = {}  # phone number -> Phone
        self.code_pairings = {}  # phone number -> CodePairing
        self.connections = []
        self.connection_count = 0
        self.compress = False
        self.answer_pings = True
        self.prekey_threshold = PREKEY_THRESHOLD
        self.seq = 0  # numbers inbox entries in delivery order across devices
        # What the relay saw, for /state: stanzas sent by devices and what became of them.
        self.sent = []
        self.receipts = []
        self.retries = []
        self.chatstates = []
        self.presences = []
        self.acks = []
        self.undeliverable = []
        self.media = MediaHost()
        self.media_owners = {}  # message id -> what the account's phone knows of its media (/media/owner)
        self.media_retries = []  # server-error receipts (media retry requests) and how they were answered
        self.init_groups()
        self.calls = []  # calls rung through /call, with how each was answered

    def phone(self, number):
        return self.phones.setdefault(number, Phone())

    # WebSocket side

    async def on_websocket(self, ws):
        self.connection_count += 1
        conn = Connection(self, ws, self.connection_count)
        self.connections.append(conn)
        log(f"[conn {conn.id}] opened")
        try:
            payload = await self.handshake(conn)
            await self.admit(conn, payload)
            while True:
                node = wabinary.unmarshal(conn.decrypt(await conn.read_frame()))
                conn.log("<-", node)
                await self.dispatch(conn, node)
        except websockets.ConnectionClosed:
            pass
        except Exception:
            log(f"[conn {conn.id}] closing after an error:\n{traceback.format_exc()}")
            await ws.close(1011)
        finally:
            conn.closed = True
            self.connections.remove(conn)
            closed = ConnectionError("the connection closed")
            for future in conn.pending.values():
                if not future.done():
                    future.set_exception(closed)
            for pairing in self.code_pairings.values():
                if pairing.connection is conn and pairing.finish and not pairing.finish.done():
                    pairing.finish.set_exception(closed)
            log(f"[conn {conn.id}] closed")
            if conn.presence == "available" and conn.jid in self.devices:
                try:  # its account may have gone offline with it
                    await self.announce_presence(JID.parse(conn.jid).user)
                except Exception:
                    log(f"presence update after closing conn {conn.id} failed:\n{traceback.format_exc()}")

    async def handshake(self, conn):
        """Noise XX as the responder; returns the parsed ClientPayload."""
        noise = NoiseConnection.from_name(b"Noise_XX_25519_AESGCM_SHA256")
        noise.set_as_responder()
        noise.set_prologue(PROLOGUE)
        noise.set_keypair_from_private_bytes(Keypair.STATIC, self.static_private)
        noise.start_handshake()

        hello = protowire.parse(protowire.first(protowire.parse(await conn.read_frame()), 2, b""))
        ephemeral = protowire.first(hello, 1, b"")
        if len(ephemeral) != 32:
            raise ValueError("ClientHello without a 32-byte ephemeral key")
        skip_first_payload_hash(noise)
        noise.read_message(ephemeral)

        # noiseprotocol writes e || enc(s) || enc(payload); WhatsApp carries them as three fields.
        reply = bytes(noise.write_message(self.chain))
        server_hello = protowire.message((1, reply[:32]), (2, reply[32:80]), (3, reply[80:]))
        await conn.send_frame(protowire.message((3, server_hello)))

        finish = protowire.parse(protowire.first(protowire.parse(await conn.read_frame()), 4, b""))
        handshake = noise.noise_protocol.handshake_state  # dropped once the handshake completes
        payload = noise.read_message(protowire.first(finish, 1, b"") + protowire.first(finish, 2, b""))
        conn.remote_static = bytes(handshake.rs.public_bytes)
        conn.noise = noise
        return protowire.parse(bytes(payload))

    async def admit(self, conn, payload):
        """Registration (devicePairingData present) or login (username and device present)."""
        pairing_data = protowire.first(payload, 19)
        if pairing_data is not None:
            fields = protowire.parse(pairing_data)
            identity = protowire.first(fields, 3, b"")
            signed_prekey = protowire.first(fields, 5, b"")
            if not signature_valid(identity, b"\x05" + signed_prekey, protowire.first(fields, 6, b"")):
                log(f"[conn {conn.id}] registration with a bad signed prekey signature")
                return await conn.close_with(Node("failure", {"reason": "400"}))
            conn.kind = "registration"
            return await self.send_refs(conn, 6)
        if 1 in payload and 18 in payload:
            jid = str(JID(str(protowire.first(payload, 1)), device=protowire.first(payload, 18)))
            device = self.devices.get(jid)
            if device is None or device.noise_pub != conn.remote_static:
                log(f"[conn {conn.id}] login as {jid} refused: {'unknown device' if device is None else 'wrong noise key'}")
                return await conn.close_with(Node("failure", {"reason": "401", "location": "frc"}))
            conn.kind, conn.jid = "login", jid
            return await conn.send(Node("success", {
                "t": str(now()), "props": "27", "location": "frc", "lid": device.lid,
                "creation": str(device.created), "abprops": "10"}))
        log(f"[conn {conn.id}] ClientPayload is neither a registration nor a login")
        await conn.close_with(Node("failure", {"reason": "400"}))

    async def send_refs(self, conn, count):
        conn.refs = [f"2@{secrets.token_urlsafe(48)}" for _ in range(count)]
        conn.pair_device_id, conn.refs_acked = new_id(), False
        refs = [Node("ref", {}, ref.encode()) for ref in conn.refs]
        await conn.send(Node("iq", {"from": SERVER, "type": "set", "id": conn.pair_device_id}, [Node("pair-device", {}, refs)]))

    async def dispatch(self, conn, node):
        if node.tag == "iq":
            return await self.on_iq(conn, node)
        if conn.kind == "login" and conn.jid in self.devices:
            if node.tag == "call":
                return await self.on_call(conn, node)
            handler = {"message": self.on_message, "receipt": self.on_receipt, "ack": self.on_ack,
                       "chatstate": self.on_chatstate, "presence": self.on_presence}.get(node.tag)
            if handler:
                return await handler(conn, node)
        if node.tag == "ack" and node.attrs.get("class") == "notification":
            return  # the client's receipt for a notification we sent
        conn.received.append(str(node))

    async def on_iq(self, conn, iq):
        kind, iq_id, xmlns = iq.attrs.get("type"), iq.attrs.get("id"), iq.attrs.get("xmlns")
        if kind in ("result", "error"):
            if iq_id == conn.pair_device_id:
                conn.refs_acked = kind == "result"
            elif iq_id in conn.pending:
                future = conn.pending.pop(iq_id)
                if not future.done():
                    future.set_result(iq)
            else:
                conn.received.append(str(iq))
            return
        child = (iq.children() or [None])[0]
        name = child.tag if child else None
        if kind not in ("get", "set"):
            conn.received.append(str(iq))
        elif xmlns == "w:p" and name == "ping":
            conn.pings += 1
            if self.answer_pings:
                await conn.send(result(iq_id))
        elif xmlns == "passive" and name == "active":
            conn.active = True
            await conn.send(result(iq_id))
            if conn.kind == "login" and conn.jid in self.devices:
                await self.start_delivery(conn)
        elif xmlns == "passive" and name == "passive":
            conn.active = conn.delivering = False
            await conn.send(result(iq_id))
        elif xmlns == "encrypt" and conn.kind == "login" and conn.jid in self.devices:
            await self.on_encrypt(conn, iq)
        elif xmlns == "usync" and conn.kind == "login":
            await conn.send(result(iq_id, [self.usync_answer(iq)]))
        elif xmlns == "w:m" and name == "media_conn" and conn.kind == "login":
            # What whatsmeow insists on (auth, ttl, auth_ttl, max_buckets) and one host; the hostname
            # carries the port, which every client puts straight into https://HOST/….
            await conn.send(result(iq_id, [Node("media_conn", {
                "auth": self.media.auth, "ttl": str(MEDIA_CONN_TTL), "auth_ttl": str(MEDIA_AUTH_TTL),
                "max_buckets": str(MEDIA_MAX_BUCKETS)}, [Node("host", {"hostname": self.media.host})])]))
        elif xmlns == "w:profile:picture" and conn.kind == "login":
            where = self.resolve(iq.attrs.get("target"))
            picture = self.phones[where[0]].picture if where else None
            if picture is None:
                await conn.send(error(iq_id, "404", "item-not-found"))
            else:
                await conn.send(result(iq_id, [Node("picture", {"id": picture["id"], "url": picture["url"], "type": "image",
                                                                 "direct_path": picture["url"].split("net", 1)[-1]})]))
        elif xmlns == "w:g2" and conn.kind == "login" and conn.jid in self.devices:
            await self.on_group_iq(conn, iq)
        elif xmlns == "w" and name == "props":
            # No feature flags: clients treat an empty set as defaults. The hash lets them skip a refetch.
            await conn.send(result(iq_id, [Node("props", {"protocol": "2", "hash": "fake-props-1"})]))
        elif xmlns == "md" and name == "remove-companion-device":
            await conn.send(result(iq_id))
            await self.remove_device(str(child.attrs.get("jid")))
        elif xmlns == "md" and name == "link_code_companion_reg":
            await self.on_link_code(conn, iq, child)
        else:
            conn.received.append(str(iq))
            await conn.send(result(iq_id))

    async def remove_device(self, jid):
        """Forgets the device, sends its live connections the logged-out stream error, and tells
        everyone else the account lost a device (if it was listed)."""
        removed = self.devices.pop(jid, None)
        for conn in [c for c in self.connections if c.jid == jid]:
            await conn.close_with(stream_error("401", "device_removed"))
        if removed is not None and removed.keys is not None:
            parsed = JID.parse(jid)
            await self.announce_devices(parsed.user, "remove", parsed.device, removed)
        return removed is not None

    async def on_link_code(self, conn, iq, reg):
        iq_id, stage = iq.attrs.get("id"), reg.attrs.get("stage")
        if stage == "companion_hello":
            phone = JID.parse(str(reg.attrs.get("jid", ""))).user
            wrapped = content_bytes(reg.child("link_code_pairing_wrapped_companion_ephemeral_pub"))
            auth_key = content_bytes(reg.child("companion_server_auth_key_pub"))
            if conn.kind != "registration" or not phone or len(wrapped) != 80 or auth_key != conn.remote_static:
                log(f"[conn {conn.id}] companion_hello refused (wrong connection, phone, wrapped key or noise key)")
                return await conn.send(error(iq_id, "400", "bad-request"))
            ref = secrets.token_urlsafe(24).encode()
            self.code_pairings[phone] = CodePairing(conn, wrapped, ref)
            answer = Node("link_code_companion_reg", {}, [Node("link_code_pairing_ref", {}, ref)])
            return await conn.send(result(iq_id, [answer]))
        if stage == "companion_finish":
            ref = content_bytes(reg.child("link_code_pairing_ref"))
            pairing = next((p for p in self.code_pairings.values() if p.ref == ref and p.connection is conn), None)
            if pairing is None or pairing.finish is None or pairing.finish.done():
                log(f"[conn {conn.id}] companion_finish for no pairing the phone started")
                return await conn.send(error(iq_id, "404", "item-not-found"))
            await conn.send(result(iq_id))
            bundle = content_bytes(reg.child("link_code_pairing_wrapped_key_bundle"))
            pairing.finish.set_result((bundle, content_bytes(reg.child("companion_identity_public"))))
            return
        conn.received.append(str(iq))
        await conn.send(result(iq_id))

    # The directory: accounts (Phone), their devices, and how each looks to the others

    def device_key(self, number, device):
        return str(JID(number, device=device))

    def resolve(self, jid):
        """(phone number, device, addressed by LID) for a PN or LID address of a known account."""
        jid = as_jid(jid)
        if jid is None:
            return None
        if jid.server == "s.whatsapp.net" and jid.user in self.phones:
            return jid.user, jid.device, False
        if jid.server == "lid":
            number = next((n for n, p in self.phones.items() if p.lid_user == jid.user), None)
            if number is not None:
                return number, jid.device, True
        return None

    def account_keys(self, number):
        """Device keys (PN device JIDs) of an account, device 0 first."""
        keys = [key for key in self.devices if JID.parse(key).user == number]
        return sorted(keys, key=lambda key: JID.parse(key).device)

    def visible_devices(self, number):
        """The devices usync lists: those that uploaded Signal keys. A device without keys would make
        every sender fail to build a session (pyaileys fails the whole send)."""
        return [JID.parse(key).device for key in self.account_keys(number) if self.devices[key].keys]

    def address(self, number, device, lid):
        phone = self.phones[number]
        return JID(phone.lid_user, "lid", device) if lid else JID(number, device=device)

    def alternate(self, jid):
        """The other namespace's user JID for an account's user JID (PN <-> LID), or None."""
        where = self.resolve(jid)
        if where is None:
            return None
        return self.address(where[0], 0, not where[2])

    def lid_view(self, number, to):
        """Whether the devices of `number` show up by LID for a stanza they addressed to `to`: when
        they wrote to a LID, or their account was switched to LID addressing. The real server keeps a
        1:1 chat in the namespace the sender addressed it in; a LID-migrated account is always LID."""
        return (to is not None and to.server == "lid") or self.phones[number].addressing == "lid"

    def live(self, key):
        return [c for c in self.connections if c.jid == key and c.delivering and not c.closed]

    # Delivery, acknowledgements and the offline queue

    async def send_quietly(self, conn, node):
        try:
            await conn.send(node)
        except websockets.ConnectionClosed:
            pass  # still pending: it goes out again on the next connection

    async def deliver(self, key, node, queue=True):
        """Hands a stanza to a device: now if it is connected and active, else on its next login.
        Messages, receipts and notifications with an id stay pending until the device acknowledges
        them; chat states and presences (queue=False) are only for whoever is connected now."""
        device = self.devices.get(key)
        if device is None:
            return None
        self.seq += 1
        entry = {"seq": self.seq, "tag": node.tag, "id": node.attrs.get("id"), "from": str(node.attrs.get("from", "")),
                 "type": node.attrs.get("type"), "attrs": {n: str(v) for n, v in node.attrs.items()},
                 "acked": False, "node": str(node)}
        if node.tag == "message":
            entry["enc"] = [{"type": enc.attrs.get("type"), "v": enc.attrs.get("v"), "count": enc.attrs.get("count"),
                             "bytes": content_bytes(enc).hex()} for enc in node.children("enc")]
        device.inbox.append(entry)
        pending = None
        if queue and entry["id"]:
            pending = Pending(entry, node)
            device.pending.append(pending)
        else:
            entry["acked"] = None  # not tracked
        for conn in self.live(key):
            if pending:
                pending.sent_on.add(conn.id)
            await self.send_quietly(conn, node)
        return entry

    def acknowledge(self, key, ids, tags):
        device = self.devices.get(key)
        if device is None:
            return
        kept = []
        for pending in device.pending:
            if pending.entry["id"] in ids and pending.node.tag in tags:
                pending.entry["acked"] = True
            else:
                kept.append(pending)
        device.pending = kept

    async def start_delivery(self, conn):
        """After <passive><active/>: the backlog in order, then <ib><offline count=N/></ib>, and from
        then on live delivery. WhatsApp holds stanzas for a passive connection, which lets a client
        upload prekeys before messages that need them arrive (whatsmeow does exactly that)."""
        device = self.devices[conn.jid]
        count = 0
        while True:  # what arrives during the flush joins the backlog instead of overtaking it
            backlog = [p for p in device.pending if conn.id not in p.sent_on]
            if not backlog or conn.closed:
                break
            for pending in backlog:
                pending.sent_on.add(conn.id)
                await conn.send(pending.node)
                count += 1
        conn.delivering = True
        await conn.send(Node("ib", {"from": SERVER}, [Node("offline", {"count": str(count)})]))

    async def on_ack(self, conn, node):
        """<ack class=message|receipt|notification id>: the device has the stanza; stop resending."""
        kind = node.attrs.get("class")
        if kind in ("message", "receipt", "notification"):
            self.acknowledge(conn.jid, {node.attrs.get("id")}, {kind})
        else:
            conn.received.append(str(node))

    # <message>: fan-out to the devices named in <participants>, or one <enc> to the `to` device

    async def on_message(self, conn, node):
        number, device_id, _ = self.resolve(conn.jid)
        phone = self.phones[number]
        msg_id = node.attrs.get("id") or new_id()
        to = as_jid(node.attrs.get("to"))
        stamp = str(node.attrs.get("t") or now())
        identity = node.child("device-identity")
        targets = []
        participants = node.child("participants")
        for to_node in participants.children("to") if participants else []:
            targets += [(as_jid(to_node.attrs.get("jid")), enc) for enc in to_node.children("enc")]
        if to is not None and to.server != "g.us":  # the retry and peer form: one <enc> for the `to` device
            targets += [(to, enc) for enc in node.children("enc")]
        record = {"from": conn.jid, "to": str(to), "id": msg_id, "type": node.attrs.get("type"),
                  "attrs": {n: str(v) for n, v in node.attrs.items()},
                  "participants": [{"jid": str(jid), "type": enc.attrs.get("type"), "count": enc.attrs.get("count")}
                                   for jid, enc in targets],
                  "deviceIdentity": identity is not None, "delivered": [], "node": str(node)}
        self.sent.append(record)

        if to is not None and to.server == "g.us":
            if node.attrs.get("participant") is not None:  # a retry resend to one member's device
                targets = [(as_jid(node.attrs["participant"]), enc) for enc in node.children("enc")]
                return await self.relay_group_message(conn, node, to, msg_id, stamp, identity, targets, record, only=targets)
            return await self.relay_group_message(conn, node, to, msg_id, stamp, identity, targets, record)
        if to is None or to.server not in ("s.whatsapp.net", "lid"):
            self.undeliverable.append({"from": conn.jid, "to": str(to), "id": msg_id, "reason": "only 1:1 chats are relayed"})
            return await self.ack_message(conn, msg_id, to, stamp, node, error="501")
        lid = self.lid_view(number, to)
        for target, enc in targets:
            where = self.resolve(target)
            key = self.device_key(where[0], where[1]) if where else None
            if key not in self.devices:
                self.undeliverable.append({"from": conn.jid, "to": str(target), "id": msg_id, "reason": "no such device"})
                continue
            if key == conn.jid:
                self.undeliverable.append({"from": conn.jid, "to": str(target), "id": msg_id, "reason": "the sender itself"})
                continue
            attrs = {"from": self.address(number, device_id, lid), "id": msg_id, "t": stamp,
                     "type": node.attrs.get("type", "text")}
            for name in ("category", "edit"):
                if name in node.attrs:
                    attrs[name] = node.attrs[name]
            if phone.push_name:
                attrs["notify"] = phone.push_name
            if where[0] == number:
                # A copy for the sender's own other device: `recipient` names the chat, as whatsmeow
                # and Baileys expect on a message from their own account.
                chat = as_jid(node.attrs.get("recipient")) or user_of(to)
                attrs["recipient"] = chat
                other = self.alternate(chat)
                chat_account = self.resolve(chat)
                if other is not None and (chat.server == "lid" or self.phones[chat_account[0]].lid_hints):
                    attrs["peer_recipient_pn" if chat.server == "lid" else "peer_recipient_lid"] = other
            elif lid:
                attrs["addressing_mode"] = "lid"
                attrs["sender_pn"] = JID(number)
            elif phone.lid_hints:
                attrs["sender_lid"] = JID(phone.lid_user, "lid")
            device = self.devices[key]
            corrupted = device.corrupt > 0 and isinstance(enc.content, bytes)
            if corrupted:
                device.corrupt -= 1
                enc = Node(enc.tag, dict(enc.attrs), corrupt_ciphertext(enc.attrs.get("type"), enc.content))
            entry = await self.deliver(key, Node("message", attrs, [enc] + ([identity] if identity else [])))
            entry["corrupted"] = corrupted
            record["delivered"].append(key)
        await self.ack_message(conn, msg_id, to, stamp, node)

    async def ack_message(self, conn, msg_id, to, stamp, node, error=None, group_hash=None):
        """The server's <ack class=message> to the sender; with the fault set, nothing."""
        sender = self.devices[conn.jid]
        if sender.drop_acks > 0:
            sender.drop_acks -= 1
            self.acks.append({"to": conn.jid, "id": msg_id, "dropped": True})
            return
        attrs = {"class": "message", "id": msg_id, "from": to if to is not None else SERVER, "t": stamp}
        if error:
            attrs["error"] = error
        encs = node.children("enc") + [e for t in (node.child("participants") or Node("")).children("to")
                                       for e in t.children("enc")]
        if group_hash is not None and error is None:
            attrs["phash"] = group_hash
        elif to is not None and ("phash" in node.attrs or any("phash" in e.attrs for e in encs)):
            # The server's own hash over the listed devices of both accounts, in the namespace addressed.
            accounts = {self.resolve(conn.jid)[0]} | ({self.resolve(to)[0]} if self.resolve(to) else set())
            lid = to.server == "lid"
            attrs["phash"] = participant_hash([self.address(n, d, lid) for n in accounts for d in self.visible_devices(n)])
        self.acks.append({"to": conn.jid, "id": msg_id, "dropped": False, "error": error, "phash": attrs.get("phash")})
        await conn.send(Node("ack", attrs))

    # <receipt>: back to the sender's devices (retry receipts to the one device named)

    async def on_receipt(self, conn, node):
        number, device_id, _ = self.resolve(conn.jid)
        receipt_id = node.attrs.get("id", "")
        kind = node.attrs.get("type")
        listed = node.child("list")
        ids = [receipt_id] + [item.attrs.get("id") for item in (listed.children("item") if listed else [])]
        self.acknowledge(conn.jid, set(ids), {"message"})  # any receipt for a message acknowledges it
        to = as_jid(node.attrs.get("to"))
        where = self.resolve(to)
        record = {"from": conn.jid, "to": str(to), "id": receipt_id, "ids": ids, "type": kind,
                  "delivered": [], "node": str(node)}
        self.receipts.append(record)
        if kind == "server-error":
            return await self.on_media_retry(conn, node)
        if to is not None and to.server == "g.us":
            return await self.relay_group_receipt(conn, node, to, kind, receipt_id, record)
        if kind == "retry":
            self.retries.append(self.describe_retry(conn.jid, to, node))

        targets = []  # (device key, whether it is a copy for the reader's own other devices)
        if where is not None:
            if kind == "retry":
                targets.append((self.device_key(where[0], where[1]), False))
            elif kind not in ("read-self", "played-self"):
                targets += [(key, False) for key in self.account_keys(where[0])]
            if kind in ("read", "played", "read-self", "played-self") and where[0] != number:
                targets += [(key, True) for key in self.account_keys(number)]
        else:
            self.undeliverable.append({"from": conn.jid, "to": str(to), "id": receipt_id, "reason": "unknown receipt target"})
        lid = self.lid_view(number, to)
        for key, self_copy in targets:
            if key == conn.jid or key not in self.devices:
                continue
            attrs = {"from": self.address(number, device_id, lid), "id": receipt_id, "t": node.attrs.get("t") or str(now())}
            if kind:
                attrs["type"] = kind
            for name in ("recipient", "participant"):
                if name in node.attrs:
                    attrs[name] = node.attrs[name]
            if self_copy and "recipient" not in attrs:
                attrs["recipient"] = user_of(to)  # "I read this chat", for the reader's other devices
            content = node.content if isinstance(node.content, list) else None
            await self.deliver(key, Node("receipt", attrs, content))
            record["delivered"].append(key)
        ack = {"class": "receipt", "id": receipt_id, "from": to if to is not None else SERVER}
        if kind:
            ack["type"] = kind
        await conn.send(Node("ack", ack))

    @staticmethod
    def describe_retry(sender, to, node):
        retry = node.child("retry") or Node("retry")
        registration = node.child("registration")
        keys = node.child("keys")
        described = {"from": sender, "to": str(to), "id": node.attrs.get("id"), "retryId": retry.attrs.get("id"),
                     "count": int(retry.attrs["count"]) if str(retry.attrs.get("count", "")).isdigit() else None,
                     "t": retry.attrs.get("t"), "v": retry.attrs.get("v"), "error": retry.attrs.get("error"),
                     "registration": int.from_bytes(content_bytes(registration), "big") if registration else None,
                     "keys": None, "node": str(node)}
        if keys is not None:
            def key_of(key_node):
                if key_node is None:
                    return None
                out = {"id": int.from_bytes(content_bytes(key_node.child("id")), "big"),
                       "value": content_bytes(key_node.child("value")).hex()}
                if key_node.child("signature") is not None:
                    out["signature"] = content_bytes(key_node.child("signature")).hex()
                return out
            described["keys"] = {
                "type": content_bytes(keys.child("type")).hex(), "identity": content_bytes(keys.child("identity")).hex(),
                "key": key_of(keys.child("key")), "skey": key_of(keys.child("skey")),
                "deviceIdentity": content_bytes(keys.child("device-identity")).hex() if keys.child("device-identity") else None}
        return described

    # Media retry: the fake plays the account's own primary phone, which kept every media key

    async def on_media_retry(self, conn, node):
        """<receipt type="server-error" id to=OWN><encrypt><enc_p/><enc_iv/></encrypt><rmr jid from_me
        [participant]/></receipt>: a device asks its phone to upload a message's media again. Acked as any
        receipt, not relayed: the phone (this server) answers with <notification type="mediaretry">."""
        msg_id = str(node.attrs.get("id", ""))
        to = node.attrs.get("to")
        await conn.send(Node("ack", {"class": "receipt", "id": msg_id, "from": to if to is not None else SERVER,
                                     "type": "server-error"}))
        rmr = node.child("rmr")
        rmr_attrs = {name: rmr.attrs[name] for name in ("jid", "from_me", "participant") if rmr and name in rmr.attrs}
        owner = self.media_owners.get(msg_id)
        entry = {"id": msg_id, "from": conn.jid, "to": str(to), "chat": str(rmr_attrs.get("jid", "")) or None,
                 "fromMe": str(rmr_attrs.get("from_me", "")) == "true",
                 "participant": str(rmr_attrs["participant"]) if "participant" in rmr_attrs else None,
                 "registered": owner is not None, "requestDecrypted": None, "result": None, "errorCode": None,
                 "oldDirectPath": owner["direct_path"] if owner else None, "directPath": None, "url": None, "t": now(),
                 "node": str(node)}
        self.media_retries.append(entry)
        code, stored = None, None
        if owner is None:
            code = RETRY_NOT_FOUND
        else:
            key = media_retry_key(owner["media_key"])
            encrypt = node.child("encrypt")
            if encrypt is not None:  # Baileys notes the server re-uploads even without it
                try:
                    plain = AESGCM(key).decrypt(content_bytes(encrypt.child("enc_iv")),
                                                content_bytes(encrypt.child("enc_p")), msg_id.encode())
                    stanza_id = protowire.first(protowire.parse(plain), 1, b"").decode()
                    entry["requestDecrypted"] = stanza_id == msg_id
                except (InvalidTag, ValueError, UnicodeDecodeError):
                    entry["requestDecrypted"] = False
                if not entry["requestDecrypted"]:
                    code = RETRY_DECRYPTION_ERROR
            if code is None:
                original = self.media.find(owner["direct_path"])
                if original is None:
                    code = RETRY_NOT_FOUND  # the phone no longer has the file
                else:
                    stored = self.media.republish(original)
        content = [Node("rmr", rmr_attrs)]
        if code is None:
            iv = os.urandom(12)
            answer = protowire.message((1, msg_id), (2, stored.direct_path), (3, RETRY_SUCCESS))
            content.append(Node("encrypt", {}, [Node("enc_p", {}, AESGCM(key).encrypt(iv, answer, msg_id.encode())),
                                                Node("enc_iv", {}, iv)]))
            entry.update(result=RETRY_RESULTS[RETRY_SUCCESS], directPath=stored.direct_path, url=stored.url)
        else:
            content.append(Node("error", {"code": str(code)}))
            entry.update(result=RETRY_RESULTS[code], errorCode=code)
        # id is the message's own: clients match the answer on it and use it as the AAD (whatsmeow,
        # Baileys and whatsapp-rust all read it so), so a fresh id would make it undecryptable.
        number = JID.parse(conn.jid).user
        notification = Node("notification", {"from": JID(number), "type": "mediaretry", "id": msg_id, "t": str(now())},
                            content)
        entry["notification"] = str(notification)
        await self.deliver(conn.jid, notification)

    # <chatstate> and <presence>

    async def on_chatstate(self, conn, node):
        number = JID.parse(conn.jid).user
        to = as_jid(node.attrs.get("to"))
        where = self.resolve(to)
        state = (node.children() or [None])[0]
        self.chatstates.append({"from": conn.jid, "to": str(to), "state": state.tag if state else None,
                                "media": state.attrs.get("media") if state else None})
        if to is not None and to.server == "g.us" and state is not None:
            return await self.relay_group_chatstate(conn, to, state)
        if where is None or state is None:
            return
        out = Node("chatstate", {"from": self.address(number, 0, self.lid_view(number, to))}, [Node(state.tag, dict(state.attrs))])
        for key in self.account_keys(where[0]):
            await self.deliver(key, out, queue=False)

    def available(self, number):
        return any(c.presence == "available" for c in self.connections
                   if not c.closed and c.jid and JID.parse(c.jid).user == number)

    def presence_of(self, number, lid):
        attrs = {"from": self.address(number, 0, lid)}
        if not self.available(number):
            attrs.update(type="unavailable", last=str(now()))
        return Node("presence", attrs)

    async def announce_presence(self, number):
        for conn in [c for c in self.connections if number in c.subscriptions and not c.closed]:
            await self.send_quietly(conn, self.presence_of(number, conn.subscriptions[number]))

    async def on_presence(self, conn, node):
        number = JID.parse(conn.jid).user
        kind = node.attrs.get("type")
        self.presences.append({"from": conn.jid, "type": kind, "to": str(node.attrs.get("to", "")) or None,
                               "name": node.attrs.get("name")})
        if kind in ("subscribe", "unsubscribe"):
            to = as_jid(node.attrs.get("to"))
            where = self.resolve(to)
            if where is None:
                return
            if kind == "unsubscribe":
                conn.subscriptions.pop(where[0], None)
                return
            conn.subscriptions[where[0]] = to.server == "lid"
            return await conn.send(self.presence_of(where[0], to.server == "lid"))
        if kind not in (None, "available", "unavailable"):
            return conn.received.append(str(node))
        before = self.available(number)
        conn.presence = kind or "available"
        if node.attrs.get("name"):
            self.phones[number].push_name = node.attrs["name"]
        if self.available(number) != before:
            await self.announce_presence(number)

    # <iq xmlns="encrypt">: prekey upload, count, bundle fetch, digest, signed prekey rotation

    async def on_encrypt(self, conn, iq):
        iq_id, kind = iq.attrs.get("id"), iq.attrs.get("type")
        tags = {child.tag for child in iq.children()}
        device = self.devices[conn.jid]
        if kind == "set" and "registration" in tags:
            try:
                keys = self.parse_upload(iq)
            except ValueError as bad:
                log(f"[conn {conn.id}] bad prekey upload: {bad}")
                return await conn.send(error(iq_id, "400", "bad-request"))
            if device.keys is not None and device.keys.identity == keys.identity:
                keys.prekeys = {**device.keys.prekeys, **keys.prekeys}  # an upload adds to what is left
            await conn.send(result(iq_id))
            return await self.install_keys(conn.jid, keys)
        if kind == "set" and "rotate" in tags:
            skey = iq.child("rotate").child("skey")
            if device.keys is None or skey is None:
                return await conn.send(error(iq_id, "404", "item-not-found"))
            device.keys.signed_id = int.from_bytes(content_bytes(skey.child("id")), "big")
            device.keys.signed_public = content_bytes(skey.child("value"))
            device.keys.signed_signature = content_bytes(skey.child("signature"))
            return await conn.send(result(iq_id))
        if kind == "get" and "count" in tags:
            count = len(device.keys.prekeys) if device.keys else 0
            return await conn.send(result(iq_id, [Node("count", {"value": str(count)})]))
        if kind == "get" and "key" in tags:
            users = [self.bundle_for(user) for user in iq.child("key").children("user")]
            await conn.send(result(iq_id, [Node("list", {}, [answer for answer, _ in users])]))
            for _, key in users:
                if key:
                    await self.check_prekeys_low(key)
            return
        if kind == "get" and "digest" in tags:
            if device.keys is None:
                return await conn.send(error(iq_id, "404", "item-not-found"))
            return await conn.send(result(iq_id, [self.digest(device.keys)]))
        conn.received.append(str(iq))
        await conn.send(result(iq_id))

    @staticmethod
    def parse_upload(iq):
        def number(node, size):
            raw = content_bytes(node)
            if len(raw) != size:
                raise ValueError(f"<{node.tag if node else '?'}> of {len(raw)} bytes, expected {size}")
            return int.from_bytes(raw, "big")

        def key32(node):
            raw = content_bytes(node)
            if len(raw) != 32:
                raise ValueError(f"a key of {len(raw)} bytes")
            return raw

        if content_bytes(iq.child("type")) != b"\x05":
            raise ValueError("key type is not 0x05")
        skey = iq.child("skey")
        if skey is None:
            raise ValueError("no <skey>")
        signature = content_bytes(skey.child("signature"))
        if len(signature) != 64:
            raise ValueError("signed prekey signature is not 64 bytes")
        prekeys = {number(key.child("id"), 3): key32(key.child("value"))
                   for key in (iq.child("list") or Node("list")).children("key")}
        return SignalKeys(number(iq.child("registration"), 4), key32(iq.child("identity")),
                          number(skey.child("id"), 3), key32(skey.child("value")), signature, prekeys)

    async def install_keys(self, key, keys):
        """A device's keys arrive (upload, or /accounts for a keys-only device): the first time, its
        account gained a listed device; a new identity is an identity change for everyone else."""
        device = self.devices[key]
        old, device.keys = device.keys, keys
        if not keys.signature_valid:
            log(f"{key} uploaded a signed prekey whose signature does not verify")
        if len(keys.prekeys) >= self.prekey_threshold:
            device.low_prekeys_notified = False
        parsed = JID.parse(key)
        if old is None:
            await self.announce_devices(parsed.user, "add", parsed.device, device)
        elif old.identity != keys.identity:
            await self.announce_identity(parsed.user)

    def bundle_for(self, user):
        """One <user> of a bundle answer, flat as pyaileys needs it (whatsmeow also takes a <keys>
        wrapper); pops one one-time prekey. Returns (node, device key whose prekeys were used)."""
        jid = as_jid(user.attrs.get("jid"))
        where = self.resolve(jid)
        key = self.device_key(where[0], where[1]) if where else None
        device = self.devices.get(key)
        if device is None or device.keys is None:
            return Node("user", {"jid": jid or str(user.attrs.get("jid"))},
                        [Node("error", {"code": "404", "text": "item-not-found"})]), None
        keys = device.keys
        content = [Node("registration", {}, uint_bytes(keys.registration_id, 4)), Node("type", {}, b"\x05"),
                   Node("identity", {}, keys.identity), keys.skey_node()]
        if keys.prekeys:
            prekey_id = next(iter(keys.prekeys))
            content.append(Node("key", {}, [Node("id", {}, uint_bytes(prekey_id, 3)),
                                            Node("value", {}, keys.prekeys.pop(prekey_id))]))
        return Node("user", {"jid": jid}, content), key

    @staticmethod
    def digest(keys):
        """What the server holds for the device. The hash (SHA-1 over identity, signed prekey, its
        signature and the one-time keys) is this fake's own: no client we know checks it."""
        material = keys.identity + keys.signed_public + keys.signed_signature + b"".join(keys.prekeys.values())
        return Node("digest", {}, [
            Node("registration", {}, uint_bytes(keys.registration_id, 4)), Node("type", {}, b"\x05"),
            Node("identity", {}, keys.identity), keys.skey_node(),
            Node("list", {}, [Node("id", {}, uint_bytes(i, 3)) for i in keys.prekeys]),
            Node("hash", {}, hashlib.sha1(material).digest())])

    async def check_prekeys_low(self, key):
        device = self.devices.get(key)
        if device and device.keys and len(device.keys.prekeys) < self.prekey_threshold and not device.low_prekeys_notified:
            device.low_prekeys_notified = True
            await self.notify_prekeys(key)

    async def notify_prekeys(self, key, count=None):
        device = self.devices[key]
        value = (len(device.keys.prekeys) if device.keys else 0) if count is None else int(count)
        return await self.deliver(key, Node("notification", {"from": SERVER, "type": "encrypt", "id": new_id(), "t": str(now())},
                                            [Node("count", {"value": str(value)})]))

    # <iq xmlns="usync">

    def usync_answer(self, iq):
        usync = iq.child("usync") or Node("usync")
        wanted = {child.tag for child in (usync.child("query") or Node("query")).children()}
        users = []
        for user in (usync.child("list") or Node("list")).children("user"):
            jid = as_jid(user.attrs.get("jid"))
            contact = user.child("contact")
            if jid is None and contact is not None:  # "is this number on WhatsApp?"
                jid = JID("".join(c for c in content_bytes(contact).decode() if c.isdigit()))
            if jid is None:
                continue
            where = self.resolve(jid)
            content = []
            if "devices" in wanted:
                devices = []
                for device in self.visible_devices(where[0]) if where else []:
                    attrs = {"id": str(device)}
                    if device:  # clients drop companion devices without a key index
                        attrs["key-index"] = str(self.devices[self.device_key(where[0], device)].key_index)
                    devices.append(Node("device", attrs))
                content.append(Node("devices", {}, [Node("device-list", {}, devices)]))
            if "lid" in wanted and where and self.phones[where[0]].addressing == "lid":
                content.append(Node("lid", {"val": JID(self.phones[where[0]].lid_user, "lid")}))
            if "contact" in wanted:
                content.append(Node("contact", {"type": "in" if where else "out"},
                                    content_bytes(contact).decode() if contact is not None else None))
            users.append(Node("user", {"jid": user_of(jid)}, content))
        attrs = {name: usync.attrs[name] for name in ("sid", "mode", "context", "index", "last") if name in usync.attrs}
        return Node("usync", attrs, [Node("list", {}, users)])

    # Notifications about accounts

    async def announce_devices(self, number, change, device_id, device):
        """<notification type="devices"> to every other device: the account gained or lost one."""
        phone = self.phones[number]
        visible = self.visible_devices(number)
        details = {"jid": JID(number, device=device_id), "lid": JID(phone.lid_user, "lid", device_id)}
        if device_id:
            details["key-index"] = str(device.key_index)
        hashes = {"device_hash": participant_hash([JID(number, device=d) for d in visible]),
                  "device_lid_hash": participant_hash([JID(phone.lid_user, "lid", d) for d in visible])}
        note = Node("notification", {"from": JID(number), "lid": JID(phone.lid_user, "lid"), "type": "devices",
                                     "id": new_id(), "t": str(now())}, [Node(change, hashes, [Node("device", details)])])
        changed = self.device_key(number, device_id)
        for key in list(self.devices):
            if key != changed:
                await self.deliver(key, note)

    async def announce_identity(self, number):
        note = Node("notification", {"from": JID(number), "type": "encrypt", "id": new_id(), "t": str(now())},
                    [Node("identity")])
        for key in list(self.devices):
            if JID.parse(key).user != number:
                await self.deliver(key, note)

    def make_creds(self, phone, device, key_index):
        """Everything a client needs to log in as a device it did not pair: the phone has signed it."""
        noise_private, noise_public = wa_certificates.keypair()
        if device == 0:  # the phone itself: its identity is the account key others verify against
            identity_private, identity_public = phone.identity_private, phone.identity_public
            account = None  # a primary device carries no signed device identity
        else:
            identity_private, identity_public = wa_certificates.keypair()
            details = protowire.message((1, secrets.randbits(32)), (2, now()), (3, key_index), (4, 0), (5, 0))
            account_signature = wa_certificates.sign(phone.identity_private, b"\x06\x00" + details + identity_public)
            device_signature = wa_certificates.sign(identity_private, b"\x06\x01" + details + identity_public + phone.identity_public)
            account = protowire.message((1, details), (2, phone.identity_public), (3, account_signature), (4, device_signature))
        signed_private, signed_public = wa_certificates.keypair()
        return {
            "noiseKey": {"private": noise_private.hex(), "public": noise_public.hex()},
            "identityKey": {"private": identity_private.hex(), "public": identity_public.hex()},
            "signedPreKey": {"id": 1, "private": signed_private.hex(), "public": signed_public.hex(),
                             "signature": wa_certificates.sign(identity_private, b"\x05" + signed_public).hex()},
            "registrationId": secrets.randbelow(16380) + 1,
            "advSecret": base64.b64encode(os.urandom(32)).decode(),
            "account": account.hex() if account else None,
            "accountSignatureKey": phone.identity_public.hex(),
        }

    # The phone's side of pairing

    async def pair(self, conn, number, identity_pub, adv_secret):
        """Sends pair-success for a new device and checks the client's pair-device-sign."""
        phone = self.phone(number)
        device = phone.next_device
        phone.next_device += 1
        key_index = device - 1  # one ADV key index per identity the phone issued; device ids start at 2
        details = protowire.message((1, secrets.randbits(32)), (2, now()), (3, key_index), (4, 0), (5, 0))
        account_signature = wa_certificates.sign(phone.identity_private, b"\x06\x00" + details + identity_pub)
        signed = protowire.message((1, details), (2, phone.identity_public), (3, account_signature))
        container = protowire.message((1, signed), (2, hmac.new(adv_secret, signed, hashlib.sha256).digest()))
        jid, lid = JID(number, device=device), JID(phone.lid_user, "lid", device)

        iq_id = new_id()
        answer = conn.expect(iq_id)
        await conn.send(Node("iq", {"from": SERVER, "type": "set", "id": iq_id, "t": str(now())}, [
            Node("pair-success", {}, [
                Node("device-identity", {}, container),
                Node("device", {"jid": jid, "lid": lid}),
                Node("platform", {"name": "smba"}),
            ])]))
        try:
            reply = await asyncio.wait_for(answer, PAIRING_TIMEOUT)
        except TimeoutError:
            return 504, {"error": f"no answer to pair-success within {PAIRING_TIMEOUT} s"}
        except ConnectionError:
            return 409, {"error": "the connection closed before answering pair-success"}
        finally:
            conn.pending.pop(iq_id, None)

        problem = self.pair_sign_problem(reply, key_index, details, account_signature, identity_pub, phone.identity_public)
        if problem:
            log(f"[conn {conn.id}] pairing failed: {problem}")
            return 409, {"error": problem}
        self.devices[str(jid)] = Device(conn.remote_static, identity_pub, lid, now(), key_index)
        await conn.close_with(stream_error("515"))
        return 200, {"jid": str(jid), "lid": str(lid), "deviceSignatureValid": True}

    @staticmethod
    def pair_sign_problem(reply, key_index, details, account_signature, identity_pub, primary_pub):
        if reply.attrs.get("type") != "result":
            return f"the client answered pair-success with {reply}"
        identity = (reply.child("pair-device-sign") or Node("")).child("device-identity")
        if identity is None or not isinstance(identity.content, bytes):
            return "pair-device-sign without device-identity bytes"
        if identity.attrs.get("key-index") != str(key_index):
            return f"key-index {identity.attrs.get('key-index')!r}, expected {key_index}"
        try:
            fields = protowire.parse(identity.content)
        except ValueError as bad:
            return f"device-identity is no ADVSignedDeviceIdentity: {bad}"
        if 2 in fields:
            return "the signed device identity still carries accountSignatureKey"
        if protowire.first(fields, 1) != details:
            return "the signed details differ from those in pair-success"
        if protowire.first(fields, 3) != account_signature:
            return "the account signature differs from the phone's"
        message = b"\x06\x01" + details + identity_pub + primary_pub
        if not signature_valid(identity_pub, message, protowire.first(fields, 4, b"")):
            return "deviceSignature does not verify"
        return None

    # Control API

    async def on_control(self, reader, writer):
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            status, reply = await self.control(method, path.split("?")[0], body)
        except Exception:
            log(f"control request failed:\n{traceback.format_exc()}")
            status, reply = 500, {"error": traceback.format_exc(limit=1)}
        data = json.dumps(reply).encode()
        head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode() + data)
        await writer.drain()
        writer.close()

    async def control(self, method, path, body):
        routes = {
            ("GET", "/state"): self.state,
            ("POST", "/scan"): self.scan,
            ("POST", "/pair-code"): self.pair_code,
            ("POST", "/stream-error"): self.send_stream_error,
            ("POST", "/drop"): self.drop,
            ("POST", "/remove-device"): self.remove_device_request,
            ("POST", "/compress"): self.set_compress,
            ("POST", "/refs"): self.rotate_refs,
            ("POST", "/pings"): self.set_answer_pings,
            ("POST", "/accounts"): self.create_account,
            ("POST", "/addressing"): self.set_addressing,
            ("POST", "/faults"): self.set_faults,
            ("POST", "/deliver"): self.deliver_verbatim,
            ("POST", "/prekey-threshold"): self.set_prekey_threshold,
            ("POST", "/notify-prekeys"): self.force_prekey_notification,
            ("GET", "/media/info"): self.media_info,
            ("GET", "/media/uploads"): self.media_uploads,
            ("GET", "/media/retries"): self.media_retry_list,
            ("POST", "/media/expire"): self.expire_media,
            ("POST", "/media/corrupt"): self.corrupt_media,
            ("POST", "/media/owner"): self.register_media_owner,
            ("POST", "/media/store"): self.store_media,
            ("POST", "/picture"): self.set_picture,
            ("POST", "/call"): self.ring,
            ("POST", "/call/end"): self.end_call,
            ("POST", "/groups"): self.create_group,
            ("POST", "/groups/act"): self.act_in_group,
            ("POST", "/groups/privacy"): self.set_group_privacy,
        }
        handler = routes.get((method, path))
        if handler is None:
            return 404, {"error": f"no route {method} {path}"}
        try:
            request = json.loads(body) if body.strip() else {}
            if not isinstance(request, dict):
                raise BadRequest("the body must be a JSON object")
            log(f"control {method} {path} {request}")
            return await handler(request)
        except (BadRequest, json.JSONDecodeError) as bad:
            return 400, {"error": str(bad)}
        except KeyError as missing:
            return 400, {"error": f"missing field {missing}"}

    async def state(self, _request):
        def describe(jid, device):
            keys = device.keys
            return {"lid": str(device.lid), "keyIndex": device.key_index, "canLogIn": device.noise_pub is not None,
                    "connected": any(c.jid == jid and not c.closed for c in self.connections),
                    "registrationId": keys.registration_id if keys else None,
                    "identity": keys.identity.hex() if keys else None,
                    "identityMatchesPairing": keys.identity == device.identity_pub if keys else None,
                    "signedPreKeyId": keys.signed_id if keys else None,
                    "signedPreKeyValid": keys.signature_valid if keys else None,
                    "preKeys": len(keys.prekeys) if keys else 0,
                    "preKeyIds": list(keys.prekeys) if keys else [],
                    "pending": len(device.pending),
                    "faults": {"corrupt": device.corrupt, "dropAcks": device.drop_acks}}
        return 200, {
            "devices": {jid: describe(jid, device) for jid, device in self.devices.items()},
            "accounts": {number: {"lid": str(JID(phone.lid_user, "lid")), "addressing": phone.addressing,
                                  "lidHints": phone.lid_hints, "pushName": phone.push_name,
                                  "devices": [JID.parse(k).device for k in self.account_keys(number)],
                                  "listed": self.visible_devices(number)}
                         for number, phone in self.phones.items()},
            "inbox": {jid: device.inbox for jid, device in self.devices.items()},
            "sent": self.sent, "receipts": self.receipts, "retries": self.retries, "chatstates": self.chatstates,
            "presences": self.presences, "acks": self.acks, "undeliverable": self.undeliverable,
            "groups": self.groups_state(), "groupMessages": self.group_messages, "calls": self.calls,
            "prekeyThreshold": self.prekey_threshold,
            "connections": [conn.summary() for conn in self.connections],
            "media_host": self.media.host, "media_ca_file": self.media.ca_file,
        }

    async def media_info(self, _request):
        return 200, self.media.info()

    async def media_uploads(self, _request):
        return 200, self.media.uploads()

    async def media_retry_list(self, _request):
        return 200, self.media_retries

    async def expire_media(self, request):
        stored = self.media.find(str(request["direct_path"]))
        if stored is None:
            return 404, {"error": f"no media at {request['direct_path']}"}
        status = int(request.get("status", 410))
        if not 200 <= status <= 599:
            raise BadRequest("status is an HTTP status")
        stored.status = status
        return 200, {"direct_path": stored.direct_path, "status": status}

    async def corrupt_media(self, request):
        stored = self.media.find(str(request["direct_path"]))
        if stored is None:
            return 404, {"error": f"no media at {request['direct_path']}"}
        self.media.corrupt(stored)
        return 200, {"direct_path": stored.direct_path}

    async def register_media_owner(self, request):
        try:
            media_key = bytes.fromhex(str(request["media_key"]))
        except ValueError:
            raise BadRequest("media_key is hex")
        if len(media_key) != 32:
            raise BadRequest(f"a media key of {len(media_key)} bytes")
        msg_id, direct_path = str(request["message_id"]), str(request["direct_path"])
        self.media_owners[msg_id] = {"media_key": media_key, "media_type": str(request.get("media_type", "")),
                                     "direct_path": direct_path}
        # An unknown path is allowed: a retry for it is then answered NOT_FOUND (the phone lost the file).
        return 200, {"message_id": msg_id, "direct_path": direct_path, "known": self.media.find(direct_path) is not None}

    async def store_media(self, request):
        source = str(request["path"])
        if not os.path.isfile(source):
            raise BadRequest(f"no file {source}")
        stored = await asyncio.to_thread(self.media.store_local, source, str(request.get("media_type", "document")))
        return 200, {"direct_path": stored.direct_path, "url": stored.url, "size": stored.size,
                     "enc_sha256": stored.enc_sha256.hex()}

    def known_device(self, request):
        jid = str(request["jid"])
        where = self.resolve(jid)
        key = self.device_key(where[0], where[1]) if where else jid
        if key not in self.devices:
            raise BadRequest(f"no device {jid}")
        return key

    async def create_account(self, request):
        number = str(request["phone"])
        if not number.isdigit():
            raise BadRequest("phone must be digits only")
        phone = self.phone(number)
        if request.get("pushName") is not None:
            phone.push_name = str(request["pushName"])
        existing = self.account_keys(number)
        if request.get("device") is None:
            device = 0 if not existing else phone.next_device
        else:
            device = int(request["device"])
        phone.next_device = max(phone.next_device, device + 1)
        key = self.device_key(number, device)
        answer = {"phone": number, "device": device, "jid": key, "lid": str(JID(phone.lid_user, "lid", device)),
                  "keyIndex": max(device - 1, 0)}
        keys = SignalKeys.from_json(request["keys"]) if request.get("keys") is not None else None
        if key in self.devices:
            if keys is None:
                return 409, {"error": f"device {key} exists; send keys to replace its keys"}
            await self.install_keys(key, keys)
            return 200, answer
        if keys is not None:
            self.devices[key] = Device(None, keys.identity, JID(phone.lid_user, "lid", device), now(), answer["keyIndex"])
            await self.install_keys(key, keys)
            return 200, answer
        creds = self.make_creds(phone, device, answer["keyIndex"])
        self.devices[key] = Device(bytes.fromhex(creds["noiseKey"]["public"]), bytes.fromhex(creds["identityKey"]["public"]),
                                   JID(phone.lid_user, "lid", device), now(), answer["keyIndex"])
        return 200, {**answer, "creds": creds}

    async def set_addressing(self, request):
        number = str(request["phone"])
        if number not in self.phones:
            return 404, {"error": f"no account {number}"}
        mode = str(request.get("mode", self.phones[number].addressing))
        if mode not in ("pn", "lid"):
            raise BadRequest("mode is pn or lid")
        phone = self.phones[number]
        phone.addressing = mode
        if "lidHints" in request:
            phone.lid_hints = bool(request["lidHints"])
        return 200, {"phone": number, "mode": mode, "lidHints": phone.lid_hints, "lid": str(JID(phone.lid_user, "lid"))}

    async def set_faults(self, request):
        device = self.devices[self.known_device(request)]
        if "corrupt" in request:
            device.corrupt = int(request["corrupt"])
        if "dropAcks" in request:
            device.drop_acks = int(request["dropAcks"])
        return 200, {"corrupt": device.corrupt, "dropAcks": device.drop_acks}

    async def deliver_verbatim(self, request):
        key = self.known_device(request)
        try:
            node = node_from_json(request["node"])
        except ValueError as bad:
            raise BadRequest(str(bad))
        queue = bool(request.get("queue", node.tag in ("message", "receipt", "notification")))
        entry = await self.deliver(key, node, queue=queue)
        return 200, {"seq": entry["seq"], "queued": entry["acked"] is not None, "sent": len(self.live(key))}

    async def set_picture(self, request):
        """POST /picture {"phone", "url"}: the account's profile picture, which w:profile:picture gives."""
        number = str(request["phone"])
        if number not in self.phones:
            raise BadRequest("no such account")
        self.phones[number].picture = {"id": str(now()), "url": str(request["url"])}
        return 200, {}

    async def ring(self, request):
        """POST /call {"from": PHONE, "to": PHONE, "video"?: bool, "group"?: GROUP_JID}: the caller's
        phone offers a call to every device of `to` (<call from=CALLER id t><offer call-id
        call-creator [group-jid]><audio enc=opus rate=16000/>[<video/>]</offer></call>)."""
        caller, callee = str(request["from"]), str(request["to"])
        if caller not in self.phones or callee not in self.phones:
            raise BadRequest("both accounts must exist")
        call_id = secrets.token_hex(16).upper()
        offer = {"call-id": call_id, "call-creator": JID(caller)}
        if request.get("group"):
            offer["group-jid"] = str(request["group"])
        media = [Node("audio", {"enc": "opus", "rate": "16000"})] + ([Node("video", {"enc": "vp8"})] if request.get("video") else [])
        node = Node("call", {"from": JID(caller), "id": new_id(), "t": str(now()), "notify": self.phones[caller].push_name or ""},
                    [Node("offer", offer, media)])
        record = {"id": call_id, "from": caller, "to": callee, "video": bool(request.get("video")), "rejectedBy": None}
        self.calls.append(record)
        for key in self.account_keys(callee):
            await self.deliver(key, node)
        return 200, {"callId": call_id}

    async def end_call(self, request):
        record = next((c for c in self.calls if c["id"] == request["callId"]), None)
        if record is None:
            raise BadRequest("no such call")
        node = Node("call", {"from": JID(record["from"]), "id": new_id(), "t": str(now())},
                    [Node("terminate", {"call-id": record["id"], "call-creator": JID(record["from"]),
                                        "reason": str(request.get("reason", "timeout"))})])
        for key in self.account_keys(record["to"]):
            await self.deliver(key, node)
        return 200, {}

    async def on_call(self, conn, node):
        """A device's <call> (a rejection): recorded, acked, passed to the caller's devices."""
        reject = node.child("reject")
        if reject is not None:
            record = next((c for c in self.calls if c["id"] == reject.attrs.get("call-id")), None)
            if record is not None:
                record["rejectedBy"] = conn.jid
                record["rejectNode"] = str(node)
                for key in self.account_keys(record["from"]):
                    await self.deliver(key, Node("call", {"from": JID(JID.parse(conn.jid).user), "id": node.attrs.get("id", new_id()),
                                                          "t": str(now())}, [reject]))
        await conn.send(Node("ack", {"class": "call", "id": node.attrs.get("id", ""), "from": node.attrs.get("to", SERVER)}))

    async def set_prekey_threshold(self, request):
        self.prekey_threshold = int(request["value"])
        return 200, {"value": self.prekey_threshold}

    async def force_prekey_notification(self, request):
        key = self.known_device(request)
        entry = await self.notify_prekeys(key, request.get("count"))
        return 200, {"id": entry["id"], "node": entry["node"]}

    async def scan(self, request):
        qr, number = str(request["qr"]), str(request["phone"])
        if not qr.startswith(QR_PREFIX) or qr.count(",") != 4:
            raise BadRequest(f"not a 5-field linked-devices QR: {qr!r}")
        ref, *keys, _platform = qr[len(QR_PREFIX):].split(",")
        try:
            noise_pub, identity_pub, adv_secret = (base64.b64decode(key, validate=True) for key in keys)
        except binascii.Error as bad:
            raise BadRequest(f"QR key is not base64: {bad}")
        if not len(noise_pub) == len(identity_pub) == len(adv_secret) == 32:
            raise BadRequest("QR keys must be 32 bytes each")
        conn = next((c for c in self.connections if c.kind == "registration" and not c.closed
                     and ref in c.refs and c.remote_static == noise_pub), None)
        if conn is None:
            return 404, {"error": "no live registration connection with this ref and noise key"}
        return await self.pair(conn, number, identity_pub, adv_secret)

    async def pair_code(self, request):
        number, code = str(request["phone"]), str(request["code"]).replace("-", "")
        pairing = self.code_pairings.get(number)
        if pairing is None or pairing.connection.closed:
            return 404, {"error": f"no live companion_hello for {number}"}
        if pairing.finish is not None:
            return 409, {"error": "a code was already entered for this companion_hello"}
        conn, phone = pairing.connection, self.phone(number)
        # A wrong code gives a wrong key and so a wrong ephemeral key; that surfaces at the key bundle.
        companion_ephemeral = unwrap_ephemeral(code, pairing.wrapped_companion)
        ephemeral = X25519PrivateKey.generate()
        wrapped_primary = wrap_ephemeral(code, ephemeral.public_key().public_bytes_raw())
        pairing.finish = asyncio.get_running_loop().create_future()
        try:
            await conn.send(Node("notification", {"from": SERVER, "type": "link_code_companion_reg", "id": new_id(), "t": str(now())}, [
                Node("link_code_companion_reg", {"stage": "primary_hello"}, [
                    Node("link_code_pairing_ref", {}, pairing.ref),
                    Node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, wrapped_primary),
                    Node("primary_identity_pub", {}, phone.identity_public),
                ])]))
            bundle, companion_identity = await asyncio.wait_for(pairing.finish, PAIRING_TIMEOUT)
        except TimeoutError:
            return 504, {"error": f"no companion_finish within {PAIRING_TIMEOUT} s"}
        except ConnectionError:
            return 409, {"error": "the connection closed before companion_finish"}
        finally:
            if self.code_pairings.get(number) is pairing:  # one code per companion_hello, right or wrong
                del self.code_pairings[number]

        try:
            shared = x25519(ephemeral, companion_ephemeral)
            bundle_key = hkdf(shared, bundle[:32], b"link_code_pairing_key_bundle_encryption_key")
            plain = AESGCM(bundle_key).decrypt(bundle[32:44], bundle[44:], None)
        except (InvalidTag, ValueError):  # ValueError: a wrong code can unwrap to a low-order point
            return 409, {"error": "key bundle did not decrypt (wrong code?)"}
        if len(plain) != 96 or plain[:32] != companion_identity or plain[32:64] != phone.identity_public:
            return 409, {"error": "the key bundle holds other identity keys than the ones exchanged"}
        identity_shared = x25519(phone.identity_private, companion_identity)
        adv_secret = hkdf(shared + identity_shared + plain[64:], None, b"adv_secret")
        return await self.pair(conn, number, companion_identity, adv_secret)

    def matching(self, jid, include_handshaking=False):
        return [c for c in self.connections if (jid is None or c.jid == jid)
                and (include_handshaking or c.kind != "handshaking")]

    async def send_stream_error(self, request):
        targets = self.matching(request.get("jid"))
        for conn in targets:
            await conn.close_with(stream_error(str(request["code"]), request.get("conflict")))
        return 200, {"closed": len(targets)}

    async def drop(self, request):
        targets = self.matching(request.get("jid"), include_handshaking=True)
        for conn in targets:
            log(f"[conn {conn.id}] dropped")
            conn.drop()
        return 200, {"dropped": len(targets)}

    async def remove_device_request(self, request):
        jid = str(request["jid"])
        if not await self.remove_device(jid):
            return 404, {"error": f"no device {jid}"}
        return 200, {"removed": jid}

    async def set_compress(self, request):
        self.compress = bool(request["on"])
        return 200, {"compress": self.compress}

    async def set_answer_pings(self, request):
        self.answer_pings = bool(request["answer"])
        return 200, {"answer": self.answer_pings}

    async def rotate_refs(self, request):
        count = int(request["count"])
        if count < 1:
            raise BadRequest("count must be at least 1")
        targets = [c for c in self.connections if c.kind == "registration"]
        for conn in targets:
            await self.send_refs(conn, count)
        return 200, {"sent": len(targets)}


def exit_when_stdin_closes(media_dir):
    """The test holds our stdin open; when it goes away, so do we, even if the test was killed (and
    the media files with us)."""
    try:
        while os.read(0, 4096):
            pass
    finally:
        shutil.rmtree(media_dir, ignore_errors=True)
        os._exit(0)


async def main():
    server = FakeWhatsApp()

    def only_chat_path(connection, request):
        if request.path.split("?")[0] != "/ws/chat":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        return None

    # No WebSocket-level pings: keepalive is the client's job, with <iq xmlns="w:p"><ping/></iq>.
    async with serve(server.on_websocket, "127.0.0.1", 0, process_request=only_chat_path,
                     max_size=None, ping_interval=None) as ws_server:
        control = await asyncio.start_server(server.on_control, "127.0.0.1", 0)
        ws_port = ws_server.sockets[0].getsockname()[1]
        control_port = control.sockets[0].getsockname()[1]
        threading.Thread(target=exit_when_stdin_closes, args=(server.media.dir,), daemon=True).start()
        print(f"ready ws://127.0.0.1:{ws_port}/ws/chat http://127.0.0.1:{control_port} {server.root_public.hex()}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
