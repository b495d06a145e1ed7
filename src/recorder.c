/*
 * recorder.c
 *		Recording a failed run so that the record survives the rollback of the
 *		run's transaction: a short-lived background worker inserts the
 *		incr_runs row in a transaction of its own while the failing run waits.
 *
 * Dynamic background workers need no shared_preload_libraries.  The worker
 * only inserts into incr_runs with an explicit run_id.  The run waits for it
 * in a way the deadlock detector cannot see, so the worker must never wait
 * for a lock the run's transaction holds: a caller that has locked incr_runs
 * against inserts (LOCK TABLE ... IN SHARE MODE, TRUNCATE) would hang both
 * for good.  Such a run records nothing and says why; for any other lock the
 * worker gives up after RECORDER_LOCK_TIMEOUT.  Either way the run's own
 * error follows, with a WARNING that the record is missing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "run.h"

PGDLLEXPORT void incr_recorder_main(Datum main_arg);

#define RECORD_NSTRINGS 7

/* how long the worker waits for a lock before it gives up the record */
#define RECORDER_LOCK_TIMEOUT "5s"

/* A failed run as passed to the worker in a dynamic shared memory segment. */
typedef struct FailedRunMessage
{
	Oid			database;
	Oid			owner;
	int64		run_id;
	TimestampTz started_at;
	TimestampTz finished_at;
	int64		counts[5];
	bool		done;			/* set by the worker once it has committed */
	int32		offsets[RECORD_NSTRINGS];	/* into data, -1 for NULL */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} FailedRunMessage;

/* The strings of a RunRecord, in message order. */
static void
record_strings(RunRecord *run, const char **strings)
{
	strings[0] = run->pipeline;
	strings[1] = run->trigger;
	strings[2] = run->window_from;
	strings[3] = run->window_to;
	strings[4] = run->error;
	strings[5] = run->sqlstate;
	strings[6] = run->detail;
}

/*
 * Does this transaction hold a lock on incr_runs that the worker's INSERT
 * (RowExclusiveLock) would wait for?  Those are ShareLock and stronger.
 */
static bool
holds_lock_against_insert(void)
{
	Oid			runs = get_relname_relid("incr_runs", ExtensionSchemaOid());
	LOCKTAG		tag;

	if (!OidIsValid(runs))
		return false;
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, runs);
	for (LOCKMODE mode = ShareLock; mode <= AccessExclusiveLock; mode++)
		if (LockHeldByMe(&tag, mode))
			return true;
	return false;
}

/*
 * Record a failed run durably: start the recorder worker, wait for it to
 * finish, and warn (not fail) if it could not, since the caller is about to
 * raise the run's own error.
 */
void
RecordFailedRun(int64 run_id, RunRecord *run)
{
	const char *strings[RECORD_NSTRINGS];
	Size		size = offsetof(FailedRunMessage, data);
	Size		pos = 0;
	dsm_segment *seg;
	FailedRunMessage *msg;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	if (holds_lock_against_insert())
	{
		ereport(WARNING,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not record the failed run of pipeline \"%s\" in incr_runs",
						run->pipeline),
				 errdetail("This transaction holds a lock on incr_runs that blocks the insert of the record, which is written from another transaction."),
				 errhint("Do not lock or truncate incr_runs in a transaction that runs pipelines.")));
		return;
	}

	record_strings(run, strings);
	for (int i = 0; i < RECORD_NSTRINGS; i++)
		if (strings[i])
			size += strlen(strings[i]) + 1;

	seg = dsm_create(size, 0);
	msg = dsm_segment_address(seg);
	msg->database = MyDatabaseId;
	msg->run_id = run_id;
	msg->owner = run->owner;
	msg->started_at = run->started_at;
	msg->finished_at = run->finished_at;
	msg->counts[0] = run->rows_read;
	msg->counts[1] = run->rows_inserted;
	msg->counts[2] = run->rows_updated;
	msg->counts[3] = run->rows_deleted;
	msg->counts[4] = run->rows_unchanged;
	msg->done = false;
	for (int i = 0; i < RECORD_NSTRINGS; i++)
	{
		if (strings[i] == NULL)
		{
			msg->offsets[i] = -1;
			continue;
		}
		msg->offsets[i] = pos;
		strcpy(msg->data + pos, strings[i]);
		pos += strlen(strings[i]) + 1;
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "incremental");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "incr_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "incremental recorder for pipeline %s",
			 run->pipeline);
	snprintf(worker.bgw_type, BGW_MAXLEN, "incremental recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not record the failed run of pipeline \"%s\" in incr_runs",
						run->pipeline),
				 errdetail("No background worker slot was free."),
				 errhint("Raise max_worker_processes.")));
	else if (WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED || !msg->done)
		ereport(WARNING,
				(errmsg("could not record the failed run of pipeline \"%s\" in incr_runs",
						run->pipeline),
				 errdetail("The recorder worker stopped without committing; see the server log.")));
	dsm_detach(seg);
}

/* Main of the recorder worker: insert the failed run and commit. */
void
incr_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	FailedRunMessage *msg;
	RunRecord	run;
	const char *strings[RECORD_NSTRINGS];

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the failed run's shared memory segment")));
	msg = dsm_segment_address(seg);

	/* no user: the bootstrap superuser, who writes the catalog */
	BackgroundWorkerInitializeConnectionByOid(msg->database, InvalidOid, 0);

	for (int i = 0; i < RECORD_NSTRINGS; i++)
		strings[i] = msg->offsets[i] < 0 ? NULL : msg->data + msg->offsets[i];
	memset(&run, 0, sizeof(run));
	run.pipeline = strings[0];
	run.trigger = strings[1];
	run.window_from = unconstify(char *, strings[2]);
	run.window_to = unconstify(char *, strings[3]);
	run.error = unconstify(char *, strings[4]);
	run.sqlstate = unconstify(char *, strings[5]);
	run.detail = unconstify(char *, strings[6]);
	run.started_at = msg->started_at;
	run.finished_at = msg->finished_at;
	run.rows_read = msg->counts[0];
	run.rows_inserted = msg->counts[1];
	run.rows_updated = msg->counts[2];
	run.rows_deleted = msg->counts[3];
	run.rows_unchanged = msg->counts[4];
	run.status = "error";
	run.owner = msg->owner;

	/* never wait for long on a lock: the run waiting for us may hold it */
	SetConfigOption("lock_timeout", RECORDER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "incremental: recording a failed run");
	(void) InsertRun(msg->run_id, &run);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	msg->done = true;
	dsm_detach(seg);
	proc_exit(0);
}
