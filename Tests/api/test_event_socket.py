"""`GET /v1/events/ws` against an independent WebSocket client (the `websockets` library).

A client that disconnects in the middle of a burst and reconnects with `?after=<last id>` gets every
event once, in order; a refused stream gets its problem as a message and the status in the close
code; another tenant's events never show. (EventSocketTests in the Swift suite covers the same on a bare
socket, with the slow-consumer cut-off.)

Run by `make test` (after `swift build`); standalone: `python3 Tests/api/test_event_socket.py`.
"""

import json
import os
import sys
import threading
import unittest

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from wharf_process import Wharf  # noqa: E402

BURST = 300


class EventSocketTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.wharf = Wharf()
        cls.alice_id, cls.alice = cls.wharf.tenant("alice")
        cls.bob_id, cls.bob = cls.wharf.tenant("bob")
        cls.alice_session = cls.session(cls.alice)
        cls.bob_session = cls.session(cls.bob)

    @classmethod
    def tearDownClass(cls):
        cls.wharf.stop()

    @classmethod
    def session(cls, token):
        status, session = cls.wharf.api("POST", "/v1/sessions", {"name": "main", "engine": "sandbox"}, token=token)
        assert status == 201, session
        cls.wharf.wait_for("the session", lambda: cls.wharf.api("GET", f"/v1/sessions/{session['id']}", token=token)[1]["status"] == "connected")
        return session["id"]

    def inject(self, session, token, text):
        status, body = self.wharf.api("POST", f"/v1/sessions/{session}/sandbox/inbound", {"from": "+4915100000001", "text": text}, token=token)
        self.assertEqual(status, 201, body)

    def socket(self, token, query=""):
        url = f"ws://127.0.0.1:{self.wharf.port}/v1/events/ws{query}"
        return connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)

    def test_a_client_that_disconnects_mid_burst_resumes_with_every_event_once_in_order(self):
        # From a cursor rather than "from now", so nothing depends on when the upgrade completes.
        self.inject(self.alice_session, self.alice, "before")
        status, page = self.wharf.api("GET", "/v1/events?after=start&limit=500&types=message.received", token=self.alice)
        self.assertEqual(status, 200, page)
        first = self.socket(self.alice, f"?types=message.received&after={page['items'][-1]['id']}")

        def burst():
            for index in range(BURST):
                self.inject(self.alice_session, self.alice, f"burst {index}")
                if index % 50 == 0:
                    self.inject(self.bob_session, self.bob, f"bob {index}")

        injecting = threading.Thread(target=burst)
        injecting.start()
        received = [json.loads(first.recv(timeout=30)) for _ in range(100)]
        first.close()
        second = self.socket(self.alice, f"?types=message.received&after={received[-1]['id']}")
        injecting.join()
        while len(received) < BURST:
            received.append(json.loads(second.recv(timeout=30)))
        second.close()
        texts = [event["data"]["text"] for event in received]
        self.assertEqual(texts, [f"burst {index}" for index in range(BURST)], "each event once, in commit order")
        self.assertEqual(len({event["id"] for event in received}), BURST)
        self.assertEqual({event["tenant"]["id"] for event in received}, {self.alice_id}, "another tenant's events never show")

    def test_a_refused_stream_says_why_and_closes_with_the_status(self):
        for token, query, status in [("not-a-token", "", 401), (self.alice, "?after=evt_nope", 410), (self.alice, "?types=a%20b", 400)]:
            with self.subTest(query=query, status=status):
                refused = self.socket(token, query)
                message = json.loads(refused.recv(timeout=10))
                self.assertEqual(message["type"], "stream.refused")
                self.assertEqual(message["problem"]["status"], status)
                self.assertTrue(message["problem"]["detail"])
                with self.assertRaises(ConnectionClosed) as closed:
                    refused.recv(timeout=10)
                self.assertEqual(closed.exception.rcvd.code, 4000 + status)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
