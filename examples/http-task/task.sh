#!/bin/sh
# examples/http-task/task.sh: one task in shell that reports over HTTP with curl. It works in
# chunks, renewing its slot between them, and frees it when done. `curl --fail` exits 22 when the
# answer is 4xx: the slot is gone (410) or unknown (404), so the task stops working. The task id
# goes into the URL as it is: keep ids to letters, digits and -._~ here, or percent-encode them.
set -u
call() { # call ACTION [JSON fields]: POST /tasks/$TASK_ID/ACTION, print the JSON answer
  curl --silent --show-error --fail --max-time 10 \
    -H "Authorization: Bearer $TASK_SEMAPHORE_HTTP_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"token\": $TASK_TOKEN${2:+, $2}}" \
    "$TASK_SEMAPHORE_URL/tasks/$TASK_ID/$1"
}

for chunk in 1 2 3; do
  sleep 0.2 # a chunk of work
  answer=$(call keepalive) || { echo "$TASK_ID: lost its slot, stopping" >&2; exit 1; }
  case $answer in
    *'"cancelRequested":true'*) call stop '"status": "cancelled"' >/dev/null; exit 0 ;;
  esac
done
call stop '"status": "succeeded"' >/dev/null
