"""The OpenAPI document against independent tools and a running Wharf.

The source is `Sources/Gateway/OpenAPI/openapi.yaml`, edited by hand: `/openapi.yaml` must serve it as
it is and `/openapi.json` the same document as JSON, and `openapi-spec-validator` checks it is a valid
OpenAPI 3.1 document. Then `schemathesis` generates requests for every operation from the document, a bounded
number per operation, once with the admin's credentials and once with a tenant's: no answer may be
a 5xx, and none may break the schema the document gives for its status. (The document and the
router are checked against each other, route by route, in the Swift suite: OpenAPITests.)

Run by `make test` (after `swift build`); standalone: `python3 Tests/api/test_openapi.py`.
Set SCHEMATHESIS_EXAMPLES for more cases per operation (default 8).

The web engine is pointed at a closed loopback port: sessions the fuzzer creates never reach
WhatsApp. GET routes get the ids of real objects (a session, its job, a webhook endpoint and its
delivery), so their success answers are checked too, and the test proves they were.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import yaml
from openapi_spec_validator import validate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from wharf_process import ADMIN_KEY, ROOT, Wharf  # noqa: E402

DOCUMENT = os.path.join(ROOT, "Sources", "Gateway", "OpenAPI", "openapi.yaml")
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "8")


class OpenAPITests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wharf = Wharf(WA_WS_URL="ws://127.0.0.1:9/ws/chat")
        cls.tenant_id, token = cls.wharf.tenant("apifuzz", max_sessions=5)
        status, key = cls.wharf.api("POST", "/v1/keys", {"name": "schemathesis"}, token=token)
        assert status == 201, key
        cls.tenant_key = key["key"]
        # Something for the routes to find: a linked session with a job, and a webhook endpoint.
        status, session = cls.wharf.api("POST", "/v1/sessions", {"name": "fuzzed", "engine": "sandbox"}, token=token)
        assert status == 201, session
        cls.wharf.wait_for("the session", lambda: cls.wharf.api("GET", f"/v1/sessions/{session['id']}", token=token)[1]["status"] == "connected")
        status, webhook = cls.wharf.api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/unreachable"}, token=token)
        assert status == 201, webhook
        status, job = cls.wharf.api("POST", f"/v1/sessions/{session['id']}/messages", {"chatId": "4915112345678", "text": "hello"},
                                    token=token)
        assert status == 202, job
        delivery = cls.wharf.wait_for("a delivery", lambda: cls.wharf.api("GET", "/v1/deliveries", token=token)[1]["items"])[0]
        cls.ids = {"sessionId": session["id"], "jobId": job["jobId"], "webhookId": webhook["id"],
                   "deliveryId": str(delivery["id"]), "tenantId": cls.tenant_id}

    @classmethod
    def tearDownClass(cls):
        cls.wharf.stop()

    def test_0_the_document_is_valid_openapi_31_and_is_what_wharf_serves(self):
        with open(DOCUMENT, encoding="utf-8") as file:
            source = file.read()
        document = yaml.safe_load(source)
        self.assertEqual(document["openapi"], "3.1.0")
        validate(document)
        with urllib.request.urlopen(self.wharf.base + "/openapi.yaml", timeout=10) as response:
            self.assertEqual(response.headers["content-type"].split(";")[0], "application/yaml")
            self.assertEqual(response.read().decode(), source)
        with urllib.request.urlopen(self.wharf.base + "/openapi.json", timeout=10) as response:
            self.assertEqual(response.headers["content-type"].split(";")[0], "application/json")
            self.assertEqual(json.load(response), document)
        seed = [op for item in document["paths"].values() for op in item.values()
                if isinstance(op, dict) and op.get("x-seed")]
        self.assertGreaterEqual(len(seed), 10, "the seed routes are marked")
        with urllib.request.urlopen(self.wharf.base + "/docs", timeout=10) as response:
            page = response.read().decode()
        self.assertIn('src="/assets/docs.js"', page)
        self.assertNotIn("https://", page, "the page loads nothing from elsewhere")

    def fuzz(self, credential):
        with tempfile.TemporaryDirectory() as scratch:
            # Reads and harmless writes use the real objects' ids; every other write names objects that
            # do not exist, so that no delete or logout takes away what the run needs.
            def table(ids):
                return "{ " + ", ".join(f'"path.{name}" = "{value}"' for name, value in ids.items()) + " }"
            missing = {name: value.split("_")[0] + "_missing" if "_" in value else "999999999" for name, value in self.ids.items()}
            harmless = "^(GET .*|POST /v1/sessions/\\{sessionId\\}/(messages|restart|sandbox/inbound)|POST /v1/webhooks/\\{webhookId\\}/test|POST /v1/deliveries/\\{deliveryId\\}/retry)$"
            with open(os.path.join(scratch, "schemathesis.toml"), "w") as config:
                config.write(f'[[operations]]\ninclude-name-regex = \'{harmless}\'\nparameters = {table(self.ids)}\n\n'
                             f'[[operations]]\nexclude-name-regex = \'{harmless}\'\nparameters = {table(missing)}\n')
            command = [sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()",
                       "--config-file", os.path.join(scratch, "schemathesis.toml"),
                       "run", self.wharf.base + "/openapi.json", "--url", self.wharf.base,
                       "--checks", "not_a_server_error,response_schema_conformance",
                       "--max-examples", EXAMPLES, "--header", f"Authorization: Bearer {credential}",
                       "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--seed", "2026",
                       "--request-timeout", "70", "--no-color", "--report", "har", "--report-dir", scratch,
                       # The event stream never ends by design; EventStreamTests reads it on a real socket.
                       "--exclude-path", "/v1/events/stream"]
            result = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=1800)
            answered = set()
            for report in glob.glob(os.path.join(scratch, "*.json")):
                with open(report) as file:
                    for entry in json.load(file)["log"]["entries"]:
                        if entry["request"]["method"] == "GET" and entry["response"]["status"] == 200:
                            answered.add(entry["request"]["url"].split("?")[0].removeprefix(self.wharf.base))
        output = result.stdout + result.stderr
        for path in [f"/v1/sessions/{self.ids['sessionId']}", f"/v1/jobs/{self.ids['jobId']}",
                     f"/v1/webhooks/{self.ids['webhookId']}", f"/v1/deliveries/{self.ids['deliveryId']}"]:
            self.assertIn(path, answered, "the success answers of the id routes were checked")
        self.assertEqual(result.returncode, 0, output[-12000:])
        self.assertRegex(output, r"\d+ generated, \d+ passed", output[-4000:])
        self.assertNotIn("errored", output, output[-4000:])

    # The tenant goes first: the admin's run deletes tenants, this one among them.
    def test_1_tenant_requests_get_no_5xx_and_answers_that_match_the_document(self):
        self.fuzz(self.tenant_key)

    def test_2_admin_requests_get_no_5xx_and_answers_that_match_the_document(self):
        self.fuzz(ADMIN_KEY)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
