/*
 * run.c
 *		The one run path of every mode: load the pipeline, take its lock,
 *		compute the window, build the statement, execute it as the owner,
 *		count, move the checkpoint and record the run, all in the caller's
 *		transaction.  Its SQL functions are in run_api.c.
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
#include "files.h"
#include "pipeline.h"
#include "mode.h"
#include "run.h"
#include "tally.h"
#include "window.h"


/*
 * Refuse a greatest cursor value outside the window: the statement reads
 * only the window, so such a value was counted by something else, and a
 * checkpoint moved past the window would skip rows for good.  Cannot happen
 * with tokens; a database at 0.1 or 0.2 can still be fed values by SQL that
 * calls _incr_tally(anyelement) itself.
 */
static void
check_tally_in_window(Pipeline *p, Tally *t, RunWindow *w)
{
	if (!t->has_max)
		return;
	if ((!w->upper_unbounded && CursorLessThan(p, w->upper, t->max)) ||
		(!w->lower_unbounded && CursorLessThan(p, t->max, w->lower)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("run of pipeline \"%s\" counted cursor value %s outside its window",
						p->name, CursorValueOut(p, t->max)),
				 errdetail("The window is from %s to %s; the checkpoint was not moved.",
						   CursorValueOut(p, w->lower), CursorValueOut(p, w->upper)),
				 errhint("If the extension is older than 0.3, something other than the run statement called _incr_tally: update it with ALTER EXTENSION incremental UPDATE;")));
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

/* Result of the part of a run that executes as the owner. */
typedef struct LoadResult
{
	RunWindow	window;
	bool		moved;			/* a cursor value past the checkpoint was read */
	Datum		new_checkpoint;
	List	   *files_loaded;	/* files: FileEntry * loaded, for incr_files */
	List	   *files_touched;	/* files: FileEntry * with a new mtime only */
	Datum		tombstones[4];	/* keys deleted, versions, keys revived, versions */
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
	errcontext("loading file \"%s\"", ((FileEntry *) arg)->path);
}

/*
 * The files pipeline's part of execute_window_run: its window is the files that are
 * new or changed, its statement one COPY per file, its counts what each COPY
 * loaded.  The checkpoint is the newest modification time loaded; what was
 * loaded is recorded in incr_files by the caller, in this transaction.
 */
static void
execute_files_run(Pipeline *p, PipelineShape *shape, Checkpoint *cp, RunRecord *rec,
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
		FileEntry  *f = lfirst(lc);
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
execute_window_run(RunRequest *req, Pipeline *p, Checkpoint *cp, RunRecord *rec,
			LoadResult *res, MemoryContext cxt)
{
	AsOwner		as;
	PipelineShape *shape;
	char	   *sql;
	Oid			types[RUN_SQL_NPARAMS];
	Datum		values[RUN_SQL_NPARAMS];
	int			ret;
	int64		counts[RUN_SQL_NCOUNTS];
	bool		nulls[RUN_SQL_NCOUNTS];
	Tally		tally;
	RunWindow  *w = &res->window;
	int			nestlevel;
	RunPlan    *run;
	SPIPlanPtr	plan;

	BeginAsOwner(p, &as);
	shape = DescribePipeline(p, DESCRIBE_FOR_RUN);
	if (p->mode == MODE_FILES)
	{
		execute_files_run(p, shape, cp, rec, res, cxt);
		EndAsOwner(&as);
		return;
	}
	if (req->backfill)
		ComputeBackfillWindow(p, shape, cp, CursorValueIn(p, req->from_value),
							  CursorValueIn(p, req->to_value), req->batched, w);
	else
		ComputeRunWindow(p, shape, cp, true, w);
	shape->tombstones = TombstoneUseFor(p, shape);
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
	types[3] = INT8OID;
	values[3] = Int64GetDatum(0);

	if (ModeOf(p)->user_statement)
	{
		/* the user's command: $1 the window's start (exclusive), $2 its end */
		ret = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0);
		if (ret < 0)
			elog(ERROR, "query command failed (SPI result %d)", ret);
		rec->rows_inserted = SPI_processed;
		res->moved = !w->empty && (cp->isnull || CursorLessThan(p, cp->value, w->upper));
		finish_window(p, w, res, w->upper, cxt);
		EndAsOwner(&as);
		return;
	}

	TallyPush(&tally, p, !RunTokensSupported(), cxt);
	values[3] = Int64GetDatum(tally.token);

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
			/* the tombstones to record, kept past SPI_finish */
			for (int i = 0; shape->tombstones != TOMBSTONES_OFF && i < 4; i++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  RUN_SQL_NCOUNTS + i + 1, &isnull);

				MemoryContext old = MemoryContextSwitchTo(cxt);

				res->tombstones[i] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
				MemoryContextSwitchTo(old);
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
	check_tally_in_window(p, &tally, w);
	finish_window(p, w, res, tally.max, cxt);
	TallyRestore(tally.outer);

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
		execute_window_run(req, p, &cp, &rec, &res, cxt);
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
		/* forget this run's tally; a run this one is nested in keeps its own */
		TallyRestore(outer_tally);

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
