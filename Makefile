# incremental: PGXS build of the extension and its tests.
#
# make COPT=-Werror && make install          build and install
# make installcheck                          pg_regress, then isolation specs,
#                                            against the cluster in PGHOST/PGPORT
# scripts/test.sh                            everything, on a throwaway cluster

EXTENSION  = incremental
MODULE_big = incremental
OBJS = \
	src/init.o \
	src/incremental.o \
	src/cursor.o \
	src/options.o \
	src/catalog.o \
	src/pipeline.o \
	src/describe.o \
	src/source.o \
	src/source_cursor.o \
	src/source_files.o \
	src/source_wal.o \
	src/statement.o \
	src/keptplan.o \
	src/sqlgen.o \
	src/mode.o \
	src/mode_append.o \
	src/mode_merge.o \
	src/mode_cdc.o \
	src/mode_scd2.o \
	src/mode_query.o \
	src/run.o \
	src/run_api.o \
	src/tally.o \
	src/recorder.o \
	src/cdc.o \
	src/cron.o \
	src/scheduler.o \
	src/verify.o \
	src/citus.o

DATA = sql/incremental--0.1.sql sql/incremental--0.2.sql sql/incremental--0.1--0.2.sql \
	sql/incremental--0.2--0.3.sql sql/incremental--0.3--0.4.sql

# pg_regress tests: test/sql/<name>.sql with test/expected/<name>.out
REGRESS = append_lifecycle merge_lifecycle cursor_kinds plan_status files_catch_up \
	silent_misconfiguration wal_merge wal_merge_set_based wal_append wal_scd2 \
	wal_drop_rolled_back_keeps_slot wal_rollback_keeps_changes wal_identity_changed \
	wal_first_run_own_writes wal_reset_mirrors_deletes wal_value_settings \
	append_keyed_catch_up_backoff
REGRESS_OPTS = --inputdir=test --load-extension=incremental

# isolation specs: test/specs/<name>.spec with test/expected/<name>.out
ISOLATION = concurrent_run inflight_now inflight_clock_timestamp \
	inflight_bigserial inflight_identity inflight_xid8 inflight_update_merge \
	inflight_partition inflight_savepoint loader_repeatable_read files_concurrent \
	create_no_lock_before_privilege run_in_source_trigger \
	wal_create_open_writer wal_first_run_writers
ISOLATION_OPTS = --inputdir=test --load-extension=incremental

PG_CPPFLAGS = -I$(srcdir)/src
# bind the library's calls to its own functions: another preloaded library
# (pg_cron has a NextRunId too) must not capture them
SHLIB_LINK = -Wl,-Bsymbolic
PG_CFLAGS = -Wall -Wmissing-prototypes -Wpointer-arith -Wendif-labels \
	-Wformat-security -Wimplicit-fallthrough=3

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header changes
$(OBJS): $(wildcard src/*.h)
