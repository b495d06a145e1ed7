#!/usr/bin/env bash
# scripts/test.sh: the project's whole test suite (README: `bash scripts/test.sh`).
#
# 1. installs the Debian packages if missing, builds with -Werror, installs;
# 2. starts a throwaway PostgreSQL 15 cluster (stopped and removed on exit);
# 3. make installcheck: pg_regress (REGRESS) then pg_isolation_regress (ISOLATION);
# 4. every executable test/*.sh, with PGHOST/PGPORT/PGUSER and REPO_ROOT exported;
# 5. pgTAP: pg_prove on test/tap/*.sql in a fresh database incr_tap (with pgtap and
#    the extension named by the *.control file created in it).
# A failing stage does not stop the later ones; a summary, with each stage's
# seconds, is printed before pg_prove so that pg_prove's "Result:" line ends the
# output when all passed (a failure of an earlier stage is repeated after it).
# Exit status 0 only if every stage passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export REPO_ROOT=$PWD
source scripts/cluster.sh
shopt -s nullglob
extension=$(basename -- *.control .control) # incremental

ensure_packages || { echo "test.sh: could not install packages" >&2; exit 1; }
build_install || { echo "test.sh: build failed" >&2; exit 1; }

cluster_trap
cluster_start

failed=0
summary=()
failed_stages=()
stage_start=0
record() { # record STAGE RESULT: with the seconds since the last record
	summary+=("$(printf '  %-34s %-4s %4d s' "$1" "$2" $((SECONDS - stage_start)))")
	stage_start=$SECONDS
	if [ "$2" = FAIL ]; then failed=1; failed_stages+=("$1"); fi
}
record build ok

echo "== make installcheck"
stage_start=$SECONDS
rm -rf results output_iso regression.diffs regression.out
if make installcheck; then
	record installcheck ok
else
	for diffs in regression.diffs output_iso/regression.diffs; do
		if [ -f "$diffs" ]; then
			echo "== $diffs"
			cat "$diffs"
		fi
	done
	record installcheck FAIL
fi

scripts=(test/*.sh)
[ ${#scripts[@]} -gt 0 ] || echo "== no test/*.sh scripts"
for t in "${scripts[@]}"; do
	if [ ! -x "$t" ]; then
		echo "== $t is not executable: skipped"
		record "$t" "skipped (not executable)"
	else
		echo "== $t"
		stage_start=$SECONDS
		if "$t" </dev/null; then record "$t" ok; else record "$t" FAIL; fi
	fi
done

tap_files=(test/tap/*.sql)
run_prove=0
if [ ${#tap_files[@]} -eq 0 ]; then
	echo "== no pgTAP tests (test/tap/*.sql) yet"
	record pgTAP "skipped (no test/tap/*.sql)"
else
	echo "== pgTAP: creating database incr_tap"
	sql() { psql -X -q -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' "$@"; }
	if sql -d postgres -c 'DROP DATABASE IF EXISTS incr_tap' -c 'CREATE DATABASE incr_tap' &&
		sql -d incr_tap -c 'CREATE EXTENSION pgtap' -c "CREATE EXTENSION $extension"; then
		record pgTAP "see pg_prove below"
		run_prove=1
	else
		record "pgTAP setup" FAIL
	fi
fi

if [ $failed -ne 0 ]; then
	echo "== last lines of the server log ($CLUSTER_LOG)"
	tail -n 40 "$CLUSTER_LOG"
fi
echo "== summary (seconds per stage; $SECONDS s so far)"
printf '%s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
	echo "  => FAILED"
elif [ $run_prove -eq 1 ]; then
	echo "  => ok so far (pg_prove follows)"
else
	echo "  => ok"
fi

if [ $run_prove -eq 1 ]; then
	echo "== pg_prove -d incr_tap ${tap_files[*]}"
	pg_prove -d incr_tap "${tap_files[@]}" || failed=1
fi
if [ ${#failed_stages[@]} -gt 0 ]; then
	echo "== test.sh: FAILED: ${failed_stages[*]}"
fi
exit $failed
