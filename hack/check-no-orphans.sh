#!/usr/bin/env bash
# Fails if any process started from the test control plane's binary directory
# is still running: every test must stop what it started.
set -u
dir=${1:?usage: check-no-orphans.sh TESTENV_DIR}
left=$(pgrep -af -- "$dir/" || true)
if [ -n "$left" ]; then
  echo "orphaned control plane processes after the tests:" >&2
  echo "$left" >&2
  exit 1
fi
echo "no control plane process left running"
