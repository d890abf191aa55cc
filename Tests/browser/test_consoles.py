"""Browser tests of the admin panel and the tenant dashboard, in Debian's Chromium.

They drive a real `wharf` (the debug build, sandbox engine) the way a person does: log in,
click, type, confirm dialogs. A webhook receiver on loopback is stopped and started to make
deliveries fail and succeed. Screenshots of every page go to test-output/browser/.

Run by `make test` (after `swift build`); standalone: `python3 Tests/browser/test_consoles.py`.
"""

import http.server
import json
import os
import re
import shutil
import sys
import threading
import time
import unittest
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from wharf_process import ADMIN_KEY, ADMIN_PASSWORD, ROOT, LoopbackHTTPServer, Wharf, free_port  # noqa: E402

SHOTS = os.path.join(ROOT, "test-output", "browser")
HOSTILE = "<script>alert(\"x\")</script> 'quoted' \"name\""


class Receiver:
    """A webhook receiver that can be stopped and started on a fixed port."""

    def __init__(self, port):
        self.port = port
        self.received = []
        self.server = None

    def start(self):
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = LoopbackHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def make_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu", "--lang=en-US"]:
        options.add_argument(argument)
    # Dialogs stay open until the test answers them, so an unexpected alert() fails the test.
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    return driver


class ConsoleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(SHOTS, exist_ok=True)
        cls.receiver = Receiver(free_port())
        cls.wharf = Wharf()
        cls.browser = make_browser()
        cls.shot_number = 0

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.wharf.stop()
        cls.receiver.stop()

    # Helpers

    def shot(self, name):
        type(self).shot_number += 1
        self.browser.save_screenshot(os.path.join(SHOTS, f"{self.shot_number:02d}-{name}.png"))

    def go(self, path):
        self.browser.get(self.wharf.base + path)
        self.assert_no_alert()

    @staticmethod
    def gone(element):
        """A wait condition: `element` left the page (after a reload). Chromium sometimes reports a
        node from the old document as "does not belong to the document" instead of as stale."""
        def check(_):
            try:
                element.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as error:
                if "does not belong to the document" in str(error):
                    return True
                raise
        return check

    def wait(self, condition, timeout=20):
        try:
            return WebDriverWait(self.browser, timeout, poll_frequency=0.2,
                                 ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(condition)
        except TimeoutException:
            self.shot("TIMED-OUT")
            raise

    def css(self, selector):
        return self.browser.find_element(By.CSS_SELECTOR, selector)

    def text(self):
        return self.css("body").text

    def fill(self, form, values):
        for name, value in values.items():
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)

    def submit(self, form_selector, values=None, confirm=None):
        form = self.css(form_selector)
        if values:
            self.fill(form, values)
        form.find_element(By.CSS_SELECTOR, "button[type=submit], button:not([type])").click()
        if confirm is not None:
            alert = self.wait(EC.alert_is_present())
            message = alert.text
            alert.accept()
            self.assertIn(confirm, message)
            return message

    def assert_no_alert(self):
        try:
            alert = self.browser.switch_to.alert
            self.fail(f"a dialog opened by itself (injected script?): {alert.text}")
        except NoAlertPresentException:
            pass

    def reload_until(self, predicate, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.browser.refresh()
            if predicate():
                return
            time.sleep(0.3)
        self.fail("the page never showed what was expected")

    def admin_login(self):
        self.go("/admin")
        self.shot("admin-login")
        self.fill(self.css("form"), {"password": ADMIN_PASSWORD})
        self.css("form button").click()
        self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, "nav a[aria-current]")))

    # The stories

    def test_1_admin_retries_a_failed_delivery(self):
        self.admin_login()
        self.assertIn("Overview", self.text())
        self.shot("admin-overview")

        self.go("/admin/tenants")
        self.submit("#create-tenant", {
            "name": HOSTILE, "username": "acme", "password": "acme password 1",
            "webhookUrl": f"http://127.0.0.1:{self.receiver.port}/hook", "maxSessions": "1"})
        self.wait(EC.presence_of_element_located((By.ID, "edit-tenant")))
        self.assert_no_alert()
        self.assertIn(HOSTILE, self.css("h1").text, "the tenant's name is shown as text")
        self.shot("admin-tenant")

        # Something happens for the tenant while its receiver is down: a session links.
        status, login = self.wharf.api("POST", "/v1/login", {"username": "acme", "password": "acme password 1"})
        self.assertEqual(status, 200, login)
        status, session = self.wharf.api("POST", "/v1/sessions", {"name": HOSTILE}, token=login["token"])
        self.assertEqual(status, 201, session)

        self.go("/admin/deliveries?status=failed")
        self.reload_until(lambda: int(re.search(r"(\d+) matching", self.text()).group(1)) > 0)
        self.assert_no_alert()
        self.shot("admin-deliveries-failed")
        first = self.css("#deliveries tbody tr a").get_attribute("href")

        self.go("/admin/sessions")
        self.assertIn(HOSTILE, self.text())
        self.shot("admin-sessions")
        self.go("/admin/endpoints")
        self.shot("admin-endpoints")

        # The receiver comes back; retry one from its page and watch it get delivered.
        self.receiver.start()
        self.browser.get(first)
        self.assertIn("Attempts", self.text())
        self.assertIn('"type"', self.css("#payload").text)
        self.shot("admin-delivery-failed")
        self.submit("#retry-one")
        self.reload_until(lambda: self.css("#delivery-status").text == "delivered")
        self.shot("admin-delivery-delivered")
        attempts = [row.find_elements(By.TAG_NAME, "td") for row in self.browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")]
        self.assertEqual([cells[0].text for cells in attempts], ["1", "2"], "the failed attempt, then the retry")
        self.assertEqual(attempts[1][3].text, "200")

        # Bulk: the rest, after the console says how many it will touch.
        self.go("/admin/deliveries?status=failed")
        remaining = int(re.search(r"(\d+) matching", self.text()).group(1))
        if remaining:
            message = self.submit("#retry-matching", confirm="Retry")
            self.assertIn(str(remaining), message)
            self.wait(lambda d: "queued again" in d.find_element(By.ID, "bulk-result").text)
            self.go("/admin/deliveries?status=failed")
            self.reload_until(lambda: "0 matching" in self.text())
        self.go("/admin/deliveries")
        self.shot("admin-deliveries-all")
        self.assertTrue(self.receiver.received, "the receiver got the retried events")

        self.css("header form button").click()
        self.wait(EC.presence_of_element_located((By.NAME, "password")))
        self.go("/admin/tenants")
        self.assertIn("/admin", self.browser.current_url)
        self.assertIsNotNone(self.css("input[name=password]"), "after logout the panel asks for the password again")

    def test_2_tenant_links_a_session_and_manages_webhooks(self):
        self.go("/dashboard")
        self.shot("tenant-login")
        self.fill(self.css("form"), {"username": "acme", "password": "acme password 1"})
        self.css("form button").click()
        self.wait(EC.presence_of_element_located((By.ID, "create-session")))
        self.assert_no_alert()

        # The limit is 1 and the admin story made one: a clear message, then make room.
        self.assertIn("reached your limit of 1 session", self.text())
        self.submit("#create-session", {"name": "second"})
        self.wait(lambda d: "maximum of 1 session" in d.find_element(By.CSS_SELECTOR, "#create-session [role=alert]").text)
        self.shot("tenant-sessions-at-limit")
        existing = self.css("table tbody a").get_attribute("href")
        self.browser.get(existing)
        self.submit("#delete-session", confirm="Delete session")
        self.wait(EC.presence_of_element_located((By.ID, "create-session")))

        self.submit("#create-session", {"name": "Support line"})
        self.wait(EC.presence_of_element_located((By.ID, "session-panel")))
        self.wait(lambda d: d.find_element(By.ID, "session-status").text == "scan_qr")
        self.wait(lambda d: d.find_element(By.ID, "qr-image").is_displayed()
                  and d.execute_script("return document.getElementById('qr-image').naturalWidth") > 0)
        self.shot("tenant-session-qr")
        self.check_qr_decodes()

        self.submit("#sandbox-scan")
        self.wait(lambda d: d.find_element(By.ID, "session-status").text == "connected")
        self.wait(lambda d: d.find_element(By.ID, "session-phone").text not in ("", "—"))
        self.assertFalse(self.css("#qr-image").is_displayed())
        self.shot("tenant-session-connected")
        session_url = self.browser.current_url

        self.go("/dashboard/settings")
        self.submit("#create-key", {"name": "n8n"})
        self.wait(lambda d: d.find_element(By.ID, "new-key").text.startswith("wharf_sk_"))
        key = self.css("#new-key").text
        self.shot("tenant-settings-key")
        status, me = self.wharf.api("GET", "/v1/me", token=key)
        self.assertEqual((status, me["role"]), (200, "tenant"))
        self.check_groups_page(session_url, key)
        self.check_events_page(session_url, key)

        self.go("/dashboard/settings")
        form = self.css("#settings")
        self.submit("#settings", {"ai_prompt": "Answer in German."})
        self.wait(self.gone(form))
        self.go("/dashboard/settings")
        self.assertEqual(self.css("textarea[name=ai_prompt]").get_attribute("value"), "Answer in German.")
        status, settings = self.wharf.api("GET", "/v1/me/settings", token=key)
        self.assertEqual(settings["settings"]["ai_prompt"], "Answer in German.")
        self.assertTrue(settings["settings"]["humanize"]["enabled"])

        self.go("/dashboard/webhooks")
        endpoint = self.css("section[id^=endpoint-]")
        endpoint.find_element(By.XPATH, ".//button[text()='Reveal secret']").click()
        secret = endpoint.find_element(By.CSS_SELECTOR, "output.secret")
        self.wait(lambda d: secret.text.startswith("whsec_"))
        before = secret.text
        endpoint.find_element(By.XPATH, ".//button[text()='Rotate secret']").click()
        alert = self.wait(EC.alert_is_present())
        alert.accept()
        self.wait(lambda d: secret.text.startswith("whsec_") and secret.text != before)
        endpoint.find_element(By.XPATH, ".//button[text()='Send test event']").click()
        result = endpoint.find_element(By.CSS_SELECTOR, "output.test-result")
        self.wait(lambda d: result.text.startswith("Delivered: HTTP 200"))
        self.shot("tenant-webhooks")
        tests = [r for r in self.receiver.received if r["body"]["type"] == "webhook.test"]
        self.assertTrue(tests, "the receiver got the test event")
        self.assertIn("v1,", tests[-1]["headers"].get("webhook-signature", ""))

        self.go("/dashboard/messages")
        self.submit("#send-message", {"chatId": "4915112345678", "text": "<script>alert('x')</script> hello"})
        self.wait(lambda d: "jobId" in d.find_element(By.ID, "send-result").text)
        self.go("/dashboard/messages")
        self.assertIn("4915112345678", self.css("#jobs").text)
        self.shot("tenant-messages")

        self.go("/dashboard/deliveries")
        self.assertIn("webhook.test", self.text())
        self.shot("tenant-deliveries")
        self.css("#deliveries tbody tr a").click()
        self.assertIn("Payload", self.text())
        self.assert_no_alert()
        self.shot("tenant-delivery")

    def check_groups_page(self, session_url, key):
        """The session page links its groups; the page lists them with members, roles and settings,
        subjects inert as text, and a group left from it is gone from WhatsApp's list too."""
        session = session_url.rstrip("/").split("/")[-1]
        base = f"/v1/sessions/{session}/groups"
        status, crew = self.wharf.api("POST", base, {"subject": "<i>Stand</i> &amp; crew",
                                                     "participants": ["+4915100000001", "+4915100000002"]}, token=key)
        self.assertEqual(status, 201, crew)
        status, _ = self.wharf.api("PATCH", f"{base}/{crew['id']}", {"announce": True}, token=key)
        self.assertEqual(status, 200)
        status, trial = self.wharf.api("POST", f"{base}/join", {"invite": "sandbox-trial"}, token=key)
        self.assertEqual(status, 200, trial)

        self.browser.get(session_url)
        self.css("#session-groups").click()
        self.wait(EC.presence_of_element_located((By.ID, "groups")))
        self.assert_no_alert()
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr[data-group]")
        self.assertEqual(sorted(r.get_attribute("data-group") for r in rows), sorted([crew["id"], trial["id"]]))
        self.assertEqual(self.css("#groups-count").text, "2 groups this account is in.")
        row = self.css(f'tr[data-group="{crew["id"]}"]')
        self.assertIn("<i>Stand</i> &amp; crew", row.text, "the subject is shown as text")
        self.assertIn("only admins send", row.text)
        row.find_element(By.TAG_NAME, "summary").click()
        members = row.find_element(By.CSS_SELECTOR, "ul.members").text
        self.assertIn("4915100000001", members)
        self.assertIn("4915100000002", members)
        self.assertEqual(row.find_elements(By.CSS_SELECTOR, "td")[1].find_element(By.TAG_NAME, "summary").text, "3")
        self.shot("tenant-groups")

        old = self.css("#groups")
        self.submit(f'tr[data-group="{trial["id"]}"] form', confirm="Leave")
        self.wait(self.gone(old))
        self.wait(EC.presence_of_element_located((By.ID, "groups")))
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr[data-group]")
        self.assertEqual([r.get_attribute("data-group") for r in rows], [crew["id"]])
        self.assertEqual(self.css("#groups-count").text, "1 group this account is in.")
        status, listed = self.wharf.api("GET", base, token=key)
        self.assertEqual([g["id"] for g in listed["groups"]], [crew["id"]])

    def check_events_page(self, session_url, key):
        """The Events view shows what arrives as it arrives, values inert as text, and its filter holds."""
        session = session_url.rstrip("/").split("/")[-1]
        self.go("/dashboard/events")
        self.wait(lambda d: d.find_element(By.ID, "stream-status").text == "live")
        text = "<img src=x onerror=alert(2)> live one"
        status, _ = self.wharf.api("POST", f"/v1/sessions/{session}/sandbox/inbound", {"from": "+4915100000009", "text": text}, token=key)
        self.assertEqual(status, 201)
        self.wait(lambda d: text in d.find_element(By.ID, "live-events").text)
        first = self.css("#live-events tbody tr")
        self.assertIn("message.received", first.text)
        self.assertIn("Support line", first.text)
        self.assert_no_alert()
        self.shot("tenant-events")

        # Only session.status from now: a message is left out, the restart's statuses show.
        self.fill(self.css("#events-filter"), {"types": "session.status"})
        self.css("#events-filter button").click()
        self.wait(lambda d: d.find_element(By.ID, "stream-status").text == "live")
        status, _ = self.wharf.api("POST", f"/v1/sessions/{session}/sandbox/inbound", {"from": "+4915100000009", "text": "filtered out"}, token=key)
        self.assertEqual(status, 201)
        status, _ = self.wharf.api("POST", f"/v1/sessions/{session}/restart", token=key)
        self.assertEqual(status, 202)
        self.wait(lambda d: "session.status" in d.find_element(By.ID, "live-events").text)
        self.assertNotIn("filtered out", self.css("#live-events").text)
        self.assertNotIn("message.received", self.css("#live-events").text)
        self.wharf.api("GET", f"/v1/sessions/{session}", token=key)

    def test_3_tenant_adds_a_cloud_api_number(self):
        status, login = self.wharf.api("POST", "/v1/login", {"username": "acme", "password": "acme password 1"})
        status, _ = self.wharf.api("PATCH", "/v1/tenants/" + login["tenantId"], {"maxSessions": 3}, token=ADMIN_KEY)
        self.assertEqual(status, 200)
        self.go("/dashboard")
        from selenium.webdriver.support.ui import Select
        Select(self.css("#create-session select[name=engine]")).select_by_visible_text("cloud")
        self.submit("#create-session", {
            "name": "Business number", "cloud.phoneNumberId": "106540352242922", "cloud.accessToken": "EAAG-browser-token",
            "cloud.appSecret": "browser-app-secret", "cloud.verifyToken": "browser-verify"})
        self.wait(EC.presence_of_element_located((By.ID, "cloud-webhook-url")))
        session_id = self.browser.current_url.rsplit("/", 1)[1]
        self.assertTrue(self.css("#cloud-webhook-url").text.endswith("/v1/cloud/webhook/" + session_id))
        self.assertFalse(self.css("#qr-image").is_displayed())
        self.shot("tenant-session-cloud")
        for secret in ("EAAG-browser-token", "browser-app-secret"):
            self.assertNotIn(secret, self.browser.page_source)
        # Meta's subscription check, with the verify token typed into the form.
        url = f"/v1/cloud/webhook/{session_id}?hub.mode=subscribe&hub.verify_token=browser-verify&hub.challenge=4242"
        with urllib.request.urlopen(self.wharf.base + url, timeout=10) as response:
            self.assertEqual(response.read().decode(), "4242")
        form = self.css("#cloud-token-form")
        self.submit("#cloud-token-form", {"cloud.accessToken": "EAAG-second-token"})
        self.wait(self.gone(form))
        self.wait(EC.presence_of_element_located((By.ID, "cloud-token-form")))
        self.assertIn(self.css("#session-status").text, ("starting", "disconnected", "stopped"))
        self.assertNotIn("EAAG-second-token", self.browser.page_source)

    def test_4_api_docs_page_lays_out_the_document(self):
        self.go("/docs")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#api section details.operation")) > 80)
        self.assertIn("/v1/sessions/{sessionId}/messages", self.text())
        self.assertIn("seed route", self.text())
        first = self.css("#api details.operation")
        first.find_element(By.TAG_NAME, "summary").click()
        self.wait(lambda d: first.find_element(By.TAG_NAME, "h3").is_displayed())
        self.assert_no_alert()
        self.shot("api-docs")

    def check_qr_decodes(self):
        """The QR code on screen, decoded by zxing-cpp, is the engine's QR string."""
        import zxingcpp
        from PIL import Image
        import io
        status, session = self.wharf.api("GET", "/v1/sessions/" + self.browser.current_url.rsplit("/", 1)[1],
                                         token=self.tenant_token())
        self.assertEqual(status, 200, session)
        image = Image.open(io.BytesIO(self.css("#qr-image").screenshot_as_png))
        results = zxingcpp.read_barcodes(image)
        self.assertEqual([r.text for r in results], [session["qr"]])

    def tenant_token(self):
        status, login = self.wharf.api("POST", "/v1/login", {"username": "acme", "password": "acme password 1"})
        self.assertEqual(status, 200, login)
        return login["token"]


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    print(f"Screenshots: {SHOTS}")
    sys.exit(0 if result.wasSuccessful() else 1)
