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
#include "citus.h"
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
PG_FUNCTION_INFO_V1(incremental_tally_int2);
PG_FUNCTION_INFO_V1(incremental_tally_int4);
PG_FUNCTION_INFO_V1(incremental_tally_int8);
PG_FUNCTION_INFO_V1(incremental_tally_numeric);
PG_FUNCTION_INFO_V1(incremental_tally_xid8);
PG_FUNCTION_INFO_V1(incremental_tally_timestamptz);
PG_FUNCTION_INFO_V1(incremental_tally_timestamp);
PG_FUNCTION_INFO_V1(incremental_tally_date);
PG_FUNCTION_INFO_V1(incremental_count_update);

/*
 * What _incr_tally counts while a run statement executes: rows read, and the
 * greatest cursor value read.  Each run has its own, on the stack of runs in
 * progress: a run started from inside another (a trigger on its target)
 * pushes its own and pops it when it ends or fails, so it never touches the
 * counts of the run that contains it.  A run draws a random token and passes
 * it to the statement as $4; _incr_tally counts only for the innermost run,
 * and only when it is called with that run's token, so no other SQL (a
 * source view, a function, a trigger) can forge counts or the checkpoint:
 * it cannot know the token.
 */
typedef struct Tally
{
	struct Tally *outer;		/* the run this one is nested in, or NULL */
	int64		token;			/* the run's token; unused when legacy */
	bool		legacy;			/* a database at 0.1 or 0.2: no tokens */
	int64		count;
	bool		has_max;
	Datum		max;
	Oid			type;			/* the cursor's type (a base type) */
	bool		typbyval;
	int16		typlen;
	FmgrInfo	cmp;
	MemoryContext cxt;
	int64		updates;		/* _incr_count_update: rows an upsert updated */
} Tally;

/* The innermost run in progress, or NULL. */
static Tally *tallies = NULL;

/*
 * The tally of the innermost run if the call carries its token; otherwise
 * an error: the tally functions are callable by everyone (runs execute as
 * the pipeline's owner), but count only for the statement of a run.
 */
static Tally *
tally_for_token(bool has_token, int64 token, const char *function)
{
	if (!has_token || tallies == NULL || tallies->legacy || tallies->token != token)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s is internal to incremental runs", function),
				 errdetail("It counts only the rows of the statement of the run in progress, which passes the run's token; this call did not."),
				 errhint("Do not call it; incr_run counts the rows it reads.")));
	return tallies;
}

/* Count a row read with cursor value v of the given type into the tally. */
static void
tally_add(Tally *t, Datum v, Oid type)
{
	/* a comparator on a Datum of another type reads garbage, or crashes */
	if (type != t->type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("_incr_tally was called with a value of type %s, but the run's cursor is of type %s",
						format_type_be(type), format_type_be(t->type))));
	t->count++;
	if (t->has_max &&
		DatumGetInt32(FunctionCall2Coll(&t->cmp, InvalidOid, v, t->max)) <= 0)
		return;
	if (t->has_max && !t->typbyval)
		pfree(DatumGetPointer(t->max));
	if (t->typbyval)
		t->max = v;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		t->max = datumCopy(v, false, t->typlen);
		MemoryContextSwitchTo(old);
	}
	t->has_max = true;
}

/*
 * _incr_tally(value <cursor type>, run_token int8): count a row read by the
 * run that passes the token and keep the greatest cursor value.  One SQL
 * function per cursor type, each with its own entry point, so the type of
 * value is known here and checked against the run's.  Always true, so it
 * can stand in a WHERE clause.
 */
static Datum
tally_typed(FunctionCallInfo fcinfo, Oid type)
{
	tally_add(tally_for_token(true, PG_GETARG_INT64(1), "_incr_tally"), PG_GETARG_DATUM(0), type);
	PG_RETURN_BOOL(true);
}

/* _incr_tally(smallint, int8) */
Datum
incremental_tally_int2(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, INT2OID);
}

/* _incr_tally(integer, int8) */
Datum
incremental_tally_int4(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, INT4OID);
}

/* _incr_tally(bigint, int8) */
Datum
incremental_tally_int8(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, INT8OID);
}

/* _incr_tally(numeric, int8) */
Datum
incremental_tally_numeric(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, NUMERICOID);
}

/* _incr_tally(xid8, int8) */
Datum
incremental_tally_xid8(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, XID8OID);
}

/* _incr_tally(timestamptz, int8) */
Datum
incremental_tally_timestamptz(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, TIMESTAMPTZOID);
}

/* _incr_tally(timestamp, int8) */
Datum
incremental_tally_timestamp(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, TIMESTAMPOID);
}

/* _incr_tally(date, int8) */
Datum
incremental_tally_date(PG_FUNCTION_ARGS)
{
	return tally_typed(fcinfo, DATEOID);
}

/*
 * _incr_tally(anyelement) of a database still at 0.1 or 0.2, which has no
 * tokens: it counts for the innermost run if that run is such a database's,
 * and checks the value's type; the run itself refuses a greatest value
 * outside its window (check_tally_in_window).  Outside a run it does
 * nothing, as it always did.  ALTER EXTENSION incremental UPDATE replaces it.
 */
Datum
incremental_tally(PG_FUNCTION_ARGS)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (tallies == NULL || !tallies->legacy)
		PG_RETURN_BOOL(true);
	if (!OidIsValid(type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("could not determine the type of the value passed to _incr_tally")));
	tally_add(tallies, PG_GETARG_DATUM(0), getBaseType(type));
	PG_RETURN_BOOL(true);
}

/*
 * _incr_count_update(live[, run_token]): count a row the upsert of a run
 * updates (live: not soft-deleted, which counts as a delete).  Last in the
 * upsert's WHERE, so it is reached only for rows really updated; used where
 * RETURNING cannot tell updates from inserts (partitioned targets).  With a
 * token (0.3) only for the run that passes it; without (0.1, 0.2) for the
 * innermost run of such a database.  Always true.
 */
Datum
incremental_count_update(PG_FUNCTION_ARGS)
{
	Tally	   *t;

	if (PG_NARGS() == 2)
		t = tally_for_token(!PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
							"_incr_count_update");
	else if (PG_NARGS() == 1)
	{
		if (tallies == NULL || !tallies->legacy)
			PG_RETURN_BOOL(true);
		t = tallies;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("_incr_count_update was declared with %d arguments, not 1 or 2", PG_NARGS()),
				 errhint("Update the extension: ALTER EXTENSION incremental UPDATE;")));
	if (PG_ARGISNULL(0) || PG_GETARG_BOOL(0))
		t->updates++;
	PG_RETURN_BOOL(true);
}

/*
 * Start tallying for a run's statement over the pipeline's cursor: push t
 * as the innermost run, with a new random token (legacy: none).  The caller
 * pops it when the statement is done, and ExecuteRun when the run fails.
 */
static void
tally_push(Tally *t, Pipeline *p, bool legacy, MemoryContext cxt)
{
	TypeCacheEntry *tc = lookup_type_cache(p->cursor_type, TYPECACHE_CMP_PROC_FINFO);

	memset(t, 0, sizeof(*t));
	t->legacy = legacy;
	if (!legacy && !pg_strong_random(&t->token, sizeof(t->token)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random run token")));
	t->type = getBaseType(p->cursor_type);
	get_typlenbyval(t->type, &t->typlen, &t->typbyval);
	fmgr_info_cxt(tc->cmp_proc_finfo.fn_oid, &t->cmp, cxt);
	t->cxt = cxt;
	t->outer = tallies;
	tallies = t;
}

/*
 * Count the window of a run over Citus into its tally, before the
 * statement, which cannot call _incr_tally there: the rows from $1 to $2
 * and the greatest cursor among them, by one aggregate over the shards.
 * The safe upper bound keeps new rows out of the window; a row updated
 * or deleted between this count and the statement is counted as read and
 * is then unchanged (or, moved past $2, read by a later run), so the
 * checkpoint never passes a row the statement did not see.
 */
static void
count_window(Pipeline *p, PipelineShape *shape, Oid *types, Datum *values, Tally *t)
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
	bool		late_unknown;	/* a row's late was NULL: the count is not known */
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
	if (slot->tts_isnull[2])
		c->late_unknown = true;
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
 * Who ran before BeginAsOwner, and the settings level it opened, for
 * EndAsOwner to restore.
 */
typedef struct AsOwner
{
	Oid			save_userid;
	int			save_sec_context;
	int			nestlevel;
} AsOwner;

/*
 * Become the pipeline's owner, restricted as in REFRESH MATERIALIZED VIEW,
 * and connect to SPI.  Every read of a source and write of a target on
 * someone's behalf (runs, incr_plan, incr_pending_rows) goes through here:
 * the owner's code (a view's functions, triggers, a query command) then runs
 * with the owner's rights, cannot change role or create temporary tables,
 * and whatever settings it changes are undone by EndAsOwner.  On error the
 * (sub)transaction abort restores identity and settings.
 */
static void
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
static void
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
	List	   *files_loaded;	/* files: LoadFile * loaded, for incr_files */
	List	   *files_touched;	/* files: LoadFile * with a new mtime only */
	Datum		tombstones[4];	/* keys deleted, versions, keys revived, versions */
} LoadResult;

/*
 * What a run does with tombstones: nothing where the mode keeps none or the
 * catalog is still at 0.2; check them only when the pipeline has some, so
 * that a pipeline that never deleted anything runs the statement it always
 * did.  The pipeline's lock is held: no other run adds any meanwhile.
 */
static TombstoneUse
tombstone_use(Pipeline *p, PipelineShape *shape)
{
	if (!PipelineKeepsTombstones(p, shape) || !TombstonesKept())
		return TOMBSTONES_OFF;
	return HasTombstones(p) ? TOMBSTONES_CHECK : TOMBSTONES_RECORD;
}

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
		load_files(p, shape, cp, rec, res, cxt);
		EndAsOwner(&as);
		return;
	}
	if (req->backfill)
		ComputeBackfillWindow(p, shape, cp, CursorValueIn(p, req->from_value),
							  CursorValueIn(p, req->to_value), req->batched, w);
	else
		ComputeRunWindow(p, shape, cp, true, w);
	shape->tombstones = tombstone_use(p, shape);
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

	if (p->mode == MODE_QUERY)
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

	tally_push(&tally, p, !RunTokensSupported(), cxt);
	values[3] = Int64GetDatum(tally.token);
	if (PipelineOverCitus(p))
		count_window(p, shape, types, values, &tally);

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
			nulls[3] = !shape->target_has_cursor || counter.late_unknown;
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
	tallies = tally.outer;

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
	Tally	   *outer_tally = tallies;

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
		/* forget this run's tally; a run this one is nested in keeps its own */
		tallies = outer_tally;

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
	AsOwner		as;

	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	(void) ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp);

	BeginAsOwner(p, &as);
	shape = DescribePipeline(p, DESCRIBE_FOR_PLAN);
	if (p->mode == MODE_FILES)
	{
		MemoryContextSwitchTo(cxt);
		initStringInfo(&buf);
		plan_files(&buf, p, shape, &cp);
		EndAsOwner(&as);
		PG_RETURN_TEXT_P(cstring_to_text(buf.data));
	}
	ComputeRunWindow(p, shape, &cp, false, &w);
	shape->tombstones = tombstone_use(p, shape);

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
	if (p->mode != MODE_QUERY && RunTokensSupported())
		appendStringInfoString(&buf, "-- $4 the run's token, drawn at random by each run: the counting functions refuse any other\n");
	appendStringInfoString(&buf, BuildRunSql(p, shape));
	appendStringInfoChar(&buf, ';');

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
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
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
 * the source is gone, or the count took longer than 5 seconds.  Used by
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
	if (!OidIsValid(nsp) || !has_privs_of_role(GetUserId(), p->owner) ||
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
