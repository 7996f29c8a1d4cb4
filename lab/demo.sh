#!/usr/bin/env bash
# `npm run demo`: installs what the lab needs (tests/setup.sh), then boots real Xen under QEMU and shows
# a PV guest booting with its console output. Argument: the Xen version (4.17, default, or 4.20).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
exec node dist/lab/demo.js "${1:-4.17}"
