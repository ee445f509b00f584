#!/usr/bin/env bash
# Regenerates every environment's lock in requirements/ from the real requirements:
#   dev.lock          <- pyproject.toml (extras all, test) + requirements/dev.in       -> .venv
#   labelstudio.lock  <- requirements/labelstudio.in                                   -> .venv-labelstudio
#   lmms-eval.lock    <- requirements/lmms-eval.in                                     -> .venv-lmms-eval
# Exact versions of every package, direct and transitive, for Linux x86_64 and Python 3.11 (this kind of machine).
#
# Run it after changing a dependency (pyproject.toml or a requirements/*.in), and routinely with --upgrade to take
# new releases and security fixes; then `bash scripts/setup.sh` and the test suite, and commit the locks with them.
# Without --upgrade, pins that still satisfy the requirements are kept. Extra arguments go to `uv pip compile`
# (e.g. --upgrade-package sentry-sdk).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
[ -x "$UV" ] || UV="$(command -v uv)" || { echo "uv is missing: run bash scripts/setup.sh first" >&2; exit 1; }
mapfile -t PIP_ARGS < <(python3 scripts/uv_args.py --no-constraints)  # where this machine's pip looks
compile() {
  "$UV" pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "bash scripts/lock.sh" "${PIP_ARGS[@]}" "$@"
}
# opencv-python is left out: opencv-contrib-python (paddlex's pin) installs the same cv2 package with more in it, and
# two distributions writing one folder leave whichever an installer wrote last (opencv-python 5 has no
# CascadeClassifier, which fer needs).
compile pyproject.toml --extra all --extra test requirements/dev.in --no-emit-package opencv-python \
  -o requirements/dev.lock "$@"
compile requirements/labelstudio.in -o requirements/labelstudio.lock "$@"
compile requirements/lmms-eval.in --no-emit-package torchvision -o requirements/lmms-eval.lock "$@"
echo "locks written: $(ls requirements/*.lock | tr '\n' ' ')"
