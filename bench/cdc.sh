#!/usr/bin/env bash
# bench/cdc.sh: the cdc scenario of bench/run.sh alone (100,000 Debezium
# events over 10,000 keys against hand-written DISTINCT ON + INSERT ... ON
# CONFLICT + DELETE); ROUNDS and the other settings of bench/run.sh apply.
exec env SCENARIOS=cdc bash "$(dirname "$0")/run.sh" "$@"
