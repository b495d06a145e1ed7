#!/usr/bin/env bash
# scripts/valgrind.sh: the memory check.  Runs the pg_regress, isolation and pgTAP
# suites against a server whose every process runs under valgrind's memcheck, then
# reads valgrind's reports and fails on any invalid read or write, use of an
# uninitialised value, bad free or definite leak whose stack passes through
# incremental.so.  Reports that do not involve our library are counted and listed,
# not failed on: Debian's server is not built for valgrind, so they are noise of
# the server's own (raw structures with padding written to disk and sockets).
#
#   bash scripts/valgrind.sh            # about 15-30 minutes on 2 cores
#   KEEP_LOGS=/tmp/vg bash scripts/valgrind.sh   # keep valgrind's per-process logs
#
# Not part of scripts/test.sh (too slow for CI); run it before a release and after
# changes to C code that manages memory.  Exit status: 0 clean, 1 findings in our
# code, 2 the run itself failed (build, server start).  Test failures under
# valgrind (timing of isolation specs) are reported but do not decide the status.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export REPO_ROOT=$PWD
source scripts/cluster.sh
shopt -s nullglob
extension=$(basename -- *.control .control)

ensure_packages || exit 2
if ! command -v valgrind >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind || exit 2
fi
build_install || exit 2

tools=$(mktemp -d /tmp/incremental-vg.XXXXXX) || exit 2
chmod 755 "$tools"
logs=$tools/logs
mkdir -p "$logs"
chmod 777 "$logs"

# Raw structures (WAL records, stats and invalidation messages, relation pages)
# are written with uninitialised padding by design; memcheck reports each such
# write at the system call.
cat >"$tools/postgres.supp" <<'SUPP'
{
   server_writes_padding_to_files
   Memcheck:Param
   write(buf)
   fun:*
}
{
   server_pwrites_padding_to_files
   Memcheck:Param
   pwrite64(buf)
   fun:*
}
{
   server_pwritev_padding
   Memcheck:Param
   pwritev(vector[0])
   fun:*
}
{
   server_pwritev_padding_1
   Memcheck:Param
   pwritev(vector[1])
   fun:*
}
{
   server_sends_padding
   Memcheck:Param
   sendto(msg)
   fun:*
}
{
   server_sends_padding_socketcall
   Memcheck:Param
   socketcall.sendto(msg)
   fun:*
}
{
   server_epoll_padding
   Memcheck:Param
   epoll_ctl(event)
   fun:*
}
SUPP

cat >"$tools/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --error-limit=no \\
	--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
	--num-callers=30 --suppressions=$tools/postgres.supp \\
	--log-file=$logs/vg.%p.log "$PG_BIN/postgres" "\$@"
WRAP
chmod 755 "$tools/postgres"

cleanup() {
	# a fast (not immediate) stop lets every process exit and write its leak report
	if [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -t 300 -w stop \
			>/dev/null 2>&1 || true
	fi
	cluster_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CLUSTER_POSTGRES=$tools/postgres CLUSTER_START_TIMEOUT=600 \
	cluster_start "autovacuum = off" "max_connections = 30" \
	"log_min_messages = warning" || exit 2

tests_failed=()
echo "== valgrind: make installcheck (pg_regress, isolation)"
rm -rf results output_iso regression.diffs regression.out
make installcheck PG_CONFIG="$PG_BIN/pg_config" >"$tools/installcheck.log" 2>&1 ||
	tests_failed+=(installcheck)
grep -E '^(ok|not ok|# )|tests? (passed|failed)' "$tools/installcheck.log" | tail -n 40

echo "== valgrind: pgTAP"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS incr_vg' -c 'CREATE DATABASE incr_vg' &&
	psql -X -q -d incr_vg -c 'SET client_min_messages = warning' \
		-c 'CREATE EXTENSION pgtap' -c "CREATE EXTENSION $extension" || exit 2
tap_files=(test/tap/*.sql)
pg_prove -d incr_vg "${tap_files[@]}" >"$tools/prove.log" 2>&1 || tests_failed+=(pgTAP)
tail -n 5 "$tools/prove.log"

echo "== valgrind: stopping the server so that every process reports its leaks"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -t 300 -w stop >/dev/null 2>&1

# One report is a block of lines that starts with an error kind and ends at an
# empty line; it is ours if a frame of its stack is in our library.
python3 - "$logs" src/*.c <<'PY'
import glob, os, re, sys
kinds = re.compile(r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|"
                   r"Use of uninitialised|Syscall param|Source and destination overlap|"
                   r"\d[\d,]* bytes in [\d,]+ blocks are definitely lost)")
# frames of our code: "in .../incremental.so", or with debug info "(plan.c:123)"
files = "|".join(re.escape(os.path.basename(f)) for f in sys.argv[2:])
our_frame = re.compile(r"incremental\.so|\((%s):\d+\)" % files)
ours, theirs, processes = [], 0, 0
for path in sorted(glob.glob(sys.argv[1] + "/vg.*.log")):
    processes += 1
    block = None
    for line in open(path, errors="replace"):
        body = line.rstrip("\n")
        if kinds.match(body):
            block = [body]
            continue
        if block is not None:
            if re.match(r"^==\d+== *$", body):
                text = "\n".join(block)
                if our_frame.search(text):
                    ours.append(text)
                else:
                    theirs += 1
                block = None
            else:
                block.append(body)
print(f"valgrind: {processes} server processes checked; "
      f"{len(ours)} reports in incremental.so; {theirs} elsewhere in the server (not ours)")
for text in ours[:50]:
    print(text + "\n")
sys.exit(1 if ours else 0)
PY
status=$?
if [ -n "${KEEP_LOGS:-}" ]; then
	mkdir -p "$KEEP_LOGS" && cp "$logs"/* "$tools"/*.log "$KEEP_LOGS"/ && echo "logs kept in $KEEP_LOGS"
fi
if [ ${#tests_failed[@]} -gt 0 ]; then
	echo "valgrind: note: test stages that did not pass under valgrind: ${tests_failed[*]}" \
		"(slow processes break timing-sensitive specs; see the logs with KEEP_LOGS)"
fi
rm -rf "$tools"
if [ $status -eq 0 ]; then
	echo "valgrind: PASS"
else
	echo "valgrind: FAIL"
fi
exit $status
