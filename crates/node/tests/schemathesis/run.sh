#!/usr/bin/env bash
# Property-based tests of crates/node/openapi.json against a real node: schemathesis (pinned
# below) generates requests from the document, valid and invalid, signs those of signed
# operations as the node expects (poex_sign.py: RFC 9421, Ed25519, the node home's owner
# key), and checks every answer against the document (status, content type, schema,
# headers), that valid requests are accepted and invalid ones refused, that signatures are
# enforced, and that nothing is a 5xx. Any failure fails the run.
#
#   crates/node/tests/schemathesis/run.sh [POEX_BINARY]
#
# Env: SCHEMATHESIS_MAX_EXAMPLES (default 40 per operation and phase), SCHEMATHESIS_SEED
# (default a fixed seed, so a CI run is repeatable; set another to explore),
# SCHEMATHESIS_VENV (default target/schemathesis-venv). The node listens on a free loopback
# port with a fresh home, both removed at the end. It needs python3 with venv and pip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
poex="${1:-$root/target/debug/poex}"
venv="${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
seed="${SCHEMATHESIS_SEED:-20261206}"

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "4.32.5"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5 cryptography==48.0.0
fi

work="$(mktemp -d)"
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then
    kill "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

home="$work/home"
"$poex" --home "$home" init >/dev/null
"$poex" --home "$home" node --listen 127.0.0.1:0 >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
url=""
for _ in $(seq 1 200); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$work/node.err" | head -1 | sed 's/listening on //')" || true
  [ -n "$url" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.err" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { echo "the node did not start" >&2; cat "$work/node.err" >&2; exit 1; }
echo "schemathesis: node at $url (home $home)"

# Something real to find: an algorithm, a dataset and a job that ran, so that the job's
# operations are reached with an id that exists (half the time; the other half is generated).
printf 'wc -l < /data/rows > /out/count.txt\n' >"$work/count.sh"
printf 'a,b\n1,2\n' >"$work/rows.csv"
"$poex" --home "$home" --node "$url" publish algorithm "$work/count.sh" --name count.sh \
  --entrypoint "sh count.sh" >/dev/null
"$poex" --home "$home" --node "$url" publish dataset "$work/rows.csv" --name rows --allow count.sh >/dev/null
"$poex" --home "$home" --node "$url" run --algorithm count.sh --dataset rows --out "$work/job" >"$work/run.out"
job="$(grep -o 'job [0-9a-f]\{32\}' "$work/run.out" | head -1 | cut -d' ' -f2)"
[ -n "$job" ] || { echo "the seeded job did not run" >&2; cat "$work/run.out" >&2; exit 1; }

config="$work/schemathesis.toml"
cp "$here/schemathesis.toml" "$config"
cat >>"$config" <<EOF

# Written by run.sh: the seeded job and assets.
[dictionaries.jobs]
values = ["$job"]
[dictionaries.results]
values = ["count.txt"]
[dictionaries.names]
values = ["count.sh", "rows"]

[[operations]]
include-path-regex = "^/api/jobs/\\\\{id\\\\}"
parameters = { "path.id" = { dictionary = "jobs", probability = 0.5 }, "path.path" = { dictionary = "results", probability = 0.5 } }

[[operations]]
include-path-regex = "\\\\{name\\\\}"
parameters = { "path.name" = { dictionary = "names", probability = 0.5 } }
EOF

export POEX_SIGNING_KEY="$home/keys/default.key"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=poex_sign
status=0
"$venv/bin/schemathesis" --config-file "$config" run "$root/crates/node/openapi.json" \
  --url "$url" --workers 1 --max-examples "$max_examples" --seed "$seed" \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures (above); the node's log is in its stderr:" >&2
  tail -50 "$work/node.err" >&2
fi
exit "$status"
