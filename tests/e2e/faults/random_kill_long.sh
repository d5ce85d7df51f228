#!/usr/bin/env bash
# The long kill-anywhere run: 20 kill -9s of random ranks at random steps in one job (see
# random_kill.sh). Run by hand; its result is recorded in docs/reliability.md.
# Usage: random_kill_long.sh path/to/retort [SEED]
exec "$(dirname "${BASH_SOURCE[0]}")/random_kill.sh" "${1:?usage: random_kill_long.sh path/to/retort [SEED]}" 20 ${2:+"$2"}
