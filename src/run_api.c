/*
 * run_api.c
 *		The SQL functions that run pipelines or look at what a run would do:
 *		incr_run, incr_catch_up, incr_backfill(_batches), incr_plan, incr_pending_rows.
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
#include "postmaster/bgworker.h"
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
#include "describe.h"
#include "pipeline.h"
#include "run.h"
#include "tally.h"
#include "source_cursor.h"

PG_FUNCTION_INFO_V1(incremental_incr_run);
PG_FUNCTION_INFO_V1(incremental_incr_backfill);
PG_FUNCTION_INFO_V1(incremental_incr_catch_up);
PG_FUNCTION_INFO_V1(incremental_incr_backfill_batches);
PG_FUNCTION_INFO_V1(incremental_incr_plan);
PG_FUNCTION_INFO_V1(incremental_incr_pending_rows);

/* Refuse to backfill a pipeline whose source kind has no range to re-read. */
static void
refuse_files_backfill(Pipeline *p)
{
	const SourceKind *kind = SourceKindOf(p);

	if (kind->refuse_backfill)
		kind->refuse_backfill(p);
}

/* Return the text of an argument that must not be NULL. */
static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* incr_run(name, wait): run a pipeline once. */
Datum
incremental_incr_run(PG_FUNCTION_ARGS)
{
	RunRequest	req;

	memset(&req, 0, sizeof(req));
	req.name = text_arg(fcinfo, 0, "name");
	/*
	 * pg_cron's jobs run with application_name pg_cron over a connection, and
	 * in a background worker of pg_cron's library with
	 * cron.use_background_workers, where application_name is not set
	 */
	req.trigger = ((application_name && strcmp(application_name, "pg_cron") == 0) ||
				   (MyBgworkerEntry && strcmp(MyBgworkerEntry->bgw_library_name, "pg_cron") == 0)) ?
		"pg_cron" : "manual";
	req.wait = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	PG_RETURN_DATUM(ExecuteRun(&req, NULL));
}

/*
 * Refuse to run a procedure that commits after each batch unless it was
 * CALLed on its own, where it may commit.
 */
static void
require_own_transactions(FunctionCallInfo fcinfo, const char *procedure,
						 const char *alternative)
{
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", procedure),
				 errdetail("It commits after each batch."),
				 errhint("CALL it on its own, not inside BEGIN ... COMMIT or a function; for one transaction use %s.",
						 alternative)));
}

/* Run one batch of a procedure: a run in the current transaction, with a snapshot. */
static void
run_batch(RunRequest *req, RunOutcome *outcome)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) ExecuteRun(req, outcome);
	PopActiveSnapshot();
}

/*
 * CALL incr_catch_up(name, max_batches): run batches of batch_size, each in
 * a transaction of its own, until nothing is left or max_batches ran.
 * Stopping it at any point (cancel, kill, crash) loses nothing: every
 * committed batch moved its checkpoint with its data, and the next call
 * starts from there.
 */
Datum
incremental_incr_catch_up(PG_FUNCTION_ARGS)
{
	RunRequest	req;
	int32		max_batches = 0;
	MemoryContext batch_cxt;
	MemoryContext keep_cxt = CurrentMemoryContext;
	MemoryContext old;
	Pipeline   *p;
	int64		totals[5] = {0, 0, 0, 0, 0};	/* read, ins, upd, del, unchanged */
	TimestampTz started = GetCurrentTimestamp();
	int			batch;
	bool		done = false;
	char	   *checkpoint = NULL;

	require_own_transactions(fcinfo, "incr_catch_up", "incr_run");

	memset(&req, 0, sizeof(req));
	req.name = text_arg(fcinfo, 0, "name");
	req.trigger = "catch_up";
	req.repeats = true;
	req.wait = true;
	if (!PG_ARGISNULL(1))
	{
		max_batches = PG_GETARG_INT32(1);
		if (max_batches <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_batches must be positive, not %d", max_batches),
					 errhint("Pass NULL to run until nothing is left.")));
	}
	/* fail early on an unknown name or a foreign pipeline */
	p = LoadPipeline(req.name);
	CheckPipelineOwner(p);

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "incr_catch_up batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (batch = 1; max_batches == 0 || batch <= max_batches; batch++)
	{
		RunOutcome	outcome;
		RunRecord  *r = &outcome.record;
		char	   *activity;
		double		secs;

		old = MemoryContextSwitchTo(batch_cxt);
		activity = psprintf("incremental: catch-up of pipeline %s, batch %d", req.name, batch);
		pgstat_report_activity(STATE_RUNNING, activity);

		run_batch(&req, &outcome);

		totals[0] += r->rows_read;
		totals[1] += r->rows_inserted;
		totals[2] += r->rows_updated;
		totals[3] += r->rows_deleted;
		totals[4] += r->rows_unchanged;
		secs = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;
		/* a batch that moved nothing ends it, and is not worth a line */
		if (outcome.moved || r->rows_read > 0)
			ereport(NOTICE,
					(errmsg("pipeline \"%s\" batch %d: read " INT64_FORMAT ", inserted " INT64_FORMAT
							", updated " INT64_FORMAT ", deleted " INT64_FORMAT ", unchanged " INT64_FORMAT
							"; so far read " INT64_FORMAT "; checkpoint %s",
							req.name, batch, r->rows_read, r->rows_inserted, r->rows_updated,
							r->rows_deleted, r->rows_unchanged, totals[0],
							outcome.checkpoint ? outcome.checkpoint : "none"),
					 errdetail("%.1f s so far, %.0f rows read per second.",
							   secs, secs > 0 ? totals[0] / secs : 0.0)));
		MemoryContextSwitchTo(old);
		if (outcome.checkpoint)
			checkpoint = MemoryContextStrdup(keep_cxt, outcome.checkpoint);
		/*
		 * Done when a batch moved nothing, or read less than a full batch
		 * (rows of a cursor pipeline: the next batch would find nothing).
		 */
		done = !outcome.moved ||
			(p->mode != MODE_FILES && (p->batch_size == 0 || r->rows_read < p->batch_size));
		SPI_commit();
		MemoryContextReset(batch_cxt);
		if (done)
			break;
	}
	{
		double		secs = (double) (GetCurrentTimestamp() - started) / USECS_PER_SEC;

		ereport(NOTICE,
				(errmsg_plural("pipeline \"%s\" %s after %d batch: read " INT64_FORMAT ", inserted " INT64_FORMAT
							   ", updated " INT64_FORMAT ", deleted " INT64_FORMAT ", unchanged " INT64_FORMAT
							   "; checkpoint %s",
							   "pipeline \"%s\" %s after %d batches: read " INT64_FORMAT ", inserted " INT64_FORMAT
							   ", updated " INT64_FORMAT ", deleted " INT64_FORMAT ", unchanged " INT64_FORMAT
							   "; checkpoint %s",
							   done ? batch : batch - 1,
							   req.name, done ? "caught up" : "stopped at max_batches",
							   done ? batch : batch - 1, totals[0], totals[1], totals[2], totals[3],
							   totals[4], checkpoint ? checkpoint : "none"),
				 errdetail("%.1f s, %.0f rows read per second.",
						   secs, secs > 0 ? totals[0] / secs : 0.0)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * CALL incr_backfill_batches(name, from_value, to_value): a backfill in
 * batches of batch_size rows, each a backfill run in a transaction of its
 * own.  Stopped, it can be called again from the last batch's window_to
 * (incr_backfills shows it); re-processing is idempotent anyway.
 */
Datum
incremental_incr_backfill_batches(PG_FUNCTION_ARGS)
{
	RunRequest	req;
	Pipeline   *p;
	char	   *to;
	MemoryContext batch_cxt;
	MemoryContext keep_cxt;

	require_own_transactions(fcinfo, "incr_backfill_batches", "incr_backfill");

	memset(&req, 0, sizeof(req));
	req.name = text_arg(fcinfo, 0, "name");
	req.from_value = text_arg(fcinfo, 1, "from_value");
	to = text_arg(fcinfo, 2, "to_value");
	req.to_value = to;
	req.trigger = "backfill";
	req.wait = true;
	req.backfill = true;
	req.batched = true;

	p = LoadPipeline(req.name);
	CheckPipelineOwner(p);
	refuse_files_backfill(p);
	if (CursorLessThan(p, CursorValueIn(p, to), CursorValueIn(p, req.from_value)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backfill range of pipeline \"%s\" is empty", req.name),
				 errdetail("from_value %s is greater than to_value %s.",
						   req.from_value, to)));
	if (p->batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pipeline \"%s\" has no batch_size", req.name),
				 errhint("Use incr_backfill for one transaction.")));

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "incr_backfill_batches batch",
									  ALLOCSET_DEFAULT_SIZES);
	/* what must outlive each batch's commit: the next batch's start */
	keep_cxt = AllocSetContextCreate(CurrentMemoryContext, "incr_backfill_batches",
									 ALLOCSET_SMALL_SIZES);
	for (int batch = 1;; batch++)
	{
		RunOutcome	outcome;
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);
		char	   *reached;
		bool		done;

		run_batch(&req, &outcome);
		reached = outcome.record.window_to;
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" backfill batch %d: read " INT64_FORMAT ", written " INT64_FORMAT ", up to %s",
						req.name, batch, outcome.record.rows_read,
						outcome.record.rows_inserted + outcome.record.rows_updated +
						outcome.record.rows_deleted, reached ? reached : "nothing")));
		/* done when the batch reached to_value or the checkpoint, or read nothing new */
		done = (reached == NULL ||
				!CursorLessThan(p, CursorValueIn(p, reached), CursorValueIn(p, to)) ||
				!CursorLessThan(p, CursorValueIn(p, req.from_value), CursorValueIn(p, reached)));
		MemoryContextSwitchTo(old);
		if (!done)
			req.from_value = MemoryContextStrdup(keep_cxt, reached);
		SPI_commit();
		MemoryContextReset(batch_cxt);
		if (done)
			break;
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * incr_backfill(name, from_value, to_value): re-process a closed range of
 * cursor values without moving the checkpoint.
 */
Datum
incremental_incr_backfill(PG_FUNCTION_ARGS)
{
	RunRequest	req;
	Pipeline   *p;

	memset(&req, 0, sizeof(req));
	req.name = text_arg(fcinfo, 0, "name");
	req.from_value = text_arg(fcinfo, 1, "from_value");
	req.to_value = text_arg(fcinfo, 2, "to_value");
	req.trigger = "backfill";
	req.wait = true;
	req.backfill = true;

	/* check the range before taking any lock */
	p = LoadPipeline(req.name);
	CheckPipelineOwner(p);
	refuse_files_backfill(p);
	if (CursorLessThan(p, CursorValueIn(p, req.to_value), CursorValueIn(p, req.from_value)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backfill range of pipeline \"%s\" is empty", req.name),
				 errdetail("from_value %s is greater than to_value %s.",
						   req.from_value, req.to_value)));
	PG_RETURN_DATUM(ExecuteRun(&req, NULL));
}

/*
 * incr_plan(name): the statement and the window the next run would use,
 * computed as the run would but without waiting for writers or running it.
 */
Datum
incremental_incr_plan(PG_FUNCTION_ARGS)
{
	Pipeline   *p = LoadPipeline(text_arg(fcinfo, 0, "name"));
	MemoryContext cxt = CurrentMemoryContext;
	Checkpoint	cp;
	PipelineShape *shape;
	StringInfoData buf;
	AsOwner		as;

	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp);

	initStringInfo(&buf);
	BeginAsOwner(p, &as);
	shape = DescribePipeline(p, DESCRIBE_FOR_PLAN);
	SourceKindOf(p)->plan(&buf, p, shape, &cp, cxt);
	WarnInclusiveLowerBound(p);
	EndAsOwner(&as);
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/*
 * How long incr_pending_rows counts before it gives up: a source that is
 * slow to read (a view that sleeps, a remote table that does not answer)
 * must not hang incr_status for everyone who looks at it.
 */
#define PENDING_COUNT_TIMEOUT_MS 5000

static bool pending_timeout_registered = false;
static TimeoutId pending_timeout;
static volatile sig_atomic_t pending_timed_out = false;

/* Timeout handler: cancel the pending count, as statement_timeout would. */
static void
pending_timeout_handler(void)
{
	pending_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * Count the source rows past the checkpoint as the pipeline's owner, in a
 * subtransaction, within PENDING_COUNT_TIMEOUT_MS.  Returns false if the
 * count ran out of time; any other error goes on.
 */
static bool
count_pending(Pipeline *p, Checkpoint *cp, int64 *count)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			type = p->cursor_type;
	AsOwner		as;
	char	   *sql;
	bool		isnull;

	if (!pending_timeout_registered)
	{
		pending_timeout = RegisterTimeout(USER_TIMEOUT, pending_timeout_handler);
		pending_timeout_registered = true;
	}
	sql = BuildPendingSql(p, quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->source)),
														get_rel_name(p->source)),
						  cp->isnull);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	pending_timed_out = false;
	PG_TRY();
	{
		BeginAsOwner(p, &as);
		enable_timeout_after(pending_timeout, PENDING_COUNT_TIMEOUT_MS);
		if (SPI_execute_with_args(sql, cp->isnull ? 0 : 1, &type, &cp->value,
								  NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not count pending rows: %s", sql);
		disable_timeout(pending_timeout, false);
		*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
		EndAsOwner(&as);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(pending_timeout, false);
		edata = RollbackSubTransactionError(cxt, owner);
		if (!pending_timed_out || edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		pending_timed_out = false;
		return false;
	}
	PG_END_TRY();
	return true;
}

/*
 * incr_pending_rows(name): how many source rows lie past the checkpoint,
 * counted up to 1000000 as the pipeline's owner (whoever asks, the source's
 * code runs with the owner's rights, restricted, as in a run); NULL when
 * the caller may not act on the pipeline, the owner cannot read the source,
 * the source is gone, the pipeline captures the WAL (incr_status shows the
 * WAL its slot retains instead), or the count took longer than 5 seconds.  Used by
 * incr_status.
 */
Datum
incremental_incr_pending_rows(PG_FUNCTION_ARGS)
{
	Pipeline   *p = LoadPipeline(text_arg(fcinfo, 0, "name"));
	Checkpoint	cp;
	Oid			nsp = get_rel_namespace(p->source);
	int64		count;
	AttrNumber	attnum;

	/* only the owner's roles may learn about the pipeline's progress */
	if (PipelineIsWal(p) || !OidIsValid(nsp) || !has_privs_of_role(GetUserId(), p->owner) ||
		!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(p->owner)))
		PG_RETURN_NULL();
	/* the count reads as the owner, so what the owner may read decides */
	attnum = get_attnum(p->source, p->cursor_column);
	if (attnum == InvalidAttrNumber ||
		getBaseType(get_atttype(p->source, attnum)) != p->cursor_type ||
		pg_namespace_aclcheck(nsp, p->owner, ACL_USAGE) != ACLCHECK_OK ||
		(pg_class_aclcheck(p->source, p->owner, ACL_SELECT) != ACLCHECK_OK &&
		 pg_attribute_aclcheck(p->source, attnum, p->owner, ACL_SELECT) != ACLCHECK_OK))
		PG_RETURN_NULL();

	(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp);
	if (!count_pending(p, &cp, &count))
	{
		ereport(NOTICE,
				(errmsg("rows pending of pipeline \"%s\" not counted: the count took longer than %d ms",
						p->name, PENDING_COUNT_TIMEOUT_MS),
				 errdetail("incr_status shows rows_pending as NULL for it.")));
		PG_RETURN_NULL();
	}
	PG_RETURN_INT64(count);
}
