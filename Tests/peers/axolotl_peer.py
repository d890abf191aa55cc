#!/usr/bin/env python3
"""A Signal 1:1 oracle: one local party (identity, prekeys, sessions) run by python-axolotl 0.2.3,
the Python port of libsignal-protocol-java that yowsup used for WhatsApp. It is strict where pyaileys
is lenient (the v3 MAC over both identities, the archived session states tried on decrypt), so the
Swift tests check Wharf's Signal layer against it, byte for byte.

python-axolotl is GPL-3: it is only ever imported here, in a test process of its own; nothing of it
goes into Wharf. Its generated protobuf modules are old-style, so this sets
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python before importing it.

usage: axolotl_peer.py        (needs the PyPI packages python-axolotl and python-axolotl-curve25519)

It makes a fresh identity (with signed prekey 1) and prints one line,
  ready {"registrationId": N, "identityKey": HEX33}
then reads one JSON request per line and answers each with one JSON line: {"ok": true, ...}, or
{"ok": false, "error": EXCEPTION_CLASS, "message": TEXT} (e.g. InvalidMessageException for a bad
MAC, DuplicateMessageException for a counter already used, InvalidKeyIdException for an unknown
prekey id, UntrustedIdentityException under "tofu" trust, NoSessionException). It exits when
stdin closes.

Bytes are hex. Public keys are 33 bytes (0x05 ‖ 32) in answers; requests take 32 or 33. Plaintext
is raw bytes: WhatsApp's padding is the caller's business, nothing here pads or unpads. A peer is
named by "peer" (any string, e.g. "491701234567" or "12345_1" for a LID) and "device" (default 1).
Ciphertexts are exactly libsignal's serialization: msg = 0x33 ‖ SignalMessage ‖ 8-byte MAC,
pkmsg = 0x33 ‖ PreKeySignalMessage.

Requests ("op"):
  {"op": "identity", "registrationId"?: N, "identityPrivate"?: HEX, "signedPreKeyId"?: 1,
   "dropSessions"?: false}
      -> {"registrationId", "identityKey", "identityPrivate", "signedPreKeyId"}: a new local identity
      (replacing the old one, as a reinstall would: sessions stay unless dropSessions, and then fail
      for the peers) with a new signed prekey.
  {"op": "bundle", "oneTime"?: true}
      -> {"registrationId", "deviceId": 1, "identityKey", "signedPreKeyId", "signedPreKey",
          "signedPreKeySignature", "preKeyId"?, "preKey"?}: a prekey bundle; each call with oneTime
      makes a new one-time prekey (ids 1, 2, …) and keeps its private half.
  {"op": "keys", "count"?: 10}
      -> {"registrationId", "identity", "signedPreKey": {"id", "public", "signature"},
          "preKeys": [{"id", "public"}]}: `count` new one-time prekeys, in the shape of
      fake_whatsapp.py's POST /accounts "keys" (so the server can hand them out as a device's).
  {"op": "process_bundle", "peer", "device"?, "bundle": BUNDLE} -> {}: start a session as the
      initiator (Alice) from the other side's bundle (fields as `bundle` answers; preKeyId and
      preKey optional). A session already there is archived, not lost.
  {"op": "encrypt", "peer", "device"?, "plaintext": HEX} -> {"type": "pkmsg"|"msg", "ciphertext"}
  {"op": "decrypt", "peer", "device"?, "type": "pkmsg"|"msg", "ciphertext": HEX} -> {"plaintext"}
      A pkmsg that starts a new session archives the current one; msg tries the current state,
      then every archived one (libsignal's rule), so an old chain still decrypts after a new pkmsg.
  {"op": "session", "peer", "device"?} -> {"exists", "version", "localRegistrationId",
      "remoteRegistrationId", "remoteIdentity", "aliceBaseKey", "pendingPreKey", "senderChainIndex",
      "previousStates"}
  {"op": "archive", "peer", "device"?} -> {}: archive the current state (a fresh one replaces it)
  {"op": "save_session", "peer", "device"?} -> {"record"}; {"op": "restore_session", "peer",
      "device"?, "record"} -> {}: a session record (the library's own serialization) to put back
      later, e.g. to send from a state the other side has since moved past.
  {"op": "delete_session", "peer", "device"?} -> {}
  {"op": "trust", "mode": "always"|"tofu"} -> {}: "always" (default, as WhatsApp clients do)
      accepts a changed identity; "tofu" refuses it with UntrustedIdentityException.
  {"op": "remote_identity", "peer"} -> {"identityKey": HEX33 | null}

Sender keys (groups), libsignal's GroupSessionBuilder and GroupCipher; a group is any string, our
own chain in it is kept under the sender "self":
  {"op": "group_create", "group"} -> {"distribution": HEX}: our sender key distribution message
      (made on first use), 0x33 ‖ SenderKeyDistributionMessage.
  {"op": "group_process", "group", "peer", "device"?, "distribution": HEX} -> {}: a member's
      distribution message.
  {"op": "group_encrypt", "group", "plaintext": HEX} -> {"ciphertext"}: 0x33 ‖ SenderKeyMessage ‖
      64-byte signature.
  {"op": "group_decrypt", "group", "peer", "device"?, "ciphertext": HEX} -> {"plaintext"}
      (DuplicateMessageException for an iteration already read, InvalidMessageException for a bad
      signature, NoSessionException for an unknown key id).

Quirk worked around: python-axolotl reads a pkmsg without a one-time prekey id as prekey id 0 (a
proto2 default) and then fails with InvalidKeyIdException; this oracle checks whether the field is
present and passes "none" to the library, as libsignal does.
"""
import json
import logging
import os
import sys

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
# The library logs expected cases ("session already set up for this pkmsg") as warnings on stderr.
logging.getLogger("axolotl").setLevel(logging.ERROR)

import axolotl_curve25519  # noqa: E402
from axolotl.ecc.curve import Curve  # noqa: E402
from axolotl.ecc.djbec import DjbECPrivateKey, DjbECPublicKey  # noqa: E402
from axolotl.identitykey import IdentityKey  # noqa: E402
from axolotl.identitykeypair import IdentityKeyPair  # noqa: E402
from axolotl.invalidkeyidexception import InvalidKeyIdException  # noqa: E402
from axolotl.protocol import whisperprotos_pb2  # noqa: E402
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage  # noqa: E402
from axolotl.protocol.whispermessage import WhisperMessage  # noqa: E402
from axolotl.sessionbuilder import SessionBuilder  # noqa: E402
from axolotl.sessioncipher import SessionCipher  # noqa: E402
from axolotl.state.axolotlstore import AxolotlStore  # noqa: E402
from axolotl.state.prekeybundle import PreKeyBundle  # noqa: E402
from axolotl.state.prekeyrecord import PreKeyRecord  # noqa: E402
from axolotl.state.sessionrecord import SessionRecord  # noqa: E402
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord  # noqa: E402
from axolotl.util.keyhelper import KeyHelper  # noqa: E402
from axolotl.axolotladdress import AxolotlAddress  # noqa: E402
from axolotl.groups.groupcipher import GroupCipher  # noqa: E402
from axolotl.groups.groupsessionbuilder import GroupSessionBuilder  # noqa: E402
from axolotl.groups.senderkeyname import SenderKeyName  # noqa: E402
from axolotl.groups.state.senderkeyrecord import SenderKeyRecord  # noqa: E402
from axolotl.groups.state.senderkeystore import SenderKeyStore  # noqa: E402
from axolotl.protocol.senderkeydistributionmessage import SenderKeyDistributionMessage  # noqa: E402


class Store(AxolotlStore):
    """Everything one party keeps, in memory, as serialized records (as a database would hold them),
    so a stored record cannot be changed behind the library's back."""

    def __init__(self):
        self.identity = None
        self.registration_id = None
        self.prekeys, self.signed_prekeys, self.sessions, self.identities = {}, {}, {}, {}
        self.trust = "always"

    # IdentityKeyStore
    def getIdentityKeyPair(self):
        return self.identity

    def getLocalRegistrationId(self):
        return self.registration_id

    def saveIdentity(self, recipientId, identityKey):
        self.identities[recipientId] = identityKey.serialize()

    def isTrustedIdentity(self, recipientId, identityKey):
        known = self.identities.get(recipientId)
        return self.trust == "always" or known is None or known == identityKey.serialize()

    # PreKeyStore
    def loadPreKey(self, preKeyId):
        if preKeyId not in self.prekeys:
            raise InvalidKeyIdException(f"no one-time prekey {preKeyId}")
        return PreKeyRecord(serialized=self.prekeys[preKeyId])

    def storePreKey(self, preKeyId, preKeyRecord):
        self.prekeys[preKeyId] = preKeyRecord.serialize()

    def containsPreKey(self, preKeyId):
        return preKeyId in self.prekeys

    def removePreKey(self, preKeyId):
        self.prekeys.pop(preKeyId, None)

    # SignedPreKeyStore
    def loadSignedPreKey(self, signedPreKeyId):
        if signedPreKeyId not in self.signed_prekeys:
            raise InvalidKeyIdException(f"no signed prekey {signedPreKeyId}")
        return SignedPreKeyRecord(serialized=self.signed_prekeys[signedPreKeyId])

    def loadSignedPreKeys(self):
        return [SignedPreKeyRecord(serialized=record) for record in self.signed_prekeys.values()]

    def storeSignedPreKey(self, signedPreKeyId, signedPreKeyRecord):
        self.signed_prekeys[signedPreKeyId] = signedPreKeyRecord.serialize()

    def containsSignedPreKey(self, signedPreKeyId):
        return signedPreKeyId in self.signed_prekeys

    def removeSignedPreKey(self, signedPreKeyId):
        self.signed_prekeys.pop(signedPreKeyId, None)

    # SessionStore
    def loadSession(self, recepientId, deviceId):
        record = self.sessions.get((recepientId, deviceId))
        return SessionRecord(serialized=record) if record else SessionRecord()

    def getSubDeviceSessions(self, recepientId):
        return [device for name, device in self.sessions if name == recepientId and device != 1]

    def storeSession(self, recepientId, deviceId, sessionRecord):
        self.sessions[(recepientId, deviceId)] = sessionRecord.serialize()

    def containsSession(self, recepientId, deviceId):
        return (recepientId, deviceId) in self.sessions

    def deleteSession(self, recepientId, deviceId):
        self.sessions.pop((recepientId, deviceId), None)

    def deleteAllSessions(self, recepientId):
        for key in [key for key in self.sessions if key[0] == recepientId]:
            del self.sessions[key]


def public_key(text):
    raw = bytes.fromhex(text)
    return DjbECPublicKey(raw[1:] if len(raw) == 33 else raw)


class Failure(Exception):
    pass


class SenderKeys(SenderKeyStore):
    """Sender key records by name, kept serialized so that every load is a fresh copy (a failed
    decryption changes nothing)."""

    def __init__(self):
        self.records = {}

    def storeSenderKey(self, senderKeyName, senderKeyRecord):
        self.records[senderKeyName.serialize()] = senderKeyRecord.serialize()

    def loadSenderKey(self, senderKeyName):
        stored = self.records.get(senderKeyName.serialize())
        return SenderKeyRecord(serialized=stored) if stored else SenderKeyRecord()


class Oracle:
    def __init__(self):
        self.store = Store()
        self.sender_keys = SenderKeys()
        self.next_prekey = 1
        self.op_identity({})

    def address(self, request):
        return str(request["peer"]), int(request.get("device", 1))

    def cipher(self, request):
        name, device = self.address(request)
        store = self.store
        return SessionCipher(store, store, store, store, name, device)

    def op_identity(self, request):
        if request.get("identityPrivate"):
            # Clamped as X25519 does, so any 32 bytes make a usable private key.
            private = DjbECPrivateKey(axolotl_curve25519.generatePrivateKey(bytes.fromhex(request["identityPrivate"])))
            pair = IdentityKeyPair(IdentityKey(DjbECPublicKey(Curve.generatePublicKey(private.getPrivateKey()))), private)
        else:
            pair = KeyHelper.generateIdentityKeyPair()
        self.store.identity = pair
        self.store.registration_id = int(request.get("registrationId") or KeyHelper.generateRegistrationId())
        signed_id = int(request.get("signedPreKeyId", 1))
        self.store.signed_prekeys.clear()
        self.store.storeSignedPreKey(signed_id, KeyHelper.generateSignedPreKey(pair, signed_id))
        self.signed_id = signed_id
        if request.get("dropSessions"):
            self.store.sessions.clear()
        return {"registrationId": self.store.registration_id, "identityKey": pair.getPublicKey().serialize().hex(),
                "identityPrivate": pair.getPrivateKey().serialize().hex(), "signedPreKeyId": signed_id}

    def new_prekey(self):
        record = KeyHelper.generatePreKeys(self.next_prekey, 1)[0]
        self.next_prekey = record.getId() + 1
        self.store.storePreKey(record.getId(), record)
        return record

    def signed(self):
        return self.store.loadSignedPreKey(self.signed_id)

    def op_bundle(self, request):
        signed = self.signed()
        bundle = {"registrationId": self.store.registration_id, "deviceId": 1,
                  "identityKey": self.store.identity.getPublicKey().serialize().hex(),
                  "signedPreKeyId": signed.getId(), "signedPreKey": signed.getKeyPair().getPublicKey().serialize().hex(),
                  "signedPreKeySignature": bytes(signed.getSignature()).hex()}
        if request.get("oneTime", True):
            record = self.new_prekey()
            bundle.update(preKeyId=record.getId(), preKey=record.getKeyPair().getPublicKey().serialize().hex())
        return bundle

    def op_keys(self, request):
        signed = self.signed()
        prekeys = [self.new_prekey() for _ in range(int(request.get("count", 10)))]
        return {"registrationId": self.store.registration_id,
                "identity": self.store.identity.getPublicKey().serialize().hex(),
                "signedPreKey": {"id": signed.getId(), "public": signed.getKeyPair().getPublicKey().serialize().hex(),
                                 "signature": bytes(signed.getSignature()).hex()},
                "preKeys": [{"id": r.getId(), "public": r.getKeyPair().getPublicKey().serialize().hex()} for r in prekeys]}

    def op_process_bundle(self, request):
        given = request["bundle"]
        name, device = self.address(request)
        one_time = given.get("preKey")
        bundle = PreKeyBundle(int(given["registrationId"]), int(given.get("deviceId", device)),
                              int(given["preKeyId"]) if one_time else None, public_key(one_time) if one_time else None,
                              int(given["signedPreKeyId"]), public_key(given["signedPreKey"]),
                              bytes.fromhex(given["signedPreKeySignature"]), IdentityKey(public_key(given["identityKey"])))
        store = self.store
        SessionBuilder(store, store, store, store, name, device).processPreKeyBundle(bundle)
        return {}

    def op_encrypt(self, request):
        name, device = self.address(request)
        if not self.store.containsSession(name, device):
            raise Failure("NoSessionException", f"no session with {name}.{device}")
        message = self.cipher(request).encrypt(bytes.fromhex(request["plaintext"]))
        kind = "pkmsg" if isinstance(message, PreKeyWhisperMessage) else "msg"
        return {"type": kind, "ciphertext": bytes(message.serialize()).hex()}

    def op_decrypt(self, request):
        data = bytes.fromhex(request["ciphertext"])
        cipher = self.cipher(request)
        if request["type"] == "pkmsg":
            message = PreKeyWhisperMessage(serialized=data)
            wire = whisperprotos_pb2.PreKeyWhisperMessage()
            wire.ParseFromString(data[1:])
            if not wire.HasField("preKeyId"):
                message.preKeyId = None
            plaintext = cipher.decryptPkmsg(message)
        elif request["type"] == "msg":
            plaintext = cipher.decryptMsg(WhisperMessage(serialized=data))
        else:
            raise Failure("ValueError", "type is pkmsg or msg")
        return {"plaintext": bytes(plaintext).hex()}

    def op_session(self, request):
        name, device = self.address(request)
        if not self.store.containsSession(name, device):
            return {"exists": False}
        record = self.store.loadSession(name, device)
        state = record.getSessionState()
        structure = state.getStructure()
        return {"exists": True, "version": state.getSessionVersion(),
                "localRegistrationId": structure.localRegistrationId, "remoteRegistrationId": structure.remoteRegistrationId,
                "remoteIdentity": bytes(structure.remoteIdentityPublic).hex(),
                "aliceBaseKey": bytes(structure.aliceBaseKey).hex(),
                "pendingPreKey": state.hasUnacknowledgedPreKeyMessage(),
                "senderChainIndex": state.getSenderChainKey().getIndex() if state.hasSenderChain() else None,
                "previousStates": len(record.getPreviousSessionStates())}

    def op_archive(self, request):
        name, device = self.address(request)
        record = self.store.loadSession(name, device)
        record.archiveCurrentState()
        self.store.storeSession(name, device, record)
        return {}

    def op_save_session(self, request):
        name, device = self.address(request)
        if not self.store.containsSession(name, device):
            raise Failure("NoSessionException", f"no session with {name}.{device}")
        return {"record": self.store.sessions[(name, device)].hex()}

    def op_restore_session(self, request):
        name, device = self.address(request)
        self.store.sessions[(name, device)] = bytes.fromhex(request["record"])
        return {}

    def op_delete_session(self, request):
        self.store.deleteSession(*self.address(request))
        return {}

    def op_trust(self, request):
        if request["mode"] not in ("always", "tofu"):
            raise Failure("ValueError", "mode is always or tofu")
        self.store.trust = request["mode"]
        return {}

    def op_remote_identity(self, request):
        known = self.store.identities.get(str(request["peer"]))
        return {"identityKey": bytes(known).hex() if known else None}

    def sender_key_name(self, request, own=False):
        name, device = ("self", 1) if own else self.address(request)
        return SenderKeyName(str(request["group"]), AxolotlAddress(name, device))

    def op_group_create(self, request):
        distribution = GroupSessionBuilder(self.sender_keys).create(self.sender_key_name(request, own=True))
        return {"distribution": bytes(distribution.serialize()).hex()}

    def op_group_process(self, request):
        distribution = SenderKeyDistributionMessage(serialized=bytes.fromhex(request["distribution"]))
        GroupSessionBuilder(self.sender_keys).process(self.sender_key_name(request), distribution)
        return {}

    def op_group_encrypt(self, request):
        cipher = GroupCipher(self.sender_keys, self.sender_key_name(request, own=True))
        return {"ciphertext": bytes(cipher.encrypt(bytes.fromhex(request["plaintext"]))).hex()}

    def op_group_decrypt(self, request):
        cipher = GroupCipher(self.sender_keys, self.sender_key_name(request))
        return {"plaintext": bytes(cipher.decrypt(bytes.fromhex(request["ciphertext"]))).hex()}

    def handle(self, line):
        try:
            request = json.loads(line)
            operation = getattr(self, f"op_{request.get('op')}", None)
            if operation is None:
                raise Failure("ValueError", f"no op {request.get('op')!r}")
            return {"ok": True, **operation(request)}
        except Failure as failure:
            return {"ok": False, "error": failure.args[0], "message": failure.args[1]}
        except Exception as problem:  # the library's own exceptions, reported by class name
            return {"ok": False, "error": type(problem).__name__, "message": str(problem)}


def main():
    oracle = Oracle()
    identity = oracle.store.identity
    print("ready " + json.dumps({"registrationId": oracle.store.registration_id,
                                 "identityKey": identity.getPublicKey().serialize().hex()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(oracle.handle(line)), flush=True)


if __name__ == "__main__":
    main()
