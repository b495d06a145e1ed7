/*
 * tally.c
 *		The row tally of runs in progress and its SQL entry points,
 *		_incr_tally (one per cursor type) and _incr_count_update.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "tally.h"

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
void
TallyPush(Tally *t, Pipeline *p, bool legacy, MemoryContext cxt)
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

/* Return the innermost run's tally, or NULL: a failing run restores it with TallyRestore. */
Tally *
TallyInnermost(void)
{
	return tallies;
}

/* Make outer the innermost tally again: a run's statement is done, or the run failed. */
void
TallyRestore(Tally *outer)
{
	tallies = outer;
}
