/*
 * scheduler.c
 *		The background workers that run pipelines on their schedules: a
 *		launcher (with shared_preload_libraries = 'incremental') that keeps one
 *		worker per database of incremental.database, and those workers.
 *
 * Each worker wakes every incremental.naptime, reads the enabled pipelines
 * with a schedule, and runs each one that is due in a transaction of its own
 * with ExecuteRun, as a manual run would, but without waiting for a run in
 * progress.  A failing pipeline is logged, recorded in incr_runs from a fresh
 * transaction, and backs off; it never stops the others.  A worker leaves its
 * database when someone drops it (DROP DATABASE waits a few seconds for other
 * sessions to go), and the launcher starts it again only while the database
 * exists.  Nothing runs during recovery: the launcher starts after it.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_inherits.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "catalog.h"
#include "citus.h"
#include "cursor.h"
#include "mode.h"
#include "run.h"
#include "scheduler.h"
#include "source.h"
#include "source_cursor.h"

PGDLLEXPORT void incr_launcher_main(Datum main_arg);
PGDLLEXPORT void incr_worker_main(Datum main_arg);

PG_FUNCTION_INFO_V1(incremental_scheduler_state);

/* GUCs */
bool		incr_scheduler_enabled = true;
char	   *incr_scheduler_databases = NULL;
int			incr_scheduler_naptime = 1000;
int			incr_scheduler_max_workers = 4;
bool		incr_record_idle_runs = false;
int			incr_run_timeout = 60 * 60 * 1000;

int			incr_runs_retention = 0;

/* Was the library loaded by shared_preload_libraries (is there a scheduler)? */
bool		scheduler_preloaded = false;

/*
 * What the workers know of each scheduled pipeline, in shared memory so that
 * incr_status can show it: when the worker last checked the pipeline, its
 * next run, consecutive failures, the last success.  Idle runs are not
 * recorded in incr_runs (incremental.record_idle_runs), so this is the only
 * sign of a healthy worker with nothing to do, and it costs no write.  A
 * slot is found by database and a 64-bit hash of the name; lost on restart.
 */
#define SCHEDULE_SLOTS 1024

typedef struct ScheduleSlot
{
	Oid			database;		/* InvalidOid: free */
	uint64		name_hash;
	TimestampTz checked_at;
	TimestampTz next_due;
	TimestampTz last_success;
	int32		failures;
} ScheduleSlot;

typedef struct ScheduleShared
{
	LWLock	   *lock;
	ScheduleSlot slots[SCHEDULE_SLOTS];
} ScheduleShared;

static ScheduleShared *schedule_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Ask for the shared schedule state and its lock. */
static void
scheduler_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(ScheduleShared));
	RequestNamedLWLockTranche("incremental scheduler", 1);
}

/* Attach to (or create) the shared schedule state. */
static void
scheduler_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	schedule_shared = ShmemInitStruct("incremental scheduler", sizeof(ScheduleShared), &found);
	if (!found)
	{
		memset(schedule_shared, 0, sizeof(ScheduleShared));
		schedule_shared->lock = &(GetNamedLWLockTranche("incremental scheduler"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot of a pipeline of this database, or a free one if add; NULL if none. */
static ScheduleSlot *
schedule_slot(const char *name, bool add)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) name, strlen(name), 0);
	ScheduleSlot *free_slot = NULL;

	for (int i = 0; i < SCHEDULE_SLOTS; i++)
	{
		ScheduleSlot *slot = &schedule_shared->slots[i];

		if (slot->database == MyDatabaseId && slot->name_hash == hash)
			return slot;
		if (slot->database == InvalidOid && free_slot == NULL)
			free_slot = slot;
	}
	if (add && free_slot)
	{
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->database = MyDatabaseId;
		free_slot->name_hash = hash;
	}
	return add ? free_slot : NULL;
}

/*
 * Publish what the worker knows of a pipeline; forget it (checked_at 0).
 * success: the run just made succeeded (0: no run now).
 */
static void
publish_schedule(const char *name, TimestampTz checked_at, TimestampTz next_due,
				 int failures, TimestampTz success)
{
	ScheduleSlot *slot;

	if (schedule_shared == NULL)
		return;
	LWLockAcquire(schedule_shared->lock, LW_EXCLUSIVE);
	slot = schedule_slot(name, checked_at != 0);
	if (slot && checked_at == 0)
		slot->database = InvalidOid;
	else if (slot)
	{
		slot->checked_at = checked_at;
		slot->next_due = next_due;
		slot->failures = failures;
		if (success)
			slot->last_success = success;
	}
	LWLockRelease(schedule_shared->lock);
}

/*
 * _incr_scheduler_state(name): what the scheduler's worker of this database
 * knows of a pipeline: checked_at, next_run_at, failures, last_success_at;
 * NULLs without the preload or when no worker has checked it.  Only the
 * owner's roles learn it, as with incr_pending_rows.
 */
Datum
incremental_scheduler_state(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {true, true, true, true};
	ScheduleSlot copy;
	bool		found = false;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_incr_scheduler_state must return a row");
	if (schedule_shared != NULL && PipelineExists(name))
	{
		Pipeline   *p = LoadPipeline(name);

		if (has_privs_of_role(GetUserId(), p->owner))
		{
			LWLockAcquire(schedule_shared->lock, LW_SHARED);
			{
				ScheduleSlot *slot = schedule_slot(name, false);

				if (slot)
				{
					copy = *slot;
					found = true;
				}
			}
			LWLockRelease(schedule_shared->lock);
		}
	}
	if (found)
	{
		values[0] = TimestampTzGetDatum(copy.checked_at);
		values[1] = TimestampTzGetDatum(copy.next_due);
		values[2] = Int32GetDatum(copy.failures);
		values[3] = TimestampTzGetDatum(copy.last_success);
		nulls[0] = nulls[1] = nulls[2] = false;
		nulls[3] = (copy.last_success == 0);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* The longest a failing pipeline waits before its next try. */
#define MAX_BACKOFF_MS (5 * 60 * 1000)
/* How long the launcher waits before trying a missing database again. */
#define MISSING_DATABASE_RETRY_MS (2 * 1000)
#define MAX_DATABASES 64
/* How often a worker prunes incr_runs, with incremental.runs_retention set. */
#define PRUNE_EVERY_MS (60 * 60 * 1000)

/* Define the scheduler's GUCs and, when preloaded, register the launcher. */
void
SchedulerInit(void)
{
	BackgroundWorker worker;

	DefineCustomBoolVariable("incremental.enabled",
							 "Runs scheduled pipelines in the background.",
							 NULL, &incr_scheduler_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("incremental.database",
							   "Databases whose pipelines the scheduler runs (a comma list).",
							   NULL, &incr_scheduler_databases, "postgres",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("incremental.naptime",
							"How often the scheduler looks for due pipelines.",
							NULL, &incr_scheduler_naptime, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("incremental.max_workers",
							"How many databases the scheduler serves at once, one worker each.",
							NULL, &incr_scheduler_max_workers, 4, 1, MAX_DATABASES,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("incremental.record_idle_runs",
							 "Records scheduled runs that found nothing to do in incr_runs.",
							 "Off by default: a pipeline run every second would add 86400 rows a day.",
							 &incr_record_idle_runs, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("incremental.run_timeout",
							"Cancels a scheduled run that takes longer than this; 0 disables.",
							"A run that hangs (a source that never answers) would otherwise "
							"hold up every pipeline of its database.",
							&incr_run_timeout, 60 * 60 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("incremental.runs_retention",
							"Deletes incr_runs rows older than this, once an hour, from the scheduler; 0 keeps them all.",
							"Each pipeline's latest run is kept.  incr_prune_runs does the same on demand.",
							&incr_runs_retention, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;
	scheduler_preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = scheduler_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = scheduler_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "incremental");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "incr_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "incremental launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "incremental launcher");
	RegisterBackgroundWorker(&worker);
}

/* One database the launcher serves. */
typedef struct DatabaseWorker
{
	char		dbname[NAMEDATALEN];
	BackgroundWorkerHandle *handle;
	TimestampTz start_after;	/* do not start before this */
	bool		missing_logged;
	bool		wanted;			/* still in incremental.database */
} DatabaseWorker;

static DatabaseWorker databases[MAX_DATABASES];
static int	ndatabases = 0;

/*
 * True if a database of that name exists and accepts connections.  The
 * launcher has no database, so it scans pg_database without its indexes, as
 * the autovacuum launcher does.
 */
static bool
database_exists(const char *dbname)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		exists = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), dbname) == 0 && db->datallowconn)
			exists = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return exists;
}

/* Start the worker of one database; false if no background worker slot was free. */
static bool
start_database_worker(DatabaseWorker *db)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "incremental");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "incr_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "incremental worker for database %s", db->dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "incremental worker");
	strlcpy(worker.bgw_extra, db->dbname, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, &db->handle);
}

/* Bring the list of served databases in line with incremental.database. */
static void
update_database_list(void)
{
	char	   *raw = pstrdup(incr_scheduler_databases ? incr_scheduler_databases : "");
	List	   *names = NIL;
	ListCell   *lc;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(LOG,
				(errmsg("incremental launcher: invalid list in incremental.database: \"%s\"",
						incr_scheduler_databases)));
		names = NIL;
	}
	for (int i = 0; i < ndatabases; i++)
		databases[i].wanted = false;
	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		int			i;

		for (i = 0; i < ndatabases; i++)
			if (strcmp(databases[i].dbname, name) == 0)
				break;
		if (i == ndatabases)
		{
			if (ndatabases == MAX_DATABASES)
				continue;
			memset(&databases[i], 0, sizeof(DatabaseWorker));
			strlcpy(databases[i].dbname, name, NAMEDATALEN);
			ndatabases++;
		}
		databases[i].wanted = true;
	}
	/* stop and forget the databases no longer listed */
	for (int i = 0; i < ndatabases; i++)
	{
		if (databases[i].wanted)
			continue;
		if (databases[i].handle)
			TerminateBackgroundWorker(databases[i].handle);
		databases[i] = databases[--ndatabases];
		i--;
	}
}

/*
 * Main of the launcher: keep one worker running per listed database, as far
 * as incremental.max_workers allows, restarting workers that stopped.
 */
void
incr_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no database: the launcher only reads the shared catalog pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("incremental launcher");
	ereport(LOG, (errmsg("incremental launcher started")));

	update_database_list();
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		int			running = 0;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			update_database_list();
		}

		for (int i = 0; i < ndatabases; i++)
		{
			DatabaseWorker *db = &databases[i];
			pid_t		pid;

			if (db->handle && GetBackgroundWorkerPid(db->handle, &pid) == BGWH_STOPPED)
			{
				pfree(db->handle);
				db->handle = NULL;
				db->start_after = TimestampTzPlusMilliseconds(now, incr_scheduler_naptime);
			}
			if (db->handle)
				running++;
		}
		for (int i = 0; i < ndatabases && incr_scheduler_enabled; i++)
		{
			DatabaseWorker *db = &databases[i];

			if (db->handle || now < db->start_after || running >= incr_scheduler_max_workers)
				continue;
			if (!database_exists(db->dbname))
			{
				if (!db->missing_logged)
					ereport(LOG,
							(errmsg("incremental launcher: database \"%s\" does not exist; waiting for it",
									db->dbname)));
				db->missing_logged = true;
				db->start_after = TimestampTzPlusMilliseconds(now, MISSING_DATABASE_RETRY_MS);
				continue;
			}
			db->missing_logged = false;
			if (start_database_worker(db))
				running++;
			else
			{
				ereport(LOG,
						(errmsg("incremental launcher: no background worker slot for database \"%s\"",
								db->dbname),
						 errhint("Raise max_worker_processes.")));
				db->handle = NULL;
				db->start_after = TimestampTzPlusMilliseconds(now, MISSING_DATABASE_RETRY_MS);
			}
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 incr_scheduler_naptime, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Idle pipelines.  Most scheduled runs find nothing to do, and a run costs a
 * transaction, the checkpoint's row lock and the run statement, however
 * little it reads.  So a pipeline whose last run was idle is not run again
 * while nothing could have changed what that run saw:
 *
 * - its definition and its checkpoint rows are the same row versions (xmin):
 *   a reset, a pause, a manual run that moved it, an altered definition all
 *   make new ones;
 * - its source's and target's tables (with their partitions) show the same
 *   counts of rows inserted, updated and deleted in the cumulative
 *   statistics, which count every write, committed or not;
 * - and the source holds no row past the checkpoint: one step into the
 *   cursor's index, as the owner, so that new rows are loaded at the next
 *   tick, not when the writer's counts reach shared memory (a session
 *   flushes them when it goes idle, at most once a second, else about 10 s
 *   later).
 *
 * A row that can still arrive at or below the checkpoint (a tie at the
 * checkpoint's value, late data within the lag) changes the counts.  The
 * marks are taken before the run whose idleness they record, so a write the
 * run could not see changes them.  Anything else that could change a run's
 * outcome without a write (a revoked privilege, a dropped owner, a schema
 * change to adapt to, a future timestamp coming due) is caught by a full run
 * at least every IDLE_RECHECK_MS.  Only pipelines whose source and target are
 * local tables (no views, foreign tables, row security on the source, or
 * Citus) of the cursor source kind whose mode writes rows itself (not query)
 * are skipped, only with track_counts on and record_idle_runs off.
 */
#define IDLE_RECHECK_MS 10000

/* The marks of an idle run: see above. */
typedef struct IdleMarks
{
	TransactionId pipeline_xmin;
	TransactionId checkpoint_xmin;
	int64		source_writes;
	int64		target_writes;
} IdleMarks;

/* What a worker remembers of a pipeline between ticks. */
typedef struct PipelineSchedule
{
	char	   *name;			/* whole, in SchedulerContext: names have no length limit */
	TimestampTz next_due;
	int			failures;		/* consecutive */
	bool		seen;			/* still scheduled at the last tick */
	bool		idle;			/* its last run was idle: marks and idle_since hold */
	IdleMarks	marks;			/* taken before that run */
	TimestampTz idle_since;		/* when that run started */
	char	   *probe_sql;		/* the probe of rows past the checkpoint, kept */
	SPIPlanPtr	probe;
} PipelineSchedule;

/* A scheduled pipeline as read at a tick. */
typedef struct ScheduledPipeline
{
	char	   *name;
	int64		interval_ms;
	bool		skippable;		/* marks is valid: the pipeline may be skipped when idle */
	IdleMarks	marks;
	bool		skip;			/* idle since its last run: do not run it now */
} ScheduledPipeline;

static PipelineSchedule *schedules = NULL;
static int	nschedules = 0;
static int	maxschedules = 0;
static MemoryContext SchedulerContext = NULL;

/* Find or add the schedule state of a pipeline. */
static PipelineSchedule *
schedule_of(const char *name, TimestampTz now)
{
	for (int i = 0; i < nschedules; i++)
		if (strcmp(schedules[i].name, name) == 0)
			return &schedules[i];
	if (nschedules == maxschedules)
	{
		maxschedules = maxschedules ? maxschedules * 2 : 64;
		schedules = schedules ?
			repalloc(schedules, maxschedules * sizeof(PipelineSchedule)) :
			MemoryContextAlloc(SchedulerContext, maxschedules * sizeof(PipelineSchedule));
	}
	memset(&schedules[nschedules], 0, sizeof(PipelineSchedule));
	schedules[nschedules].name = MemoryContextStrdup(SchedulerContext, name);
	schedules[nschedules].next_due = now;
	return &schedules[nschedules++];
}

/*
 * True if someone is dropping (or renaming) this database: they hold an
 * exclusive lock on it and wait a few seconds for other sessions to leave.
 */
static bool
database_going_away(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, AccessShareLock, false);
	return false;
}

/* Rows inserted, updated and deleted in a table and its partitions, as counted so far. */
static int64
table_writes(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	ListCell   *lc;
	int64		n = 0;

	foreach(lc, rels)
	{
		PgStat_StatTabEntry *e = pgstat_fetch_stat_tabentry(lfirst_oid(lc));

		if (e)
			n += e->tuples_inserted + e->tuples_updated + e->tuples_deleted;
	}
	return n;
}

/* True if relid is a local table or partitioned table (without row security, if asked). */
static bool
local_table(Oid relid, bool refuse_row_security)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	ok = (((Form_pg_class) GETSTRUCT(tup))->relkind == RELKIND_RELATION ||
		  ((Form_pg_class) GETSTRUCT(tup))->relkind == RELKIND_PARTITIONED_TABLE) &&
		!(refuse_row_security && ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity);
	ReleaseSysCache(tup);
	return ok;
}

/*
 * True if an idle run of the pipeline may be skipped while its marks hold
 * (see "Idle pipelines" above).
 */
static bool
may_skip_when_idle(Pipeline *p, bool citus_installed)
{
	const ModeOps *mode = ModeOf(p);

	return pgstat_track_counts && !incr_record_idle_runs &&
		SourceKindOf(p) == &source_cursor && !mode->user_statement &&
		local_table(p->source, true) && local_table(p->target, false) &&
		!(citus_installed && PipelineOverCitus(p));
}

/* How long the probe may wait (for a lock on the source) before the pipeline just runs. */
#define IDLE_PROBE_TIMEOUT_MS 1000

/*
 * Does the source hold a row past the checkpoint?  Asked as the owner,
 * restricted as in a run, in a subtransaction: whatever fails (the owner
 * may not read the source any more, a lock is not granted in time) answers
 * yes, and the run that follows reports it.  The plan is kept.
 */
static bool
rows_past_checkpoint(Pipeline *p, PipelineSchedule *s, Checkpoint *cp, MemoryContext cxt)
{
	ResourceOwner owner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec_context;
	char	   *sql;
	bool		found = true;

	sql = BuildPastCheckpointSql(p, quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->source)),
															   get_rel_name(p->source)),
								 cp->isnull);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		SetUserIdAndSecContext(p->owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		enable_timeout_after(STATEMENT_TIMEOUT, IDLE_PROBE_TIMEOUT_MS);
		if (s->probe == NULL || strcmp(s->probe_sql, sql) != 0)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, cp->isnull ? 0 : 1, &p->cursor_type);

			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "could not prepare the idle probe: %s", sql);
			if (s->probe)
			{
				SPI_freeplan(s->probe);
				pfree(s->probe_sql);
			}
			s->probe = plan;
			s->probe_sql = MemoryContextStrdup(SchedulerContext, sql);
		}
		if (SPI_execute_plan(s->probe, &cp->value, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run the idle probe: %s", sql);
		found = (SPI_processed > 0);
		disable_timeout(STATEMENT_TIMEOUT, false);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		/* the abort restores the worker's identity */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		found = true;
	}
	PG_END_TRY();
	return found;
}

/*
 * Decide whether a due pipeline was idle at its last run and still is: the
 * same marks, within IDLE_RECHECK_MS of that run, and no row past the
 * checkpoint.  tup holds the columns of read_scheduled's query.
 */
static bool
still_idle(ScheduledPipeline *sp, PipelineSchedule *s, HeapTuple tup, TupleDesc desc,
		   Pipeline *p, TimestampTz now, MemoryContext cxt)
{
	Checkpoint	cp;
	bool		isnull;
	Datum		d;

	if (!s->idle || now < s->next_due ||
		TimestampDifferenceExceeds(s->idle_since, now, IDLE_RECHECK_MS) ||
		memcmp(&s->marks, &sp->marks, sizeof(IdleMarks)) != 0)
		return false;
	/* the checkpoint row was there at the last run, so it is now (same xmin) */
	d = SPI_getbinval(tup, desc, 10 + CursorCheckpointColumn(p), &isnull);
	cp.isnull = isnull;
	cp.value = isnull ? (Datum) 0 : CursorFromCheckpoint(p, d);
	return !rows_past_checkpoint(p, s, &cp, cxt);
}

/*
 * Read the enabled pipelines with a schedule, in one transaction: names,
 * schedules in ms, and for the pipelines due now whether they are still
 * idle since their last run (see "Idle pipelines").
 */
static int
read_scheduled(MemoryContext cxt, ScheduledPipeline **out, bool *installed)
{
	static bool missing_logged = false;
	int			n = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	*installed = OidIsValid(get_extension_oid("incremental", true));
	if (!*installed)
	{
		if (!missing_logged)
			ereport(LOG,
					(errmsg("incremental worker: extension \"incremental\" is not installed in database \"%s\"; waiting for it",
							get_database_name(MyDatabaseId))));
		missing_logged = true;
	}
	else
	{
		const char *schema = ExtensionSchemaQuoted();
		bool		citus_installed = OidIsValid(get_extension_oid("citus", true));
		TimestampTz now = GetCurrentTimestamp();
		SPITupleTable *rows;

		missing_logged = false;
		pgstat_report_activity(STATE_RUNNING, "incremental: reading schedules");
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(psprintf("SELECT p.name, (pg_catalog.date_part('epoch', p.schedule)"
								 " OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8,"
								 " p.xmin, c.xmin, p.source::pg_catalog.oid, p.target::pg_catalog.oid,"
								 " p.cursor_column::pg_catalog.text, p.cursor_type::pg_catalog.oid,"
								 " p.owner::pg_catalog.oid, p.mode,"
								 " c.value_timestamptz, c.value_timestamp, c.value_date, c.value_numeric"
								 " FROM %s.incr_pipelines AS p LEFT JOIN %s.incr_checkpoints AS c"
								 " ON c.pipeline OPERATOR(pg_catalog.=) p.name"
								 " WHERE p.enabled AND p.schedule IS NOT NULL"
								 " ORDER BY p.name", schema, schema),
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the pipelines' schedules");
		n = SPI_processed;
		rows = SPI_tuptable;	/* the probes' results replace SPI_tuptable */
		*out = MemoryContextAllocZero(cxt, (n + 1) * sizeof(ScheduledPipeline));
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = rows->vals[i];
			TupleDesc	desc = rows->tupdesc;
			ScheduledPipeline *sp = &(*out)[i];
			char	   *mode;
			bool		isnull;
			Pipeline	p;

			sp->name = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 1));
			sp->interval_ms = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));

			/* just what the checks and the probe use of a definition */
			memset(&p, 0, sizeof(p));
			p.name = sp->name;
			p.source = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
			p.target = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
			p.cursor_column = SPI_getvalue(tup, desc, 7);
			p.cursor_type = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
			p.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
			mode = SPI_getvalue(tup, desc, 10);
			(void) SPI_getbinval(tup, desc, 4, &isnull);
			if (isnull || p.cursor_column == NULL || mode == NULL ||
				!PipelineModeFromName(mode, &p.mode) ||
				!CursorKindFromType(p.cursor_type, &p.cursor_kind) ||
				!may_skip_when_idle(&p, citus_installed))
				continue;
			sp->skippable = true;
			sp->marks.pipeline_xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 3, &isnull));
			sp->marks.checkpoint_xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 4, &isnull));
			sp->marks.source_writes = table_writes(p.source);
			sp->marks.target_writes = table_writes(p.target);
			sp->skip = still_idle(sp, schedule_of(sp->name, now), tup, desc, &p, now, cxt);
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

/*
 * The owner's code can catch the cancel of run_timeout (a PL/pgSQL
 * EXCEPTION WHEN query_canceled in a source view) and go on.  A run still
 * going RUN_TIMEOUT_GRACE_MS after its cancel is ended the way SIGTERM ends
 * a backend: a FATAL, which no handler catches.  The worker exits, its run
 * rolls back, and the launcher starts the worker again, so the database's
 * other pipelines are held up at most run_timeout plus the grace.
 */
#define RUN_TIMEOUT_GRACE_MS 10000

static TimeoutId run_terminate_timeout = MAX_TIMEOUTS;
static const char *running_pipeline = NULL;
static volatile sig_atomic_t run_terminated = false;

/* Timeout handler: end the worker as die() does; the run ignored its cancel. */
static void
terminate_run(void)
{
	run_terminated = true;
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Log, as the worker exits, which run made it exit (the run is not recorded). */
static void
log_terminated_run(int code, Datum arg)
{
	if (running_pipeline != NULL && run_terminated)
		ereport(LOG,
				(errmsg("incremental worker: pipeline \"%s\": run terminated %d ms after incremental.run_timeout canceled it",
						running_pipeline, RUN_TIMEOUT_GRACE_MS),
				 errdetail("The run's code went on after the cancel (it caught query_canceled); the run was rolled back and is not recorded in incr_runs."),
				 errhint("Fix the source's code, or pause the pipeline with incr_pause.")));
}

/*
 * Run one pipeline in a transaction of its own.  Returns false if it failed;
 * the error is logged, and the failed run, which ExecuteRun hands back
 * instead of recording, is written to incr_runs from a new transaction.
 * The run is canceled after incremental.run_timeout, as statement_timeout
 * cancels a statement (the worker runs no statement of a client, so the
 * timer is its own), so that one run that hangs cannot stall the others.
 */
static bool
run_scheduled(const char *name, MemoryContext cxt, bool *idle)
{
	RunFailure	failure;
	RunRequest	req;
	RunOutcome	outcome;
	bool		ok = true;
	int			timeout_ms = incr_run_timeout;
	TimestampTz started;

	*idle = false;
	memset(&failure, 0, sizeof(failure));
	failure.cxt = cxt;
	memset(&req, 0, sizeof(req));
	req.name = name;
	req.trigger = "scheduler";
	req.repeats = true;
	req.wait = false;
	req.quiet_when_idle = !incr_record_idle_runs;
	req.failure = &failure;

	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_RUNNING, psprintf("incremental: running pipeline %s", name));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	started = GetCurrentTimestamp();
	PG_TRY();
	{
		if (timeout_ms > 0)
		{
			if (run_terminate_timeout == MAX_TIMEOUTS)
			{
				run_terminate_timeout = RegisterTimeout(USER_TIMEOUT, terminate_run);
				before_shmem_exit(log_terminated_run, (Datum) 0);
			}
			enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);
			enable_timeout_after(run_terminate_timeout,
								 timeout_ms > INT_MAX - RUN_TIMEOUT_GRACE_MS ? INT_MAX :
								 timeout_ms + RUN_TIMEOUT_GRACE_MS);
		}
		running_pipeline = name;
		memset(&outcome, 0, sizeof(outcome));
		(void) ExecuteRun(&req, &outcome);
		*idle = outcome.idle;
		running_pipeline = NULL;
		disable_timeout(STATEMENT_TIMEOUT, false);
		if (run_terminate_timeout != MAX_TIMEOUTS)
			disable_timeout(run_terminate_timeout, false);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		running_pipeline = NULL;
		disable_timeout(STATEMENT_TIMEOUT, false);
		if (run_terminate_timeout != MAX_TIMEOUTS)
			disable_timeout(run_terminate_timeout, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
		/* canceled by our timer: say so in the history, naming the setting */
		if (timeout_ms > 0 && edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
			TimestampDifferenceExceeds(started, GetCurrentTimestamp(), timeout_ms))
		{
			char	   *error;

			MemoryContextSwitchTo(cxt);
			error = psprintf("run canceled after %d ms: it took longer than incremental.run_timeout",
							 timeout_ms);
			ereport(LOG,
					(errmsg("incremental worker: pipeline \"%s\": %s", name, error)));
			if (failure.filled)
				failure.record.error = error;
		}
	}
	PG_END_TRY();

	if (failure.filled)
	{
		PG_TRY();
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			(void) InsertRun(failure.run_id, &failure.record);
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
	}
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/*
 * Delete the history older than incremental.runs_retention, in a transaction
 * of its own; an error is logged, and tried again at the next prune.
 */
static void
prune_runs(MemoryContext cxt)
{
	Interval	retention;

	memset(&retention, 0, sizeof(retention));
	retention.time = (int64) incr_runs_retention * USECS_PER_MINUTE;
	pgstat_report_activity(STATE_RUNNING, "incremental: pruning incr_runs");
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		int64		deleted = PruneRuns(&retention, true);

		PopActiveSnapshot();
		CommitTransactionCommand();
		if (deleted > 0)
			ereport(LOG,
					(errmsg("incremental worker: deleted " INT64_FORMAT " rows of incr_runs older than incremental.runs_retention",
							deleted)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Main of a database's worker: every naptime, run the pipelines that are
 * due, each in its own transaction.
 */
void
incr_worker_main(Datum main_arg)
{
	MemoryContext tick_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);
	pgstat_report_appname("incremental worker");
	ereport(LOG, (errmsg("incremental worker started for database \"%s\"",
						 MyBgworkerEntry->bgw_extra)));

	SchedulerContext = AllocSetContextCreate(TopMemoryContext, "incremental scheduler",
											 ALLOCSET_DEFAULT_SIZES);
	tick_cxt = AllocSetContextCreate(SchedulerContext, "incremental scheduler tick",
									 ALLOCSET_DEFAULT_SIZES);
	for (TimestampTz last_tick = 0, last_prune = 0;;)
	{
		ScheduledPipeline *due = NULL;
		bool		installed;
		int			n;
		TimestampTz now;
		TimestampTz succeeded = 0;

		/* wake at least every second: a DROP DATABASE waits only 5 s for us */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(incr_scheduler_naptime, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			ereport(LOG, (errmsg("incremental worker: configuration reloaded, naptime %d ms",
								 incr_scheduler_naptime)));
		}
		if (database_going_away())
		{
			ereport(LOG, (errmsg("incremental worker: database \"%s\" is being dropped; leaving it",
								 MyBgworkerEntry->bgw_extra)));
			proc_exit(0);
		}
		/* a launcher that died is replaced by one that starts its own workers */
		if (kill(MyBgworkerEntry->bgw_notify_pid, 0) != 0)
		{
			ereport(LOG, (errmsg("incremental worker: its launcher is gone; leaving database \"%s\"",
								 MyBgworkerEntry->bgw_extra)));
			proc_exit(0);
		}
		if (!incr_scheduler_enabled ||
			!TimestampDifferenceExceeds(last_tick, GetCurrentTimestamp(),
										incr_scheduler_naptime - 10))
			continue;
		last_tick = GetCurrentTimestamp();

		MemoryContextReset(tick_cxt);
		MemoryContextSwitchTo(tick_cxt);
		PG_TRY();
		{
			n = read_scheduled(tick_cxt, &due, &installed);
		}
		PG_CATCH();
		{
			/* log it, and try again next time: an ERROR must not end the worker */
			MemoryContextSwitchTo(tick_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			n = 0;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(tick_cxt);
		now = GetCurrentTimestamp();
		for (int i = 0; i < nschedules; i++)
			schedules[i].seen = false;
		for (int i = 0; i < n; i++)
		{
			ScheduledPipeline *sp = &due[i];
			PipelineSchedule *s = schedule_of(sp->name, now);
			int64		wait_ms = sp->interval_ms;
			TimestampTz started;
			bool		idle;

			s->seen = true;
			if (now < s->next_due)
			{
				publish_schedule(sp->name, now, s->next_due, s->failures, 0);
				continue;
			}
			/* idle since its last run, and nothing that run saw has changed */
			if (sp->skip)
			{
				s->next_due = TimestampTzPlusMilliseconds(now, wait_ms);
				publish_schedule(sp->name, now, s->next_due, s->failures, 0);
				continue;
			}
			started = GetCurrentTimestamp();
			if (run_scheduled(sp->name, tick_cxt, &idle))
			{
				s->failures = 0;
				succeeded = GetCurrentTimestamp();
				/* the marks were taken before the run, so they cover what it saw */
				s->idle = idle && sp->skippable;
				s->marks = sp->marks;
				s->idle_since = started;
			}
			else
			{
				s->idle = false;
				/* back off: schedule times 2^failures, at most 5 minutes */
				s->failures++;
				for (int k = 0; k < s->failures && wait_ms < MAX_BACKOFF_MS; k++)
					wait_ms *= 2;
				wait_ms = Min(Max(wait_ms, sp->interval_ms), Max(MAX_BACKOFF_MS, sp->interval_ms));
			}
			now = GetCurrentTimestamp();
			s->next_due = TimestampTzPlusMilliseconds(now, wait_ms);
			publish_schedule(sp->name, now, s->next_due, s->failures, succeeded);
			succeeded = 0;
			CHECK_FOR_INTERRUPTS();
		}
		/* forget pipelines no longer scheduled */
		for (int i = 0; i < nschedules; i++)
		{
			if (!schedules[i].seen)
			{
				publish_schedule(schedules[i].name, 0, 0, 0, 0);
				if (schedules[i].probe)
				{
					SPI_freeplan(schedules[i].probe);
					pfree(schedules[i].probe_sql);
				}
				pfree(schedules[i].name);
				schedules[i] = schedules[--nschedules];
				i--;
			}
		}
		if (installed && incr_runs_retention > 0 &&
			TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(), PRUNE_EVERY_MS))
		{
			prune_runs(tick_cxt);
			last_prune = GetCurrentTimestamp();
		}
		/*
		 * A background worker's table statistics wait for this: the counts
		 * of what its runs wrote must reach the marks of the pipelines that
		 * read those targets, at the next tick.
		 */
		pgstat_report_stat(true);
		MemoryContextSwitchTo(TopMemoryContext);
	}
}
