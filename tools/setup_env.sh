#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and prints nothing else on stdout but
# its path on the last line.
#
# The environment lives outside the clone (default ~/.cache/mmdet-rnnpool/venv-py311) so every
# clone on a machine, CI's fresh clone included, reuses it. mmcv 2.1.0 has no wheel for torch
# 2.14 and takes 11-45 min to compile on 2 cores: the wheel built once is kept in
# ~/.cache/mmdet-rnnpool/wheels (named by the torch it was built against) and re-installed in
# seconds. A stamp of the requirement files tells when the environment is current.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${MMDET_RNNPOOL_CACHE:-$HOME/.cache/mmdet-rnnpool}
venv=${MMDET_RNNPOOL_VENV:-$cache/venv-py311}
wheels=$cache/wheels
python=${PYTHON:-python3.11}
req=$here/requirements
log() { echo "[setup] $*" >&2; }

stamp=$(cat "$req"/constraints.txt "$req"/runtime.txt "$req"/tests.txt "$0" | sha1sum | cut -c1-16)
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ] && [ -x "$venv/bin/python" ]; then
    echo "$venv"
    exit 0
fi

command -v "$python" >/dev/null || { log "error: $python not found (set PYTHON=...)"; exit 1; }
mkdir -p "$cache" "$wheels"
# One set-up at a time per machine: a second caller waits instead of racing the mmcv build.
exec 9>"$cache/setup.lock"
flock 9
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then echo "$venv"; exit 0; fi

log "creating $venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -c "$req/constraints.txt")
"${pip[@]}" -q --upgrade pip "setuptools<82" wheel ninja
# torch 2.14.1 + torchvision 0.29.1: MMPretrain imports torchvision, and no torchvision works
# beside the CPU-only torch 2.13 (requirements/constraints.txt says more). Runs without a GPU.
log "torch 2.14.1 + torchvision 0.29.1"
"${pip[@]}" -q torch==2.14.1 torchvision==0.29.1
"${pip[@]}" -q "numpy<2" packaging addict yapf "opencv-python<4.12" mmengine==0.10.7

# A wheel of compiled ops only fits the torch it was built against: one folder per torch.
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheels=$wheels/torch-$torch_version
mkdir -p "$wheels"
if ! ls "$wheels"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with its compiled ops against torch $torch_version (first time on this machine: 11-45 min)"
    # torch 2.14's headers need C++20; mmcv 2.1.0's setup.py asks for C++17. Build from the
    # released source distribution with that one flag changed (the sources compile as C++20).
    src=$(mktemp -d)
    "$venv/bin/python" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        --no-build-isolation -d "$src" mmcv==2.1.0 >&2
    tar xzf "$src"/mmcv-2.1.0.tar.gz -C "$src"
    grep -q "extra_compile_args\['cxx'\] = \['-std=c++17'\]" "$src"/mmcv-2.1.0/setup.py \
        || { log "error: mmcv 2.1.0's setup.py no longer has the C++17 flag to raise"; exit 1; }
    sed -i "s/extra_compile_args\['cxx'\] = \['-std=c++17'\]/extra_compile_args['cxx'] = ['-std=c++20']/" \
        "$src"/mmcv-2.1.0/setup.py
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$venv/bin/python" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
        -c "$req/constraints.txt" -w "$wheels" "$src"/mmcv-2.1.0 >&2
    rm -rf "$src"
fi
"${pip[@]}" -q --no-deps "$wheels"/mmcv-2.1.0-*.whl
"${pip[@]}" -q -r "$req/runtime.txt" -r "$req/tests.txt"
"$venv/bin/python" - <<'PY' >&2
import torch, torchvision, mmcv, mmdet, mmengine, mmpretrain
from mmcv.ops import nms  # the compiled ops must load
from torchvision.ops import nms as tv_nms  # and torchvision's (MMPretrain imports them)
print(f"[setup] torch {torch.__version__}, torchvision {torchvision.__version__}, mmcv {mmcv.__version__}, "
      f"mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}: ok")
PY
echo "$stamp" > "$venv/.stamp"
echo "$venv"
