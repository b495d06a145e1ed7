/*
 * run.c
 *		The one run path of every mode: load the pipeline, take its lock,
 *		compute the window, build the statement, execute it as the owner,
 *		count, move the checkpoint and record the run, all in the caller's
 *		transaction.  incr_run, incr_backfill and incr_plan live here.
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
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "files.h"
#include "pipeline.h"
#include "plan.h"
#include "run.h"
#include "window.h"

PG_FUNCTION_INFO_V1(incremental_incr_run);
PG_FUNCTION_INFO_V1(incremental_incr_backfill);
PG_FUNCTION_INFO_V1(incremental_incr_catch_up);
PG_FUNCTION_INFO_V1(incremental_incr_backfill_batches);
PG_FUNCTION_INFO_V1(incremental_incr_plan);
PG_FUNCTION_INFO_V1(incremental_incr_pending_rows);
PG_FUNCTION_INFO_V1(incremental_tally);
PG_FUNCTION_INFO_V1(incremental_count_update);

/*
 * What _incr_tally counts while a run statement executes: rows read, and the
 * greatest cursor value read.  A run saves and restores the state around
 * its statement, so a run started from inside another (a trigger) is safe.
 */
typedef struct Tally
{
	bool		active;
	int64		count;
	bool		has_max;
	Datum		max;
	Oid			type;
	bool		typbyval;
	int16		typlen;
	FmgrInfo	cmp;
	MemoryContext cxt;
	int64		updates;		/* _incr_count_update: rows an upsert updated */
} Tally;

static Tally tally;

/*
 * _incr_tally(value): count a row read and keep the greatest cursor value.
 * Always true, so it can stand in a WHERE clause.
 */
Datum
incremental_tally(PG_FUNCTION_ARGS)
{
	Datum		v = PG_GETARG_DATUM(0);

	if (!tally.active)
		PG_RETURN_BOOL(true);
	tally.count++;
	if (tally.has_max &&
		DatumGetInt32(FunctionCall2Coll(&tally.cmp, InvalidOid, v, tally.max)) <= 0)
		PG_RETURN_BOOL(true);
	if (tally.has_max && !tally.typbyval)
		pfree(DatumGetPointer(tally.max));
	if (tally.typbyval)
		tally.max = v;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(tally.cxt);

		tally.max = datumCopy(v, false, tally.typlen);
		MemoryContextSwitchTo(old);
	}
	tally.has_max = true;
	PG_RETURN_BOOL(true);
}

/*
 * _incr_count_update(live): count a row the upsert of a run updates (live:
 * not soft-deleted, which counts as a delete).  Last in the upsert's WHERE,
 * so it is reached only for rows really updated; used where RETURNING
 * cannot tell updates from inserts (partitioned targets).  Always true.
 */
Datum
incremental_count_update(PG_FUNCTION_ARGS)
{
	if (tally.active && (PG_ARGISNULL(0) || PG_GETARG_BOOL(0)))
		tally.updates++;
	PG_RETURN_BOOL(true);
}

/* Start tallying for a statement over a cursor of the given type. */
static void
tally_start(Pipeline *p, MemoryContext cxt)
{
	TypeCacheEntry *tc = lookup_type_cache(p->cursor_type, TYPECACHE_CMP_PROC_FINFO);

	memset(&tally, 0, sizeof(tally));
	tally.active = true;
	tally.type = p->cursor_type;
	get_typlenbyval(p->cursor_type, &tally.typlen, &tally.typbyval);
	fmgr_info_cxt(tc->cmp_proc_finfo.fn_oid, &tally.cmp, cxt);
	tally.cxt = cxt;
}

/*
 * A pipeline's run statement, kept across runs in the session.  The
 * statement is rebuilt for every run (it is cheap, and it is what notices a
 * changed definition or relation), but parsing, analysing and planning it
 * again was most of a run that finds little or nothing to do.  An entry is
 * used only while the text and the cursor type are the same; the plan cache
 * takes care of the relations, privileges and settings under it.
 *
 * A run may start inside another (a trigger on a target can call incr_run),
 * so an entry being executed is counted and never freed under its run: an
 * entry replaced or pushed out meanwhile is freed when its last run ends.
 */
typedef struct RunPlan
{
	char	   *name;
	char	   *sql;
	Oid			type;
	SPIPlanPtr	plan;			/* generic plan; NULL until a run needs it */
	int64		last_read;		/* rows the last run read; -1 if none ran */
	int			use_count;		/* runs executing the plan now */
	bool		dropped;		/* no longer in run_plans: free when unused */
} RunPlan;

/*
 * Up to how many rows the last run may have read for the next one to use
 * the kept generic plan.  A generic plan takes every window for the same
 * small part of the source; past this, and for backfills, each run plans
 * its statement for its own window, which costs little next to the rows.
 */
#define RUN_GENERIC_PLAN_ROWS 1000

/* Kept run statements, most recently used first; about RUN_PLANS_KEPT. */
#define RUN_PLANS_KEPT 64
static List *run_plans = NIL;

/* Free an entry that is out of run_plans, now or when its last run ends. */
static void
run_plan_drop(RunPlan *entry)
{
	entry->dropped = true;
	if (entry->use_count > 0)
		return;
	if (entry->plan)
		SPI_freeplan(entry->plan);
	pfree(entry->sql);
	pfree(entry->name);
	pfree(entry);
}

/*
 * Return the entry of a pipeline's run statement, a new one (with no plan
 * yet) when the pipeline has none or had another statement.
 */
static RunPlan *
run_plan(Pipeline *p, const char *sql)
{
	ListCell   *lc;
	RunPlan    *entry = NULL;
	MemoryContext old;

	foreach(lc, run_plans)
	{
		RunPlan    *e = (RunPlan *) lfirst(lc);

		if (strcmp(e->name, p->name) == 0)
		{
			entry = e;
			run_plans = foreach_delete_current(run_plans, lc);
			break;
		}
	}
	if (entry && (entry->type != p->cursor_type || strcmp(entry->sql, sql) != 0))
	{
		run_plan_drop(entry);
		entry = NULL;
	}
	if (entry == NULL)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		entry = palloc0(sizeof(RunPlan));
		entry->name = pstrdup(p->name);
		entry->sql = pstrdup(sql);
		entry->type = p->cursor_type;
		entry->last_read = -1;
		MemoryContextSwitchTo(old);
	}
	/* push out the least recently used entries no run is executing */
	for (int i = list_length(run_plans) - 1; i >= 0 && list_length(run_plans) >= RUN_PLANS_KEPT; i--)
	{
		RunPlan    *e = (RunPlan *) list_nth(run_plans, i);

		if (e->use_count == 0)
		{
			run_plans = list_delete_nth_cell(run_plans, i);
			run_plan_drop(e);
		}
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	run_plans = lcons(entry, run_plans);
	MemoryContextSwitchTo(old);
	return entry;
}

/* The entry's generic plan, prepared and kept the first time it is needed. */
static SPIPlanPtr
run_plan_generic(RunPlan *entry, Oid *types)
{
	if (entry->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(entry->sql, RUN_SQL_NPARAMS, types,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "could not prepare the run statement (%s): %s",
				 SPI_result_code_string(SPI_result), entry->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the plan of the run statement: %s", entry->sql);
		entry->plan = plan;
	}
	return entry->plan;
}


/*
 * Counts the rows a run's INSERT returns (RunSqlReturnsRows: inserted,
 * deleted, late), as they come, instead of keeping them for a SELECT to
 * count.
 */
typedef struct CountReceiver
{
	DestReceiver pub;
	int64		inserted;
	int64		updated;
	int64		deleted;
	int64		late;
} CountReceiver;

/* Count one returned row. */
static bool
count_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CountReceiver *c = (CountReceiver *) self;

	slot_getsomeattrs(slot, 3);
	if (!slot->tts_isnull[1] && DatumGetBool(slot->tts_values[1]))
		c->deleted++;
	else if (!slot->tts_isnull[0] && DatumGetBool(slot->tts_values[0]))
		c->inserted++;
	else
		c->updated++;
	if (!slot->tts_isnull[2] && DatumGetBool(slot->tts_values[2]))
		c->late++;
	return true;
}

/* Start counting: nothing to set up. */
static void
count_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

/* Stop counting, or let go of the receiver: nothing to release. */
static void
count_nothing(DestReceiver *self)
{
}

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

/* Result of the part of a run that executes as the owner. */
typedef struct LoadResult
{
	RunWindow	window;
	bool		moved;			/* a cursor value past the checkpoint was read */
	Datum		new_checkpoint;
	List	   *files_loaded;	/* files: LoadFile * loaded, for incr_files */
	List	   *files_touched;	/* files: LoadFile * with a new mtime only */
} LoadResult;

/* Copy what the run needs after SPI_finish into cxt: the new checkpoint, the window. */
static void
finish_window(Pipeline *p, RunWindow *w, LoadResult *res, Datum new_checkpoint,
			  MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int16		typlen;
	bool		typbyval;

	get_typlenbyval(p->cursor_type, &typlen, &typbyval);
	if (res->moved)
		res->new_checkpoint = datumCopy(new_checkpoint, typbyval, typlen);
	w->lower = datumCopy(w->lower, typbyval, typlen);
	w->upper = datumCopy(w->upper, typbyval, typlen);
	w->checkpoint = datumCopy(w->checkpoint, typbyval, typlen);
	w->upper_reason = pstrdup(w->upper_reason);
	MemoryContextSwitchTo(old);
}

/* Error context of a files run: the file being loaded. */
static void
file_error_context(void *arg)
{
	errcontext("loading file \"%s\"", ((LoadFile *) arg)->path);
}

/*
 * The files pipeline's part of load_window: its window is the files that are
 * new or changed, its statement one COPY per file, its counts what each COPY
 * loaded.  The checkpoint is the newest modification time loaded; what was
 * loaded is recorded in incr_files by the caller, in this transaction.
 */
static void
load_files(Pipeline *p, PipelineShape *shape, Checkpoint *cp, RunRecord *rec,
		   LoadResult *res, MemoryContext cxt)
{
	FileWindow	fw;
	ErrorContextCallback errcallback;
	ListCell   *lc;
	TimestampTz newest = cp->isnull ? DT_NOBEGIN : DatumGetTimestampTz(cp->value);
	MemoryContext old;

	/* the files outlive SPI: the caller records them in incr_files */
	old = MemoryContextSwitchTo(cxt);
	ComputeFileWindow(p, &fw);
	rec->window_to = CursorValueOut(p, TimestampTzGetDatum(fw.settle ? fw.settled_before
															: fw.listed_at));
	MemoryContextSwitchTo(old);

	errcallback.callback = file_error_context;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	foreach(lc, fw.load)
	{
		LoadFile   *f = lfirst(lc);
		int			ret;

		errcallback.arg = f;
		ret = SPI_execute(BuildCopySql(p, shape->target_sql, f->path), false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "COPY of file \"%s\" failed (SPI result %d)", f->path, ret);
		CheckFileUnchanged(p, f);
		f->rows = SPI_processed;
		rec->rows_read += f->rows;
		if (f->modified_at > newest)
			newest = f->modified_at;
	}
	error_context_stack = errcallback.previous;
	rec->rows_inserted = rec->rows_read;

	/* a batch that loaded a file made progress, whatever its files' age */
	res->moved = (fw.load != NIL);
	res->new_checkpoint = TimestampTzGetDatum(newest);
	res->files_loaded = fw.load;
	res->files_touched = fw.touched;
}

/*
 * Execute the run's statement over its window as the pipeline's owner and
 * fill in the counts.  Runs connected to SPI and with the owner's identity,
 * restricted as in REFRESH MATERIALIZED VIEW; on error the (sub)transaction
 * abort restores both.  Values needed afterwards are copied to cxt.
 */
static void
load_window(RunRequest *req, Pipeline *p, Checkpoint *cp, RunRecord *rec,
			LoadResult *res, MemoryContext cxt)
{
	Oid			save_userid;
	int			save_sec_context;
	PipelineShape *shape;
	char	   *sql;
	Oid			types[RUN_SQL_NPARAMS];
	Datum		values[RUN_SQL_NPARAMS];
	int			ret;
	int64		counts[RUN_SQL_NCOUNTS];
	bool		nulls[RUN_SQL_NCOUNTS];
	Tally		saved = tally;
	RunWindow  *w = &res->window;
	int			nestlevel;
	RunPlan    *run;
	SPIPlanPtr	plan;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(p->owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	shape = DescribePipeline(p, DESCRIBE_FOR_RUN);
	if (p->mode == MODE_FILES)
	{
		load_files(p, shape, cp, rec, res, cxt);
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		return;
	}
	if (req->backfill)
		ComputeBackfillWindow(p, shape, cp, CursorValueIn(p, req->from_value),
							  CursorValueIn(p, req->to_value), req->batched, w);
	else
		ComputeRunWindow(p, shape, cp, true, w);
	sql = BuildRunSql(p, shape);

	/* the window goes into the history now, so that a failed run shows it too */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		rec->window_from = w->lower_unbounded ? NULL : CursorValueOut(p, w->lower);
		rec->window_to = w->upper_unbounded ? NULL : CursorValueOut(p, w->upper);
		MemoryContextSwitchTo(old);
	}
	for (int i = 0; i < RUN_SQL_NPARAMS; i++)
		types[i] = p->cursor_type;
	values[0] = w->lower;
	values[1] = w->upper;
	values[2] = w->checkpoint;

	if (p->mode == MODE_QUERY)
	{
		/* the user's command: $1 the window's start (exclusive), $2 its end */
		ret = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0);
		if (ret < 0)
			elog(ERROR, "query command failed (SPI result %d)", ret);
		rec->rows_inserted = SPI_processed;
		res->moved = !w->empty && (cp->isnull || CursorLessThan(p, cp->value, w->upper));
		finish_window(p, w, res, w->upper, cxt);
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		return;
	}

	tally_start(p, cxt);

	/*
	 * The kept generic plan after a small run; else a plan for this window
	 * (its parameters' values known), made for this run only.
	 */
	run = run_plan(p, sql);
	if (!req->backfill && run->last_read >= 0 && run->last_read <= RUN_GENERIC_PLAN_ROWS)
		plan = run_plan_generic(run, types);
	else
	{
		plan = SPI_prepare_cursor(sql, RUN_SQL_NPARAMS, types, CURSOR_OPT_CUSTOM_PLAN);
		if (plan == NULL)
			elog(ERROR, "could not prepare the run statement (%s): %s",
				 SPI_result_code_string(SPI_result), sql);
	}
	nestlevel = NewGUCNestLevel();
	/*
	 * No JIT: _incr_tally's cost (see the install script) inflates the
	 * estimate, and compiling would cost a big run more than it saves.
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	run->use_count++;
	PG_TRY();
	{
		if (RunSqlReturnsRows(p))
		{
			CountReceiver counter;
			SPIExecuteOptions options;
			ParamListInfo params = makeParamList(RUN_SQL_NPARAMS);

			for (int i = 0; i < RUN_SQL_NPARAMS; i++)
			{
				params->params[i].value = values[i];
				params->params[i].isnull = false;
				params->params[i].pflags = PARAM_FLAG_CONST;
				params->params[i].ptype = types[i];
			}
			memset(&counter, 0, sizeof(counter));
			counter.pub.receiveSlot = count_receive;
			counter.pub.rStartup = count_startup;
			counter.pub.rShutdown = count_nothing;
			counter.pub.rDestroy = count_nothing;
			counter.pub.mydest = DestNone;
			memset(&options, 0, sizeof(options));
			options.params = params;
			options.dest = &counter.pub;
			ret = SPI_execute_plan_extended(plan, &options);
			if (ret != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "run statement failed (SPI result %d): %s", ret, sql);
			counts[0] = counter.inserted;
			counts[1] = counter.updated;
			counts[2] = counter.deleted;
			counts[3] = counter.late;
			nulls[3] = !shape->target_has_cursor;
		}
		else
		{
			ret = SPI_execute_plan(plan, values, NULL, false, 0);
			if (ret != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "run statement failed (SPI result %d): %s", ret, sql);
			for (int i = 0; i < RUN_SQL_NCOUNTS; i++)
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  i + 1, &nulls[i]);

				counts[i] = nulls[i] ? 0 : DatumGetInt64(d);
			}
		}
		run->last_read = tally.count;
	}
	PG_FINALLY();
	{
		/* a run inside this one (a trigger) may have replaced or pushed out the entry */
		run->use_count--;
		if (run->dropped)
			run_plan_drop(run);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);

	/* a partitioned target: the statement counted every upserted row as inserted */
	if (shape->target_partitioned)
	{
		counts[0] -= tally.updates;
		counts[1] += tally.updates;
	}

	/* every row read is written, or unchanged (identical, older, superseded) */
	rec->rows_read = tally.count;
	rec->rows_inserted = counts[0];
	rec->rows_updated = counts[1];
	rec->rows_deleted = counts[2];
	/* (a cdc truncate deletes many rows for one event read: not below zero) */
	rec->rows_unchanged = Max(tally.count - counts[0] - counts[1] - counts[2], 0);
	rec->rows_late = counts[3];
	rec->rows_late_known = !nulls[3];

	res->moved = tally.has_max && (cp->isnull || CursorLessThan(p, cp->value, tally.max));
	finish_window(p, w, res, tally.max, cxt);
	tally = saved;

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
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
	MemoryContextSwitchTo(old);
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
	LoadResult	res;
	int64		run_id;

	memset(&rec, 0, sizeof(rec));
	memset(&res, 0, sizeof(res));
	rec.started_at = GetCurrentTimestamp();
	rec.pipeline = req->name;
	rec.trigger = req->trigger;

	RefuseOnStandby(req->backfill ? "backfill" : "run", req->name);
	if (!req->backfill)
		refuse_snapshot_isolation(req->name);
	p = LoadPipeline(req->name);
	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	rec.owner = p->owner;
	if (!p->enabled && !req->backfill)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pipeline \"%s\" is paused", p->name),
				 errhint("Resume it with: SELECT incr_resume(%s);", quote_literal_cstr(p->name))));

	if (!ReadCheckpoint(p, req->wait ? CHECKPOINT_LOCK_WAIT : CHECKPOINT_LOCK_NOWAIT, &cp))
	{
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" is already running; this run is skipped", p->name)));
		rec.finished_at = GetCurrentTimestamp();
		rec.status = "skipped";
		rec.error = "another run of the pipeline was in progress";
		if (req->quiet_when_idle)
			return (Datum) 0;
		if (outcome)
		{
			outcome->record = rec;
			outcome->moved = false;
			outcome->checkpoint = NULL;
		}
		return InsertRun(NextRunId(), &rec);
	}
	run_id = NextRunId();

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		load_window(req, p, &cp, &rec, &res, cxt);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		memset(&tally, 0, sizeof(tally));

		rec.finished_at = GetCurrentTimestamp();
		rec.status = "error";
		rec.error = edata->message;
		/* which file, and where in it: the context of a files run's error */
		if (p->mode == MODE_FILES && edata->context)
		{
			char	   *context = pstrdup(edata->context);

			for (char *c = context; *c; c++)
				if (*c == '\n')
					*c = ';';
			rec.error = psprintf("%s (%s)", edata->message, context);
		}
		if (req->failure)
			copy_failure(req->failure, run_id, &rec);
		else
			RecordFailedRun(run_id, &rec);
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (p->mode == MODE_FILES)
		RecordFiles(p, run_id, res.files_loaded, res.files_touched);
	if (res.moved && !req->backfill)
	{
		Checkpoint	next = {false, res.new_checkpoint};

		StoreCheckpoint(p, &next, run_id);
		cp = next;
	}
	rec.finished_at = GetCurrentTimestamp();
	rec.status = "ok";
	if (req->quiet_when_idle && !res.moved &&
		rec.rows_inserted + rec.rows_updated + rec.rows_deleted == 0)
		return (Datum) 0;
	if (outcome)
	{
		outcome->record = rec;
		outcome->moved = res.moved && !req->backfill;
		outcome->checkpoint = cp.isnull ? NULL : CursorValueOut(p, cp.value);
	}
	return InsertRun(run_id, &rec);
}

/* Refuse to backfill a files pipeline: it has no cursor range to re-read. */
static void
refuse_files_backfill(Pipeline *p)
{
	if (p->mode == MODE_FILES)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("files pipeline \"%s\" cannot be backfilled", p->name),
				 errdetail("It loads files, not a range of cursor values."),
				 errhint("To load files again, forget them with incr_reset(%s, <modified after>) and run the pipeline.",
						 quote_literal_cstr(p->name))));
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
	/* pg_cron's jobs run with application_name pg_cron */
	req.trigger = (application_name && strcmp(application_name, "pg_cron") == 0) ?
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
	MemoryContext old;

	require_own_transactions(fcinfo, "incr_catch_up", "incr_run");

	memset(&req, 0, sizeof(req));
	req.name = text_arg(fcinfo, 0, "name");
	req.trigger = "catch_up";
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
	CheckPipelineOwner(LoadPipeline(req.name));

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "incr_catch_up batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (int batch = 1; max_batches == 0 || batch <= max_batches; batch++)
	{
		RunOutcome	outcome;
		char	   *activity;

		old = MemoryContextSwitchTo(batch_cxt);
		activity = psprintf("incremental: catch-up of pipeline %s, batch %d", req.name, batch);
		pgstat_report_activity(STATE_RUNNING, activity);

		run_batch(&req, &outcome);

		ereport(NOTICE,
				(errmsg("pipeline \"%s\" batch %d: read " INT64_FORMAT ", inserted " INT64_FORMAT
						", updated " INT64_FORMAT ", deleted " INT64_FORMAT ", checkpoint %s",
						req.name, batch, outcome.record.rows_read,
						outcome.record.rows_inserted, outcome.record.rows_updated,
						outcome.record.rows_deleted,
						outcome.checkpoint ? outcome.checkpoint : "none")));
		MemoryContextSwitchTo(old);
		SPI_commit();
		MemoryContextReset(batch_cxt);
		if (!outcome.moved)
			break;
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
 * Make text safe inside a -- comment line: a name may hold a line break,
 * which would end the comment and turn the rest of the name into SQL.
 */
static char *
comment_safe(const char *text)
{
	char	   *copy = pstrdup(text);

	for (char *c = copy; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return copy;
}

/* incr_plan of a files pipeline: the files the next run would load, and their COPY. */
static void
plan_files(StringInfo buf, Pipeline *p, PipelineShape *shape, Checkpoint *cp)
{
	FileWindow	fw;
	ListCell   *lc;

	ComputeFileWindow(p, &fw);
	appendStringInfo(buf, "-- pipeline %s: files %s into %s\n",
					 comment_safe(quote_identifier(p->name)),
					 comment_safe(quote_literal_cstr(p->files)), comment_safe(shape->target_sql));
	appendStringInfo(buf, "-- checkpoint (the newest modification time loaded, or set by incr_reset): %s\n",
					 cp->isnull ? "none" : CursorValueOut(p, cp->value));
	appendStringInfo(buf, "-- %d to load, %d unchanged since loaded, ", list_length(fw.load), fw.unchanged);
	if (fw.settle)
		appendStringInfo(buf, "%d modified within the lag (after %s), ", fw.settling,
						 CursorValueOut(p, TimestampTzGetDatum(fw.settled_before)));
	appendStringInfo(buf, "%d left for later runs by batch_size\n", fw.held_back);
	foreach(lc, fw.load)
	{
		LoadFile   *f = lfirst(lc);

		appendStringInfo(buf, "-- %s file, " INT64_FORMAT " bytes, modified %s, sha256 %s\n%s;\n",
						 f->changed ? "changed" : "new", f->size,
						 CursorValueOut(p, TimestampTzGetDatum(f->modified_at)), f->checksum,
						 BuildCopySql(p, shape->target_sql, f->path));
	}
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
	RunWindow	w;
	PipelineShape *shape;
	StringInfoData buf;
	Oid			save_userid;
	int			save_sec_context;

	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(p->owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	shape = DescribePipeline(p, DESCRIBE_FOR_PLAN);
	if (p->mode == MODE_FILES)
	{
		MemoryContextSwitchTo(cxt);
		initStringInfo(&buf);
		plan_files(&buf, p, shape, &cp);
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		PG_RETURN_TEXT_P(cstring_to_text(buf.data));
	}
	ComputeRunWindow(p, shape, &cp, false, &w);

	MemoryContextSwitchTo(cxt);
	initStringInfo(&buf);
	appendStringInfo(&buf, "-- pipeline %s: %s from %s into %s, cursor %s (%s)\n",
					 comment_safe(quote_identifier(p->name)), PipelineModeName(p->mode),
					 comment_safe(shape->source_sql), comment_safe(shape->target_sql),
					 comment_safe(quote_identifier(p->cursor_column)),
					 format_type_be(p->cursor_type));
	appendStringInfo(&buf, "-- $1 lower bound, %s: %s%s\n",
					 p->mode == MODE_QUERY ? "exclusive" : "inclusive",
					 CursorValueOut(p, w.lower),
					 w.lower_unbounded ? " (no checkpoint yet)" :
					 p->lag ? " (checkpoint less lag)" : " (checkpoint)");
	appendStringInfo(&buf, "-- $2 upper bound, inclusive: %s (%s)\n",
					 CursorValueOut(p, w.upper), w.upper_reason);
	appendStringInfo(&buf, "-- $3 checkpoint: %s\n",
					 cp.isnull ? "none" : CursorValueOut(p, w.checkpoint));
	appendStringInfoString(&buf, BuildRunSql(p, shape));
	appendStringInfoChar(&buf, ';');

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/*
 * incr_pending_rows(name): how many source rows lie past the checkpoint,
 * counted up to 1000000, with the caller's privileges; NULL when the caller
 * cannot read the source or the source is gone.  Used by incr_status.
 */
Datum
incremental_incr_pending_rows(PG_FUNCTION_ARGS)
{
	Pipeline   *p = LoadPipeline(text_arg(fcinfo, 0, "name"));
	Checkpoint	cp;
	char	   *relname = get_rel_name(p->source);
	Oid			type = p->cursor_type;
	char	   *sql;
	bool		isnull;
	int64		count;
	AttrNumber	attnum;

	/* only the owner's roles may learn about the pipeline's progress */
	if (relname == NULL || !has_privs_of_role(GetUserId(), p->owner))
		PG_RETURN_NULL();
	attnum = get_attnum(p->source, p->cursor_column);
	if (attnum == InvalidAttrNumber ||
		getBaseType(get_atttype(p->source, attnum)) != p->cursor_type ||
		(pg_class_aclcheck(p->source, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		 pg_attribute_aclcheck(p->source, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		PG_RETURN_NULL();

	(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp);
	sql = BuildPendingSql(p, quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->source)),
														relname),
						  cp.isnull);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, cp.isnull ? 0 : 1, &type, &cp.value,
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count pending rows: %s", sql);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(count);
}
