#!/usr/bin/env python3
"""Writes Sources/Gateway/OpenAPI/openapi.json, the OpenAPI 3.1 document Wharf serves at /openapi.json.

The document is described here, in Python, because its many operations share parameters, problems
and schemas; the JSON it writes is committed and compiled into the binary. After changing a route,
change it here and run `scripts/generate-openapi.py`; `--check` says whether the committed file is
up to date (the tests run it). The Swift suite checks that the document's routes are the router's,
and schemathesis that the server's answers fit it.
"""
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Sources", "Gateway", "OpenAPI", "openapi.json")


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def rref(name):
    return {"$ref": f"#/components/responses/{name}"}


def pref(name):
    return {"$ref": f"#/components/parameters/{name}"}


DT = {"type": "string", "format": "date-time"}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}


def dt(desc):
    return {"type": "string", "format": "date-time", "description": desc}


def s(desc, **kw):
    d = {"type": "string", "description": desc}
    d.update(kw)
    return d


def i(desc, **kw):
    d = {"type": "integer", "description": desc}
    d.update(kw)
    return d


def b(desc, **kw):
    d = {"type": "boolean", "description": desc}
    d.update(kw)
    return d


def obj(props, required=None, desc=None, **kw):
    d = {"type": "object"}
    if desc:
        d["description"] = desc
    d["properties"] = props
    if required:
        d["required"] = required
    d.update(kw)
    return d


SESSION_STATES = ["starting", "scan_qr", "pairing_code", "connected", "disconnected", "logged_out", "stopped"]
ENGINES = ["sandbox", "web", "cloud"]
JOB_STATES = ["queued", "sending", "sent", "failed", "cancelled"]
DELIVERY_STATES = ["pending", "inflight", "delivered", "failed", "discarded"]
MESSAGE_TYPES = ["text", "image", "video", "audio", "voice", "document"]
ID_PREFIXES = {"tenant": "ten_", "session": "ses_", "job": "job_", "webhook": "whk_", "key": "key_"}

# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------

schemas = {}

schemas["Problem"] = obj(
    {
        "type": s("A URI naming the problem type; always `about:blank` (the status says it all)."),
        "title": s("A short summary: the HTTP reason phrase, or a more specific title such as `Session limit reached`."),
        "status": i("The HTTP status code.", minimum=100, maximum=599),
        "detail": s("What went wrong and what to change."),
        "instance": s("The request path."),
        "field": s("The request field (or query parameter) that was wrong, when one was."),
        "limit": i("The limit that was exceeded, in bytes (413)."),
        "retryAfter": i("Seconds to wait before trying again (429); also sent as `Retry-After`."),
        "maxSessions": i("The tenant's session limit (409 at the limit)."),
    },
    ["type", "title", "status", "detail", "instance"],
    "An RFC 9457 problem. Every 4xx and 5xx answer is one, as `application/problem+json`.",
)

schemas["Health"] = obj({"status": s("`ok` when the process serves requests, `ready` when the database answers too.", enum=["ok", "ready"])}, ["status"])

schemas["Settings"] = obj(
    {},
    desc="A tenant's free-form workflow settings (a JSON object of at most 64 KiB), sent along with every webhook event. "
    "Well-known members: `ai_prompt` (the seed's AI prompt) and `humanize` (the sending defaults, see HumanizeOverrides).",
    additionalProperties=True,
)

schemas["SettingsView"] = obj({"settings": ref("Settings")}, ["settings"], "A tenant's settings.")

schemas["SettingsPatch"] = obj(
    {},
    desc="Members to merge into the tenant's settings; a member set to `null` is removed. Either the members themselves "
    "or one `settings` object holding them (as the seed's dashboard sent them).",
    additionalProperties=True,
    examples=[{"ai_prompt": "You are the friendly assistant of Acme's shop."}, {"settings": {"humanize": {"typingMinMs": 1000}}}],
)

schemas["Tenant"] = obj(
    {
        "id": s("The tenant id.", examples=["ten_2x7hK9mQ4vW8"]),
        "name": s("Display name."),
        "username": s("The tenant's login name (absent when the tenant has no login)."),
        "webhookUrl": s("The URL of the tenant's first webhook endpoint (the seed's single webhook URL); absent when it has none."),
        "maxSessions": i("How many sessions the tenant may have.", minimum=0, maximum=1000),
        "sessionCount": i("How many sessions the tenant has.", minimum=0),
        "settings": ref("Settings"),
        "createdAt": DT,
        "updatedAt": DT,
    },
    ["id", "name", "maxSessions", "sessionCount", "settings", "createdAt", "updatedAt"],
    "A tenant: a customer of the gateway, with one login.",
)

schemas["TenantPage"] = obj(
    {"items": {"type": "array", "items": ref("Tenant")}, "nextCursor": s("Pass as `cursor` for the next page; absent on the last page.")},
    ["items"],
    "A page of tenants, oldest first.",
)

USERNAME = {"type": "string", "minLength": 3, "maxLength": 64, "pattern": "^[A-Za-z0-9._@-]+$",
            "description": "3 to 64 characters: ASCII letters, digits, `.`, `_`, `@` or `-`. Unique across tenants."}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 72,
            "description": "At least 8 characters and at most 72 bytes (bcrypt's limit)."}
NAME = {"type": "string", "minLength": 1, "maxLength": 100, "description": "1 to 100 characters (surrounding white space is trimmed)."}

schemas["TenantCreate"] = obj(
    {
        "name": NAME,
        "username": USERNAME,
        "password": PASSWORD,
        "webhookUrl": s("Creates the tenant's first webhook endpoint at this absolute http(s) URL (private addresses only with OUTBOUND_ALLOW); empty for none."),
        "maxSessions": i("Session limit, 0 to 1000; default 1.", minimum=0, maximum=1000, default=1),
        "settings": ref("Settings"),
    },
    ["name", "username", "password"],
    "A new tenant and its login.",
    examples=[{"name": "Acme", "username": "acme.shop", "password": "correct-horse-42", "maxSessions": 2,
               "settings": {"ai_prompt": "You are the friendly assistant of Acme's shop."}}],
)

schemas["TenantUpdate"] = obj(
    {
        "name": NAME,
        "username": USERNAME,
        "password": dict(PASSWORD, description=PASSWORD["description"] + " A new password logs the tenant's browsers out."),
        "webhookUrl": s("Points the tenant's first webhook endpoint at this URL (creating it); an empty string deletes it."),
        "maxSessions": i("Session limit, 0 to 1000.", minimum=0, maximum=1000),
        "settings": dict(ref("Settings")),
    },
    desc="The members to change; absent members are kept. `settings` replaces the whole object.",
    examples=[{"name": "Acme GmbH", "maxSessions": 3}],
)

schemas["PasswordInput"] = obj({"password": PASSWORD}, ["password"], "A new password for the tenant's login.",
                               examples=[{"password": "battery-staple-77"}])

schemas["LoginInput"] = obj(
    {"username": s("The tenant's username."), "password": s("The tenant's password.")},
    ["username", "password"],
    "A tenant's credentials.",
    examples=[{"username": "acme.shop", "password": "correct-horse-42"}],
)

schemas["Login"] = obj(
    {
        "token": s("A JWT (HS256) to send as `Authorization: Bearer <token>`."),
        "expiresAt": dt("When the token expires (JWT_TTL_SECONDS after login)."),
        "tenantId": s("The tenant the token acts for."),
    },
    ["token", "expiresAt", "tenantId"],
    "A tenant login token.",
)

schemas["Me"] = obj(
    {"role": s("Who is calling.", enum=["admin", "tenant"]), "tenant": ref("Tenant")},
    ["role"],
    "The caller: `{\"role\":\"admin\"}` for the administrator, or the tenant with its profile.",
)

schemas["ApiKey"] = obj(
    {
        "id": s("The key's id (not the key).", examples=["key_4fQ2s8Lk0pZa"]),
        "name": s("A label."),
        "prefix": s("The first characters of the key (`wharf_sk_` and six more), to recognise it."),
        "createdAt": DT,
        "lastUsedAt": dt("When the key last authenticated a request (updated at most once a minute); absent when never."),
        "key": s("The key itself, `wharf_sk_…`. Present only in the answer that created it: it is stored as a hash."),
    },
    ["id", "name", "prefix", "createdAt"],
    "A tenant API key.",
)

schemas["ApiKeyList"] = obj({"items": {"type": "array", "items": ref("ApiKey")}}, ["items"], "The tenant's API keys.")

schemas["ApiKeyCreate"] = obj({"name": dict(NAME, description="A label; default `API key`.")}, desc="An optional label.",
                              examples=[{"name": "n8n production"}])

schemas["CloudSessionView"] = obj(
    {
        "phoneNumberId": s("Meta's Phone number ID."),
        "graphBaseUrl": s("The Graph API base URL."),
        "graphVersion": s("The Graph API version, such as `v24.0`."),
        "webhookUrl": s("The callback URL to enter in Meta's app dashboard: `PUBLIC_URL/v1/cloud/webhook/<session id>`."),
    },
    ["webhookUrl"],
    "What the API shows of a Cloud API session's settings; the secrets are never answered back.",
)

schemas["Session"] = obj(
    {
        "id": s("The session id.", examples=["ses_8Hq3nT1xYb2c"]),
        "tenantId": s("The owning tenant."),
        "name": s("Display name."),
        "engine": s("How the session reaches WhatsApp.", enum=ENGINES),
        "status": s("Where the session stands.", enum=SESSION_STATES),
        "statusDetail": s("Why, in words (for example the reason of a disconnect)."),
        "qr": s("The QR code's text while the session waits for a scan (`scan_qr`)."),
        "pairingCode": s("The code to type on the phone while linking by phone number."),
        "phone": s("The linked phone number."),
        "jid": s("The linked account's WhatsApp id."),
        "pushName": s("The linked account's display name."),
        "createdAt": DT,
        "updatedAt": DT,
        "connectedAt": dt("When the session last connected."),
        "lastActivityAt": dt("When something last happened on the session."),
        "cloud": ref("CloudSessionView"),
    },
    ["id", "tenantId", "name", "engine", "status", "createdAt", "updatedAt"],
    "A WhatsApp account linked to the gateway. Absent members are unknown or not applicable; `cloud` is present for Cloud API sessions only.",
)

schemas["SessionPage"] = obj(
    {"items": {"type": "array", "items": ref("Session")}, "nextCursor": s("Pass as `cursor` for the next page; absent on the last page.")},
    ["items"],
    "A page of sessions, oldest first.",
)

schemas["SandboxOptions"] = obj(
    {
        "qr": b("Link through a QR step that must be \"scanned\" with `POST …/sandbox/scan`; default false.", default=False),
        "echo": b("Have the echo contact (15550000000) answer what it is sent; default false.", default=False),
    },
    desc="Options of a sandbox session.",
)

schemas["CloudSessionInput"] = obj(
    {
        "phoneNumberId": s("The digits of the Phone number ID shown in Meta's WhatsApp Manager (not the phone number).",
                           pattern="^[0-9]{1,32}$"),
        "accessToken": s("A Graph API access token: 1 to 4096 visible ASCII characters.", minLength=1, maxLength=4096, pattern="^[!-~]+$"),
        "appSecret": s("The Meta app's secret, which signs its webhooks: 1 to 256 visible ASCII characters.", minLength=1, maxLength=256, pattern="^[!-~]+$"),
        "verifyToken": s("A token of your choosing that Meta's subscription check must present: 1 to 256 visible ASCII characters.", minLength=1, maxLength=256, pattern="^[!-~]+$"),
        "graphBaseUrl": s("The Graph API base URL; default `https://graph.facebook.com` (private addresses only with OUTBOUND_ALLOW).", format="uri"),
        "graphVersion": s("The Graph API version; default `v24.0`.", pattern="^v[0-9]+\\.[0-9]+$"),
    },
    desc="Cloud API settings. On create, `phoneNumberId`, `accessToken`, `appSecret` and `verifyToken` are required; on update, given members replace the stored ones. "
    "Secrets are stored encrypted and never answered back.",
)

schemas["SessionCreate"] = obj(
    {
        "name": dict(NAME, description="Display name; default `WhatsApp`."),
        "engine": s("The engine; default `sandbox`.", enum=ENGINES, default="sandbox"),
        "tenantId": s("The owning tenant: required when the administrator creates a session, ignored for a tenant."),
        "sandbox": ref("SandboxOptions"),
        "cloud": dict(ref("CloudSessionInput")),
    },
    desc="A new session. A Cloud API session (`engine: cloud`) needs `cloud`; a sandbox session takes `sandbox` options.",
    examples=[{"name": "Sales", "engine": "sandbox", "sandbox": {"qr": False, "echo": True}}],
)

schemas["SessionUpdate"] = obj(
    {"name": NAME, "cloud": ref("CloudSessionInput")},
    desc="Rename the session, or (Cloud API sessions only) replace some of its settings, which restarts it. At least one member is needed.",
    examples=[{"name": "Support"}],
)

schemas["SessionRename"] = obj({"name": NAME}, ["name"], "The session's new name.", examples=[{"name": "Support"}])

schemas["TenantStatus"] = obj(
    {
        "tenant": obj({"id": STR, "name": STR, "maxSessions": {"type": "integer"}}, ["id", "name", "maxSessions"]),
        "sessions": {"type": "array", "items": ref("Session")},
    },
    ["tenant", "sessions"],
    "The calling tenant and all its sessions (the seed's status answer).",
)

schemas["DashboardTenant"] = {
    "description": "A tenant (every member of Tenant) with its sessions.",
    "allOf": [ref("Tenant"), obj({"sessions": {"type": "array", "items": ref("Session")}}, ["sessions"])],
}

schemas["DashboardData"] = obj({"tenants": {"type": "array", "items": ref("DashboardTenant")}}, ["tenants"],
                               "Every tenant with its sessions (the seed's admin dashboard data).")

schemas["Deleted"] = obj({"deleted": {"type": "boolean", "const": True}}, ["deleted"], "The seed's answer to a deletion.")

schemas["QRCode"] = obj({"qr": s("The QR code's text; render it as a QR code, or use `qr.svg`."), "status": s("The session's status.", enum=SESSION_STATES)},
                        ["qr", "status"])

schemas["PairingCodeInput"] = obj(
    {"phone": s("The phone number to link, in international format with its country code (7 to 15 digits; spaces, `+`, `-`, `(`, `)` and `.` allowed).",
                pattern="^[0-9 +().-]+$", minLength=7, maxLength=32)},
    ["phone"],
    examples=[{"phone": "+49 170 1234567"}],
)

schemas["PairingCode"] = obj({"pairingCode": s("The code to type on the phone, such as `ABCD-EFGH`."), "phone": s("The phone number's digits.")},
                             ["pairingCode", "phone"])

schemas["SandboxInboundInput"] = obj(
    {
        "from": s("The simulated contact's phone number (5 to 20 digits; `+`, spaces, `-`, `(`, `)` allowed).", pattern="^[0-9 +()-]+$",
                  minLength=5, maxLength=40),
        "text": s("The message text, 1 to 65536 characters.", minLength=1, maxLength=65536),
        "fromName": s("The contact's display name."),
    },
    ["from", "text"],
    examples=[{"from": "+4915112345678", "text": "Hi, is my order on its way?", "fromName": "Ana"}],
)

schemas["SandboxInbound"] = obj(
    {"id": s("The message id."), "chatId": s("The chat's JID."), "from": s("The sender's digits."), "text": STR, "timestamp": DT},
    ["id", "chatId", "from", "timestamp"],
    "The injected message, as stored (its `message.received` event is committed to the outbox).",
)

schemas["SandboxRecord"] = obj(
    {
        "step": s("What the session did.", enum=["read", "composing", "recording", "paused", "send"]),
        "chat": s("The chat's JID."),
        "at": DT,
        "text": STR,
        "messageID": s("The sent message's id."),
        "replyTo": s("The message replied to."),
        "media": obj({"kind": STR, "mimeType": STR, "fileName": STR, "url": s("Set when the media was passed on by link.")},
                     ["kind", "mimeType"]),
        "readMessageIDs": {"type": "array", "items": STR},
    },
    ["step", "chat", "at"],
    "One step a sandbox session recorded.",
)

schemas["SandboxRecords"] = obj({"records": {"type": "array", "items": ref("SandboxRecord")}}, ["records"])

schemas["HumanizeOverrides"] = obj(
    {
        "enabled": b("`false` sends at once (the per-minute cap still applies)."),
        "markRead": b("Mark the chat's last inbound message read first."),
        "charsPerSecond": {"type": "number", "description": "Typing speed (default 12)."},
        "typingMinMs": {"type": "integer", "description": "Least typing time (default 800)."},
        "typingMaxMs": {"type": "integer", "description": "Most typing time (default 8000)."},
        "jitter": {"type": "number", "description": "Relative jitter on the typing time, 0 to 0.9 (default 0.25)."},
        "typingMs": {"type": "integer", "description": "A fixed typing time for this message (at most 60000)."},
        "pauseMs": {"type": "integer", "description": "The \"paused\" moment before the message appears (default 400)."},
        "gapMs": {"type": "integer", "description": "Least time between two messages to one chat (default 1500)."},
        "maxPerMinute": {"type": "integer", "description": "Per-session cap (default 30)."},
        "quietHours": obj({"start": s("HH:MM", examples=["22:00"]), "end": s("HH:MM", examples=["07:00"]),
                           "timeZone": s("An IANA time zone; default UTC.", examples=["Europe/Berlin"])}, ["start", "end"]),
    },
    desc="Overrides of the tenant's humanizing defaults (`settings.humanize`); unknown members are ignored.",
    additionalProperties=True,
)

CHAT_ID = s("The chat: a phone number in international form (`+49 151 12345678`), `…@c.us`, `…@s.whatsapp.net`, a group `…@g.us` or a `…@lid` id. "
            "Cloud API sessions send to phone numbers only.", minLength=1, examples=["+49 151 12345678"])

schemas["SendMessage"] = obj(
    {
        "chatId": CHAT_ID,
        "text": s("The text of a text message, 1 to 65536 characters (4096 on the Cloud API). Required unless the message is media.",
                  minLength=1, maxLength=65536),
        "type": s("`text` (default), or a media kind; a media message needs `mediaUrl`.", enum=MESSAGE_TYPES),
        "mediaUrl": s("An absolute http(s) URL of the media, fetched (or, on the Cloud API, passed to Meta) before the job is accepted.", format="uri"),
        "url": s("Alias of `mediaUrl`.", format="uri"),
        "caption": s("The media's caption, at most 1024 characters.", maxLength=1024),
        "filename": s("The document's file name; default the URL's last path component."),
        "replyTo": s("The id of a message to reply to."),
        "humanize": {"description": "`false` to send at once, `true`, or an object of overrides.",
                     "oneOf": [{"type": "boolean"}, ref("HumanizeOverrides")]},
    },
    ["chatId"],
    "A message to queue: `{chatId, text}` or `{chatId, type, mediaUrl, caption, filename}`.",
    examples=[{"chatId": "+49 151 12345678", "text": "Hello from Wharf!"}],
)

schemas["SeedSendText"] = obj(
    {"chatId": CHAT_ID, "text": s("The text, 1 to 65536 characters.", minLength=1, maxLength=65536), "replyTo": s("The id of a message to reply to."),
     "humanize": {"description": "`false`, `true` or an object of overrides.", "oneOf": [{"type": "boolean"}, ref("HumanizeOverrides")]}},
    ["chatId", "text"],
    "The seed's text message.",
    examples=[{"chatId": "+49 151 12345678", "text": "Hello from Wharf!"}],
)

schemas["SeedSendMedia"] = obj(
    {
        "chatId": CHAT_ID,
        "mediaUrl": s("An absolute http(s) URL of the media; the kind follows its content type unless `type` is given.", format="uri"),
        "caption": s("Caption, at most 1024 characters.", maxLength=1024),
        "filename": s("The document's file name."),
        "type": s("The media kind, instead of guessing it from the content type.", enum=MESSAGE_TYPES[1:]),
        "replyTo": s("The id of a message to reply to."),
    },
    ["chatId", "mediaUrl"],
    "The seed's media message.",
    examples=[{"chatId": "+49 151 12345678", "mediaUrl": "https://example.com/catalogue.pdf", "caption": "Our catalogue"}],
)

schemas["Job"] = obj(
    {
        "jobId": s("The job id.", examples=["job_5Tz0aQ7mXc1r"]),
        "status": s("Where the job stands.", enum=JOB_STATES),
        "sessionId": STR,
        "chatId": s("The chat's JID."),
        "type": s("`text` or the media kind.", enum=MESSAGE_TYPES),
        "text": s("The text, or the media's caption."),
        "replyTo": STR,
        "messageId": s("WhatsApp's id of the sent message, once sent."),
        "error": s("Why the job failed."),
        "attempts": i("Send attempts so far.", minimum=0),
        "createdAt": DT,
        "sentAt": DT,
    },
    ["jobId", "status", "sessionId", "chatId", "type", "attempts", "createdAt"],
    "A queued outbound message.",
)

schemas["JobPage"] = obj(
    {"items": {"type": "array", "items": ref("Job")}, "nextCursor": s("Pass as `cursor` for the next (older) page; absent on the last page.")},
    ["items"],
    "A page of a session's jobs, newest first.",
)

schemas["WebhookHeaderInput"] = obj(
    {"name": s("A custom header name: letters, digits and `-` (not a standard or `webhook-` header).", pattern="^[A-Za-z0-9-]+$", minLength=1),
     "value": s("One line of at most 1024 characters.", maxLength=1024)},
    ["name", "value"],
)

schemas["WebhookBasicAuthInput"] = obj(
    {"username": s("Non-empty, without `:`.", minLength=1, pattern="^[^:]+$"), "password": STR}, ["username", "password"])

WEBHOOK_INPUT_PROPS = {
    "url": s("An absolute http(s) URL; private, loopback and link-local addresses only with OUTBOUND_ALLOW.", format="uri"),
    "eventTypes": {"type": "array", "description": "Event types to deliver, such as `message.received` or `message.*`; empty or absent means all.",
                   "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._*]+$"}},
    "header": {"description": "A static header sent with every delivery; `null` removes it.", "oneOf": [ref("WebhookHeaderInput"), {"type": "null"}]},
    "basicAuth": {"description": "Basic auth sent with every delivery; `null` removes it.", "oneOf": [ref("WebhookBasicAuthInput"), {"type": "null"}]},
    "enabled": b("Whether deliveries go out; enabling resets the circuit breaker."),
}

schemas["WebhookCreate"] = obj(
    dict(WEBHOOK_INPUT_PROPS, tenantId=s("The owning tenant: required when the administrator creates an endpoint, ignored for a tenant.")),
    ["url"],
    "A new webhook endpoint.",
    examples=[{"url": "https://n8n.example.com/webhook/wharf", "eventTypes": ["message.*", "session.status"]}],
)

schemas["WebhookUpdate"] = obj(
    WEBHOOK_INPUT_PROPS,
    desc="The members to change; absent members are kept.",
    examples=[{"eventTypes": ["message.received"], "enabled": True}],
)

schemas["Webhook"] = obj(
    {
        "id": s("The endpoint id.", examples=["whk_1Rb6yD9kPq3s"]),
        "tenantId": STR,
        "url": STR,
        "eventTypes": {"type": "array", "items": STR, "description": "Empty means every event type."},
        "headerName": s("The static header's name, if one is set (its value is not shown)."),
        "basicAuthUsername": s("The Basic auth user, if set (the password is not shown)."),
        "enabled": {"type": "boolean"},
        "disabledReason": s("Why the endpoint was disabled."),
        "breaker": s("The circuit breaker's state.", enum=["closed", "open", "half_open", "disabled"]),
        "failureStreak": i("Failures in a row.", minimum=0),
        "failingSince": dt("Since when the endpoint has been failing."),
        "lastSuccessAt": DT,
        "lastFailureAt": DT,
        "previousSecretExpiresAt": dt("Until when the previous secret still signs, during a rotation."),
        "createdAt": DT,
        "updatedAt": DT,
        "secret": s("The signing secret (`whsec_…`). Present only when it was just created or rotated."),
    },
    ["id", "tenantId", "url", "eventTypes", "enabled", "breaker", "failureStreak", "createdAt", "updatedAt"],
    "A webhook endpoint with its health.",
)

schemas["WebhookList"] = obj({"items": {"type": "array", "items": ref("Webhook")}}, ["items"], "Webhook endpoints.")

schemas["WebhookSecret"] = obj(
    {"secret": s("The current signing secret, `whsec_…`."), "previousSecret": s("The previous secret, while it still signs."),
     "previousSecretExpiresAt": DT},
    ["secret"],
)

schemas["RotateInput"] = obj(
    {"overlapSeconds": i("How long the previous secret keeps signing too, 0 to 604800; default 86400.", minimum=0, maximum=604800, default=86400)},
    examples=[{"overlapSeconds": 3600}],
)

schemas["WebhookTest"] = obj(
    {"eventId": s("The `webhook.test` event's id (its `webhook-id`)."), "deliveryId": i("The delivery to this endpoint, to follow in `/v1/deliveries/{deliveryId}`.")},
    ["eventId"],
)

schemas["Delivery"] = obj(
    {
        "id": i("The delivery id."),
        "eventId": s("The event's id, sent as `webhook-id`."),
        "endpointId": STR,
        "tenantId": STR,
        "type": s("The event type."),
        "status": s("Where the delivery stands.", enum=DELIVERY_STATES),
        "attempts": i("Attempts so far.", minimum=0),
        "nextAttemptAt": dt("When the next attempt is due (pending deliveries only)."),
        "lastStatus": i("The receiver's last HTTP status."),
        "lastError": s("The last attempt's error."),
        "label": s("A hint about the failure, such as `workflow inactive`."),
        "createdAt": DT,
        "deliveredAt": DT,
    },
    ["id", "eventId", "endpointId", "tenantId", "type", "status", "attempts", "createdAt"],
    "One event on its way to one endpoint.",
)

schemas["DeliveryPage"] = obj(
    {"items": {"type": "array", "items": ref("Delivery")}, "nextCursor": s("Pass as `cursor` for the next (older) page; absent on the last page.")},
    ["items"],
    "A page of deliveries, newest first.",
)

schemas["DeliveryAttempt"] = obj(
    {
        "attempt": i("The attempt's number."),
        "startedAt": DT,
        "durationMs": i("How long it took.", minimum=0),
        "httpStatus": i("The receiver's HTTP status, when it answered."),
        "error": s("Why it failed, when it did."),
        "responseSnippet": s("The start of the receiver's answer."),
    },
    ["attempt", "startedAt", "durationMs"],
)

schemas["DeliveryDetail"] = obj(
    {
        "delivery": ref("Delivery"),
        "payload": {"description": "The event envelope exactly as it is sent (JSON; a string if it is not JSON)."},
        "attempts": {"type": "array", "items": ref("DeliveryAttempt")},
    },
    ["delivery", "payload", "attempts"],
    "A delivery with its payload and every attempt.",
)

BULK_PROPS = {
    "tenantId": s("Only this tenant's deliveries (administrator; ignored for a tenant)."),
    "endpointId": s("Only this endpoint's deliveries."),
    "status": s("Only deliveries in this status (retry: default `failed`).", enum=DELIVERY_STATES),
    "type": s("Only this event type."),
    "from": dt("Only deliveries created at or after this time (ISO 8601)."),
    "to": dt("Only deliveries created before this time (ISO 8601)."),
    "dryRun": b("Only count the deliveries the action would touch."),
}

schemas["BulkRetry"] = obj(BULK_PROPS, desc="Which failed deliveries to retry.", examples=[{"status": "failed", "dryRun": True}])
schemas["BulkReplay"] = obj(BULK_PROPS, ["from", "to"], "Which finished deliveries (delivered, failed, discarded) to send again, under the same `webhook-id`.",
                            examples=[{"from": "2026-11-25T00:00:00Z", "to": "2026-11-26T00:00:00Z", "dryRun": True}])

schemas["BulkResult"] = obj({"count": i("How many deliveries the action touched (or would touch).", minimum=0), "dryRun": {"type": "boolean"}},
                            ["count", "dryRun"])

schemas["CsrfToken"] = obj({"csrfToken": s("The CSRF token of the new browser session, for the `X-CSRF-Token` header.")}, ["csrfToken"])

schemas["AdminLoginInput"] = obj(
    {"password": s("The admin password."), "_csrf": s("The login form's token (form posts only; from the login page's cookie).")},
    ["password"],
    examples=[{"password": "the-admin-password"}],
)

schemas["DashboardLoginInput"] = obj(
    {"username": STR, "password": STR, "_csrf": s("The login form's token, matching the `wharf_tenant_login` cookie the login page set.")},
    ["username", "password", "_csrf"],
    examples=[{"username": "acme.shop", "password": "correct-horse-42", "_csrf": "token-from-the-login-page"}],
)

schemas["LogoutForm"] = obj({"_csrf": s("The page's CSRF token (or send the `X-CSRF-Token` header).")})

schemas["CloudNotification"] = obj(
    {"object": s("`whatsapp_business_account`.", examples=["whatsapp_business_account"]),
     "entry": {"type": "array", "items": {"type": "object"}}},
    desc="Meta's WhatsApp Business Account webhook notification, signed with `X-Hub-Signature-256`.",
    additionalProperties=True,
)

# Webhook (outgoing) event envelope -------------------------------------------------------------

schemas["EventTenant"] = obj({"id": STR, "name": STR}, ["id", "name"])
schemas["EventSession"] = obj({"id": STR, "name": STR, "engine": {"type": "string", "enum": ENGINES}}, ["id", "name", "engine"])
schemas["EventEnvelope"] = obj(
    {
        "id": s("The event id, also the `webhook-id` header; the same across retries and replays: deduplicate on it.", examples=["evt_3kLm9Q2wZx7v"]),
        "type": s("The event type; switch on it.", enum=["message.received", "message.sent", "message.failed", "message.ack", "session.status",
                                                      "session.qr", "presence.update", "webhook.test", "webhook.disabled"]),
        "timestamp": dt("When it happened, with milliseconds."),
        "tenant": ref("EventTenant"),
        "session": dict(ref("EventSession")),
        "data": {"type": "object", "description": "The event's engine-independent, flat data (snake_case members; see each event)."},
        "settings": ref("Settings"),
    },
    ["id", "type", "timestamp", "tenant", "data", "settings"],
    "The JSON every webhook receives. `session` is present for session events and absent for `webhook.*` events. Never carries a secret.",
)

UNIX = {"type": "integer", "description": "Unix time in seconds."}
schemas["MessageReceivedData"] = obj(
    {
        "id": s("WhatsApp's message id."),
        "chat_id": s("The chat's JID."),
        "from": s("The sender's phone number digits."),
        "from_lid": NSTR,
        "from_name": NSTR,
        "from_me": {"type": "boolean"},
        "is_group": {"type": "boolean"},
        "type": s("`text`, a media kind, or `unsupported` for kinds Wharf does not model."),
        "text": NSTR,
        "media": {"oneOf": [{"type": "null"}, obj({"mime_type": STR, "url": NSTR, "caption": NSTR, "filename": NSTR,
                                                    "id": dict(NSTR, description="Meta's media id (Cloud API).")},
                                                   ["mime_type", "url", "caption", "filename", "id"])]},
        "reply_to": NSTR,
        "timestamp": UNIX,
    },
    ["id", "chat_id", "from", "from_lid", "from_name", "from_me", "is_group", "type", "text", "media", "reply_to", "timestamp"],
)
schemas["MessageSentData"] = obj(
    {"id": s("WhatsApp's id of the sent message."), "job_id": STR, "chat_id": STR, "type": {"type": "string", "enum": MESSAGE_TYPES},
     "text": NSTR, "reply_to": NSTR, "timestamp": UNIX},
    ["id", "job_id", "chat_id", "type", "text", "reply_to", "timestamp"],
)
schemas["MessageFailedData"] = obj(
    {"id": dict(NSTR, description="WhatsApp's message id, when the message got one."),
     "job_id": dict(NSTR, description="The job, when Wharf sent the message."), "chat_id": STR,
     "type": NSTR, "reason": s("Why, in words."), "code": {"type": ["integer", "null"], "description": "Meta's error code (Cloud API)."}},
    ["id", "job_id", "chat_id", "type", "reason", "code"],
)
schemas["MessageAckData"] = obj(
    {"id": s("The message's id."), "chat_id": STR, "ack": {"type": "string", "enum": ["server", "delivered", "read", "played"]}, "timestamp": UNIX},
    ["id", "chat_id", "ack", "timestamp"],
)
schemas["SessionStatusData"] = obj(
    {"status": {"type": "string", "enum": SESSION_STATES}, "detail": dict(NSTR, description="Why, in words (absent with `pairing_code`)."),
     "pairing_code": s("The code to type on the phone (status `pairing_code` only).")},
    ["status"],
)
schemas["SessionQrData"] = obj({"qr": s("The QR code's text.")}, ["qr"])
schemas["PresenceUpdateData"] = obj(
    {"chat_id": STR, "from": STR, "presence": s("Such as `composing`, `recording`, `paused`, `available`."), "timestamp": UNIX},
    ["chat_id", "from", "presence", "timestamp"],
)
schemas["WebhookTestData"] = obj({"message": STR, "endpoint_id": STR}, ["message", "endpoint_id"])
schemas["WebhookDisabledData"] = obj({"endpoint_id": STR, "url": STR, "reason": STR}, ["endpoint_id", "url", "reason"])

EVENTS = [
    ("message.received", "MessageReceivedData", True, "A message arrived in one of the tenant's chats (also the tenant's own messages from other devices, `from_me`)."),
    ("message.sent", "MessageSentData", True, "A queued job was sent; `id` is WhatsApp's message id."),
    ("message.failed", "MessageFailedData", True, "A job failed, or WhatsApp reported later that an accepted message could not be delivered (Cloud API)."),
    ("message.ack", "MessageAckData", True, "A receipt: the message reached the server, was delivered, read or played."),
    ("session.status", "SessionStatusData", True, "The session's status changed (with the pairing code while linking by phone number)."),
    ("session.qr", "SessionQrData", True, "A new QR code to scan while linking."),
    ("presence.update", "PresenceUpdateData", True, "A contact is typing, recording or paused."),
    ("webhook.test", "WebhookTestData", False, "Sent to one endpoint by `POST /v1/webhooks/{webhookId}/test`."),
    ("webhook.disabled", "WebhookDisabledData", False, "An endpoint was disabled (failing for 72 hours, or 410 Gone); sent to the tenant's other endpoints."),
]


def camel_event(t):
    parts = t.replace(".", "_").split("_")
    return "".join(p.capitalize() for p in parts)


for etype, data_schema, has_session, _ in EVENTS:
    props = {"type": {"const": etype}, "data": ref(data_schema)}
    extra = {"required": ["session"]} if has_session else {"not": {"required": ["session"]}}
    schemas[camel_event(etype) + "Event"] = {
        "allOf": [ref("EventEnvelope"), dict({"type": "object", "properties": props}, **extra)],
    }

# ---------------------------------------------------------------------------------------------
# Parameters, responses, security
# ---------------------------------------------------------------------------------------------

def path_param(name, desc):
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": {"type": "string"}}


parameters = {
    "tenantId": path_param("tenantId", "The tenant's id (`ten_…`)."),
    "sessionId": path_param("sessionId", "The session's id (`ses_…`). Another tenant's session answers 404."),
    "keyId": path_param("keyId", "The API key's id (`key_…`)."),
    "webhookId": path_param("webhookId", "The webhook endpoint's id (`whk_…`). Another tenant's endpoint answers 404."),
    "deliveryId": path_param("deliveryId", "The delivery's numeric id. Another tenant's delivery answers 404."),
    "jobId": path_param("jobId", "The job's id (`job_…`). Another tenant's job answers 404."),
    "limit": {"name": "limit", "in": "query", "required": False, "description": "Page size, 1 to 500; default 100.",
              "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
    "cursor": {"name": "cursor", "in": "query", "required": False, "description": "The `nextCursor` of the previous page.",
               "schema": {"type": "string"}},
    "wait": {"name": "wait", "in": "query", "required": False,
             "description": "Wait up to this many seconds (0 to 60) for the job to finish; answers 200 with the finished job, else 202 as usual.",
             "schema": {"type": "integer", "minimum": 0, "maximum": 60}},
    "idempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "1 to 255 visible ASCII characters. The same key within 24 hours returns the same job (with `Idempotent-Replayed: true`).",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}},
    "adminTenantFilter": {"name": "tenantId", "in": "query", "required": False,
                          "description": "Administrator only: only this tenant's rows (ignored for a tenant).", "schema": {"type": "string"}},
}

DELIVERY_FILTERS = [
    {"name": "status", "in": "query", "required": False, "description": "Only deliveries in this status.",
     "schema": {"type": "string", "enum": DELIVERY_STATES}},
    pref("adminTenantFilter"),
    {"name": "endpointId", "in": "query", "required": False, "description": "Only this endpoint's deliveries.", "schema": {"type": "string"}},
    {"name": "type", "in": "query", "required": False, "description": "Only this event type, such as `message.received`.", "schema": {"type": "string"}},
    {"name": "from", "in": "query", "required": False,
     "description": "Only deliveries created at or after this time: ISO 8601, or a `datetime-local` value read as UTC.",
     "schema": {"type": "string", "format": "date-time"}},
    {"name": "to", "in": "query", "required": False,
     "description": "Only deliveries created before this time: ISO 8601, or a `datetime-local` value read as UTC.",
     "schema": {"type": "string", "format": "date-time"}},
]

PROBLEM_CONTENT = {"application/problem+json": {"schema": ref("Problem")}}


def problem_response(desc, headers=None):
    r = {"description": desc, "content": PROBLEM_CONTENT}
    if headers:
        r["headers"] = headers
    return r


responses = {
    "Problem": problem_response("Any other problem (RFC 9457)."),
    "BadRequest": problem_response("The body is not JSON, a field is missing or of the wrong type, or a query parameter is invalid (`field` names it)."),
    "Unauthorized": problem_response(
        "No credentials, or invalid ones (an unknown or revoked key, an expired token).",
        {"WWW-Authenticate": {"description": "`Bearer` when credentials are missing.", "schema": {"type": "string"}}}),
    "Forbidden": problem_response("The caller may not use this route (a tenant on an administrator route, or the reverse), or a cookie-authenticated write lacks its CSRF token."),
    "NotFound": problem_response("No such resource, or it belongs to another tenant."),
    "Conflict": problem_response("The resource is not in a state that allows this."),
    "ContentTooLarge": problem_response("The request body is larger than MAX_BODY_BYTES (`limit` says how large it may be), or fetched media is larger than WhatsApp allows."),
    "UnsupportedMediaType": problem_response("The media at `mediaUrl` has a content type WhatsApp does not take for that kind."),
    "UnprocessableContent": problem_response("A field has a value that is not allowed (`field` names it)."),
    "TooManyRequests": problem_response(
        "Too many failed logins from this address or for this username; `retryAfter` says when to try again.",
        {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}),
    "BadGateway": problem_response("The pairing code could not be requested from WhatsApp."),
    "GatewayTimeout": problem_response("WhatsApp did not answer the pairing-code request in time."),
    "ServiceUnavailable": problem_response("The Cloud API session's stored settings cannot be read; Meta retries later."),
}

security_schemes = {
    "bearer": {
        "type": "http", "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`: a tenant JWT from `POST /v1/login`, a tenant API key (`wharf_sk_…`, from `POST /v1/keys`), "
                       "or the administrator's ADMIN_API_KEY.",
    },
    "cookie": {
        "type": "apiKey", "in": "cookie", "name": "wharf_admin",
        "description": "The admin panel's browser session, set by `POST /admin/login` (`HttpOnly`, `SameSite=Strict`). The tenant dashboard's session uses "
                       "the cookie `wharf_tenant` instead (scheme `tenantCookie`). Cookie-authenticated writes (POST, PUT, PATCH, DELETE) must carry the page's "
                       "CSRF token in the `X-CSRF-Token` header (or a `_csrf` form field), else they answer 403.",
    },
    "tenantCookie": {
        "type": "apiKey", "in": "cookie", "name": "wharf_tenant",
        "description": "The tenant dashboard's browser session, set by `POST /dashboard/login`. Writes need the `X-CSRF-Token` header (or a `_csrf` form field).",
    },
    "queryToken": {
        "type": "apiKey", "in": "query", "name": "token",
        "description": "The seed's `?token=<JWT or API key>`, accepted on the seed's routes only (and never logged).",
    },
}

ADMIN = [{"bearer": []}, {"cookie": []}]
TENANT = [{"bearer": []}, {"tenantCookie": []}]
ANY = [{"bearer": []}, {"cookie": []}, {"tenantCookie": []}]
SEED_ADMIN = [{"bearer": []}, {"queryToken": []}, {"cookie": []}]
SEED_TENANT = [{"bearer": []}, {"queryToken": []}, {"tenantCookie": []}]
SEED_ANY = [{"bearer": []}, {"queryToken": []}, {"cookie": []}, {"tenantCookie": []}]
PUBLIC = []

# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------

paths = {}
op_ids = set()


def json_content(schema_name_or_schema):
    schema = ref(schema_name_or_schema) if isinstance(schema_name_or_schema, str) else schema_name_or_schema
    return {"application/json": {"schema": schema}}


def ok(desc, schema, headers=None):
    r = {"description": desc, "content": json_content(schema)}
    if headers:
        r["headers"] = headers
    return r


def empty(desc, headers=None):
    r = {"description": desc}
    if headers:
        r["headers"] = headers
    return r


def text(desc, media, headers=None):
    r = {"description": desc, "content": {media: {"schema": {"type": "string"}}}}
    if headers:
        r["headers"] = headers
    return r


SET_COOKIE = {"Set-Cookie": {"description": "The browser session's cookie.", "schema": {"type": "string"}}}
LOCATION = lambda where: {"Location": {"description": f"`{where}`.", "schema": {"type": "string"}}}


def op(method, path, op_id, tags, summary, description, responses_, security, parameters_=None, body=None, body_required=True,
       errors=(), seed_replacement=None):
    assert op_id not in op_ids, op_id
    op_ids.add(op_id)
    o = {"operationId": op_id, "tags": tags, "summary": summary, "description": description}
    if seed_replacement:
        o["tags"] = ["Seed routes"]
        o["description"] = (
            description + f" Kept from the original Node.js service (see seed-readme.md) so that its users can move over; "
            f"replaced by `{seed_replacement}`. Accepts `?token=` as well as the bearer header."
        )
        o["x-seed"] = True
    o["security"] = security
    if parameters_:
        o["parameters"] = parameters_
    if body is not None:
        if isinstance(body, dict) and "content" in body:
            rb = body
        else:
            rb = {"content": json_content(body)}
        rb["required"] = body_required
        o["requestBody"] = rb
    rs = dict(responses_)
    errs = list(errors)
    if body is not None:
        errs = ["BadRequest"] + errs + ["ContentTooLarge"]
    if security:
        errs = ["Unauthorized"] + errs
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404", "Conflict": "409",
             "ContentTooLarge": "413", "UnsupportedMediaType": "415", "UnprocessableContent": "422", "TooManyRequests": "429",
             "BadGateway": "502", "ServiceUnavailable": "503", "GatewayTimeout": "504"}
    for e in sorted(set(errs), key=lambda e: codes[e]):
        code = codes[e]
        if code not in rs:
            rs[code] = rref(e)
    rs = dict(sorted(rs.items(), key=lambda kv: kv[0]))
    rs["default"] = rref("Problem")
    o["responses"] = rs
    paths.setdefault(path, {})[method] = o


S = pref("sessionId")
T = pref("tenantId")
W = pref("webhookId")
D = pref("deliveryId")
J = pref("jobId")
K = pref("keyId")
PAGE = [pref("limit"), pref("cursor")]

# Health, metrics, docs -------------------------------------------------------------------------

op("get", "/health", "getHealth", ["Health"], "Liveness", "Answers 200 while the process serves requests.",
   {"200": ok("Alive.", "Health")}, PUBLIC)
op("get", "/ready", "getReady", ["Health"], "Readiness", "Answers 200 once the database answers a query.",
   {"200": ok("Ready.", "Health")}, PUBLIC)
op("get", "/metrics", "getMetrics", ["Metrics"], "Prometheus metrics",
   "Queue depth by status, oldest pending age, webhook attempts by outcome, attempt latency histogram, breaker state per endpoint and sessions by status, "
   "in the Prometheus text exposition format (version 0.0.4).",
   {"200": text("The metrics.", "text/plain")}, PUBLIC)
op("get", "/openapi.json", "getOpenAPIDocument", ["Docs"], "This OpenAPI document", "The OpenAPI 3.1 document of every route, as JSON.",
   {"200": ok("The document.", {"type": "object", "required": ["openapi", "info", "paths"]})}, PUBLIC)
op("get", "/docs", "getDocsPage", ["Docs"], "API reference page", "A page that lays out this document for people (no external resources).",
   {"200": text("The page.", "text/html")}, PUBLIC)
op("get", "/assets/docs.js", "getDocsScript", ["Docs"], "API reference script", "The script of the `/docs` page.",
   {"200": text("The script.", "text/javascript")}, PUBLIC)

# Auth & account ----------------------------------------------------------------------------------

op("post", "/v1/login", "login", ["Auth"], "Log in as a tenant",
   "Exchanges a tenant's username and password for a JWT. After repeated failures from one address or for one username, logins are refused with 429 for a while.",
   {"200": ok("Logged in.", "Login")}, PUBLIC, body="LoginInput", errors=["TooManyRequests"])
op("post", "/api/login", "seedLogin", ["Seed routes"], "Log in as a tenant (seed)",
   "Exchanges a tenant's username and password for a JWT, as `POST /v1/login` does.",
   {"200": ok("Logged in.", "Login")}, PUBLIC, body="LoginInput", errors=["TooManyRequests"], seed_replacement="POST /v1/login")

op("get", "/v1/me", "getMe", ["Account"], "Who am I",
   "The caller: `{\"role\":\"admin\"}` for the administrator, or `{\"role\":\"tenant\",\"tenant\":{…}}`.",
   {"200": ok("The caller.", "Me")}, ANY)
op("get", "/v1/me/settings", "getMySettings", ["Account"], "Read my settings", "The calling tenant's settings. Tenants only (403 for the administrator).",
   {"200": ok("The settings.", "SettingsView")}, TENANT, errors=["Forbidden"])
SETTINGS_BODY_DESC = ("Merges the given members into the calling tenant's settings (a member set to `null` is removed) and answers with the result. "
                      "Accepts the members themselves or `{\"settings\":{…}}`. Tenants only.")
op("put", "/v1/me/settings", "replaceMySettings", ["Account"], "Update my settings", SETTINGS_BODY_DESC,
   {"200": ok("The merged settings.", "SettingsView")}, TENANT, body="SettingsPatch", errors=["Forbidden", "UnprocessableContent"])
op("patch", "/v1/me/settings", "updateMySettings", ["Account"], "Update my settings", SETTINGS_BODY_DESC + " Same as PUT.",
   {"200": ok("The merged settings.", "SettingsView")}, TENANT, body="SettingsPatch", errors=["Forbidden", "UnprocessableContent"])
op("put", "/user/settings", "seedUpdateSettings", ["Seed routes"], "Update my settings (seed)", SETTINGS_BODY_DESC,
   {"200": ok("The merged settings.", "SettingsView")}, SEED_TENANT, body="SettingsPatch", errors=["Forbidden", "UnprocessableContent"],
   seed_replacement="PUT /v1/me/settings")

op("get", "/v1/keys", "listApiKeys", ["API keys"], "List my API keys", "The calling tenant's API keys (never the keys themselves). Tenants only.",
   {"200": ok("The keys.", "ApiKeyList")}, TENANT, errors=["Forbidden"])
op("post", "/v1/keys", "createApiKey", ["API keys"], "Create an API key",
   "Creates a key for the calling tenant; the answer is the only time the key (`wharf_sk_…`) is shown. The body is optional. Tenants only.",
   {"201": ok("Created; `key` holds the key.", "ApiKey")}, TENANT, body="ApiKeyCreate", body_required=False,
   errors=["Forbidden", "UnprocessableContent"])
op("delete", "/v1/keys/{keyId}", "revokeApiKey", ["API keys"], "Revoke an API key", "Revokes one of the calling tenant's keys at once. Tenants only.",
   {"204": empty("Revoked.")}, TENANT, [K], errors=["Forbidden", "NotFound"])

# Tenants -------------------------------------------------------------------------------------------

op("get", "/v1/tenants", "listTenants", ["Tenants"], "List tenants", "Every tenant, oldest first, a page at a time. Administrator only.",
   {"200": ok("A page of tenants.", "TenantPage")}, ADMIN, PAGE, errors=["BadRequest", "Forbidden"])
op("post", "/v1/tenants", "createTenant", ["Tenants"], "Create a tenant",
   "Creates a tenant and its login; with `webhookUrl`, also its first webhook endpoint. Administrator only.",
   {"201": ok("Created.", "Tenant")}, ADMIN, body="TenantCreate", errors=["Forbidden", "Conflict", "UnprocessableContent"])
op("get", "/v1/tenants/{tenantId}", "getTenant", ["Tenants"], "Read a tenant", "One tenant. Administrator only.",
   {"200": ok("The tenant.", "Tenant")}, ADMIN, [T], errors=["Forbidden", "NotFound"])
TENANT_UPDATE_DESC = ("Changes the given members of a tenant: name, login (username, password: a new password logs its browsers out), "
                      "webhook URL, session limit, settings (replaced whole). Administrator only.")
op("patch", "/v1/tenants/{tenantId}", "updateTenant", ["Tenants"], "Update a tenant", TENANT_UPDATE_DESC,
   {"200": ok("The updated tenant.", "Tenant")}, ADMIN, [T], body="TenantUpdate", errors=["Forbidden", "NotFound", "Conflict", "UnprocessableContent"])
op("put", "/v1/tenants/{tenantId}", "replaceTenant", ["Tenants"], "Update a tenant", TENANT_UPDATE_DESC + " Same as PATCH.",
   {"200": ok("The updated tenant.", "Tenant")}, ADMIN, [T], body="TenantUpdate", errors=["Forbidden", "NotFound", "Conflict", "UnprocessableContent"])
op("delete", "/v1/tenants/{tenantId}", "deleteTenant", ["Tenants"], "Delete a tenant",
   "Deletes a tenant with its sessions (their devices are unlinked), login, keys, webhook endpoints and deliveries. Administrator only.",
   {"204": empty("Deleted.")}, ADMIN, [T], errors=["Forbidden", "NotFound"])
op("post", "/v1/tenants/{tenantId}/password", "setTenantPassword", ["Tenants"], "Reset a tenant's password",
   "Sets a new password for the tenant's login and logs its browsers out. Administrator only.",
   {"204": empty("Changed.")}, ADMIN, [T], body="PasswordInput", errors=["Forbidden", "NotFound", "UnprocessableContent"])

op("post", "/api/tenants", "seedCreateTenant", ["Seed routes"], "Create a tenant (seed)", "Creates a tenant and its login. Administrator only.",
   {"201": ok("Created.", "Tenant")}, SEED_ADMIN, body="TenantCreate", errors=["Forbidden", "Conflict", "UnprocessableContent"],
   seed_replacement="POST /v1/tenants")
op("put", "/api/tenants/{tenantId}", "seedUpdateTenant", ["Seed routes"], "Update a tenant (seed)", TENANT_UPDATE_DESC,
   {"200": ok("The updated tenant.", "Tenant")}, SEED_ADMIN, [T], body="TenantUpdate", errors=["Forbidden", "NotFound", "Conflict", "UnprocessableContent"],
   seed_replacement="PATCH /v1/tenants/{tenantId}")
op("delete", "/api/tenants/{tenantId}", "seedDeleteTenant", ["Seed routes"], "Delete a tenant (seed)",
   "Deletes a tenant with everything it owns and answers `{\"deleted\":true}`. Administrator only.",
   {"200": ok("Deleted.", "Deleted")}, SEED_ADMIN, [T], errors=["Forbidden", "NotFound"], seed_replacement="DELETE /v1/tenants/{tenantId}")
op("get", "/api/dashboard-data", "seedDashboardData", ["Seed routes"], "Every tenant with its sessions (seed)",
   "Every tenant with its sessions, as the seed's admin panel loaded them. Administrator only.",
   {"200": ok("The data.", "DashboardData")}, SEED_ADMIN, errors=["Forbidden"], seed_replacement="GET /v1/tenants and GET /v1/sessions")

# Sessions --------------------------------------------------------------------------------------------

op("get", "/v1/sessions", "listSessions", ["Sessions"], "List sessions",
   "The caller's sessions (every tenant's for the administrator, optionally one tenant's), oldest first, a page at a time.",
   {"200": ok("A page of sessions.", "SessionPage")}, ANY, PAGE + [pref("adminTenantFilter")], errors=["BadRequest"])
SESSION_CREATE_DESC = ("Creates a session and starts its engine: `sandbox` (simulated), `web` (links as a device by QR code or pairing code) or "
                       "`cloud` (Meta's Cloud API, with `cloud` settings). The administrator names the tenant with `tenantId`. "
                       "409 when the tenant is at its session limit (`maxSessions` says it).")
op("post", "/v1/sessions", "createSession", ["Sessions"], "Create a session", SESSION_CREATE_DESC,
   {"201": ok("Created; it starts at once.", "Session")}, ANY, body="SessionCreate", errors=["NotFound", "Conflict", "UnprocessableContent"])
op("get", "/v1/sessions/{sessionId}", "getSession", ["Sessions"], "Read a session", "One session.",
   {"200": ok("The session.", "Session")}, ANY, [S], errors=["NotFound"])
op("patch", "/v1/sessions/{sessionId}", "updateSession", ["Sessions"], "Update a session",
   "Renames a session, or replaces some of a Cloud API session's settings (a new access token, say) and restarts it.",
   {"200": ok("The updated session.", "Session")}, ANY, [S], body="SessionUpdate", errors=["NotFound", "Conflict", "UnprocessableContent"])
op("delete", "/v1/sessions/{sessionId}", "deleteSession", ["Sessions"], "Delete a session",
   "Stops the session, unlinks its device where it can, and deletes it with its credentials.",
   {"204": empty("Deleted.")}, ANY, [S], errors=["NotFound"])
op("post", "/v1/sessions/{sessionId}/restart", "restartSession", ["Sessions"], "Restart a session",
   "Restarts the session's engine (a logged-out session links again).",
   {"202": ok("Restarting; the session as it was.", "Session")}, ANY, [S], errors=["NotFound"])
op("get", "/v1/sessions/{sessionId}/qr", "getSessionQr", ["Sessions"], "The QR code to scan",
   "The QR code's text while the session waits for a scan; 409 otherwise.",
   {"200": ok("The code.", "QRCode")}, ANY, [S], errors=["NotFound", "Conflict"])
op("get", "/v1/sessions/{sessionId}/qr.svg", "getSessionQrSvg", ["Sessions"], "The QR code as SVG",
   "The same code drawn as an SVG image; 409 when the session is not waiting for a scan.",
   {"200": text("The image.", "image/svg+xml")}, ANY, [S], errors=["NotFound", "Conflict"])
op("post", "/v1/sessions/{sessionId}/pairing-code", "requestPairingCode", ["Sessions"], "Link by phone number",
   "Asks WhatsApp for a pairing code for a linking `web` session: WhatsApp notifies that phone, where the user types the code. "
   "409 when the session is not running or not linking, or its engine does not link by phone number; 502/504 when WhatsApp fails or does not answer.",
   {"200": ok("The code to type on the phone.", "PairingCode")}, ANY, [S], body="PairingCodeInput",
   errors=["NotFound", "Conflict", "BadGateway", "GatewayTimeout"])
op("post", "/v1/sessions/{sessionId}/logout", "logoutSession", ["Sessions"], "Unlink the device",
   "Unlinks the device but keeps the session (`logged_out`); `restart` links it again. 409 for a Cloud API session or one that is not running.",
   {"200": ok("The session, logged out.", "Session")}, ANY, [S], errors=["NotFound", "Conflict"])

op("post", "/sessions", "seedCreateSession", ["Seed routes"], "Create a session (seed)", SESSION_CREATE_DESC,
   {"201": ok("Created.", "Session")}, SEED_ANY, body="SessionCreate", errors=["NotFound", "Conflict", "UnprocessableContent"],
   seed_replacement="POST /v1/sessions")
op("put", "/api/sessions/{sessionId}/name", "seedRenameSession", ["Seed routes"], "Rename a session (seed)", "Renames a session; `name` is required.",
   {"200": ok("The renamed session.", "Session")}, SEED_ANY, [S], body="SessionRename", errors=["NotFound", "Conflict", "UnprocessableContent"],
   seed_replacement="PATCH /v1/sessions/{sessionId}")
op("delete", "/api/sessions/{sessionId}", "seedDeleteSession", ["Seed routes"], "Delete a session (seed)",
   "Stops and deletes a session and answers `{\"deleted\":true}`.",
   {"200": ok("Deleted.", "Deleted")}, SEED_ANY, [S], errors=["NotFound"], seed_replacement="DELETE /v1/sessions/{sessionId}")
op("get", "/api/tenant/status", "seedTenantStatus", ["Seed routes"], "My tenant and sessions (seed)",
   "The calling tenant (id, name, session limit) with all its sessions. Tenants only.",
   {"200": ok("The status.", "TenantStatus")}, SEED_TENANT, errors=["Forbidden"], seed_replacement="GET /v1/me and GET /v1/sessions")

# Sandbox -----------------------------------------------------------------------------------------------

op("post", "/v1/sessions/{sessionId}/sandbox/inbound", "sandboxInjectInbound", ["Sandbox"], "Inject an inbound message",
   "A message from a simulated contact to a running sandbox session; answers once its `message.received` event is stored. 409 for other engines or a stopped session.",
   {"201": ok("The message.", "SandboxInbound")}, ANY, [S], body="SandboxInboundInput", errors=["NotFound", "Conflict", "UnprocessableContent"])
op("get", "/v1/sessions/{sessionId}/sandbox/sent", "sandboxListRecords", ["Sandbox"], "What the sandbox recorded",
   "Every read, presence and send step the sandbox session recorded, with times.",
   {"200": ok("The records.", "SandboxRecords")}, ANY, [S], errors=["NotFound", "Conflict"])
op("post", "/v1/sessions/{sessionId}/sandbox/scan", "sandboxScanQr", ["Sandbox"], "\"Scan\" the QR code",
   "Links a sandbox session that waits in its QR step.",
   {"200": ok("The session.", "Session")}, ANY, [S], errors=["NotFound", "Conflict"])
op("post", "/v1/sessions/{sessionId}/sandbox/disconnect", "sandboxDisconnect", ["Sandbox"], "Simulate a dropped connection",
   "Drops the sandbox session's connection; it reconnects with backoff.",
   {"204": empty("Dropped.")}, ANY, [S], errors=["NotFound", "Conflict"])

# Messages & jobs -----------------------------------------------------------------------------------------

SEND_DESC = ("Validates the message (and, for media, fetches it: on the Cloud API only the link is checked), queues a job and answers 202 at once; "
             "the session's dispatcher sends it like a person would. With `?wait=N` it answers 200 with the finished job if it finishes within N seconds.")
JOB_HEADERS = {"Idempotent-Replayed": {"description": "`true` when the Idempotency-Key matched an earlier job, which is returned.", "schema": {"type": "string"}}}
SEND_RESPONSES = {"200": ok("Finished within `wait`.", "Job"), "202": ok("Queued (or the earlier job of the same Idempotency-Key).", "Job", JOB_HEADERS)}
SEND_ERRORS = ["NotFound", "UnsupportedMediaType", "UnprocessableContent"]
op("post", "/v1/sessions/{sessionId}/messages", "sendMessage", ["Messages"], "Send a message", SEND_DESC,
   SEND_RESPONSES, ANY, [S, pref("wait"), pref("idempotencyKey")], body="SendMessage", errors=SEND_ERRORS)
op("post", "/sessions/{sessionId}/send", "seedSendText", ["Seed routes"], "Send a text message (seed)", "The seed's `{chatId, text}`. " + SEND_DESC,
   SEND_RESPONSES, SEED_ANY, [S, pref("wait"), pref("idempotencyKey")], body="SeedSendText", errors=SEND_ERRORS,
   seed_replacement="POST /v1/sessions/{sessionId}/messages")
op("post", "/api/sessions/{sessionId}/send-media", "seedSendMedia", ["Seed routes"], "Send media from a URL (seed)",
   "The seed's `{chatId, mediaUrl, caption}`; the kind follows the media's content type. " + SEND_DESC,
   SEND_RESPONSES, SEED_ANY, [S, pref("wait"), pref("idempotencyKey")], body="SeedSendMedia", errors=SEND_ERRORS,
   seed_replacement="POST /v1/sessions/{sessionId}/messages")
op("get", "/v1/sessions/{sessionId}/jobs", "listSessionJobs", ["Jobs"], "List a session's jobs", "The session's jobs, newest first, a page at a time.",
   {"200": ok("A page of jobs.", "JobPage")}, ANY, [S] + PAGE, errors=["BadRequest", "NotFound"])
op("get", "/v1/jobs/{jobId}", "getJob", ["Jobs"], "Read a job", "One job, with WhatsApp's `messageId` once sent.",
   {"200": ok("The job.", "Job")}, ANY, [J], errors=["NotFound"])
op("post", "/v1/jobs/{jobId}/cancel", "cancelJob", ["Jobs"], "Cancel a job", "Cancels a queued job; 409 once it is being sent or finished.",
   {"200": ok("The cancelled job.", "Job")}, ANY, [J], errors=["NotFound", "Conflict"])

# Webhooks ----------------------------------------------------------------------------------------------------

op("get", "/v1/webhooks", "listWebhooks", ["Webhooks"], "List webhook endpoints",
   "The caller's endpoints with their health (every tenant's for the administrator, optionally one tenant's).",
   {"200": ok("The endpoints.", "WebhookList")}, ANY, [pref("adminTenantFilter")])
op("post", "/v1/webhooks", "createWebhook", ["Webhooks"], "Create a webhook endpoint",
   "Creates an endpoint; the answer is the only one that carries its signing secret unasked (`GET …/secret` reveals it later). "
   "The administrator names the tenant with `tenantId`.",
   {"201": ok("Created; `secret` holds the signing secret.", "Webhook")}, ANY, body="WebhookCreate", errors=["NotFound", "UnprocessableContent"])
op("get", "/v1/webhooks/{webhookId}", "getWebhook", ["Webhooks"], "Read a webhook endpoint", "One endpoint with its health.",
   {"200": ok("The endpoint.", "Webhook")}, ANY, [W], errors=["NotFound"])
WEBHOOK_UPDATE_DESC = "Changes the given members; `header` or `basicAuth` set to `null` removes them; enabling a disabled endpoint resets its breaker."
op("patch", "/v1/webhooks/{webhookId}", "updateWebhook", ["Webhooks"], "Update a webhook endpoint", WEBHOOK_UPDATE_DESC,
   {"200": ok("The updated endpoint.", "Webhook")}, ANY, [W], body="WebhookUpdate", errors=["NotFound", "UnprocessableContent"])
op("put", "/v1/webhooks/{webhookId}", "replaceWebhook", ["Webhooks"], "Update a webhook endpoint", WEBHOOK_UPDATE_DESC + " Same as PATCH.",
   {"200": ok("The updated endpoint.", "Webhook")}, ANY, [W], body="WebhookUpdate", errors=["NotFound", "UnprocessableContent"])
op("delete", "/v1/webhooks/{webhookId}", "deleteWebhook", ["Webhooks"], "Delete a webhook endpoint", "Deletes the endpoint and its pending deliveries.",
   {"204": empty("Deleted.")}, ANY, [W], errors=["NotFound"])
op("post", "/v1/webhooks/{webhookId}/rotate", "rotateWebhookSecret", ["Webhooks"], "Rotate the signing secret",
   "Generates a new secret; during `overlapSeconds` (default a day) deliveries are signed with both. The body is optional.",
   {"200": ok("The endpoint; `secret` holds the new secret.", "Webhook")}, ANY, [W], body="RotateInput", body_required=False,
   errors=["NotFound", "UnprocessableContent"])
op("get", "/v1/webhooks/{webhookId}/secret", "getWebhookSecret", ["Webhooks"], "Reveal the signing secret",
   "The current secret and, during a rotation, the previous one.",
   {"200": ok("The secret.", "WebhookSecret")}, ANY, [W], errors=["NotFound"])
op("post", "/v1/webhooks/{webhookId}/enable", "enableWebhook", ["Webhooks"], "Re-enable an endpoint",
   "Enables a disabled endpoint and resets its circuit breaker.",
   {"200": ok("The endpoint.", "Webhook")}, ANY, [W], errors=["NotFound"])
op("post", "/v1/webhooks/{webhookId}/test", "testWebhook", ["Webhooks"], "Send a test event",
   "Queues a `webhook.test` event for this endpoint only; follow its delivery with `deliveryId`.",
   {"202": ok("Queued.", "WebhookTest")}, ANY, [W], errors=["NotFound"])

# Deliveries ---------------------------------------------------------------------------------------------------

op("get", "/v1/deliveries", "listDeliveries", ["Deliveries"], "List deliveries",
   "The retry console: the caller's deliveries (every tenant's for the administrator), newest first, filtered and a page at a time.",
   {"200": ok("A page of deliveries.", "DeliveryPage")}, ANY, DELIVERY_FILTERS + PAGE, errors=["BadRequest"])
op("get", "/v1/deliveries/{deliveryId}", "getDelivery", ["Deliveries"], "Read a delivery", "One delivery with its payload and every attempt.",
   {"200": ok("The delivery.", "DeliveryDetail")}, ANY, [D], errors=["NotFound"])
op("post", "/v1/deliveries/{deliveryId}/retry", "retryDelivery", ["Deliveries"], "Retry a delivery",
   "Sends the delivery again now, with a fresh attempt budget; 409 while an attempt is in flight.",
   {"202": ok("Queued.", "BulkResult")}, ANY, [D], errors=["NotFound", "Conflict"])
op("post", "/v1/deliveries/{deliveryId}/discard", "discardDelivery", ["Deliveries"], "Discard a delivery", "Gives up on a pending or failed delivery.",
   {"200": ok("Discarded.", "BulkResult")}, ANY, [D], errors=["NotFound"])
op("post", "/v1/deliveries/retry", "retryDeliveries", ["Deliveries"], "Retry matching deliveries",
   "Re-queues the failed (or `status`) deliveries matching the filter; with `dryRun` only counts them.",
   {"200": ok("Counted (`dryRun`).", "BulkResult"), "202": ok("Queued.", "BulkResult")}, ANY, body="BulkRetry")
op("post", "/v1/deliveries/replay", "replayDeliveries", ["Deliveries"], "Replay a time range",
   "Sends every finished delivery (delivered, failed, discarded) created in `from`…`to` again, under the same `webhook-id`; with `dryRun` only counts them.",
   {"200": ok("Counted (`dryRun`).", "BulkResult"), "202": ok("Queued.", "BulkResult")}, ANY, body="BulkReplay")

# Cloud API webhook ------------------------------------------------------------------------------------------------

op("get", "/v1/cloud/webhook/{sessionId}", "verifyCloudWebhook", ["Cloud API"], "Meta's subscription check",
   "Answers `hub.challenge` when `hub.mode` is `subscribe` and `hub.verify_token` is the session's verify token; 403 otherwise, 404 for anything "
   "but a Cloud API session.",
   {"200": text("The challenge, echoed.", "text/plain")}, PUBLIC,
   [S,
    {"name": "hub.mode", "in": "query", "required": False, "description": "`subscribe`.", "schema": {"type": "string"}},
    {"name": "hub.verify_token", "in": "query", "required": False, "description": "The session's verify token.", "schema": {"type": "string"}},
    {"name": "hub.challenge", "in": "query", "required": False, "description": "Text to echo.", "schema": {"type": "string"}}],
   errors=["Forbidden", "NotFound", "ServiceUnavailable"])
op("post", "/v1/cloud/webhook/{sessionId}", "receiveCloudWebhook", ["Cloud API"], "Meta's notification",
   "Checks `X-Hub-Signature-256` on the raw body (401 otherwise), turns the notification's messages and statuses into events, commits them to the "
   "outbox in one transaction, and only then answers 200 (Meta redelivers anything else; a redelivery is stored once).",
   {"200": empty("Stored.")}, PUBLIC,
   [S, {"name": "X-Hub-Signature-256", "in": "header", "required": False,
        "description": "`sha256=<hex HMAC-SHA256 of the body under the session's app secret>`.", "schema": {"type": "string"}}],
   body="CloudNotification", errors=["Unauthorized", "NotFound", "ServiceUnavailable"])

# Consoles -------------------------------------------------------------------------------------------------------------

HTML_HEADERS = {"Content-Security-Policy": {"description": "Scripts, styles and images from Wharf only.", "schema": {"type": "string"}}}


def html(desc, headers=None):
    h = dict(HTML_HEADERS)
    if headers:
        h.update(headers)
    return text(desc, "text/html", h)


ADMIN_PAGE_SEC = [{"cookie": []}, {}]
TENANT_PAGE_SEC = [{"tenantCookie": []}, {}]


def console_page(path, op_id, summary, desc, admin=True, params=None, errors=(), query=None):
    base = "/admin" if admin else "/dashboard"
    op("get", path, op_id, ["Consoles"], summary,
       desc + f" Without a live {'admin' if admin else 'tenant'} browser session it redirects (303) to the login page `{base}`.",
       {"200": html("The page."), "303": empty("Not logged in: go to the login page.", LOCATION(base))},
       ADMIN_PAGE_SEC if admin else TENANT_PAGE_SEC, (params or []) + (query or []), errors=errors)


CONSOLE_DELIVERY_QUERY = [
    {"name": "status", "in": "query", "required": False, "description": "Only deliveries in this status (empty for all).",
     "schema": {"type": "string", "enum": [""] + DELIVERY_STATES}},
    {"name": "endpointId", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "type", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "from", "in": "query", "required": False, "description": "ISO 8601 or a `datetime-local` value (UTC).", "schema": {"type": "string", "format": "date-time"}},
    {"name": "to", "in": "query", "required": False, "description": "ISO 8601 or a `datetime-local` value (UTC).", "schema": {"type": "string", "format": "date-time"}},
    {"name": "before", "in": "query", "required": False, "description": "Show deliveries older than this id (the \"older\" link).", "schema": {"type": "string"}},
]

op("get", "/admin", "adminHome", ["Consoles"], "Admin panel: overview or login",
   "The overview for a logged-in administrator; otherwise the login form (200), which sets a short-lived `wharf_admin_login` cookie holding the form's token.",
   {"200": html("The overview, or the login form.", SET_COOKIE)}, [{}, {"cookie": []}])
op("post", "/admin/login", "adminLogin", ["Consoles"], "Admin login",
   "Checks the admin password. A form post (`password`, `_csrf` matching the login page's cookie) is answered with a 303 to `/admin` and the "
   "session cookie, or the login form again with 401; a JSON post `{\"password\"}` with 200 `{\"csrfToken\"}` and the cookie, or a 401 problem. "
   "Repeated failures from one address are refused with 429 for a while.",
   {"200": ok("Logged in (JSON): the session's CSRF token.", "CsrfToken", SET_COOKIE),
    "303": empty("Logged in (form): go to `/admin`.", dict(LOCATION("/admin"), **SET_COOKIE)),
    "401": {"description": "Wrong password: a problem (JSON), or the login form with an error (form post).",
            "content": {"application/problem+json": {"schema": ref("Problem")}, "text/html": {"schema": {"type": "string"}}}}},
   PUBLIC,
   body={"content": {"application/x-www-form-urlencoded": {"schema": ref("AdminLoginInput")},
                     "application/json": {"schema": ref("AdminLoginInput")}}},
   errors=["Forbidden", "TooManyRequests"])
op("post", "/admin/logout", "adminLogout", ["Consoles"], "Admin logout",
   "Ends the admin browser session (server-side too) and clears its cookie: 303 to `/admin` for a form post, 204 otherwise. Needs the CSRF token.",
   {"204": empty("Logged out.", SET_COOKIE), "303": empty("Logged out (form): go to `/admin`.", dict(LOCATION("/admin"), **SET_COOKIE))},
   [{"cookie": []}],
   body={"content": {"application/x-www-form-urlencoded": {"schema": ref("LogoutForm")}}}, body_required=False,
   errors=["Forbidden"])
console_page("/admin/tenants", "adminTenantsPage", "Admin panel: tenants", "Every tenant, with forms to create, edit and delete them.")
console_page("/admin/tenants/{tenantId}", "adminTenantPage", "Admin panel: one tenant", "A tenant with its endpoints and sessions; 404 for an unknown tenant.",
             params=[T], errors=["NotFound"])
console_page("/admin/sessions", "adminSessionsPage", "Admin panel: sessions", "Every session with its tenant, engine, status and phone.")
console_page("/admin/endpoints", "adminEndpointsPage", "Admin panel: endpoint health", "Every webhook endpoint with its breaker state.")
console_page("/admin/deliveries", "adminDeliveriesPage", "Admin panel: retry console", "Deliveries filtered by status, tenant, endpoint, type and time.",
             query=CONSOLE_DELIVERY_QUERY[:1] + [{"name": "tenantId", "in": "query", "required": False, "schema": {"type": "string"}}] + CONSOLE_DELIVERY_QUERY[1:],
             errors=["BadRequest"])
console_page("/admin/deliveries/{deliveryId}", "adminDeliveryPage", "Admin panel: one delivery", "A delivery with its payload and attempts; 404 for an unknown one.",
             params=[D], errors=["NotFound"])

op("get", "/dashboard", "dashboardHome", ["Consoles"], "Tenant dashboard: sessions or login",
   "The tenant's sessions for a logged-in tenant; otherwise the login form (200), which sets a short-lived `wharf_tenant_login` cookie holding the form's token.",
   {"200": html("The sessions page, or the login form.", SET_COOKIE)}, [{}, {"tenantCookie": []}])
op("post", "/dashboard/login", "dashboardLogin", ["Consoles"], "Tenant login",
   "Checks a tenant's username and password from the login form (`_csrf` must match the login page's cookie, else 403). Success: 303 to "
   "`/dashboard` with the session cookie. Wrong credentials (401) or too many failures (429): the login form again, with the error.",
   {"303": empty("Logged in: go to `/dashboard`.", dict(LOCATION("/dashboard"), **SET_COOKIE)),
    "401": html("Wrong username or password: the login form with the error."),
    "429": html("Too many failed logins: the login form with the error.",
                {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}})},
   PUBLIC,
   body={"content": {"application/x-www-form-urlencoded": {"schema": ref("DashboardLoginInput")},
                     "application/json": {"schema": ref("DashboardLoginInput")}}},
   errors=["Forbidden"])
op("post", "/dashboard/logout", "dashboardLogout", ["Consoles"], "Tenant logout",
   "Ends the tenant's browser session (server-side too) and clears its cookie: 303 to `/dashboard` for a form post, 204 otherwise. Needs the CSRF token.",
   {"204": empty("Logged out.", SET_COOKIE), "303": empty("Logged out (form): go to `/dashboard`.", dict(LOCATION("/dashboard"), **SET_COOKIE))},
   [{"tenantCookie": []}],
   body={"content": {"application/x-www-form-urlencoded": {"schema": ref("LogoutForm")}}}, body_required=False,
   errors=["Forbidden"])
console_page("/dashboard/sessions/{sessionId}", "dashboardSessionPage", "Tenant dashboard: one session",
             "A session; while it links, its QR code (refreshed live) or pairing code. 404 for an unknown or another tenant's session.",
             admin=False, params=[S], errors=["NotFound"])
console_page("/dashboard/webhooks", "dashboardWebhooksPage", "Tenant dashboard: webhooks", "The tenant's webhook endpoints.", admin=False)
console_page("/dashboard/settings", "dashboardSettingsPage", "Tenant dashboard: settings", "The AI prompt, the humanizing defaults and the API keys.", admin=False)
console_page("/dashboard/messages", "dashboardMessagesPage", "Tenant dashboard: messages", "A test-message form and the latest jobs.", admin=False)
console_page("/dashboard/deliveries", "dashboardDeliveriesPage", "Tenant dashboard: delivery log", "The tenant's deliveries, filtered.", admin=False,
             query=CONSOLE_DELIVERY_QUERY, errors=["BadRequest"])
console_page("/dashboard/deliveries/{deliveryId}", "dashboardDeliveryPage", "Tenant dashboard: one delivery",
             "A delivery with its payload and attempts; 404 for an unknown or another tenant's delivery.", admin=False, params=[D], errors=["NotFound"])

ASSET_HEADERS = {"Cache-Control": {"description": "`public, max-age=300`.", "schema": {"type": "string"}}}
op("get", "/assets/console.css", "getConsoleStylesheet", ["Consoles"], "The consoles' stylesheet", "Plain CSS shared by both consoles and `/docs`.",
   {"200": text("The stylesheet.", "text/css", ASSET_HEADERS)}, PUBLIC)
op("get", "/assets/console.js", "getConsoleScript", ["Consoles"], "The consoles' script",
   "The one script of both consoles (live QR refresh, API calls with the CSRF token).",
   {"200": text("The script.", "text/javascript", ASSET_HEADERS)}, PUBLIC)

# ---------------------------------------------------------------------------------------------
# Webhooks (outgoing)
# ---------------------------------------------------------------------------------------------

WEBHOOK_PARAMS = [
    {"name": "webhook-id", "in": "header", "required": True, "description": "The event id (`evt_…`); the same across retries and replays: deduplicate on it.",
     "schema": {"type": "string"}},
    {"name": "webhook-timestamp", "in": "header", "required": True, "description": "Unix seconds of this attempt; reject values more than five minutes old.",
     "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    {"name": "webhook-signature", "in": "header", "required": True,
     "description": "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\" under the endpoint's whsec_ secret>`; during a rotation "
                    "two such values, space-separated (Standard Webhooks).",
     "schema": {"type": "string"}},
    {"name": "User-Agent", "in": "header", "required": False, "description": "`Wharf-Webhooks/1.0`.", "schema": {"type": "string"}},
]

webhooks = {}
for etype, data_schema, has_session, desc in EVENTS:
    name = camel_event(etype)
    webhooks[etype] = {
        "post": {
            "operationId": "on" + name,
            "tags": ["Webhook events"],
            "summary": f"`{etype}`",
            "description": desc + " POSTed to every enabled endpoint of the tenant whose `eventTypes` match; an endpoint may also get its static header "
                                  "or Basic auth. Retried with backoff for about two days until it answers 2xx.",
            "parameters": WEBHOOK_PARAMS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(name + "Event")}}},
            "responses": {
                "2XX": {"description": "Received; any 2xx ends the delivery."},
                "410": {"description": "Gone: disables the endpoint."},
                "413": {"description": "Fails the delivery at once."},
                "default": {"description": "Retried later (`Retry-After` is honoured)."},
            },
        }
    }

# ---------------------------------------------------------------------------------------------

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "Wharf",
        "version": "1.0.0",
        "summary": "A webhook-first WhatsApp gateway.",
        "description": (
            "Tenants link WhatsApp accounts (sessions) and get every WhatsApp event posted to their webhooks (see `webhooks`); their automations "
            "send messages back through this JSON API.\n\n"
            "**Authentication.** `Authorization: Bearer <token>`, where the token is a tenant JWT from `POST /v1/login`, a tenant API key "
            "(`wharf_sk_…`) or the administrator's API key. Browsers use the consoles' cookies (`wharf_admin` from `/admin/login`, `wharf_tenant` "
            "from `/dashboard/login`); cookie-authenticated writes need the page's CSRF token in `X-CSRF-Token` (or a `_csrf` form field). "
            "The seed's routes (tag *Seed routes*) also accept `?token=`. Credentials that are present but invalid answer 401 on every route.\n\n"
            "**Errors.** Every 4xx and 5xx is `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail` (what to change) and "
            "`instance`, plus `field`, `limit`, `retryAfter` or `maxSessions` where they apply. 400: the body is not JSON or a field is missing or "
            "of the wrong type; 401: no or invalid credentials; 403: a tenant on an administrator route, or a missing CSRF token; 404: an unknown id, "
            "or another tenant's; 409: a state conflict; 413: the body exceeds MAX_BODY_BYTES; 415: unsupported media; 422: a value not allowed; "
            "429: too many failed logins (with `Retry-After`).\n\n"
            "**Conventions.** JSON with sorted keys; times are ISO 8601 with milliseconds in UTC; absent optional members are omitted, not null. "
            "Lists take `limit` (1–500) and `cursor` (from `nextCursor`)."
        ),
    },
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "Health", "description": "Liveness and readiness."},
        {"name": "Auth", "description": "Tenant login."},
        {"name": "Account", "description": "The caller's profile and settings."},
        {"name": "API keys", "description": "A tenant's API keys, for n8n and other automations."},
        {"name": "Tenants", "description": "The administrator's tenant management."},
        {"name": "Sessions", "description": "WhatsApp accounts linked to the gateway."},
        {"name": "Sandbox", "description": "Driving sandbox sessions: inbound messages, QR scans, dropped connections."},
        {"name": "Messages", "description": "Sending: validate, queue, answer 202."},
        {"name": "Jobs", "description": "Queued outbound messages."},
        {"name": "Webhooks", "description": "A tenant's webhook endpoints."},
        {"name": "Deliveries", "description": "The retry console: webhook deliveries and their attempts."},
        {"name": "Cloud API", "description": "Meta's callback for Cloud API sessions."},
        {"name": "Metrics", "description": "Prometheus metrics."},
        {"name": "Docs", "description": "This document and its page."},
        {"name": "Consoles", "description": "The server-rendered admin panel (`/admin`) and tenant dashboard (`/dashboard`)."},
        {"name": "Seed routes", "description": "Routes of the original Node.js service, kept so its users can move over; each names its /v1 replacement."},
        {"name": "Webhook events", "description": "What Wharf POSTs to tenants' webhook endpoints."},
    ],
    "paths": dict(sorted(paths.items())),
    "webhooks": webhooks,
    "components": {
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "securitySchemes": security_schemes,
    },
}

text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
if "--check" in sys.argv[1:]:
    with open(OUT, encoding="utf-8") as f:
        if f.read() != text:
            sys.exit(f"{OUT} is not what scripts/generate-openapi.py writes; run it and commit the result")
    print(f"{OUT} is up to date")
else:
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(sum(len(v) for v in paths.values()), "operations")
