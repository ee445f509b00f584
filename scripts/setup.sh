#!/usr/bin/env bash
# Installs what humansense-build needs on a fresh Debian/Ubuntu machine: ffmpeg, Chromium (for the QC app's browser
# test) and a virtual environment (.venv) with the package, its extras and the test tools. Safe to run again.
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
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned to the CPU build (a plain "torch" requirement would pull a multi-GB CUDA build).
.venv/bin/python -m pip install -q "torch==2.13.0"
# -qq: setuptools warns on every editable install of a mapped layout ("be careful with folders ... same name");
# errors still show.
.venv/bin/python -m pip install -qq -e '.[all,test]'
# fer ships its emotion model; its declared dependencies would pull facenet-pytorch and a CUDA torch, so it is
# installed alone on top of tensorflow-cpu and its light dependencies (the `emotion` extra).
.venv/bin/python -m pip install -q --no-deps "fer==25.10.3"
# Label Studio, for the QC round trip against a real server (tests/test_labelstudio.py), in its own environment: its
# pinned Django stack must not constrain ours. Pinned to the version the round trip was written against.
if [ ! -x .venv-labelstudio/bin/label-studio ]; then
  "$PYTHON" -m venv .venv-labelstudio
  .venv-labelstudio/bin/python -m pip install -q --upgrade pip
  .venv-labelstudio/bin/python -m pip install -q "label-studio==1.23.2"
fi
echo "humansense-build installed in .venv ($(.venv/bin/humansense --help >/dev/null && echo ok))"
