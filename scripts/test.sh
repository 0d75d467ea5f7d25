#!/usr/bin/env bash
# The whole check, from a fresh machine: system packages, the project, lint, types, docs, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use for real: memcached (started by fixtures), and Chromium with
# its driver (the Flask example app is tested in a headless browser).
missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python -m pip install -q --disable-pip-version-check -e '.[dev]'
ruff check .
ruff format --check .
mypy
mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python -m pytest "$@"
