#!/usr/bin/env python3
"""A consumer of the Secure Message Server's log (docs/CONSUMERS.md), Python standard library only.

It reads after its server-side bookmark, stores each message by id (one file per id, so a page
read twice is harmless), and only then moves the bookmark. With SMS_FOLLOW=1 it long-polls for
new messages forever; otherwise it stops when it has caught up.

  SMS_URL=http://127.0.0.1:8000 SMS_TOKEN=... [SMS_CONSUMER=worker] [SMS_STORE=./messages] [SMS_FOLLOW=1] python3 consumer.py

Prints the id of each message it stored, one per line.
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ.get("SMS_URL", "http://127.0.0.1:8000").rstrip("/")
TOKEN = os.environ.get("SMS_TOKEN") or sys.exit("SMS_TOKEN is required")
CONSUMER = os.environ.get("SMS_CONSUMER", "worker")
STORE = os.environ.get("SMS_STORE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "messages"))
FOLLOW = os.environ.get("SMS_FOLLOW") == "1"


def api(method, path, body=None):
    """One request to the consumer API; the decoded answer, or an exception on anything but 200."""
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + TOKEN, **({} if body is None else {"Content-Type": "application/json"})},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def main():
    os.makedirs(STORE, mode=0o700, exist_ok=True)
    bookmark = "/v1/consumers/" + urllib.parse.quote(CONSUMER, safe="")
    cursor = api("GET", bookmark)["cursor"]
    while True:
        query = urllib.parse.urlencode({"after": cursor, "limit": 100, "wait": 25 if FOLLOW else 0})
        page = api("GET", "/v1/messages?" + query)
        if not page["messages"]:
            if FOLLOW:
                continue
            return
        for item in page["messages"]:
            record = item["record"]
            # 1. Store by id: writing the same id twice leaves one copy.
            with open(os.path.join(STORE, record["id"] + ".json"), "w", encoding="utf-8") as file:
                json.dump(record, file)
            print(record["id"], flush=True)
        # 2. Only then move the bookmark: a crash before this line re-reads the page, and step 1 absorbs it.
        cursor = page["next"]
        api("PUT", bookmark, {"cursor": cursor})


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as error:
        sys.exit(f"{error.code} {error.read().decode(errors='replace')}")
