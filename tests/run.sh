#!/usr/bin/env bash
# `npm test`: installs what the suite needs, then runs every tier (unit and lab). Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
npx tsc -p tsconfig.json --noEmit
exec npx vitest run "$@"
