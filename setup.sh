#!/usr/bin/env bash
# One set-up command for a fresh Debian/Ubuntu machine with Docker:
#   ./setup.sh [EXTRA ...]      e.g. ./setup.sh local ray postgres
# 1. host packages the harness needs (tools/setup/apt-packages.txt), with apt-get: needs root
#    (or sudo) and only when one is missing;
# 2. the Python package with its dev extra (plus the extras named), into the active Python, or
#    into .venv when that Python is managed by the system (PEP 668);
# 3. `python -m harness doctor`, which says what else the host lacks and what to do.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'setup: %s\n' "$*" >&2; }

missing=()
while read -r package; do
  [ -z "$package" ] || [ "${package#\#}" != "$package" ] && continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done < tools/setup/apt-packages.txt

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""
  elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; say "installing ${missing[*]} needs root: using sudo"
  else say "host packages missing: ${missing[*]}; run as root: apt-get install ${missing[*]}"; exit 2
  fi
  say "installing host packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "host packages present: $(tr '\n' ' ' < tools/setup/apt-packages.txt)"
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { say "no $python on PATH: install Python 3.10 or newer"; exit 2; }
if "$python" -c 'import sys, sysconfig, os; sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
  say "$python is managed by the system: installing into .venv (activate it with '. .venv/bin/activate')"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  python=.venv/bin/python
fi

extras="dev"
for extra in "$@"; do extras="$extras,$extra"; done
case ",$extras," in
  *,local,*)
    # llama.cpp builds from source; built for the host CPU it crashes where the CPU advertises
    # instructions the VM does not allow (AMX), so pin a portable instruction set.
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF}" ;;
esac
say "installing the harness with extras [$extras]"
"$python" -m pip install -q --disable-pip-version-check -e ".[$extras]"

"$python" -m harness doctor || say "the checks above say what the host still lacks"
