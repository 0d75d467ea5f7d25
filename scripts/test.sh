#!/usr/bin/env bash
# The whole check, from a fresh machine: system packages, the project, lint, types, docs, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v memcached >/dev/null 2>&1; then
  echo "installing memcached (the tests start real servers)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq memcached >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq memcached >/dev/null
  fi
fi

python -m pip install -q --disable-pip-version-check -e '.[dev]'
ruff check .
ruff format --check .
mypy
mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python -m pytest "$@"
