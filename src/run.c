/*
 * run.c
 *		The run driver, the one run path of every mode and source kind: load
 *		the pipeline, take its lock, let the source kind (source.h) compute
 *		the window and execute the mode's statements as the owner, record
 *		what it consumed, move the checkpoint and record the run, all in the
 *		caller's transaction.  Its SQL functions are in run_api.c.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "cursor.h"
#include "describe.h"
#include "run.h"
#include "source.h"
#include "sqlgen.h"
#include "tally.h"

/* Raise the error for a REPEATABLE READ or SERIALIZABLE caller. */
static void
refuse_snapshot_isolation(const char *name)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot run pipeline \"%s\" in a %s transaction", name,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("A run must read the source with a snapshot taken after it has made sure no open transaction can still commit rows into its window; this transaction's snapshot is older."),
				 errhint("Run it in a READ COMMITTED transaction.")));
}

/*
 * Become the pipeline's owner, restricted as in REFRESH MATERIALIZED VIEW,
 * and connect to SPI.  Every read of a source and write of a target on
 * someone's behalf (runs, incr_plan, incr_pending_rows, incr_verify and
 * incr_repair) goes through here:
 * the owner's code (a view's functions, triggers, a query command) then runs
 * with the owner's rights, cannot change role or create temporary tables,
 * and whatever settings it changes are undone by EndAsOwner.  On error the
 * (sub)transaction abort restores identity and settings.
 */
void
BeginAsOwner(Pipeline *p, AsOwner *as)
{
	GetUserIdAndSecContext(&as->save_userid, &as->save_sec_context);
	SetUserIdAndSecContext(p->owner, as->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	as->nestlevel = NewGUCNestLevel();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Disconnect from SPI, undo the owner's settings and become the caller again. */
void
EndAsOwner(AsOwner *as)
{
	SPI_finish();
	AtEOXact_GUC(false, as->nestlevel);
	SetUserIdAndSecContext(as->save_userid, as->save_sec_context);
}

/*
 * Apply the schema drift DescribePipeline found (on_schema_change
 * add_columns): add the new source columns to the target, as the current
 * user (the owner), and record the source's columns.
 */
static void
add_target_columns(Pipeline *p, PipelineShape *shape)
{
	ListCell   *lc;
	bool		connected = (SPI_connect() == SPI_OK_CONNECT);

	foreach(lc, shape->added_columns)
	{
		char	   *sql = SqlAddColumn(shape->target_sql, (ColumnMap *) lfirst(lc));

		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not run: %s", sql);
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" changed its target: %s", p->name, sql)));
	}
	if (connected)
		SPI_finish();
	CommandCounterIncrement();
	p->source_columns = shape->source_columns;
	p->source_types = shape->source_types;
	StoreSourceColumns(p);
}

/*
 * Describe the pipeline for a run (or a repair), adapting the target to
 * the source first where on_schema_change says so.
 */
PipelineShape *
DescribeForRun(Pipeline *p)
{
	PipelineShape *shape = DescribePipeline(p, DESCRIBE_FOR_RUN);

	if (shape->added_columns == NIL)
		return shape;
	add_target_columns(p, shape);
	return DescribePipeline(p, DESCRIBE_FOR_RUN);
}

/*
 * Execute the run as the pipeline's owner: describe the pipeline, then let
 * its source kind compute the window, execute the statements and fill in
 * the counts.  Runs connected to SPI and with the owner's identity,
 * restricted as in REFRESH MATERIALIZED VIEW; on error the (sub)transaction
 * abort restores both.  Values needed afterwards are copied to cxt.
 */
static void
execute_as_owner(RunRequest *req, Pipeline *p, Checkpoint *cp, RunRecord *rec,
				 RunResult *res, MemoryContext cxt)
{
	AsOwner		as;
	PipelineShape *shape;

	BeginAsOwner(p, &as);
	shape = DescribeForRun(p);
	SourceKindOf(p)->execute(req, p, shape, cp, rec, res, cxt);
	EndAsOwner(&as);
}

/* Copy a failed run into the caller's RunFailure, in its memory context. */
static void
copy_failure(RunFailure *failure, int64 run_id, RunRecord *rec)
{
	MemoryContext old = MemoryContextSwitchTo(failure->cxt);

	failure->filled = true;
	failure->run_id = run_id;
	failure->record = *rec;
	failure->record.pipeline = pstrdup(rec->pipeline);
	failure->record.trigger = pstrdup(rec->trigger);
	failure->record.status = pstrdup(rec->status);
	failure->record.window_from = rec->window_from ? pstrdup(rec->window_from) : NULL;
	failure->record.window_to = rec->window_to ? pstrdup(rec->window_to) : NULL;
	failure->record.error = rec->error ? pstrdup(rec->error) : NULL;
	failure->record.sqlstate = rec->sqlstate ? pstrdup(rec->sqlstate) : NULL;
	failure->record.detail = rec->detail ? pstrdup(rec->detail) : NULL;
	MemoryContextSwitchTo(old);
}

/*
 * Load the definition of the pipeline a run is for, and check that the
 * caller may run it and that it is not paused (a backfill may run it).
 */
static Pipeline *
load_runnable(RunRequest *req)
{
	Pipeline   *p = LoadPipeline(req->name);

	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	if (!p->enabled && !req->backfill)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pipeline \"%s\" is paused", p->name),
				 errhint("Resume it with: SELECT incr_resume(%s);", quote_literal_cstr(p->name))));
	return p;
}

/* The run an error context line names. */
typedef struct RunErrorContext
{
	int64		run_id;
	const char *name;
} RunErrorContext;

/*
 * Error context of a run, whoever started it (a session, the scheduler, a
 * catch-up): the run and its pipeline, in the place of the generated
 * statement that SPI's context line shows, which run_error_context removes.
 */
static void
run_error_callback(void *arg)
{
	RunErrorContext *run = (RunErrorContext *) arg;

	errcontext("run " INT64_FORMAT " of pipeline \"%s\"", run->run_id, run->name);
}

/*
 * The context of a failed run's error without the "SQL statement" line
 * SPI adds with the whole generated statement: tens of lines in psql and in
 * the server log for every failure.  It is in incr_plan, and at DEBUG1.
 */
static char *
run_error_context(const char *context, const char *sql)
{
	char	   *statement;
	const char *at;
	StringInfoData buf;

	if (context == NULL || sql == NULL)
		return unconstify(char *, context);
	statement = psprintf("SQL statement \"%s\"", sql);
	at = strstr(context, statement);
	if (at == NULL)
		return unconstify(char *, context);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, context, at - context);
	at += strlen(statement);
	if (*at == '\n')
		at++;
	appendStringInfoString(&buf, at);
	while (buf.len > 0 && buf.data[buf.len - 1] == '\n')
		buf.data[--buf.len] = '\0';
	return buf.data;
}

/*
 * Run a pipeline once in the current transaction and return its incr_runs
 * row.  The load runs in a subtransaction so that a failure can be recorded
 * before the error goes on to abort the caller's transaction.
 */
Datum
ExecuteRun(RunRequest *req, RunOutcome *outcome)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Pipeline   *p;
	Checkpoint	cp;
	RunRecord	rec;
	RunResult	res;
	int64		run_id;
	Tally	   *outer_tally = TallyInnermost();

	memset(&rec, 0, sizeof(rec));
	memset(&res, 0, sizeof(res));
	rec.started_at = GetCurrentTimestamp();
	rec.pipeline = req->name;
	rec.trigger = req->trigger;

	RefuseOnStandby(req->backfill ? "backfill" : "run", req->name);
	if (!req->backfill)
		refuse_snapshot_isolation(req->name);
	p = load_runnable(req);
	rec.owner = p->owner;

	/* what must come before the run's first write (the checkpoint's lock) */
	if (SourceKindOf(p)->prepare)
	{
		Checkpoint	unlocked;

		(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &unlocked);
		SourceKindOf(p)->prepare(p, &unlocked);
	}

	if (!ReadCheckpoint(p, req->wait ? CHECKPOINT_LOCK_WAIT : CHECKPOINT_LOCK_NOWAIT, &cp))
	{
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" is already running; this run is skipped", p->name)));
		rec.finished_at = GetCurrentTimestamp();
		rec.status = "skipped";
		rec.error = "another run of the pipeline was in progress";
		if (outcome)
		{
			outcome->record = rec;
			outcome->moved = false;
			outcome->checkpoint = NULL;
			outcome->idle = false;
		}
		if (req->quiet_when_idle)
			return (Datum) 0;
		return InsertRun(NextRunId(), &rec);
	}

	/*
	 * The definition was read before the checkpoint was locked, so a drop
	 * and re-create of the name committed in between would pair the old
	 * definition with the new pipeline's checkpoint.  A pipeline cannot be
	 * dropped while its checkpoint is locked (the row goes with it), so the
	 * definition read now is the locked checkpoint's own: check it again,
	 * and read the checkpoint again if its cursor is of another type.
	 */
	{
		Pipeline   *locked = load_runnable(req);

		if (locked->cursor_type != p->cursor_type)
			(void) ReadCheckpoint(locked, CHECKPOINT_NO_LOCK, &cp);
		p = locked;
		rec.owner = p->owner;
	}
	run_id = NextRunId();

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RunErrorContext run = {run_id, p->name};
		ErrorContextCallback errcallback;

		errcallback.callback = run_error_callback;
		errcallback.arg = &run;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		execute_as_owner(req, p, &cp, &rec, &res, cxt);
		error_context_stack = errcallback.previous;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata = RollbackSubTransactionError(cxt, owner);
		ListCell   *lc;

		/* forget this run's tally; a run this one is nested in keeps its own */
		TallyRestore(outer_tally);

		rec.finished_at = GetCurrentTimestamp();
		rec.status = "error";
		rec.error = edata->message;
		rec.sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		rec.detail = edata->detail;
		/* which file, and where in it: the context of a files run's error */
		if (SourceKindOf(p)->error_context && edata->context)
		{
			char	   *context = pstrdup(edata->context);
			char	   *ours = strstr(context, psprintf("run " INT64_FORMAT " of pipeline \"%s\"",
														 run_id, p->name));

			/* the file's lines, not the run's or the caller's */
			if (ours)
			{
				*ours = '\0';
				if (ours > context && ours[-1] == '\n')
					ours[-1] = '\0';
			}

			for (char *c = context; *c; c++)
				if (*c == '\n')
					*c = ';';
			rec.error = psprintf("%s (%s)", edata->message, context);
		}
		if (req->failure)
			copy_failure(req->failure, run_id, &rec);
		else
			RecordFailedRun(run_id, &rec);
		edata->context = run_error_context(edata->context, res.sql);
		foreach(lc, res.first_sqls)
			edata->context = run_error_context(edata->context, (char *) lfirst(lc));
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (SourceKindOf(p)->record)
		SourceKindOf(p)->record(p, run_id, &res);
	if (res.tombstones[0] != (Datum) 0 || res.tombstones[2] != (Datum) 0)
		RecordTombstones(p, run_id, res.tombstones[0], res.tombstones[1],
						 res.tombstones[2], res.tombstones[3]);
	if (res.moved && !req->backfill)
	{
		Checkpoint	next = {false, res.new_checkpoint};

		StoreCheckpoint(p, &next, run_id);
		cp = next;
	}
	rec.finished_at = GetCurrentTimestamp();
	rec.status = "ok";
	if (outcome)
	{
		outcome->record = rec;
		outcome->moved = res.moved && !req->backfill;
		outcome->checkpoint = cp.isnull ? NULL : CursorValueOut(p, cp.value);
		outcome->idle = !res.moved &&
			rec.rows_inserted + rec.rows_updated + rec.rows_deleted == 0;
	}
	if (req->quiet_when_idle && !res.moved &&
		rec.rows_inserted + rec.rows_updated + rec.rows_deleted == 0)
		return (Datum) 0;
	return InsertRun(run_id, &rec);
}
