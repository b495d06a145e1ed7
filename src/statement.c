/*
 * statement.c
 *		Executing a run statement over a window of values: the session's
 *		kept plans, counting the rows an INSERT returns, the tally of rows
 *		read and the greatest value, and the counts of the run.  Used by the
 *		source kinds whose runs are one statement of the mode (cursor).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "citus.h"
#include "cursor.h"
#include "keptplan.h"
#include "mode.h"
#include "statement.h"
#include "tally.h"

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
 * A pipeline's run statement, kept across runs in the session (keptplan.c).
 * The statement is rebuilt for every run (it is cheap, and it is what
 * notices a changed definition or relation), but parsing, analysing and
 * planning it again was most of a run that finds little or nothing to do.
 * An entry is found by the pipeline's name and which statement it is, and
 * used only while the text and the cursor type are the same.
 */
typedef struct RunPlan
{
	KeptPlan	kept;			/* name: the pipeline's; which: RUN_PLAN_* */
	int64		last_read;		/* rows the last run read; -1 if none ran */
	int			skip_runs;		/* new rows: runs left that do without it */
	int			backoff;		/* new rows: runs it skipped after the last collision */
} RunPlan;

#define RUN_PLAN_STATEMENT 0	/* the run statement (BuildRunSql) */
#define RUN_PLAN_NEW_ROWS 1		/* the plain INSERT of the new rows (BuildRunNewSql) */

/*
 * After the plain INSERT of a keyed append's new rows collided with the
 * target (execute_split), the next runs of the pipeline in this session do
 * without it: one run after a first collision, twice as many after each
 * collision that follows, up to this many; a run whose plain INSERT goes
 * through starts the count again.  A pipeline whose new rows keep meeting
 * keys it loaded before (rows updated in the source, a source that
 * delivers a key again) then pays for a wasted INSERT about once in this
 * many runs.
 */
#define PLAIN_BACKOFF_MAX 64

/*
 * Up to how many rows the last run may have read for the next one to use
 * the kept generic plan.  A generic plan takes every window for the same
 * small part of the source; past this, and for backfills, each run plans
 * its statement for its own window, which costs little next to the rows.
 */
#define RUN_GENERIC_PLAN_ROWS 1000

/*
 * Kept run statements, most recently used first; about RUN_PLANS_KEPT.  The
 * scheduler's worker runs every scheduled pipeline of its database in one
 * session: with more pipelines than entries, each run would plan again.
 */
#define RUN_PLANS_KEPT 256
static KeptPlans run_plans = {NIL, RUN_PLANS_KEPT, sizeof(RunPlan)};

/*
 * Return the entry of a pipeline's statement (which: RUN_PLAN_*), a new one
 * (with no plan yet) when the pipeline has none or had another statement.
 */
static RunPlan *
run_plan(Pipeline *p, int which, const char *sql)
{
	bool		created;
	RunPlan    *entry = (RunPlan *) KeptPlanGet(&run_plans, p->name, which, sql,
												p->cursor_type, &created);

	if (created)
		entry->last_read = -1;
	return entry;
}

/* The entry's generic plan, prepared and kept the first time it is needed. */
static SPIPlanPtr
run_plan_generic(RunPlan *entry, Oid *types)
{
	KeptPlan   *kept = &entry->kept;

	if (kept->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(kept->sql, RUN_SQL_NPARAMS, types,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "could not prepare the run statement (%s): %s",
				 SPI_result_code_string(SPI_result), kept->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the plan of the run statement: %s", kept->sql);
		kept->plan = plan;
	}
	return kept->plan;
}


/*
 * Counts the rows a run's INSERT returns (RunSqlReturnsRows: inserted,
 * deleted, late, and perhaps superseded), as they come, instead of keeping
 * them for a SELECT to count.
 */
typedef struct CountReceiver
{
	DestReceiver pub;
	int			natts;			/* columns read of each row: 3, or 4 */
	int64		inserted;
	int64		updated;
	int64		deleted;
	int64		late;
	bool		late_unknown;	/* a row's late was NULL: the count is not known */
} CountReceiver;

/* Count one returned row. */
static bool
count_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CountReceiver *c = (CountReceiver *) self;

	slot_getsomeattrs(slot, c->natts);

	/*
	 * A version closed for the one the same statement opens (scd2): the
	 * pair is one update, and the opened one was counted, or will be, as
	 * an insert.
	 */
	if (c->natts > 3 && !slot->tts_isnull[3] && DatumGetBool(slot->tts_values[3]))
	{
		c->inserted--;
		c->updated++;
		return true;
	}
	/* a (soft) delete is not a late row: rows_late counts rows written */
	if (!slot->tts_isnull[1] && DatumGetBool(slot->tts_values[1]))
	{
		c->deleted++;
		return true;
	}
	else if (!slot->tts_isnull[0] && DatumGetBool(slot->tts_values[0]))
		c->inserted++;
	else
		c->updated++;
	if (!slot->tts_isnull[2] && DatumGetBool(slot->tts_values[2]))
		c->late++;
	if (slot->tts_isnull[2])
		c->late_unknown = true;
	return true;
}

/* Start counting: note whether the rows have the superseded column. */
static void
count_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	((CountReceiver *) self)->natts = Min(typeinfo->natts, 4);
}

/* Stop counting, or let go of the receiver: nothing to release. */
static void
count_nothing(DestReceiver *self)
{
}

/* Copy what the run needs after SPI_finish into cxt: the new checkpoint, the window. */
static void
finish_window(Pipeline *p, RunWindow *w, RunResult *res, Datum new_checkpoint,
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
/*
 * Count the window of a run over Citus into its tally, before the
 * statement, which cannot call _incr_tally there: the rows from $1 to $2
 * and the greatest cursor among them, by one aggregate over the shards.
 * The safe upper bound keeps new rows out of the window; a row updated
 * or deleted between this count and the statement is counted as read and
 * is then unchanged (or, moved past $2, read by a later run), so the
 * checkpoint never passes a row the statement did not see.  Set
 * *one_statement when the mode's column (ModeOps.build_unsplit) says the
 * window needs its one statement.
 */
static void
count_window(Pipeline *p, PipelineShape *shape, Oid *types, Datum *values, Tally *t,
			 bool *one_statement)
{
	bool		isnull;
	Datum		max;
	int			ret;

	ret = SPI_execute_with_args(BuildWindowCountSql(p, shape), 2, types, values, NULL,
								false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the window of pipeline \"%s\" (SPI result %d)",
			 p->name, ret);
	t->count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
	if (SPI_tuptable->tupdesc->natts >= 3)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		*one_statement = !isnull && DatumGetInt64(d) > 0;
	}
	max = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
		return;
	t->max = datumCopy(max, t->typbyval, t->typlen);
	if (!t->typbyval)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		t->max = datumCopy(max, false, t->typlen);
		MemoryContextSwitchTo(old);
	}
	t->has_max = true;
}

/*
 * Execute the user's command of a query pipeline: $1 the window's start
 * (exclusive), $2 its end.  It counts nothing; its checkpoint is the window's
 * end.
 */
static void
execute_user_statement(Pipeline *p, PipelineShape *shape, const char *sql, Oid *types,
					   Datum *values, Checkpoint *cp, RunRecord *rec, RunResult *res,
					   MemoryContext cxt)
{
	RunWindow  *w = &res->window;
	int			ret;

	/*
	 * The rows in the window, counted first: the command's own count is of
	 * the rows it wrote (one per day of a rollup), not of those it read.
	 * The window is a range of the cursor's index.
	 */
	int64		in_window = 0;

	if (!w->empty)
	{
		bool		isnull;

		ret = SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*) FROM %s"
											 " WHERE %s OPERATOR(pg_catalog.>) $1"
											 " AND %s OPERATOR(pg_catalog.<=) $2",
											 shape->source_sql,
											 quote_identifier(p->cursor_column),
											 quote_identifier(p->cursor_column)),
									2, types, values, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not count the rows in the window (SPI result %d)", ret);
		in_window = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	}
	/* the user's command: $1 the window's start (exclusive), $2 its end */
	ret = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "query command failed (SPI result %d)", ret);
	rec->rows_inserted = SPI_processed;
	rec->rows_read = in_window;
	rec->rows_in_window = in_window;
	rec->rows_affected = SPI_processed;
	rec->rows_window_known = true;
	res->moved = !w->empty && (cp->isnull || CursorLessThan(p, cp->value, w->upper));
	finish_window(p, w, res, w->upper, cxt);
}

/*
 * The plan of the run statement: the kept generic plan after a small run;
 * else a plan for this window (its parameters' values known), made for this
 * run only.
 */
static SPIPlanPtr
choose_plan(RunPlan *run, const char *sql, Oid *types, bool custom)
{
	SPIPlanPtr	plan;

	if (!custom && run->last_read >= 0 && run->last_read <= RUN_GENERIC_PLAN_ROWS)
		return run_plan_generic(run, types);
	plan = SPI_prepare_cursor(sql, RUN_SQL_NPARAMS, types, CURSOR_OPT_CUSTOM_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare the run statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	return plan;
}

/*
 * Execute an INSERT (or a DELETE or UPDATE of ModeOps.build_first) whose
 * returned rows are counted as they come (RunSqlReturnsRows).
 */
static void
execute_counting(SPIPlanPtr plan, const char *sql, Oid *types, Datum *values,
				 int64 *counts, bool *late_unknown)
{
	CountReceiver counter;
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(RUN_SQL_NPARAMS);
	int			ret;

	for (int i = 0; i < RUN_SQL_NPARAMS; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	memset(&counter, 0, sizeof(counter));
	counter.natts = 3;
	counter.pub.receiveSlot = count_receive;
	counter.pub.rStartup = count_startup;
	counter.pub.rShutdown = count_nothing;
	counter.pub.rDestroy = count_nothing;
	counter.pub.mydest = DestNone;
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.dest = &counter.pub;
	ret = SPI_execute_plan_extended(plan, &options);
	if (ret != SPI_OK_INSERT_RETURNING && ret != SPI_OK_DELETE_RETURNING &&
		ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "run statement failed (SPI result %d): %s", ret, sql);
	counts[0] = counter.inserted;
	counts[1] = counter.updated;
	counts[2] = counter.deleted;
	counts[3] = counter.late;
	*late_unknown = counter.late_unknown;
}

/*
 * True if loaded_bound reads the target's greatest cursor value: when the
 * cursor is the one key, loaded as it is, so that the key index has it.
 */
bool
LoadedBoundReadsTarget(Pipeline *p, PipelineShape *shape)
{
	return list_length(p->keys) == 1 && shape->target_has_cursor &&
		strcmp((char *) linitial(p->keys), p->cursor_column) == 0;
}

/* True if the cursor column is one of the pipeline's keys. */
bool
CursorIsKey(Pipeline *p)
{
	ListCell   *lc;

	foreach(lc, p->keys)
		if (strcmp((char *) lfirst(lc), p->cursor_column) == 0)
			return true;
	return false;
}

/*
 * The greatest cursor value the rows a keyed append already wrote can have
 * (ModeOps.plain_new_rows): the checkpoint, or the greatest value of the
 * target's cursor column when that is greater (rows loaded before incr_reset
 * moved the checkpoint back, or written by someone else), read through the
 * key index when the cursor is the one key.  Otherwise (more keys, or a
 * cursor that is not a key) that could mean reading the whole target, and
 * the checkpoint alone will do: a collision past it is still caught
 * (execute_split).
 */
static Datum
loaded_bound(Pipeline *p, PipelineShape *shape, Datum checkpoint)
{
	bool		isnull;
	Datum		max;
	int			ret;
	int16		typlen;
	bool		typbyval;

	if (!LoadedBoundReadsTarget(p, shape))
		return checkpoint;
	ret = SPI_execute(psprintf("SELECT pg_catalog.max(x.%s) FROM %s AS x",
							   quote_identifier(p->cursor_column), shape->target_sql),
					  false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the greatest cursor value of the target of pipeline \"%s\" (SPI result %d)",
			 p->name, ret);
	max = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !CursorLessThan(p, checkpoint, max))
		return checkpoint;
	get_typlenbyval(p->cursor_type, &typlen, &typbyval);
	return datumCopy(max, typbyval, typlen);
}

/*
 * True if the target holds no row (as this statement's snapshot sees it,
 * and its row security lets the owner see it):
 * no key of it can collide with the new rows, whatever the cursor (a first
 * load).  A row someone else writes meanwhile still makes the plain INSERT
 * collide, and the run fall back (execute_split).
 */
static bool
target_is_empty(Pipeline *p, PipelineShape *shape)
{
	int			ret;

	/* an owner that may only insert into it (no RETURNING to read) is not asked */
	if (pg_class_aclcheck(p->target, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	ret = SPI_execute(psprintf("SELECT 1 FROM %s LIMIT 1", shape->target_sql), true, 1);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the target %s (SPI result %d)", shape->target_sql, ret);
	return SPI_processed == 0;
}

/*
 * The kept entry of the plain INSERT of this run's new rows (new_sql) if
 * the run tries it, or NULL while it is skipped after a collision
 * (PLAIN_BACKOFF_MAX).  With a cursor that is not a key, a key the pipeline
 * loaded collides whenever its row got a new cursor value, and only a
 * session that runs the pipeline again remembers that (repeats: the
 * scheduler's worker, incr_catch_up's batches): a run of its own (incr_run
 * by hand or from pg_cron) would pay for a collision found late in its
 * window every time, so it keeps the one statement, unless the target is
 * empty (a first load).
 */
static RunPlan *
plain_new_rows_plan(Pipeline *p, PipelineShape *shape, bool repeats, const char *new_sql)
{
	RunPlan    *run_new;

	if (!CursorIsKey(p) && !repeats && !target_is_empty(p, shape))
		return NULL;
	run_new = run_plan(p, RUN_PLAN_NEW_ROWS, new_sql);
	if (run_new->skip_runs == 0)
		return run_new;
	run_new->skip_runs--;
	ereport(DEBUG1,
			(errmsg_internal("run of pipeline \"%s\": one statement over the whole window (the new rows collided %d runs ago or less)",
							 p->name, run_new->backoff)));
	return NULL;
}

/*
 * Execute a keyed append's run in two statements (BuildRunNewSql): the run
 * statement over $1 to loaded (the ties and the lag, and whatever the target
 * already holds: see loaded_bound), with its ON CONFLICT, then the plain
 * INSERT of the rows past loaded up to $2, which pays no speculative
 * insertion.  Both in a subtransaction: if a row of the plain INSERT
 * collides with the target (a key someone else wrote into it past the
 * checkpoint; with a cursor that is not a key, also a key the pipeline
 * loaded before whose row the source has since given a greater cursor
 * value), or breaks any other constraint, both are undone, the tally is
 * cleared, the next runs skip the split (PLAIN_BACKOFF_MAX), and false is returned
 * for the caller to run the one statement over the whole window, as it
 * always did: whatever the target holds, the run then does what the one
 * statement does.  Either way the rows counted are the window's, each once.
 * run and run_new (the plain INSERT's entry) are in use by the caller.
 */
static bool
execute_split(Pipeline *p, RunPlan *run, RunPlan *run_new, SPIPlanPtr plan,
			  const char *sql, const char *new_sql, Oid *types, Datum *values,
			  Datum loaded, bool custom_plan, Tally *tally, int64 *counts,
			  bool *late_unknown)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	SPIPlanPtr	new_plan;
	Datum		old_values[RUN_SQL_NPARAMS];
	Datum		new_values[RUN_SQL_NPARAMS];
	volatile bool done = false;

	/* the run statement up to loaded ($2), the plain INSERT past it ($3) */
	memcpy(old_values, values, sizeof(old_values));
	old_values[1] = loaded;
	memcpy(new_values, values, sizeof(new_values));
	new_values[2] = loaded;
	new_plan = choose_plan(run_new, new_sql, types, custom_plan);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int64		read_old;
		int			ret;

		execute_counting(plan, sql, types, old_values, counts, late_unknown);
		read_old = tally->count;
		ret = SPI_execute_plan(new_plan, new_values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "run statement failed (SPI result %d): %s", ret, new_sql);
		/* the rows it inserted: neither deleted nor late (all past $3) */
		counts[0] += SPI_processed;
		run->last_read = read_old;
		run_new->last_read = tally->count - read_old;
		run_new->backoff = 0;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		done = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata = RollbackSubTransactionError(cxt, owner);

		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
			ReThrowError(edata);
		FreeErrorData(edata);
		/* a run inside these statements (a trigger) failed with them */
		TallyRestore(tally);
		tally->count = 0;
		tally->has_max = false;
		tally->updates = 0;
		run_new->backoff = Min(Max(run_new->backoff * 2, 1), PLAIN_BACKOFF_MAX);
		run_new->skip_runs = run_new->backoff;
		ereport(DEBUG1,
				(errmsg_internal("run of pipeline \"%s\": the new rows collided with rows in the target; running the one statement over the whole window, and the next %d runs of this session too",
								 p->name, run_new->skip_runs)));
	}
	PG_END_TRY();
	return done;
}

/*
 * The run's settings for its statements, from push_run_settings to
 * pop_run_settings: no JIT, since _incr_tally's cost (see the install
 * script) inflates the estimate, and compiling would cost a big run more
 * than it saves.  Over Citus the same on the workers, which plan the
 * statements of the shards (and would compile each for hundreds of
 * milliseconds): a SET LOCAL sent to them through Citus, undone there when
 * the run's statements are done (citus_workers_set).  A failed run's
 * subtransaction undoes both.
 */
typedef struct RunSettings
{
	int			nestlevel;
	bool		workers;		/* over Citus: jit was set on the workers */
} RunSettings;

/*
 * Run a SET LOCAL or RESET here and on the Citus workers: Citus sends it to
 * the connections of the transaction, and to those it opens later, while
 * citus.propagate_set_commands is local, which it is for this command only
 * (not while the run's statements run: what the owner's code sets must not
 * reach the caller's connections).  Here it is undone at once.
 */
static void
citus_workers_set(const char *command)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("citus.propagate_set_commands", "local", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute(command, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not send \"%s\" to the Citus workers", command);
	AtEOXact_GUC(false, nestlevel);
}

static void
push_run_settings(Pipeline *p, RunSettings *settings)
{
	settings->nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	settings->workers = p != NULL && PipelineOverCitus(p);
	if (settings->workers)
		citus_workers_set("SET LOCAL jit = off");
}

/*
 * Undo push_run_settings.  On the workers: RESET, back to their own
 * setting, or, when the caller propagates its settings and its jit is not
 * its default (it may have sent the workers that value), the caller's
 * value.
 */
static void
pop_run_settings(RunSettings *settings)
{
	/*
	 * as a function's SET clause is undone: the run's own settings go, a
	 * plain SET made meanwhile (by a trigger of the target) stays
	 */
	AtEOXact_GUC(true, settings->nestlevel);
	if (settings->workers)
	{
		const char *propagate = GetConfigOption("citus.propagate_set_commands", true, false);
		const char *jit = GetConfigOption("jit", false, false);

		if (propagate != NULL && strcmp(propagate, "local") == 0 &&
			strcmp(jit, GetConfigOptionResetString("jit")) != 0)
			citus_workers_set(psprintf("SET LOCAL jit = %s", quote_literal_cstr(jit)));
		else
			citus_workers_set("RESET jit");
	}
}

/* Read the counts (mode.h) of the one row a run statement returned. */
static void
read_counts(const char *sql, int ret, int64 *counts, bool *nulls)
{
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "run statement failed (SPI result %d): %s", ret, sql);
	for (int i = 0; i < RUN_SQL_NCOUNTS; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  i + 1, &nulls[i]);

		counts[i] = nulls[i] ? 0 : DatumGetInt64(d);
	}
}

/*
 * Execute a run statement that returns its counts in one row (mode.h) over
 * a window its source kind reads without the tally (wal: the changes it
 * registered as WAL_CHANGES_RELATION, or the first copy under snap), with
 * the run's settings.  The rows read are the source kind's to count.
 */
void
ExecuteCountsStatement(const char *sql, Oid *types, Datum *values, Snapshot snap,
					   int64 *counts)
{
	bool		nulls[RUN_SQL_NCOUNTS];
	RunSettings settings;
	SPIPlanPtr	plan;
	int			ret;

	push_run_settings(NULL, &settings);
	plan = SPI_prepare(sql, RUN_SQL_NPARAMS, types);

	if (plan == NULL)
		elog(ERROR, "could not prepare the run statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (snap)
		ret = SPI_execute_snapshot(plan, values, NULL, snap, InvalidSnapshot, false, true, 0);
	else
		ret = SPI_execute_plan(plan, values, NULL, false, 0);
	read_counts(sql, ret, counts, nulls);
	SPI_freeplan(plan);
	pop_run_settings(&settings);
}

/*
 * Execute a statement that returns its counts in one row, and the
 * tombstones to record, which are kept in cxt past SPI_finish.
 */
static void
execute_returning_counts(SPIPlanPtr plan, const char *sql, Datum *values,
						 PipelineShape *shape, int64 *counts, bool *nulls,
						 RunResult *res, MemoryContext cxt)
{
	read_counts(sql, SPI_execute_plan(plan, values, NULL, false, 0), counts, nulls);
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

/*
 * Execute the run statement sql over the window in res and fill in the
 * counts, the new checkpoint and the tombstones.  Runs connected to SPI, as
 * the pipeline's owner.  A backfill (req) plans for its window only.
 */
void
ExecuteRunStatement(const RunRequest *req, Pipeline *p, PipelineShape *shape,
					const char *sql, Checkpoint *cp, RunRecord *rec,
					RunResult *res, MemoryContext cxt)
{
	bool		custom_plan = req->backfill;
	RunWindow  *w = &res->window;
	Oid			types[RUN_SQL_NPARAMS];
	Datum		values[RUN_SQL_NPARAMS];
	int64		counts[RUN_SQL_NCOUNTS];
	bool		nulls[RUN_SQL_NCOUNTS];
	Tally		tally;
	RunSettings settings;
	RunPlan    *run;
	RunPlan    *volatile run_new = NULL;
	SPIPlanPtr	plan;

	for (int i = 0; i < RUN_SQL_NPARAMS; i++)
		types[i] = p->cursor_type;
	values[0] = w->lower;
	values[1] = w->upper;
	values[2] = w->checkpoint;
	types[3] = INT8OID;
	values[3] = Int64GetDatum(0);

	if (ModeOf(p)->user_statement)
	{
		execute_user_statement(p, shape, sql, types, values, cp, rec, res, cxt);
		return;
	}

	TallyPush(&tally, p, !RunTokensSupported(), cxt);
	values[3] = Int64GetDatum(tally.token);
	push_run_settings(p, &settings);
	if (PipelineOverCitus(p))
	{
		bool		one_statement = false;

		count_window(p, shape, types, values, &tally, &one_statement);
		/* a window only the mode's one statement can do (a cdc truncate) */
		if (one_statement && res->first_sqls != NIL)
		{
			shape->one_statement = true;
			sql = BuildRunSql(p, shape);
			res->first_sqls = NIL;
			res->sql = MemoryContextStrdup(cxt, sql);
			ereport(DEBUG1,
					(errmsg_internal("run of pipeline \"%s\": one statement through the Citus coordinator for this window: %s",
									 p->name, sql)));
		}
	}

	run = run_plan(p, RUN_PLAN_STATEMENT, sql);
	/*
	 * Citus cannot plan a split merge's upsert (a subquery) with parameters,
	 * nor a generic plan of any run statement ("could not create distributed
	 * plan"): a run over Citus plans its statement for its window each time.
	 */
	plan = choose_plan(run, sql, types,
					   custom_plan || res->first_sqls != NIL || PipelineOverCitus(p));
	KeptPlanBeginUse(&run->kept);
	PG_TRY();
	{
		if (res->first_sqls != NIL || RunSqlReturnsRows(p, shape))
		{
			bool		late_unknown;
			bool		first_late_unknown = false;
			int64		first[RUN_SQL_NCOUNTS] = {0};
			char	   *new_sql = NULL;
			Datum		loaded = w->checkpoint;
			ListCell   *lc;

			/* planned for this window each time: it is a run over Citus */
			foreach(lc, res->first_sqls)
			{
				char	   *first_sql = (char *) lfirst(lc);
				int64		step[RUN_SQL_NCOUNTS];
				bool		step_late_unknown;

				execute_counting(choose_plan(run, first_sql, types, true), first_sql,
								 types, values, step, &step_late_unknown);
				for (int i = 0; i < RUN_SQL_NCOUNTS; i++)
					first[i] += step[i];
				first_late_unknown |= step_late_unknown;
			}
			/* rows past what the pipeline wrote: maybe a plain INSERT of them */
			if (res->first_sqls == NIL && CursorLessThan(p, w->checkpoint, w->upper))
			{
				new_sql = BuildRunNewSql(p, shape);
				if (new_sql != NULL)
					run_new = plain_new_rows_plan(p, shape, req->repeats, new_sql);
				/* in use from here: a run inside loaded_bound's read may push it out */
				if (run_new != NULL)
					KeptPlanBeginUse(&run_new->kept);
				else
					new_sql = NULL;
			}
			if (new_sql != NULL)
			{
				loaded = loaded_bound(p, shape, w->checkpoint);
				if (!CursorLessThan(p, loaded, w->upper))
					new_sql = NULL;
			}
			if (new_sql == NULL ||
				!execute_split(p, run, run_new, plan, sql, new_sql, types, values,
							   loaded, custom_plan, &tally, counts, &late_unknown))
			{
				if (new_sql != NULL)
					plan = choose_plan(run, sql, types, true);
				execute_counting(plan, sql, types, values, counts, &late_unknown);
				run->last_read = tally.count;
			}
			for (int i = 0; i < RUN_SQL_NCOUNTS; i++)
				counts[i] += first[i];
			nulls[3] = (!shape->target_has_cursor && !ModeOf(p)->late_without_cursor) ||
				late_unknown || first_late_unknown;
		}
		else
		{
			execute_returning_counts(plan, sql, values, shape, counts, nulls, res, cxt);
			run->last_read = tally.count;
		}
	}
	PG_FINALLY();
	{
		/* a run inside this one (a trigger) may have replaced or pushed out the entries */
		KeptPlanEndUse(&run->kept);
		if (run_new != NULL)
			KeptPlanEndUse(&run_new->kept);
	}
	PG_END_TRY();
	pop_run_settings(&settings);

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
	rec->rows_in_window = tally.count;
	rec->rows_affected = counts[0] + counts[1] + counts[2];
	rec->rows_window_known = true;

	res->moved = tally.has_max && (cp->isnull || CursorLessThan(p, cp->value, tally.max));
	check_tally_in_window(p, &tally, w);
	finish_window(p, w, res, tally.max, cxt);
	TallyRestore(tally.outer);
}
