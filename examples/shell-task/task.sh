#!/bin/sh
# examples/shell-task/task.sh: one task, in shell. It works in chunks, renewing its slot between
# them, and frees it when done. The exit code of `task-semaphore keepalive` says what to do:
# 0 go on, 5 a cancel was requested, anything else the slot is gone (stop working).
set -u
task_id=$1
token=$2

for chunk in 1 2 3; do
  sleep 0.2 # a chunk of work
  task-semaphore keepalive "$task_id" --token "$token" >/dev/null
  case $? in
    0) ;;
    5) exec task-semaphore stop "$task_id" --token "$token" --status cancelled >/dev/null ;;
    *) echo "$task_id: lost its slot, stopping" >&2; exit 1 ;;
  esac
done
task-semaphore stop "$task_id" --token "$token" --status succeeded >/dev/null
