"""examples/http-task/task.py: one task in Python (standard library only) that reports over HTTP.

It works in chunks, renewing its slot between them, and frees it when done. The answer of a
keepalive says what to do: 200 go on (unless cancelRequested), 410 or 404 the slot is gone.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote

URL = os.environ["TASK_SEMAPHORE_URL"]
SECRET = os.environ["TASK_SEMAPHORE_HTTP_TOKEN"]
TASK_ID = os.environ["TASK_ID"]
TOKEN = int(os.environ["TASK_TOKEN"])


def call(action, **body):
    """POSTs to /tasks/<id>/<action>; returns the HTTP status and the JSON answer."""
    request = urllib.request.Request(
        f"{URL}/tasks/{quote(TASK_ID, safe='')}/{action}",
        data=json.dumps({"token": TOKEN, **body}).encode(),
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


for chunk in range(3):
    time.sleep(0.2)  # a chunk of work
    status, answer = call("keepalive")
    if status != 200:
        print(f"{TASK_ID}: lost its slot ({answer.get('reason')}), stopping", file=sys.stderr)
        sys.exit(1)
    if answer["cancelRequested"]:
        call("stop", status="cancelled")
        sys.exit(0)

call("stop", status="succeeded")
