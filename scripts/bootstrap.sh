# Sourced by scripts/serve and scripts/test: find Python >= 3.11, create .venv, and
# (re)install the project only when pyproject.toml or the wanted extras changed.
# shellcheck shell=bash

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  # $1: the extras to install, e.g. "dev" or "" for none.
  local extras="${1:-}" python stamp want spec
  if [ ! -x .venv/bin/python ]; then
    python=$(find_python) || exit 1
    echo "setting up .venv with $python (first run only)"
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  stamp=.venv/.install-stamp
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=${extras}"
  # A stamp that already holds the dev extras also satisfies a plain install.
  if [ -f "$stamp" ] && { [ "$(cat "$stamp")" = "$want" ] ||
       { [ -z "$extras" ] && [ "$(cat "$stamp")" = "${want}dev" ]; }; }; then
    return 0
  fi
  spec="."
  [ -n "$extras" ] && spec=".[${extras}]"
  echo "installing the project into .venv ($spec)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
  echo "$want" > "$stamp"
}
