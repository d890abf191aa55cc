#!/usr/bin/env python3
"""A local fake of WhatsApp Web's multi-device server, for Wharf's Swift client to connect to in tests.

Written from the protocol facts alone, independently of Wharf's Swift code. It speaks the real
transport (WebSocket, 3-byte frames, Noise XX with a test certificate chain, binary XML nodes) and
plays the server and the user's phone: QR and phone-code pairing, login, keepalive, logout.

usage: fake_whatsapp.py        (needs the PyPI packages websockets, noiseprotocol, xeddsa, cryptography)

It prints one line, `ready ws://127.0.0.1:PORT/ws/chat http://127.0.0.1:CPORT ROOTKEYHEX`, where
ROOTKEYHEX is the test root key the client must trust, and exits when its stdin closes. Every stanza
in and out is logged to stderr.

The control server takes and answers JSON:
  GET  /state          devices and live connections
  POST /scan           {"qr", "phone"}: the phone scans a QR code and pairs the device
  POST /pair-code      {"phone", "code"}: the user types the pairing code into the phone
  POST /stream-error   {"code", "jid"?, "conflict"?}: send <stream:error> and close
  POST /drop           {"jid"?}: cut connections without a stanza
  POST /remove-device  {"jid"}: forget a device, kicking it out if connected
  POST /compress       {"on"}: zlib-compress the frames sent from now on
  POST /refs           {"count"}: send fresh <pair-device> refs to every registration connection
  POST /pings          {"answer"}: answer keepalive pings or leave them unanswered (counted in /state)
"""
import asyncio
import base64
import binascii
import hashlib
import hmac
import http
import json
import os
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from noise.connection import Keypair, NoiseConnection
import websockets
from websockets.asyncio.server import serve

import protowire
import wa_certificates
import wabinary
from wa_noise_responder import PROLOGUE, skip_first_payload_hash
from wabinary import JID, Node

SERVER = JID("", "s.whatsapp.net")
QR_PREFIX = "https://wa.me/settings/linked_devices#"
PAIRING_TIMEOUT = 10
LOG_LIMIT = 4000
MAX_FRAME = (1 << 24) - 1


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


class BadRequest(Exception):
    pass


@dataclass
class Device:
    noise_pub: bytes
    identity_pub: bytes
    lid: JID
    created: int


class Phone:
    """The user's primary device for one number: its identity key, its LID user, its next device id."""

    def __init__(self):
        self.identity_private, self.identity_public = wa_certificates.keypair()
        self.lid_user = str(10**14 + secrets.randbelow(9 * 10**14))
        self.next_device = 2


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
                "refsAcked": self.refs_acked, "received": self.received, "pings": self.pings}


class FakeWhatsApp:
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
            jid = f"{protowire.first(payload, 1)}:{protowire.first(payload, 18)}@s.whatsapp.net"
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
        elif xmlns == "md" and name == "remove-companion-device":
            await conn.send(result(iq_id))
            await self.remove_device(str(child.attrs.get("jid")))
        elif xmlns == "md" and name == "link_code_companion_reg":
            await self.on_link_code(conn, iq, child)
        else:
            conn.received.append(str(iq))
            await conn.send(result(iq_id))

    async def remove_device(self, jid):
        """Forgets the device and sends its live connections the logged-out stream error."""
        removed = self.devices.pop(jid, None) is not None
        for conn in [c for c in self.connections if c.jid == jid]:
            await conn.close_with(stream_error("401", "device_removed"))
        return removed

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
        self.devices[str(jid)] = Device(conn.remote_static, identity_pub, lid, now())
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
        return 200, {
            "devices": {jid: {"lid": str(device.lid)} for jid, device in self.devices.items()},
            "connections": [conn.summary() for conn in self.connections],
        }

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


def exit_when_stdin_closes():
    """The test holds our stdin open; when it goes away, so do we, even if the test was killed."""
    try:
        while os.read(0, 4096):
            pass
    finally:
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
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
        print(f"ready ws://127.0.0.1:{ws_port}/ws/chat http://127.0.0.1:{control_port} {server.root_public.hex()}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
