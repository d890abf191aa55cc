#!/usr/bin/env python3
"""Verifies a Standard Webhooks delivery with the reference Python library (an independent peer).

usage: verify_webhook.py SECRET BODY_FILE WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE
Exits 0 when the signature verifies, 1 when it does not.
"""
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    secret, body_file, webhook_id, timestamp, signature = sys.argv[1:6]
    with open(body_file, "rb") as handle:
        body = handle.read()
    headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError as error:
        print(f"rejected: {error}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
