"""Groups for fake_whatsapp.py: the server's group directory, its `w:g2` IQs, `w:gp2` notifications
and the relay of group messages (one shared `skmsg` plus per-device sender key distributions).

Written from the protocol facts in docs/research/wa-groups-facts.md, independently of Wharf's Swift
code. Groups are phone-number addressed (addressing_mode="pn"): members and senders show as
PHONE[:DEVICE]@s.whatsapp.net, with their LIDs in `lid` attributes.

IQs (`<iq xmlns="w:g2">`; errors are `<iq type=error><error code text/></iq>`):
  get  to=GROUP <query request="interactive"/>         -> <group …/>  (404 unknown, 403 not a member)
  get  to=g.us  <participating>…</participating>        -> <groups><group …/>…</groups>
  set  to=g.us  <create subject key?><participant jid/>…</create> -> <group …/> (406: subject > 25 chars)
  set  to=GROUP <subject>NAME</subject>
  set  to=GROUP <description id prev?><body>T</body></description> | <description id prev delete="true"/>
                (409 when prev is not the current id)
  set  to=GROUP <announcement/> | <not_announcement/> | <locked/> | <unlocked/>
  set  to=GROUP <add|remove|promote|demote><participant jid/>…</…>
                -> the same tag with <participant jid [error]/> per person: 409 already a member (add),
                   404 not a member (remove/promote/demote) or not on WhatsApp (add), 403 with
                   <add_request code expiration/> for an account whose privacy refuses adds
  get  to=GROUP <invite/> -> <invite code/>; set to=GROUP <invite/> revokes it and answers the new code
  set  to=g.us  <invite code/> -> <group jid/> (406 unknown code, 410 revoked code)
  set  to=g.us  <leave><group id=GROUP/></leave>
Changing the subject, description or settings needs an admin when the group is locked (settings
always); participants and invites always need an admin: else 401 not-authorized.

Every change is told to every member device (the actor's included, and for a removal the removed too)
as <notification type="w:gp2" from=GROUP id t participant=ACTOR notify?>CHILD</notification>, CHILD
one of <create><group …/></create>, <add|remove|promote|demote><participant jid lid/>…</…>,
<subject subject s_t s_o/>, <description id><body>T</body></description> (<delete/> instead of body),
<announcement v_id/>, <not_announcement v_id/>, <locked/>, <unlocked/>, <invite code/>; a removal of
oneself (a leave) is a <remove> whose only participant is the actor. A picture change is
<notification type="picture" from=GROUP><set jid=GROUP id author/></notification> (control only).

Group messages: <message to=GROUP id type [phash]><participants><to jid=DEVICE><enc/></to>…
</participants><enc type="skmsg"/>[<device-identity/>]</message> from a member goes to every device of
every member but the sender's as <message from=GROUP participant=SENDER_DEVICE id t type notify?
addressing_mode="pn" participant_lid?>[its own <enc> from <participants>]<enc type=skmsg/>[<device-identity/> when
its <enc> is a pkmsg]</message>. The sender gets <ack class=message id from=GROUP t phash> with the
server's hash over every member device (the sender's own included). A non-member gets error 403.

Control (JSON over the control port):
  POST /groups {"subject", "creator": PHONE, "members": [PHONE], "admins"?: [PHONE]} -> {"id": JID}
  POST /groups/act {"group": JID, "actor": PHONE, "action": ACTION, …} does what the IQ of that name
      does, as that member (with the same notifications): "add"/"remove"/"promote"/"demote" with
      "members": [PHONE], "subject" with "subject", "description" with "description", "announce"/
      "locked" with "on": bool, "leave", "picture" (a new picture id).
  POST /groups/privacy {"phone", "refuseAdds": bool}: adds of that account answer 403 (invite only)
  GET /state lists "groups": [{"id", "subject", "description", "announce", "locked", "inviteCode",
      "members": {PHONE: "member"|"admin"|"superadmin"}}] and "groupMessages": what each group
      message carried and who it went to.
"""
import secrets
import time
from dataclasses import dataclass, field

from wabinary import JID, Node

GROUP_SERVER = "g.us"
MAX_SUBJECT = 25


def now():
    return int(time.time())


def iq_result(iq_id, content=None):
    return Node("iq", {"from": JID("", GROUP_SERVER), "type": "result", "id": iq_id}, content)


def iq_error(iq_id, code, text):
    return Node("iq", {"from": JID("", GROUP_SERVER), "type": "error", "id": iq_id},
                [Node("error", {"code": str(code), "text": text})])


class GroupError(Exception):
    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


@dataclass
class Group:
    id: str  # the user part; the JID is ID@g.us
    subject: str
    creator: str  # phone number
    creation: int
    members: dict  # phone number -> "member" | "admin" | "superadmin", in join order
    subject_owner: str = ""
    subject_time: int = 0
    description: str = None
    description_id: str = None
    announce: bool = False
    locked: bool = False
    invite_code: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    revoked_codes: list = field(default_factory=list)
    version: int = 1

    @property
    def jid(self):
        return JID(self.id, GROUP_SERVER)

    def is_admin(self, number):
        return self.members.get(number) in ("admin", "superadmin")


class GroupRelay:
    """Mixed into FakeWhatsApp: needs its phones, devices, resolve, account_keys, visible_devices,
    deliver, ack_message and participant_hash."""

    def init_groups(self):
        self.groups = {}  # id -> Group
        self.group_messages = []
        self.refuses_adds = set()  # phone numbers whose privacy allows invites only

    # The directory

    def member_jid(self, number):
        return JID(number)

    def participant_node(self, number, role=None):
        attrs = {"jid": self.member_jid(number), "lid": JID(self.phones[number].lid_user, "lid")}
        if role in ("admin", "superadmin"):
            attrs["type"] = role
        return Node("participant", attrs)

    def group_node(self, group):
        attrs = {"id": group.id, "creator": self.member_jid(group.creator), "creation": str(group.creation),
                 "subject": group.subject, "s_t": str(group.subject_time), "s_o": self.member_jid(group.subject_owner),
                 "size": str(len(group.members)), "addressing_mode": "pn"}
        children = [self.participant_node(number, role) for number, role in group.members.items()]
        if group.description is not None:
            children.append(Node("description", {"id": group.description_id, "t": str(now())},
                                 [Node("body", {}, group.description.encode())]))
        if group.announce:
            children.append(Node("announcement"))
        if group.locked:
            children.append(Node("locked"))
        return Node("group", attrs, children)

    def make_group(self, subject, creator, members, admins=()):
        if len(subject) > MAX_SUBJECT:
            raise GroupError(406, "not-acceptable")
        group_id = f"120363{secrets.randbelow(10**12):012d}"
        roles = {creator: "superadmin"}
        for number in members:
            if number != creator:
                roles[number] = "admin" if number in admins else "member"
        stamp = now()
        group = Group(group_id, subject, creator, stamp, roles, subject_owner=creator, subject_time=stamp)
        self.groups[group_id] = group
        return group

    def group_of(self, jid):
        group = self.groups.get(JID.parse(str(jid)).user) if jid is not None else None
        if group is None:
            raise GroupError(404, "item-not-found")
        return group

    def member_devices(self, group, extra=()):
        keys = []
        for number in list(group.members) + [n for n in extra if n not in group.members]:
            keys += self.account_keys(number)
        return keys

    async def notify_group(self, group, actor, children, also=()):
        attrs = {"from": group.jid, "type": "w:gp2", "id": f"{secrets.randbelow(10**9)}", "t": str(now()),
                 "participant": self.member_jid(actor)}
        if self.phones[actor].push_name:
            attrs["notify"] = self.phones[actor].push_name
        note = Node("notification", attrs, children)
        for key in self.member_devices(group, also):
            await self.deliver(key, note)

    # Changes, shared by the IQs and the control routes

    def need_admin(self, group, actor, needed=True):
        if actor not in group.members:
            raise GroupError(403, "forbidden")
        if needed and not group.is_admin(actor):
            raise GroupError(401, "not-authorized")

    async def change_participants(self, group, actor, action, numbers):
        self.need_admin(group, actor)
        results, changed = [], []
        for number in numbers:
            error, extra = None, []
            if action == "add":
                if number not in self.phones or not self.account_keys(number):
                    error = 404
                elif number in group.members:
                    error = 409
                elif number in self.refuses_adds:
                    error = 403
                    extra = [Node("add_request", {"code": group.invite_code, "expiration": str(now() + 3 * 86400)})]
                else:
                    group.members[number] = "member"
            elif number not in group.members:
                error = 404
            elif action == "remove":
                del group.members[number]
            elif action == "promote":
                group.members[number] = "admin"
            elif action == "demote":
                group.members[number] = "member" if group.members[number] != "superadmin" else "superadmin"
            attrs = {"jid": self.member_jid(number)}
            if error:
                attrs["error"] = str(error)
            else:
                changed.append(number)
            results.append(Node("participant", attrs, extra or None))
        if changed:
            group.version += 1
            note = [Node(action, {"v_id": str(group.version)}, [self.participant_node(n) for n in changed])]
            await self.notify_group(group, actor, note, also=changed if action == "remove" else ())
        return Node(action, {}, results)

    async def leave_group(self, group, actor):
        if actor not in group.members:
            raise GroupError(403, "forbidden")
        del group.members[actor]
        if group.members and not any(group.is_admin(n) for n in group.members):
            group.members[next(iter(group.members))] = "admin"  # WhatsApp hands admin on
        await self.notify_group(group, actor, [Node("remove", {}, [self.participant_node(actor)])], also=[actor])

    async def set_subject(self, group, actor, subject):
        self.need_admin(group, actor, group.locked)
        if len(subject) > MAX_SUBJECT:
            raise GroupError(406, "not-acceptable")
        group.subject, group.subject_owner, group.subject_time = subject, actor, now()
        await self.notify_group(group, actor, [Node("subject", {
            "subject": subject, "s_t": str(group.subject_time), "s_o": self.member_jid(actor)})])

    async def set_description(self, group, actor, text, new_id=None, prev=None, check_prev=False):
        self.need_admin(group, actor, group.locked)
        if check_prev and (prev or None) != group.description_id:
            raise GroupError(409, "conflict")
        group.description_id = new_id or secrets.token_hex(8).upper()
        group.description = text
        content = [Node("body", {}, text.encode())] if text is not None else [Node("delete")]
        await self.notify_group(group, actor, [Node("description", {"id": group.description_id}, content)])

    async def set_setting(self, group, actor, name, on):
        self.need_admin(group, actor)
        group.version += 1
        if name == "announce":
            group.announce = on
            child = Node("announcement" if on else "not_announcement", {"v_id": str(group.version)})
        else:
            group.locked = on
            child = Node("locked" if on else "unlocked")
        await self.notify_group(group, actor, [child])

    async def revoke_invite(self, group, actor):
        self.need_admin(group, actor)
        group.revoked_codes.append(group.invite_code)
        group.invite_code = secrets.token_urlsafe(16)
        await self.notify_group(group, actor, [Node("invite", {"code": group.invite_code})])

    async def join_by_code(self, number, code):
        group = next((g for g in self.groups.values() if g.invite_code == code), None)
        if group is None:
            revoked = any(code in g.revoked_codes for g in self.groups.values())
            raise GroupError(410 if revoked else 406, "gone" if revoked else "not-acceptable")
        if number not in group.members:
            group.members[number] = "member"
            note = [Node("add", {"reason": "invite"}, [self.participant_node(number)])]
            await self.notify_group(group, number, note)
        return group

    # <iq xmlns="w:g2">

    async def on_group_iq(self, conn, iq):
        iq_id, kind = iq.attrs.get("id"), iq.attrs.get("type")
        actor = JID.parse(conn.jid).user
        to = JID.parse(str(iq.attrs.get("to", "")))
        child = (iq.children() or [Node("")])[0]
        try:
            answer = await self.group_request(actor, to, kind, child)
        except GroupError as problem:
            return await conn.send(iq_error(iq_id, problem.code, problem.text))
        reply = iq_result(iq_id, [answer] if answer is not None else None)
        reply.attrs["from"] = to
        await conn.send(reply)

    async def group_request(self, actor, to, kind, child):
        name = child.tag
        if not to.user:  # to g.us
            if name == "participating":
                return Node("groups", {}, [self.group_node(g) for g in self.groups.values() if actor in g.members])
            if name == "create":
                members = [JID.parse(str(p.attrs.get("jid"))).user for p in child.children("participant")]
                unknown = [n for n in members if n not in self.phones]
                group = self.make_group(str(child.attrs.get("subject", "")), actor, [n for n in members if n not in unknown])
                await self.notify_group(group, actor, [Node("create", {"type": "new", "key": child.attrs.get("key", "")},
                                                            [self.group_node(group)])])
                node = self.group_node(group)
                for number in unknown:  # whatsmeow reads failures from the participant list
                    node.content.append(Node("participant", {"jid": JID(number), "error": "404"}))
                return node
            if name == "invite" and kind == "set":
                group = await self.join_by_code(actor, str(child.attrs.get("code", "")))
                return Node("group", {"jid": group.jid})
            if name == "leave":
                for item in child.children("group"):
                    await self.leave_group(self.group_of(item.attrs.get("id")), actor)
                return None
            raise GroupError(400, "bad-request")
        group = self.group_of(to)
        if name == "query":
            self.need_admin(group, actor, needed=False)
            return self.group_node(group)
        if name in ("add", "remove", "promote", "demote"):
            numbers = [JID.parse(str(p.attrs.get("jid"))).user for p in child.children("participant")]
            return await self.change_participants(group, actor, name, numbers)
        if name == "subject":
            text = child.content.decode() if isinstance(child.content, bytes) else str(child.content or "")
            return await self.set_subject(group, actor, text)
        if name == "description":
            body = child.child("body")
            text = None if child.attrs.get("delete") == "true" or body is None else (
                body.content.decode() if isinstance(body.content, bytes) else str(body.content or ""))
            return await self.set_description(group, actor, text, child.attrs.get("id"), child.attrs.get("prev"), True)
        if name in ("announcement", "not_announcement"):
            return await self.set_setting(group, actor, "announce", name == "announcement")
        if name in ("locked", "unlocked"):
            return await self.set_setting(group, actor, "locked", name == "locked")
        if name == "invite":
            if kind == "set":
                await self.revoke_invite(group, actor)
            else:
                self.need_admin(group, actor)
            return Node("invite", {"code": group.invite_code})
        raise GroupError(400, "bad-request")

    # Group messages

    async def relay_group_message(self, conn, node, to, msg_id, stamp, identity, targets, record, only=None):
        """A group message to every member device; with `only` (a retry resend, `participant` naming
        the device that asked), just that device's own <enc>."""
        number, device_id, _ = self.resolve(conn.jid)
        group = self.groups.get(to.user)
        if group is None or number not in group.members:
            self.undeliverable.append({"from": conn.jid, "to": str(to), "id": msg_id, "reason": "not a member"})
            return await self.ack_message(conn, msg_id, to, stamp, node, error="403")
        if group.announce and not group.is_admin(number) and node.attrs.get("type") != "reaction":
            self.undeliverable.append({"from": conn.jid, "to": str(to), "id": msg_id, "reason": "announcement group"})
            return await self.ack_message(conn, msg_id, to, stamp, node, error="403")
        pairwise = {}
        for target, enc in targets:
            where = self.resolve(target)
            if where is not None:
                pairwise[self.device_key(where[0], where[1])] = enc
        shared = [enc for enc in node.children("enc") if enc.attrs.get("type") == "skmsg"]
        sender = JID(number, device=device_id)
        summary = {"id": msg_id, "group": str(to), "from": conn.jid, "type": node.attrs.get("type"),
                   "distributedTo": sorted(pairwise), "skmsg": shared[0].content.hex() if shared else None,
                   "delivered": [], "attrs": {n: str(v) for n, v in node.attrs.items()}}
        self.group_messages.append(summary)
        for key in self.member_devices(group):
            if key == conn.jid or not self.devices[key].keys or (only is not None and key not in pairwise):
                continue
            own = pairwise.get(key)
            attrs = {"from": group.jid, "participant": sender, "id": msg_id, "t": stamp,
                     "type": node.attrs.get("type", "text"), "addressing_mode": "pn"}
            for name in ("edit",):
                if name in node.attrs:
                    attrs[name] = node.attrs[name]
            if self.phones[number].push_name:
                attrs["notify"] = self.phones[number].push_name
            if self.phones[number].lid_hints:
                # As WhatsApp names the sender's other address in a phone-addressed group.
                attrs["participant_lid"] = JID(self.phones[number].lid_user, "lid")
            children = ([own] if own is not None else []) + shared
            if identity is not None and own is not None and own.attrs.get("type") == "pkmsg":
                children.append(identity)
            if not children:
                continue
            await self.deliver(key, Node("message", attrs, children))
            summary["delivered"].append(key)
            record["delivered"].append(key)
        await self.ack_message(conn, msg_id, to, stamp, node, group_hash=self.group_hash(group))

    async def relay_group_chatstate(self, conn, to, state):
        """<chatstate to=GROUP> -> <chatstate from=GROUP participant=SENDER> to the other members."""
        number = JID.parse(conn.jid).user
        group = self.groups.get(to.user)
        if group is None or number not in group.members:
            return
        out = Node("chatstate", {"from": group.jid, "participant": JID(number)}, [Node(state.tag, dict(state.attrs))])
        for key in self.member_devices(group):
            if JID.parse(key).user != number:
                await self.deliver(key, out, queue=False)

    async def relay_group_receipt(self, conn, node, to, kind, receipt_id, record):
        """<receipt to=GROUP participant=AUTHOR [type]> -> <receipt from=GROUP participant=READER> to
        the author's devices (the reader's own other devices get a copy for read receipts)."""
        number, device_id, _ = self.resolve(conn.jid)
        author = self.resolve(node.attrs.get("participant"))
        targets = self.account_keys(author[0]) if author else []
        if kind in ("read", "played"):
            targets += [k for k in self.account_keys(number) if k != conn.jid]
        attrs = {"from": JID(to.user, "g.us"), "participant": JID(number, device=device_id), "id": receipt_id,
                 "t": node.attrs.get("t") or str(now())}
        if kind:
            attrs["type"] = kind
        for key in targets:
            if key != conn.jid:
                await self.deliver(key, Node("receipt", attrs, node.content if isinstance(node.content, list) else None))
                record["delivered"].append(key)
        ack = {"class": "receipt", "id": receipt_id, "from": to}
        if kind:
            ack["type"] = kind
        await conn.send(Node("ack", ack))

    def group_hash(self, group):
        devices = [JID(n, device=d) for n in group.members for d in self.visible_devices(n)]
        return self.participant_hash(devices)

    # Control

    async def create_group(self, request):
        creator = str(request["creator"])
        members = [str(n) for n in request.get("members", [])]
        for number in [creator] + members:
            if number not in self.phones:
                return 400, {"error": f"no account {number}"}
        try:
            group = self.make_group(str(request.get("subject", "group")), creator, members,
                                    [str(n) for n in request.get("admins", [])])
        except GroupError as problem:
            return 400, {"error": problem.text}
        await self.notify_group(group, creator, [Node("create", {"type": "new"}, [self.group_node(group)])])
        return 200, {"id": str(group.jid), "inviteCode": group.invite_code}

    async def act_in_group(self, request):
        actor, action = str(request["actor"]), request["action"]
        try:
            group = self.group_of(request.get("group"))
            if action in ("add", "remove", "promote", "demote"):
                answer = await self.change_participants(group, actor, action, [str(n) for n in request["members"]])
                return 200, {"results": [{"jid": str(p.attrs["jid"]), "error": p.attrs.get("error")}
                                         for p in answer.children("participant")]}
            if action == "subject":
                await self.set_subject(group, actor, str(request["subject"]))
            elif action == "description":
                await self.set_description(group, actor, request.get("description"))
            elif action in ("announce", "locked"):
                await self.set_setting(group, actor, action, bool(request["on"]))
            elif action == "leave":
                await self.leave_group(group, actor)
            elif action == "picture":
                picture = str(secrets.randbelow(10**10))
                note = Node("notification", {"from": group.jid, "type": "picture", "id": picture, "t": str(now())},
                            [Node("set", {"jid": group.jid, "id": picture, "author": self.member_jid(actor)})])
                for key in self.member_devices(group):
                    await self.deliver(key, note)
            else:
                return 400, {"error": f"no action {action!r}"}
        except GroupError as problem:
            return 409, {"error": problem.text, "code": problem.code}
        return 200, {}

    async def set_group_privacy(self, request):
        number = str(request["phone"])
        if request.get("refuseAdds", True):
            self.refuses_adds.add(number)
        else:
            self.refuses_adds.discard(number)
        return 200, {}

    def groups_state(self):
        return [{"id": str(g.jid), "subject": g.subject, "description": g.description, "announce": g.announce,
                 "locked": g.locked, "inviteCode": g.invite_code, "members": dict(g.members)}
                for g in self.groups.values()]
