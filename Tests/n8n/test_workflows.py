"""The example n8n workflows (examples/n8n) against a real Wharf on the sandbox engine.

Each file must be well-formed n8n export JSON. Wharf's webhooks go to a stand-in for n8n's webhook
endpoints that checks what n8n checks (method, path, Header Auth), and what arrived is fed into
the workflow, which is then replayed node by node: expressions and Code nodes run in JavaScript
(node), HTTP Request nodes really call Wharf, and every answer must be what the OpenAPI document
says for that route.

Run by `make test` (after `swift build`); standalone: `python3 Tests/n8n/test_workflows.py`.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.request
import uuid

import jsonschema
import referencing
import referencing.jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
sys.path.insert(0, HERE)
from n8n_replay import NodeFailed, Replay, run_code  # noqa: E402
from wharf_process import ADMIN_KEY, ROOT, LoopbackHTTPServer, Wharf, free_port  # noqa: E402

EXAMPLES = os.path.join(ROOT, "examples", "n8n")
HEADER_NAME, HEADER_VALUE = "X-Wharf-Token", "n8n-shared-secret-for-the-tests"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


class FakeN8n:
    """n8n's webhook side: `/webhook/<path>` for each Webhook node of the examples, answering as
    "Respond: Immediately" does, after n8n's own Header Auth check; plus an image and an alert sink."""

    def __init__(self, webhooks):
        self.webhooks = webhooks  # path -> (httpMethod, authentication)
        self.received = []  # (path, headers, raw body)
        self.alerts = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status, body, content_type="application/json"):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/media/aloe.png":
                    return self.answer(200, PNG, "image/png")
                self.answer(404, {"code": 404, "message": "not found"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/alerts":
                    fake.alerts.append(json.loads(raw))
                    return self.answer(200, {"ok": True})
                match = re.fullmatch(r"/webhook/([^/?]+)", self.path)
                if not match or match.group(1) not in fake.webhooks or fake.webhooks[match.group(1)][0] != "POST":
                    return self.answer(404, {"code": 404, "message": f'The requested webhook "POST {self.path}" is not registered.',
                                             "hint": "The workflow must be active for a production URL to run successfully."})
                path = match.group(1)
                if fake.webhooks[path][1] == "headerAuth" and self.headers.get(HEADER_NAME.lower()) != HEADER_VALUE:
                    return self.answer(403, b"Authorization data is wrong!", "text/plain")
                fake.received.append((path, {k.lower(): v for k, v in self.headers.items()}, raw))
                self.answer(200, {"message": "Workflow was started"})

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = LoopbackHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def events(self, path, event_type=None):
        found = []
        for received_path, headers, raw in list(self.received):
            body = json.loads(raw)
            if received_path == path and (event_type is None or body["type"] == event_type):
                found.append((headers, raw, body))
        return found

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def trigger_item(headers, raw):
    """What n8n's Webhook node outputs for a request (with "Raw Body": the bytes as binary data)."""
    return {"json": {"headers": headers, "params": {}, "query": {}, "body": json.loads(raw),
                     "webhookUrl": "http://n8n.local/webhook", "executionMode": "production"},
            "binary": {"data": {"data": base64.b64encode(raw).decode(), "mimeType": "application/json"}}}


def escape(part):
    """One JSON Pointer token (RFC 6901)."""
    return part.replace("~", "~0").replace("/", "~1")


class OpenAPIAnswers:
    """Checks an answer against the OpenAPI document's schema for that route and status: the document
    the running Wharf serves at /openapi.json."""

    def __init__(self, wharf):
        with urllib.request.urlopen(wharf.base + "/openapi.json", timeout=10) as response:
            self.document = json.load(response)
        resource = referencing.Resource.from_contents(self.document, default_specification=referencing.jsonschema.DRAFT202012)
        self.registry = referencing.Registry().with_resource("urn:wharf:openapi", resource)

    def check_event(self, body):
        """A webhook body against the document's `webhooks` entry for its type."""
        assert body["type"] in self.document["webhooks"], f"{body['type']} is not documented"
        pointer = f"webhooks/{escape(body['type'])}/post/requestBody/content/application~1json/schema"
        jsonschema.Draft202012Validator({"$ref": f"urn:wharf:openapi#/{pointer}"}, registry=self.registry).validate(body)

    def check(self, method, path, status, answer):
        responses = self.document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
        pointer = "/".join(escape(part) for part in ["paths", path, method, "responses", str(status)])
        response = responses[str(status)]
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#/")
            response = self.document["components"]["responses"][pointer.split("/")[-1]]
        media = next(iter(response.get("content", {})), None)
        assert media and "schema" in response["content"][media], f"{method.upper()} {path} {status} has no schema"
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"urn:wharf:openapi#/{pointer}/content/{escape(media)}/schema"}, registry=self.registry)
        validator.validate(answer)


class WorkflowTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = {name: os.path.join(EXAMPLES, name) for name in sorted(os.listdir(EXAMPLES)) if name.endswith(".json")}
        webhooks = {}
        for path in cls.files.values():
            with open(path) as file:
                for node in json.load(file)["nodes"]:
                    if node["type"] == "n8n-nodes-base.webhook":
                        webhooks[node["parameters"]["path"]] = (node["parameters"]["httpMethod"], node["parameters"]["authentication"])
        cls.n8n = FakeN8n(webhooks)
        cls.wharf = Wharf()
        cls.answers = OpenAPIAnswers(cls.wharf)
        cls.tenant_id, cls.token = cls.wharf.tenant("n8nshop")
        status, key = cls.wharf.api("POST", "/v1/keys", {"name": "n8n"}, token=cls.token)
        assert status == 201, key
        cls.api_key = key["key"]
        # The endpoints the README has you create: the URL of each Webhook node, with the
        # Header Auth credential's name and value as Wharf's static header where the node asks.
        cls.secrets = {}
        for path, (_, authentication) in webhooks.items():
            body = {"url": f"{cls.n8n.base}/webhook/{path}"}
            if authentication == "headerAuth":
                body["header"] = {"name": HEADER_NAME, "value": HEADER_VALUE}
            status, endpoint = cls.wharf.api("POST", "/v1/webhooks", body, token=cls.token)
            assert status == 201, endpoint
            cls.secrets[path] = endpoint["secret"]
        status, session = cls.wharf.api("POST", "/v1/sessions", {"name": "Shop", "engine": "sandbox"}, token=cls.token)
        assert status == 201, session
        cls.session = session["id"]
        cls.wharf.wait_for("the session to connect", lambda: cls.wharf.api(
            "GET", f"/v1/sessions/{cls.session}", token=cls.token)[1]["status"] == "connected")
        cls.credentials = {"Wharf API key": ("Authorization", "Bearer " + cls.api_key),
                           "Wharf admin key": ("Authorization", "Bearer " + ADMIN_KEY),
                           "Wharf webhook header": (HEADER_NAME, HEADER_VALUE)}

    @classmethod
    def tearDownClass(cls):
        cls.wharf.stop()
        cls.n8n.stop()

    def workflow(self, name):
        """The example with its placeholders filled in, as a user does after importing it."""
        with open(self.files[name]) as file:
            text = file.read()
        for placeholder, value in [("https://wharf.example.com", self.wharf.base),
                                   ("ses_REPLACE_WITH_SESSION_ID", self.session),
                                   ("https://example.com/aloe.png", self.n8n.base + "/media/aloe.png"),
                                   ("https://alerts.example.com/wharf", self.n8n.base + "/alerts"),
                                   ("whsec_PASTE_YOUR_ENDPOINT_SECRET", self.secrets["wharf-signed"])]:
            text = text.replace(placeholder, value)
        return json.loads(text)

    def expect_answers(self, replay, expected):
        """Every HTTP Request node that ran got its documented status, and an answer of its schema."""
        called = {name: (status, answer) for name, _, _, status, answer in replay.http}
        for node, (method, path, status) in expected.items():
            self.assertIn(node, called, f"{node} did not run")
            self.assertEqual(called[node][0], status, f"{node}: {called[node][1]}")
            self.answers.check(method, path, status, called[node][1])

    def inbound(self, text, sender="4915112345678"):
        status, message = self.wharf.api("POST", f"/v1/sessions/{self.session}/sandbox/inbound",
                                         {"from": sender, "text": text, "fromName": "Ana"}, token=self.token)
        self.assertEqual(status, 201, message)
        return message

    def sandbox_steps(self):
        return self.wharf.api("GET", f"/v1/sessions/{self.session}/sandbox/sent", token=self.token)[1]["records"]

    # The stories

    def test_examples_are_well_formed_n8n_exports(self):
        self.assertEqual(sorted(self.files), ["group-react-reply.json", "inbound-reply.json", "operations.json",
                                              "send-media-track-job.json", "verify-signatures.json"])
        for name, path in self.files.items():
            with open(path) as file:
                workflow = json.load(file)
            with self.subTest(workflow=name):
                for key in ("name", "nodes", "connections", "settings"):
                    self.assertIn(key, workflow)
                self.assertEqual(workflow["settings"].get("executionOrder"), "v1")
                names = [node["name"] for node in workflow["nodes"]]
                self.assertEqual(len(names), len(set(names)), "node names are unique")
                ids = [node["id"] for node in workflow["nodes"]]
                self.assertEqual(len(ids), len(set(ids)), "node ids are unique")
                for node in workflow["nodes"]:
                    uuid.UUID(node["id"])
                    self.assertTrue(node["type"].startswith("n8n-nodes-base."), node["type"])
                    self.assertIsInstance(node["typeVersion"], (int, float))
                    self.assertTrue(len(node["position"]) == 2 and all(isinstance(v, (int, float)) for v in node["position"]))
                    self.assertIsInstance(node["parameters"], dict)
                    for credential in node.get("credentials", {}).values():
                        self.assertTrue(credential.get("id") and credential.get("name"), node["name"])
                    if node["type"] in ("n8n-nodes-base.webhook", "n8n-nodes-base.wait"):
                        uuid.UUID(node["webhookId"])
                for source, outputs in workflow["connections"].items():
                    self.assertIn(source, names, "connections start at existing nodes")
                    for group in outputs["main"]:
                        for target in group:
                            self.assertIn(target["node"], names, "connections end at existing nodes")
                            self.assertEqual(target["type"], "main")
                triggers = [n for n in workflow["nodes"] if n["type"].endswith(("webhook", "Trigger", "manualTrigger"))]
                self.assertTrue(triggers, "every workflow starts at a trigger")
        # The Code node carries exactly the published snippet.
        with open(os.path.join(EXAMPLES, "verify-signature.js")) as file:
            snippet = file.read()
        with open(self.files["verify-signatures.json"]) as file:
            codes = [n["parameters"]["jsCode"] for n in json.load(file)["nodes"] if n["type"] == "n8n-nodes-base.code"]
        self.assertEqual(codes, [snippet])

    def test_webhook_nodes_accept_what_wharf_sends(self):
        for name in self.files:
            for node in self.workflow(name)["nodes"]:
                if node["type"] != "n8n-nodes-base.webhook":
                    continue
                with self.subTest(node=node["name"]):
                    self.assertEqual(node["parameters"]["httpMethod"], "POST", "Wharf POSTs its events")
                    self.assertEqual(node["parameters"]["responseMode"], "onReceived",
                                     "answer at once, before Wharf's 15 s timeout")
                    if node["parameters"]["authentication"] == "headerAuth":
                        self.assertEqual(node["credentials"]["httpHeaderAuth"]["name"], "Wharf webhook header")
        # A test event reaches every endpoint and passes n8n's checks (or is turned away as n8n would).
        status, hooks = self.wharf.api("GET", "/v1/webhooks", token=self.token)
        for hook in hooks["items"]:
            self.assertEqual(self.wharf.api("POST", f"/v1/webhooks/{hook['id']}/test", token=self.token)[0], 202)
        for path in self.secrets:
            self.wharf.wait_for(f"a test event at {path}", lambda: self.n8n.events(path, "webhook.test"))
        status, wrong = self.wharf.api("POST", "/v1/webhooks", {
            "url": f"{self.n8n.base}/webhook/wharf-events", "header": {"name": HEADER_NAME, "value": "not-the-secret"},
            "eventTypes": ["webhook.test"]}, token=self.token)
        self.assertEqual(status, 201, wrong)
        self.wharf.api("POST", f"/v1/webhooks/{wrong['id']}/test", token=self.token)
        def refused():
            items = self.wharf.api("GET", f"/v1/deliveries?endpointId={wrong['id']}", token=self.token)[1]["items"]
            return items and items[0]["status"] == "failed" and items[0].get("lastStatus") == 403
        self.wharf.wait_for("n8n's 403 for a wrong header value", refused)
        self.wharf.api("DELETE", f"/v1/webhooks/{wrong['id']}", token=self.token)

    def test_every_event_wharf_sent_fits_the_documented_webhooks(self):
        self.inbound("Does my order ship today?")
        self.wharf.wait_for("a message at n8n", lambda: self.n8n.events("wharf-events", "message.received"))
        seen = set()
        for path in self.secrets:
            for _, _, body in self.n8n.events(path):
                self.answers.check_event(body)
                seen.add(body["type"])
        self.assertTrue({"message.received", "session.status"} <= seen, seen)

    def test_inbound_message_gets_a_humanized_reply(self):
        message = self.inbound("Hi there")
        events = self.wharf.wait_for("message.received at n8n", lambda: [
            e for e in self.n8n.events("wharf-events", "message.received") if e[2]["data"]["id"] == message["id"]])
        headers, raw, body = events[0]
        replay = Replay(self.workflow("inbound-reply.json"), self.credentials).run("Wharf event", [trigger_item(headers, raw)])
        self.assertEqual(replay.ran, ["Wharf event", "Route by type", "Text from a contact", "Send reply"])
        self.expect_answers(replay, {"Send reply": ("post", "/v1/sessions/{sessionId}/messages", 202)})
        job = replay.outputs["Send reply"][0]
        self.assertEqual(job["status"], "queued")
        # n8n retried the execution: the same webhook-id is the same job, not a second message.
        again = Replay(self.workflow("inbound-reply.json"), self.credentials).run("Wharf event", [trigger_item(headers, raw)])
        self.assertEqual(again.outputs["Send reply"][0]["jobId"], job["jobId"])
        self.wharf.wait_for("the reply to be sent", lambda: self.wharf.api(
            "GET", f"/v1/jobs/{job['jobId']}", token=self.token)[1]["status"] == "sent", timeout=60)
        steps = [s for s in self.sandbox_steps() if s["chat"] == body["data"]["chat_id"]]
        sends = [s for s in steps if s["step"] == "send" and s.get("text") == "You said: Hi there"]
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0].get("replyTo"), message["id"])
        before = [s["step"] for s in steps[: steps.index(sends[0])]]
        self.assertEqual(before[-3:], ["read", "composing", "paused"], "read, typed, paused, then sent")

        # Other event types take the other outputs and call nothing.
        status_event = self.wharf.wait_for("session.status at n8n", lambda: self.n8n.events("wharf-events", "session.status"))
        headers, raw, _ = status_event[0]
        other = Replay(self.workflow("inbound-reply.json"), self.credentials).run("Wharf event", [trigger_item(headers, raw)])
        self.assertEqual(other.ran, ["Wharf event", "Route by type", "Session changed"])
        self.assertEqual(other.http, [])

    def test_a_group_message_gets_a_reaction_and_a_reply_in_the_group(self):
        status, group = self.wharf.api("POST", f"/v1/sessions/{self.session}/groups",
                                       {"subject": "Support", "participants": ["+4915112345679"]}, token=self.token)
        self.assertEqual(status, 201, group)
        status, message = self.wharf.api("POST", f"/v1/sessions/{self.session}/sandbox/inbound",
                                         {"from": "4915112345679", "text": "The printer is on fire", "group": group["id"]},
                                         token=self.token)
        self.assertEqual(status, 201, message)
        events = self.wharf.wait_for("the group message at n8n", lambda: [
            e for e in self.n8n.events("wharf-group-events", "message.received") if e[2]["data"]["id"] == message["id"]])
        headers, raw, body = events[0]
        self.assertTrue(body["data"]["is_group"])
        self.assertEqual(body["data"]["participant"], "4915112345679@s.whatsapp.net")
        replay = Replay(self.workflow("group-react-reply.json"), self.credentials).run("Wharf group event", [trigger_item(headers, raw)])
        self.assertEqual(replay.ran, ["Wharf group event", "A member wrote in a group", "React with eyes", "Reply in the group"])
        self.expect_answers(replay, {"React with eyes": ("post", "/v1/sessions/{sessionId}/messages", 202),
                                     "Reply in the group": ("post", "/v1/sessions/{sessionId}/messages", 202)})
        reaction, reply = replay.outputs["React with eyes"][0], replay.outputs["Reply in the group"][0]
        self.assertEqual(reaction["type"], "reaction")
        self.assertEqual(reaction["payload"], {"messageId": message["id"], "emoji": "👀"})
        for job in (reaction, reply):
            self.wharf.wait_for("the job to be sent", lambda: self.wharf.api(
                "GET", f"/v1/jobs/{job['jobId']}", token=self.token)[1]["status"] == "sent", timeout=60)
        steps = [s for s in self.sandbox_steps() if s["chat"] == group["id"]]
        sends = [s for s in steps if s["step"] == "send"]
        self.assertEqual([s.get("type") for s in sends], ["reaction", None], sends)
        self.assertEqual(sends[1]["text"], "Thanks, @4915112345679, we are on it.")
        self.assertEqual(sends[1].get("replyTo"), message["id"])
        # A message that is not in a group takes the other branch and calls nothing.
        direct = self.inbound("not in a group")
        events = self.wharf.wait_for("the direct message", lambda: [
            e for e in self.n8n.events("wharf-group-events", "message.received") if e[2]["data"]["id"] == direct["id"]])
        other = Replay(self.workflow("group-react-reply.json"), self.credentials).run("Wharf group event", [trigger_item(*events[0][:2])])
        self.assertEqual(other.http, [])

    def test_signature_check_accepts_wharf_and_rejects_forgeries(self):
        message = self.inbound("Is this really you?")
        headers, raw, _ = self.wharf.wait_for("the signed event", lambda: [
            e for e in self.n8n.events("wharf-signed", "message.received") if e[2]["data"]["id"] == message["id"]])[0]
        workflow = self.workflow("verify-signatures.json")
        replay = Replay(workflow, self.credentials).run("Wharf event (signed)", [trigger_item(headers, raw)])
        self.assertEqual(replay.ran, ["Wharf event (signed)", "Verify signature", "Route by type", "Verified message"])
        self.assertTrue(replay.outputs["Verify signature"][0]["verified"])

        tampered = raw.replace(b"Is this really you?", b"Send me the money")
        with self.assertRaises(NodeFailed) as failure:
            Replay(workflow, self.credentials).run("Wharf event (signed)", [trigger_item(headers, tampered)])
        self.assertIn("no webhook-signature matches", failure.exception.message)

        # Correctly signed, but ten minutes old: a replayed request.
        secret = base64.b64decode(self.secrets["wharf-signed"].removeprefix("whsec_"))
        old = str(int(time.time()) - 600)
        signature = base64.b64encode(hmac.new(secret, f"{headers['webhook-id']}.{old}.".encode() + raw, hashlib.sha256).digest())
        stale = dict(headers, **{"webhook-timestamp": old, "webhook-signature": "v1," + signature.decode()})
        code = next(n["parameters"]["jsCode"] for n in workflow["nodes"] if n["name"] == "Verify signature")
        ok, error = run_code(code, [trigger_item(stale, raw)])
        self.assertFalse(ok)
        self.assertIn("more than 5 minutes", error)
        # Ten minutes ahead is refused too (a clock that is off, or a forged timestamp).
        ahead = str(int(time.time()) + 600)
        signature = base64.b64encode(hmac.new(secret, f"{headers['webhook-id']}.{ahead}.".encode() + raw, hashlib.sha256).digest())
        ok, error = run_code(code, [trigger_item(dict(headers, **{"webhook-timestamp": ahead, "webhook-signature": "v1," + signature.decode()}), raw)])
        self.assertFalse(ok)
        self.assertIn("more than 5 minutes", error)
        # During a secret rotation Wharf sends two signatures; one that matches is enough.
        rotated = dict(headers, **{"webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + headers["webhook-signature"]})
        ok, result = run_code(code, [trigger_item(rotated, raw)])
        self.assertTrue(ok, result)
        ok, error = run_code(code, [trigger_item(dict(headers, **{"webhook-signature": "v1a,notours v2,notthis"}), raw)])
        self.assertFalse(ok)
        unsigned = {k: v for k, v in headers.items() if not k.startswith("webhook-")}
        ok, error = run_code(code, [trigger_item(unsigned, raw)])
        self.assertFalse(ok)
        self.assertIn("not a signed Wharf event", error)

    def test_an_image_is_sent_and_its_job_tracked(self):
        replay = Replay(self.workflow("send-media-track-job.json"), self.credentials, execution_id="media-1",
                        max_steps=400).run("Start", [{"json": {}}])
        self.assertEqual(replay.ran[:3], ["Start", "Send image", "Wait 5 s"])
        self.assertEqual(replay.ran[-1], "Job finished")
        self.expect_answers(replay, {"Send image": ("post", "/v1/sessions/{sessionId}/messages", 202),
                                     "Get job": ("get", "/v1/jobs/{jobId}", 200)})
        job = replay.outputs["Get job"][0]
        self.assertEqual(job["status"], "sent")
        self.assertEqual(job["type"], "image")
        media = [s for s in self.sandbox_steps() if s["step"] == "send" and s.get("media")]
        self.assertTrue(any(s["media"]["kind"] == "image" and s.get("text") == "Our new arrival" for s in media))

        # The event route: message.sent for this job reaches the second trigger.
        headers, raw, _ = self.wharf.wait_for("message.sent at n8n", lambda: [
            e for e in self.n8n.events("wharf-job-events", "message.sent") if e[2]["data"]["job_id"] == job["jobId"]])[0]
        events = Replay(self.workflow("send-media-track-job.json"), self.credentials).run("Job events", [trigger_item(headers, raw)])
        self.assertEqual(events.ran, ["Job events", "Sent or failed", "Delivered to WhatsApp"])

    def test_operations_retry_failures_and_alert_on_failing_endpoints(self):
        closed = f"http://127.0.0.1:{free_port()}/gone"
        status, endpoint = self.wharf.api("POST", "/v1/webhooks", {"url": closed, "eventTypes": ["webhook.test"]}, token=self.token)
        self.assertEqual(status, 201, endpoint)
        self.wharf.api("POST", f"/v1/webhooks/{endpoint['id']}/test", token=self.token)
        self.wharf.wait_for("a failed delivery", lambda: self.wharf.api(
            "GET", f"/v1/deliveries?status=failed&endpointId={endpoint['id']}", token=ADMIN_KEY)[1]["items"])
        replay = Replay(self.workflow("operations.json"), self.credentials).run("Every 15 minutes", [{"json": {}}])
        self.assertIn("Retry all failed", replay.ran)
        self.assertIn("Alert", replay.ran)
        self.expect_answers(replay, {"Failed deliveries": ("get", "/v1/deliveries", 200),
                                     "Endpoint health": ("get", "/v1/webhooks", 200)})
        retried = next(answer for name, _, _, status, answer in replay.http if name == "Retry all failed")
        self.assertGreaterEqual(retried["count"], 1)
        status = next(status for name, _, _, status, _ in replay.http if name == "Retry all failed")
        self.answers.check("post", "/v1/deliveries/retry", status, retried)
        self.assertTrue(any(closed in alert["text"] for alert in self.n8n.alerts), self.n8n.alerts)
        self.wharf.api("DELETE", f"/v1/webhooks/{endpoint['id']}", token=self.token)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
