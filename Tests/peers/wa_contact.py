#!/usr/bin/env python3
"""One pyaileys client (PyPI pyaileys 0.1.5, MIT, its own Signal code) logged in to fake_whatsapp.py:
a contact of Wharf's, or a companion device of Wharf's own account. The Swift tests drive it to
check Wharf's messaging against an implementation we did not write.

usage: wa_contact.py --control URL --ws URL --root HEX --phone PHONE [--device N] [--push-name NAME]
                     [--events] [--no-auto-resend]

  --control/--ws/--root  the three words after `ready` on fake_whatsapp.py's first line
  --phone                the account's number; a new number is a new contact, Wharf's own number
                         makes this a companion of Wharf's account
  --device               the device id (default: 0 for a new account, else the account's next id)
  --events               also push every received item as a line {"event": KIND, ...item}
  --no-auto-resend       do not answer retry receipts by re-encrypting (see retry receipts below)

It registers itself with POST /accounts on the fake server (which hands out keys the account's phone
has signed), logs in with certificate verification against the fake root (pyaileys'
WA_CERT_PUBLIC_KEY is patched), makes urllib (which pyaileys uploads and downloads media with) trust
the fake media host's test CA from GET /media/info, uploads its prekeys, waits for <ib><offline/></ib>
and prints

  ready {"jid": "PHONE:D@s.whatsapp.net", "lid": "LID:D@lid", "phone": ..., "device": D, "registrationId": N}

Then it reads one JSON request per line on stdin and writes one JSON answer per line on stdout,
in order: {"ok": true, ...} or {"ok": false, "error": TEXT}. Lines with an "event" key are pushed
events (only with --events); answers never have one. It exits when stdin closes. Set WA_PEER_LOG to
a file path to log every stanza in and out there.

Requests ("op" names the operation; JIDs are strings):
  {"op": "send_text", "to": JID, "text": T, "quoted"?: {"id", "text"?, "participant"?},
   "mentions"?: [JID], "id"?: ID, "waitAck"?: true, "ackTimeout"?: 5}
      -> {"id": ID, "acked": bool, "ackError": CODE|null}: acked once the server's <ack class=message>
      came (waitAck false: not waited for). A quote or mentions make it an extendedTextMessage with
      contextInfo{stanzaId, participant, quotedMessage{conversation}, mentionedJid}; the quoted
      participant defaults to the sender of that received message (or us, for our own).
  {"op": "receipt", "ids": [ID], "type"?: "read", "to"?: JID}
      -> {}: <receipt id=ids[0] to type t>[<list><item id/>…</list>]; `to` defaults to the chat of
      the first id's message (the peer's user JID; its destination for a message from our own device).
  {"op": "chatstate", "to": JID, "state": "composing"|"paused"|"recording"} -> {}
  {"op": "presence", "type"?: "available"|"unavailable", "name"?: N} -> {}
  {"op": "subscribe", "to": JID} -> {}: <presence type=subscribe to>; the answer comes as a presence
  {"op": "retry_receipt", "id": ID, "count"?: N, "keys"?: bool}
      -> {"count": N, "registrationId": R, "keys": bool, "preKeyId"?: K}: a retry receipt for a
      message we received (pyaileys sends none of its own): <receipt id to=FROM type=retry>
      <retry count id t v=1/><registration>R</registration>[<keys><type/><identity/><key/><skey/>
      <device-identity/></keys>]; count defaults to one more than the last for that id, keys to
      count >= 2 (the one-time prekey in them is new, kept locally, not uploaded).
  {"op": "list", "of": KIND, "match"?: {FIELD: VALUE}} -> {"items": [...]}
  {"op": "wait", "for": KIND, "match"?: {...}, "count"?: 1, "timeout"?: 10} -> {"items": [...]}
      once `count` matching items exist; else {"ok": false, "error": "timeout", "items": [...]}.
      Matching compares str(item[FIELD]) == str(VALUE).
  {"op": "disconnect"} -> {}; {"op": "connect"} -> {} once logged in again and the backlog is in.
  {"op": "send_raw", "node": NODE} -> {}: a hand-made stanza; NODE is {"tag", "attrs"?,
      "content"?: [NODE] | "text", "bytes"?: HEX}.
  {"op": "send_media", "to": JID, "kind": "image"|"video"|"voice"|"audio"|"document"|"sticker",
   "path": FILE, "caption"?, "fileName"?, "mimetype"?, "seconds"?, "id"?, "waitAck"?: true, "ackTimeout"?: 5}
      -> {"id", "mediaKey" (hex), "directPath", "url", "fileSha256" (hex), "fileEncSha256" (hex),
      "fileLength", "mediaType", "acked", "ackError"}: pyaileys' send_image/send_video/send_voice_note/
      send_document/send_sticker (a plain "audio", which pyaileys lacks, is built from its upload and
      encryption parts). They get media_conn, encrypt, upload to https://HOST/mms/… and send the
      <message type="media"> with <enc mediatype>. mediaType is pyaileys' media type, the one the keys
      come from: image, video, ptt (voice), audio, document, sticker. caption: image, video, document;
      seconds: video, voice, audio; fileName: document (default: the file's name). The file is read
      whole into memory (pyaileys encrypts from bytes).
  {"op": "download", "id": MSG_ID, "path": OUT_FILE, "directPath"?, "url"?}
      -> {"sha256": hex of the plaintext, "size": N, "macChecked": bool}: pyaileys'
      download_message_media(validate=True) on a received message: MAC and the plaintext's SHA-256
      checked, written to OUT_FILE. A failed download (404, 410, a bad MAC…) is {"ok": false, "error"}.
      directPath (with url defaulting to https://MEDIA_HOST + directPath) replaces the message's own,
      as a media retry's answer does.
  {"op": "send_message", "to": JID, "message": MESSAGE_JSON, "type"?: "text", "id"?: ID, "waitAck"?: true}
      -> {"id", "acked", "ackError"}: any Message, given as protobuf JSON (json_format.ParseDict into
      pyaileys' WAProto: reactions, locations, forwarded texts…), sent as a <message type=TYPE>
  {"op": "vote", "to": JID, "pollId": ID, "options": [NAME], "pollCreator"?: JID}
      -> {"id", "acked", "ackError"}: a vote on a poll we received, encrypted here with
      `cryptography`: AES-256-GCM under HKDF-SHA256(the poll's messageSecret, info = poll id ‖ creator ‖
      voter ‖ "Poll Vote"), additional data poll id ‖ 0 ‖ voter, the plaintext a PollVoteMessage of the
      options' SHA-256 (creator: the poll's sender as its stanza named it; voter: our user JID)
  {"op": "media_conn"} -> {"auth", "ttl", "hosts": [hostname]}: pyaileys' refresh_media_conn(force)
  {"op": "auto_resend", "on": bool} -> {}
  {"op": "info"} -> {"jid", "lid", "registrationId", "connected", "sent": [ids]}

KINDs and their items:
  message       {id, from, chat, sender, fromMe, deviceSent, t, type, encTypes, retryCount, text,
                 quotedId, quotedText, quotedParticipant, mentions, media, attrs, message (the
                 decrypted Message, or the one inside deviceSentMessage, as protobuf JSON)}; media is
                 null, or for an image/video/audio/document/sticker {kind (one of those five; a voice
                 note is audio with ptt true), mimetype, caption, fileName, fileLength, fileSha256,
                 fileEncSha256, mediaKey (hex), url, directPath, width, height, seconds, ptt,
                 mediaKeyTimestamp}, null where the message has no such field
  decryptError  {id, from, type, error, attrs}
  receipt       {id, ids, from, type, recipient, participant, t, attrs, node}
  retryReceipt  {id, from, count, hasKeys, resent, encType, error}: retry receipts others sent us;
                unless --no-auto-resend we re-encrypt the message (a new session from <keys> when
                given, else the current one, fetching a bundle if there is none) and resend it as
                <message to=FROM id t device_fanout=false><enc count=N/>[<device-identity/>]</message>,
                as whatsmeow does; pyaileys alone ignores retry receipts.
  chatstate     {from, state: composing|paused|recording, media, node}
  presence      {from, type, last, node}
  notification  {id, from, type, node}
  stanza        {tag, id, from, attrs, node}: every stanza received, as text (pyaileys writes the
                server's JID, which has no user part, as "@s.whatsapp.net")

What pyaileys does on its own: it answers every <message> with <ack class=message> and a delivery
<receipt> before decrypting (so also for messages it cannot decrypt), acks receipts and
notifications, uploads 30 prekeys when the server has none, keeps the connection alive. It sends no
read receipts, no retry receipts, and does not verify incoming device identities.
"""
import argparse
import asyncio
import hashlib
import json
import logging
import os
import secrets
import ssl
import sys
import threading
import time
import traceback
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.json_format import MessageToDict, ParseDict

import pyaileys.crypto.noise as pyaileys_noise
import pyaileys.media as pyaileys_media
from pyaileys.auth.creds import AuthenticationCreds, Contact, KeyPair, SignedKeyPair
from pyaileys.auth.state import AuthenticationState
from pyaileys.client import ClientConfig, WhatsAppClient
from pyaileys.crypto.curve import DefaultCurve25519Provider
from pyaileys.media import encrypt_media_bytes
from pyaileys.messages import encode_wa_message_bytes
from pyaileys.proto import WAProto_pb2 as proto
from pyaileys.signal.repository import PreKeyBundle, PreKeyBundleKey
from pyaileys.socket_config import SocketConfig
from pyaileys.wabinary.jid import jid_decode, jid_normalized_user
from pyaileys.wabinary.types import BinaryNode

KINDS = ("message", "decryptError", "receipt", "retryReceipt", "chatstate", "presence", "notification", "stanza")
LOGIN_TIMEOUT = 20
LOG = open(os.environ["WA_PEER_LOG"], "a", buffering=1) if os.environ.get("WA_PEER_LOG") else None


def log(text):
    if LOG:
        LOG.write(f"{time.strftime('%H:%M:%S')} {text[:4000]}\n")


class MemoryKeys:
    """pyaileys' key store (sessions, prekeys, identities…) kept in memory: a test peer lives for one test."""

    def __init__(self):
        self.data = {}

    async def get(self, kind, ids):
        return {key: self.data.get((kind, key)) for key in ids}

    async def set(self, data):
        for kind, items in data.items():
            for key, value in items.items():
                if value is None:
                    self.data.pop((kind, key), None)
                else:
                    self.data[(kind, key)] = value

    async def clear(self):
        self.data.clear()


def child(node, tag):
    return next((c for c in node.content if isinstance(c, BinaryNode) and c.tag == tag), None) \
        if isinstance(node.content, list) else None


def node_text(node):
    """A BinaryNode as XML-ish text, bytes as hex (the fake server's log style)."""
    attrs = "".join(f' {k}="{v}"' for k, v in node.attrs.items())
    if node.content is None:
        return f"<{node.tag}{attrs}/>"
    if isinstance(node.content, list):
        inner = "".join(node_text(c) for c in node.content)
    elif isinstance(node.content, (bytes, bytearray)):
        inner = f"[{len(node.content)} bytes {bytes(node.content).hex()}]"
    else:
        inner = str(node.content)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


def node_from_json(obj):
    content = obj.get("content")
    if obj.get("bytes") is not None:
        content = bytes.fromhex(obj["bytes"])
    elif isinstance(content, list):
        content = [node_from_json(c) for c in content]
    return BinaryNode(tag=obj["tag"], attrs={k: str(v) for k, v in (obj.get("attrs") or {}).items()}, content=content)


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


# send_media kinds: (pyaileys' media type, which also picks the HKDF keys, default mimetype)
MEDIA_KINDS = {"image": ("image", "image/jpeg"), "video": ("video", "video/mp4"),
               "voice": ("ptt", "audio/ogg; codecs=opus"), "audio": ("audio", "audio/mpeg"),
               "document": ("document", "application/octet-stream"), "sticker": ("sticker", "image/webp")}
MEDIA_FIELDS = (("imageMessage", "image"), ("videoMessage", "video"), ("audioMessage", "audio"),
                ("documentMessage", "document"), ("stickerMessage", "sticker"))
UPLOAD_TIMEOUT = 120  # seconds; a 100 MiB file over loopback TLS takes a few


def media_part(message):
    """(kind, the media sub-message) of a Message, or (None, None)."""
    for name, kind in MEDIA_FIELDS:
        if message.HasField(name):
            return kind, getattr(message, name)
    return None, None


def describe_media(message):
    """The `media` of a message item: what a receiver needs to show and fetch it (bytes as hex; absent
    fields as null)."""
    kind, part = media_part(message)
    if part is None:
        return None

    def value(name):
        if name not in part.DESCRIPTOR.fields_by_name or not part.HasField(name):
            return None
        found = getattr(part, name)
        return found.hex() if isinstance(found, bytes) else found

    return {"kind": kind, **{name: value(name) for name in (
        "mimetype", "caption", "fileName", "fileLength", "fileSha256", "fileEncSha256", "mediaKey", "url",
        "directPath", "width", "height", "seconds", "ptt", "mediaKeyTimestamp")}}


class Failure(Exception):
    pass


class Driver:
    def __init__(self, args):
        self.args = args
        self.records = {kind: [] for kind in KINDS}
        self.changed = asyncio.Event()
        self.stanzas = {}  # message id -> attrs of the <message> that carried it
        self.sent = {}  # message id -> (chat, Message, t) of what we sent, for retry receipts
        self.retry_counts = {}
        self.auto_resend = not args.no_auto_resend
        self.offline = asyncio.Event()
        self.curve = DefaultCurve25519Provider()
        self.received = {}  # message id -> the decrypted Message, for downloads
        self.media_host = None
        self.mac_checked = None  # whether the last media decryption checked a MAC

    # Setup

    async def register(self):
        body = {"phone": self.args.phone}
        if self.args.device is not None:
            body["device"] = self.args.device
        if self.args.push_name:
            body["pushName"] = self.args.push_name
        answer = await asyncio.to_thread(post, self.args.control + "/accounts", body)
        creds = answer["creds"]
        key = lambda pair: KeyPair(public=bytes.fromhex(pair["public"]), private=bytes.fromhex(pair["private"]))
        signed = creds["signedPreKey"]
        self.jid, self.lid = answer["jid"], answer["lid"]
        # pyaileys' login payload needs the device number spelled out, ":0" included.
        me_id = f"{self.args.phone}:{answer['device']}@s.whatsapp.net"
        self.creds = AuthenticationCreds(
            noise_key=key(creds["noiseKey"]), pairing_ephemeral_key_pair=self.curve.generate_keypair(),
            signed_identity_key=key(creds["identityKey"]),
            signed_pre_key=SignedKeyPair(key_pair=key(signed), signature=bytes.fromhex(signed["signature"]), key_id=signed["id"]),
            registration_id=creds["registrationId"], adv_secret_key=creds["advSecret"],
            me=Contact(id=me_id, name=self.args.push_name, lid=self.lid),
            account=bytes.fromhex(creds["account"]) if creds["account"] else None, registered=True)
        self.device = answer["device"]
        await asyncio.to_thread(self.trust_media_host)

    def trust_media_host(self):
        """pyaileys uploads and downloads with urllib.request.urlopen and no SSL context, so the
        default opener decides: ours trusts the fake media host's test CA alone (and no proxy)."""
        info = get(self.args.control + "/media/info")
        self.media_host = info["media_host"]
        context = ssl.create_default_context(cafile=info["media_ca_file"])
        urllib.request.install_opener(urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)))

    def make_client(self):
        # Verify the fake server's certificate chain against its test root instead of WhatsApp's.
        pyaileys_noise.WA_CERT_PUBLIC_KEY = bytes.fromhex(self.args.root)
        config = SocketConfig(ws_url=self.args.ws, auto_reconnect=False, connect_timeout_s=10, verify_certificates=True)
        self.client = WhatsAppClient(auth=AuthenticationState(creds=self.creds, keys=MemoryKeys()),
                                     config=ClientConfig(socket=config))
        events = self.client.socket.events
        events.on("stanza.message", self.on_message_stanza)
        events.on("message.decrypted", self.on_decrypted)
        events.on("message.decrypt_error", self.on_decrypt_error)
        events.on("stanza.receipt", self.on_receipt)
        events.on("stanza.chatstate", self.on_chatstate)
        events.on("stanza.presence", self.on_presence)
        events.on("stanza.notification", self.on_notification)
        events.on("stanza.ib", self.on_ib)
        events.on("node", self.on_node)
        events.on("node.outgoing", lambda node: log(f"-> {node_text(node)}"))
        # pyaileys checks the MAC only when the body's length shows a 10-byte trailer; note whether it did.
        decrypt = pyaileys_media.decrypt_media_bytes

        def decrypt_noting_mac(enc_bytes, *, media_key, media_type, validate_mac=False):
            size = len(enc_bytes)
            self.mac_checked = validate_mac and size >= 10 and size % 16 != 0 and (size - 10) % 16 == 0
            return decrypt(enc_bytes, media_key=media_key, media_type=media_type, validate_mac=validate_mac)

        pyaileys_media.decrypt_media_bytes = decrypt_noting_mac

    async def connect(self):
        self.offline.clear()
        await self.client.connect()
        try:
            await asyncio.wait_for(self.offline.wait(), LOGIN_TIMEOUT)
        except TimeoutError:
            raise Failure(f"not logged in within {LOGIN_TIMEOUT} s (no <ib><offline/> from the server)")

    # What arrives. Listeners run inside pyaileys' receive loop: anything that waits for the
    # server (a bundle fetch) runs as its own task, or it would wait for itself.

    def record(self, kind, item):
        self.records[kind].append(item)
        self.changed.set()
        if self.args.events:
            emit({"event": kind, **item})

    def on_node(self, node):
        log(f"<- {node_text(node)}")
        self.record("stanza", {"tag": node.tag, "id": node.attrs.get("id"), "from": node.attrs.get("from"),
                               "attrs": dict(node.attrs), "node": node_text(node)})

    def on_ib(self, node):
        if child(node, "offline") is not None:
            self.offline.set()

    def on_message_stanza(self, node):
        encs = [c for c in node.content if isinstance(c, BinaryNode) and c.tag == "enc"] if isinstance(node.content, list) else []
        self.stanzas[node.attrs.get("id")] = {"attrs": dict(node.attrs), "encTypes": [e.attrs.get("type") for e in encs],
                                              "retryCount": next((e.attrs.get("count") for e in encs if e.attrs.get("count")), None)}

    def is_me(self, jid):
        user = (jid_decode(jid) or jid_decode("x@x")).user
        return user in (jid_decode(self.jid).user, jid_decode(self.lid).user)

    def on_decrypted(self, event):
        stanza = self.stanzas.get(event["id"], {"attrs": {}, "encTypes": [], "retryCount": None})
        inner = event["message"]
        context = inner.extendedTextMessage.contextInfo if inner.HasField("extendedTextMessage") else None
        sender_from = stanza["attrs"].get("from", "")
        device_sent = self.is_me(sender_from)
        self.received[event["id"]] = inner
        self.record("message", {
            "id": event["id"], "from": sender_from, "chat": jid_normalized_user(event["chat_jid"]) or event["chat_jid"],
            "sender": event["sender_jid"], "fromMe": device_sent, "deviceSent": device_sent, "t": event["timestamp_s"],
            "type": stanza["attrs"].get("type"), "encTypes": stanza["encTypes"], "retryCount": stanza["retryCount"],
            "text": event["text"],
            "quotedId": context.stanzaId if context is not None and context.stanzaId else None,
            "quotedText": context.quotedMessage.conversation if context is not None and context.HasField("quotedMessage") else None,
            "quotedParticipant": context.participant if context is not None and context.participant else None,
            "mentions": list(context.mentionedJid) if context is not None else [],
            "media": describe_media(inner), "attrs": stanza["attrs"], "message": MessageToDict(inner)})

    def on_decrypt_error(self, event):
        stanza = self.stanzas.get(event.get("stanza_id"), {"attrs": {}})
        self.record("decryptError", {"id": event.get("stanza_id"), "from": stanza["attrs"].get("from"),
                                     "type": event.get("type"), "error": event.get("error"), "attrs": stanza["attrs"]})

    def on_receipt(self, node):
        listed = child(node, "list")
        ids = [node.attrs.get("id")] + [c.attrs.get("id") for c in (listed.content if listed and isinstance(listed.content, list) else [])]
        self.record("receipt", {"id": node.attrs.get("id"), "ids": ids, "from": node.attrs.get("from"),
                                "type": node.attrs.get("type"), "recipient": node.attrs.get("recipient"),
                                "participant": node.attrs.get("participant"), "t": node.attrs.get("t"),
                                "attrs": dict(node.attrs), "node": node_text(node)})
        if node.attrs.get("type") == "retry":
            asyncio.get_running_loop().create_task(self.answer_retry(node))

    def on_chatstate(self, node):
        state = node.content[0] if isinstance(node.content, list) and node.content else None
        media = state.attrs.get("media") if state else None
        name = "recording" if state is not None and state.tag == "composing" and media == "audio" else (state.tag if state else None)
        self.record("chatstate", {"from": node.attrs.get("from"), "state": name, "media": media, "node": node_text(node)})

    def on_presence(self, node):
        self.record("presence", {"from": node.attrs.get("from"), "type": node.attrs.get("type") or "available",
                                 "last": node.attrs.get("last"), "node": node_text(node)})

    def on_notification(self, node):
        self.record("notification", {"id": node.attrs.get("id"), "from": node.attrs.get("from"),
                                     "type": node.attrs.get("type"), "node": node_text(node)})

    async def answer_retry(self, node):
        retry = child(node, "retry")
        msg_id = (retry.attrs.get("id") if retry else None) or node.attrs.get("id")
        keys = child(node, "keys")
        item = {"id": msg_id, "from": node.attrs.get("from"), "count": retry.attrs.get("count") if retry else None,
                "hasKeys": keys is not None, "resent": False, "encType": None, "error": None}
        try:
            original = self.sent.get(msg_id)
            if not self.auto_resend:
                item["error"] = "auto resend is off"
            elif original is None:
                item["error"] = "not a message we sent"
            else:
                item["encType"] = await self.resend(node, msg_id, original, keys, item["count"])
                item["resent"] = True
        except Exception as problem:
            item["error"] = f"{type(problem).__name__}: {problem}"
            log(traceback.format_exc())
        self.record("retryReceipt", item)

    async def resend(self, node, msg_id, original, keys, count):
        """whatsmeow's answer to a retry receipt, rebuilt on pyaileys' session API."""
        device = node.attrs["from"]
        signal = self.client.signal
        if keys is not None:
            def key_of(key_node, signed):
                return PreKeyBundleKey(key_id=int.from_bytes(child(key_node, "id").content, "big"),
                                       public_key=b"\x05" + bytes(child(key_node, "value").content),
                                       signature=bytes(child(key_node, "signature").content) if signed else None)
            one_time = child(keys, "key")
            bundle = PreKeyBundle(registration_id=int.from_bytes(child(node, "registration").content, "big"),
                                  identity_key=b"\x05" + bytes(child(keys, "identity").content),
                                  signed_pre_key=key_of(child(keys, "skey"), True),
                                  pre_key=key_of(one_time, False) if one_time is not None else None)
            await signal.inject_outgoing_session(device, bundle)
        elif not await signal.validate_session(device):
            await self.client._assert_sessions([device])
        chat, message, stamp = original
        if self.is_me(device):  # our own other device gets what it always gets, a DeviceSentMessage
            wrapped = proto.Message()
            wrapped.deviceSentMessage.destinationJid = chat
            wrapped.deviceSentMessage.message.CopyFrom(message)
            wrapped.messageContextInfo.CopyFrom(message.messageContextInfo)
            message = wrapped
        enc_type, ciphertext = await signal.encrypt_message(device, data=encode_wa_message_bytes(message.SerializeToString()))
        attrs = {"to": device, "type": "text", "id": msg_id, "t": str(stamp), "device_fanout": "false"}
        for name in ("participant", "recipient"):
            if name in node.attrs:
                attrs[name] = node.attrs[name]
        content = [BinaryNode(tag="enc", attrs={"v": "2", "type": enc_type, "count": str(count or 1)}, content=ciphertext)]
        if enc_type == "pkmsg" and self.creds.account:
            content.append(BinaryNode(tag="device-identity", attrs={}, content=self.creds.account))
        await self.client.socket.send_node(BinaryNode(tag="message", attrs=attrs, content=content))
        return enc_type

    # Requests

    async def send_built(self, to, message, stanza_type, request):
        msg_id = request.get("id") or self.client.signal.new_message_id()
        self.sent[msg_id] = (jid_normalized_user(to) or to, message, int(time.time()))
        signal = self.client.signal
        signal.new_message_id = lambda: msg_id
        try:
            await self.client._send_message(to, message, stanza_type=stanza_type, enc_extra_attrs=None, fanout=True,
                                            include_phash=False, wait_ack=False, timeout_s=5)
        finally:
            del signal.new_message_id
        answer = {"id": msg_id, "acked": False, "ackError": None}
        if request.get("waitAck", True):
            acks = await self.op_wait({"for": "stanza", "match": {"tag": "ack", "id": msg_id}, "timeout": 5})
            if acks.get("ok", True):
                answer["acked"] = True
                answer["ackError"] = acks["items"][0]["attrs"].get("error")
        return answer

    async def op_send_message(self, request):
        message = ParseDict(request["message"], proto.Message())
        return await self.send_built(request["to"], message, request.get("type", "text"), request)

    async def op_vote(self, request):
        poll_id = request["pollId"]
        poll = self.received.get(poll_id)
        if poll is None:
            raise Failure(f"no poll {poll_id} received")
        secret = poll.messageContextInfo.messageSecret
        creation = poll.pollCreationMessage if poll.HasField("pollCreationMessage") else poll.pollCreationMessageV3
        names = [option.optionName for option in creation.options]
        if any(name not in names for name in request["options"]):
            raise Failure(f"not options of the poll: {request['options']} (it has {names})")
        stanza = self.stanzas.get(poll_id, {"attrs": {}})["attrs"]
        creator = request.get("pollCreator") or jid_normalized_user(stanza.get("participant") or stanza.get("from", ""))
        voter = jid_normalized_user(self.jid)
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=(poll_id + creator + voter + "Poll Vote").encode()).derive(secret)
        vote = proto.Message.PollVoteMessage() if hasattr(proto.Message, "PollVoteMessage") else proto.PollVoteMessage()
        vote.selectedOptions.extend(hashlib.sha256(name.encode()).digest() for name in request["options"])
        iv = secrets.token_bytes(12)
        payload = AESGCM(key).encrypt(iv, vote.SerializeToString(), (poll_id + "\x00" + voter).encode())
        message = proto.Message()
        update = message.pollUpdateMessage
        update.pollCreationMessageKey.remoteJid = request["to"]
        update.pollCreationMessageKey.id = poll_id
        update.pollCreationMessageKey.fromMe = False
        if request["to"].endswith("@g.us"):
            update.pollCreationMessageKey.participant = creator
        update.vote.encPayload = payload
        update.vote.encIv = iv
        update.senderTimestampMs = int(time.time() * 1000)
        return await self.send_built(request["to"], message, "poll", request)

    async def op_send_text(self, request):
        to, text = request["to"], request["text"]
        message = proto.Message()
        quoted, mentions = request.get("quoted"), request.get("mentions") or []
        if quoted or mentions:
            message.extendedTextMessage.text = text
            context = message.extendedTextMessage.contextInfo
            if quoted:
                context.stanzaId = quoted["id"]
                participant = quoted.get("participant") or self.sender_of(quoted["id"])
                if participant:
                    context.participant = participant
                if quoted.get("text") is not None:
                    context.quotedMessage.conversation = quoted["text"]
            context.mentionedJid.extend(mentions)
        else:
            message.conversation = text
        message.messageContextInfo.messageSecret = secrets.token_bytes(32)  # as every real client sends
        msg_id = request.get("id") or self.client.signal.new_message_id()
        self.sent[msg_id] = (jid_normalized_user(to) or to, message, int(time.time()))
        signal = self.client.signal
        signal.new_message_id = lambda: msg_id  # pyaileys draws the id inside the send
        try:
            # Not pyaileys' wait_ack: it takes any stanza with the id for the ack, a receipt included.
            await self.client._send_message(to, message, stanza_type="text", enc_extra_attrs=None, fanout=True,
                                            include_phash=False, wait_ack=False, timeout_s=5)
        finally:
            del signal.new_message_id
        answer = {"id": msg_id, "acked": False, "ackError": None}
        if request.get("waitAck", True):
            acks = await self.op_wait({"for": "stanza", "match": {"tag": "ack", "id": msg_id},
                                       "timeout": request.get("ackTimeout", 5)})
            if acks.get("ok", True):
                answer["acked"] = True
                answer["ackError"] = acks["items"][0]["attrs"].get("error")
        return answer

    async def op_send_media(self, request):
        """pyaileys' own send_* (media_conn, encryption, upload to the host it names, the message);
        only a plain (non-voice) audio file, which pyaileys has no method for, is put together here
        from the same pyaileys parts. The Message it sends is caught on its way to _send_message: its
        keys and paths are the answer."""
        kind, to = request["kind"], request["to"]
        if kind not in MEDIA_KINDS:
            raise Failure(f"no media kind {kind!r}; one of {', '.join(MEDIA_KINDS)}")
        media_type, default_mimetype = MEDIA_KINDS[kind]
        path = Path(request["path"])
        data = await asyncio.to_thread(path.read_bytes)  # pyaileys encrypts from memory
        mimetype, caption, seconds = request.get("mimetype") or default_mimetype, request.get("caption"), request.get("seconds")
        client, signal = self.client, self.client.signal
        msg_id = request.get("id") or signal.new_message_id()
        captured = {}
        send = client._send_message

        async def capture(jid, message, **options):
            captured["message"] = message
            self.sent[msg_id] = (jid_normalized_user(to) or to, message, int(time.time()))
            return await send(jid, message, **options)

        client._send_message = capture
        signal.new_message_id = lambda: msg_id
        common = {"upload_timeout_s": UPLOAD_TIMEOUT}
        try:
            if kind == "image":
                await client.send_image(to, data, mimetype=mimetype, caption=caption, **common)
            elif kind == "video":
                await client.send_video(to, data, mimetype=mimetype, caption=caption, seconds=seconds, **common)
            elif kind == "voice":
                await client.send_voice_note(to, data, mimetype=mimetype, seconds=seconds, **common)
            elif kind == "document":
                await client.send_document(to, data, mimetype=mimetype, caption=caption,
                                           filename=request.get("fileName") or path.name, **common)
            elif kind == "sticker":
                await client.send_sticker(to, data, mimetype=mimetype, **common)
            else:
                await self.send_audio(to, data, mimetype, seconds)
        finally:
            del client._send_message, signal.new_message_id
        _, part = media_part(captured["message"])
        answer = {"id": msg_id, "mediaKey": part.mediaKey.hex(), "directPath": part.directPath, "url": part.url,
                  "fileSha256": part.fileSha256.hex(), "fileEncSha256": part.fileEncSha256.hex(),
                  "fileLength": part.fileLength, "mediaType": media_type, "acked": False, "ackError": None}
        if request.get("waitAck", True):
            acks = await self.op_wait({"for": "stanza", "match": {"tag": "ack", "id": msg_id},
                                       "timeout": request.get("ackTimeout", 5)})
            if acks.get("ok", True):
                answer["acked"] = True
                answer["ackError"] = acks["items"][0]["attrs"].get("error")
        return answer

    async def send_audio(self, to, data, mimetype, seconds):
        """send_voice_note without ptt: an audio file rather than a voice message."""
        enc = encrypt_media_bytes(data, media_type="audio")
        upload = await self.client._upload_encrypted_media(media_type="audio", enc=enc, timeout_s=UPLOAD_TIMEOUT)
        message = proto.Message()
        audio = message.audioMessage
        audio.url, audio.directPath, audio.mediaKey = upload.media_url, upload.direct_path, enc.media_key
        audio.fileSha256, audio.fileEncSha256, audio.fileLength = enc.file_sha256, enc.file_enc_sha256, enc.file_length
        audio.mimetype, audio.ptt, audio.mediaKeyTimestamp = mimetype, False, int(time.time())
        if seconds is not None:
            audio.seconds = int(seconds)
        message.messageContextInfo.messageSecret = secrets.token_bytes(32)
        await self.client._send_message(to, message, stanza_type="media", enc_extra_attrs={"mediatype": "audio"},
                                        fanout=True, include_phash=False, wait_ack=False, timeout_s=15)

    async def op_download(self, request):
        """pyaileys' download_message_media with validate=True: the MAC (when the body has one, which
        we report) and the plaintext's SHA-256 against fileSha256. directPath/url override the
        message's own, as after a media retry (url defaults to the media host + directPath)."""
        message = self.received.get(request["id"])
        if message is None:
            raise Failure(f"no received message {request['id']}")
        _, part = media_part(message)
        if part is None:
            raise Failure(f"message {request['id']} has no media")
        if request.get("directPath") or request.get("url"):
            copy = proto.Message()
            copy.CopyFrom(message)
            _, part = media_part(copy)
            if request.get("directPath"):
                part.directPath = request["directPath"]
            part.url = request.get("url") or f"https://{self.media_host}{part.directPath}"
            message = copy
        self.mac_checked = None
        data = await self.client.download_message_media(message, validate=True)
        await asyncio.to_thread(Path(request["path"]).write_bytes, data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "macChecked": bool(self.mac_checked)}

    async def op_media_conn(self, _request):
        info = await self.client.socket.refresh_media_conn(force=True)
        return {"auth": info.auth, "ttl": info.ttl_s, "hosts": [host.hostname for host in info.hosts]}

    def sender_of(self, msg_id):
        if msg_id in self.sent:
            return jid_normalized_user(self.jid)
        found = next((m for m in self.records["message"] if m["id"] == msg_id), None)
        return jid_normalized_user(found["sender"]) if found and found["sender"] else None

    async def op_receipt(self, request):
        ids = request["ids"]
        to = request.get("to")
        if to is None:
            found = next((m for m in self.records["message"] if m["id"] == ids[0]), None)
            if found is None:
                raise Failure(f"no received message {ids[0]}; give `to`")
            to = found["chat"]
        attrs = {"id": ids[0], "to": to, "type": request.get("type", "read"), "t": str(int(time.time()))}
        content = [BinaryNode(tag="list", attrs={}, content=[BinaryNode(tag="item", attrs={"id": i}) for i in ids[1:]])] if ids[1:] else None
        await self.client.socket.send_node(BinaryNode(tag="receipt", attrs=attrs, content=content))
        return {}

    async def op_chatstate(self, request):
        if request["state"] not in ("composing", "paused", "recording"):
            raise Failure("state is composing, paused or recording")
        await self.client.send_chatstate(request["to"], request["state"])
        return {}

    async def op_presence(self, request):
        attrs = {"type": request.get("type", "available")}
        if request.get("name"):
            attrs["name"] = request["name"]
        await self.client.socket.send_node(BinaryNode(tag="presence", attrs=attrs))
        return {}

    async def op_subscribe(self, request):
        await self.client.socket.send_node(BinaryNode(tag="presence", attrs={"type": "subscribe", "to": request["to"]}))
        return {}

    async def op_retry_receipt(self, request):
        msg_id = request["id"]
        stanza = self.stanzas.get(msg_id)
        if stanza is None:
            raise Failure(f"no message {msg_id} was received")
        count = int(request.get("count") or self.retry_counts.get(msg_id, 0) + 1)
        self.retry_counts[msg_id] = count
        original = stanza["attrs"]
        attrs = {"id": msg_id, "to": original["from"], "type": "retry"}
        for name in ("participant", "recipient"):
            if name in original:
                attrs[name] = original[name]
        content = [BinaryNode(tag="retry", attrs={"count": str(count), "id": msg_id, "t": original.get("t", "0"), "v": "1"}),
                   BinaryNode(tag="registration", attrs={}, content=self.creds.registration_id.to_bytes(4, "big"))]
        answer = {"count": count, "registrationId": self.creds.registration_id, "keys": False}
        if request.get("keys", count >= 2):
            # As whatsmeow does: a fresh one-time prekey, stored so the sender's pkmsg can use it.
            pair = self.curve.generate_keypair()
            prekey_id = self.creds.next_pre_key_id
            self.creds.next_pre_key_id += 1
            await self.client.socket.auth.keys.set({"pre-key": {str(prekey_id): {"public": pair.public, "private": pair.private}}})
            signed = self.creds.signed_pre_key
            keys = [BinaryNode(tag="type", attrs={}, content=b"\x05"),
                    BinaryNode(tag="identity", attrs={}, content=self.creds.signed_identity_key.public),
                    BinaryNode(tag="key", attrs={}, content=[BinaryNode(tag="id", attrs={}, content=prekey_id.to_bytes(3, "big")),
                                                             BinaryNode(tag="value", attrs={}, content=pair.public)]),
                    BinaryNode(tag="skey", attrs={}, content=[
                        BinaryNode(tag="id", attrs={}, content=signed.key_id.to_bytes(3, "big")),
                        BinaryNode(tag="value", attrs={}, content=signed.key_pair.public),
                        BinaryNode(tag="signature", attrs={}, content=signed.signature)])]
            if self.creds.account:
                keys.append(BinaryNode(tag="device-identity", attrs={}, content=self.creds.account))
            content.append(BinaryNode(tag="keys", attrs={}, content=keys))
            answer.update(keys=True, preKeyId=prekey_id)
        await self.client.socket.send_node(BinaryNode(tag="receipt", attrs=attrs, content=content))
        return answer

    def matching(self, request, kind_field):
        kind = request[kind_field]
        if kind not in KINDS:
            raise Failure(f"no kind {kind!r}; one of {', '.join(KINDS)}")
        match = request.get("match") or {}
        return [item for item in self.records[kind] if all(str(item.get(k)) == str(v) for k, v in match.items())]

    async def op_list(self, request):
        return {"items": self.matching(request, "of")}

    async def op_wait(self, request):
        deadline = time.monotonic() + float(request.get("timeout", 10))
        wanted = int(request.get("count", 1))
        while True:
            items = self.matching(request, "for")
            if len(items) >= wanted:
                return {"items": items}
            left = deadline - time.monotonic()
            if left <= 0:
                return {"ok": False, "error": "timeout", "items": items}
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass

    async def op_disconnect(self, _request):
        await self.client.disconnect()
        return {}

    async def op_connect(self, _request):
        await self.connect()
        return {}

    async def op_send_raw(self, request):
        await self.client.socket.send_node(node_from_json(request["node"]))
        return {}

    async def op_auto_resend(self, request):
        self.auto_resend = bool(request["on"])
        return {}

    async def op_info(self, _request):
        return {"jid": self.jid, "lid": self.lid, "registrationId": self.creds.registration_id,
                "connected": self.client.socket.is_open, "sent": list(self.sent)}

    async def handle(self, line):
        try:
            request = json.loads(line)
            operation = getattr(self, f"op_{request.get('op')}", None)
            if operation is None:
                raise Failure(f"no op {request.get('op')!r}")
            answer = await operation(request)
            return {"ok": True, **answer}
        except Exception as problem:
            log(traceback.format_exc())
            return {"ok": False, "error": f"{type(problem).__name__}: {problem}"}

    async def run(self):
        await self.register()
        self.make_client()
        await self.connect()
        emit("ready " + json.dumps({"jid": self.jid, "lid": self.lid, "phone": self.args.phone, "device": self.device,
                                    "registrationId": self.creds.registration_id}))
        lines = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read_stdin():  # a thread: asyncio cannot read a pipe it does not own portably
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read_stdin, daemon=True).start()
        while (line := await lines.get()) is not None:
            if line.strip():
                emit(await self.handle(line))
        await self.client.disconnect()


def emit(obj):
    sys.stdout.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--control", required=True)
    parser.add_argument("--ws", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--phone", required=True)
    parser.add_argument("--device", type=int)
    parser.add_argument("--push-name")
    parser.add_argument("--events", action="store_true")
    parser.add_argument("--no-auto-resend", action="store_true")
    args = parser.parse_args()
    # stderr is the Swift test's own: pyaileys' warnings go there only when something is wrong.
    logging.basicConfig(stream=LOG or sys.stderr, level=logging.WARNING if LOG else logging.ERROR)
    try:
        asyncio.run(Driver(args).run())
    except Failure as failure:
        emit(f"error {failure}")
        sys.exit(1)
    os._exit(0)  # pyaileys may leave tasks behind; the test is done with us


if __name__ == "__main__":
    main()
