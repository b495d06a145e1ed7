/*
 * mode.c
 *		The table of modes, and what the run driver asks of a pipeline's
 *		mode through it: its run statement, its expected rows (incr_verify),
 *		how its rows are counted and whether it keeps tombstones.
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "citus.h"
#include "mode.h"

/* The files mode: one COPY per file, built and executed by its source kind. */
static const ModeOps mode_files = {
	.source = SOURCE_FILES,
};

/* One entry per PipelineMode. */
static const ModeOps *const mode_table[] = {
	[MODE_APPEND] = &mode_append,
	[MODE_MERGE] = &mode_merge,
	[MODE_CDC] = &mode_cdc,
	[MODE_SCD2] = &mode_scd2,
	[MODE_QUERY] = &mode_query,
	[MODE_FILES] = &mode_files,
};

/* Return the pipeline's mode. */
const ModeOps *
ModeOf(Pipeline *p)
{
	if ((int) p->mode < 0 || p->mode >= lengthof(mode_table) || mode_table[p->mode] == NULL)
		elog(ERROR, "unknown mode %d", (int) p->mode);
	return mode_table[p->mode];
}

/*
 * True if the database's extension has the run-token functions of 0.3
 * (_incr_tally(<cursor type>, int8)), false for one still at 0.1 or 0.2.
 * Found by exact signature in the extension's schema, and only if it is a
 * member of the extension: a function someone else created there (with
 * CREATE on the schema) must not make a 0.2 database call it.
 */
bool
RunTokensSupported(void)
{
	Oid			args[2] = {INT8OID, INT8OID};
	Oid			fn;

	fn = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						 CStringGetDatum("_incr_tally"),
						 PointerGetDatum(buildoidvector(args, 2)),
						 ObjectIdGetDatum(ExtensionSchemaOid()));
	return ExtensionOwnsObject(ProcedureRelationId, fn);
}

/*
 * What a run does with tombstones: nothing where the mode keeps none or the
 * catalog is still at 0.2; check them only when the pipeline has some, so
 * that a pipeline that never deleted anything runs the statement it always
 * did.  The pipeline's lock is held: no other run adds any meanwhile.
 */
TombstoneUse
TombstoneUseFor(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);

	if (!mode->keeps_tombstones || !mode->keeps_tombstones(p, shape) || !TombstonesKept())
		return TOMBSTONES_OFF;

	/*
	 * Not over Citus (doc/citus.md, Limits): the statement would read
	 * incr_tombstones, a table of the coordinator, beside the shards, which
	 * Citus cannot plan ("correlated subqueries are not supported ...").
	 */
	if (PipelineOverCitus(p))
		return TOMBSTONES_OFF;
	return HasTombstones(p) ? TOMBSTONES_CHECK : TOMBSTONES_RECORD;
}

/*
 * The context of a run's statements, the same for each of them: whether
 * they go through Citus, into a distributed target, and whether a row's
 * late can be told (not when Citus collects the rows on the coordinator
 * before writing them: it sends that step without the parameters).
 */
static BuildContext
run_context(Pipeline *p)
{
	BuildContext ctx = {.run_tokens = RunTokensSupported(),.omit_tally = false};

	ctx.citus = PipelineOverCitus(p);
	if (ctx.citus)
	{
		CitusKind	target = CitusRelationKind(p->target);

		ctx.late_unknown = target != CITUS_NONE &&
			(CitusRelationKind(p->source) != target ||
			 (p->mode == MODE_APPEND && p->keys == NIL && target != CITUS_DISTRIBUTED));
		ctx.citus_distributed_target = (target == CITUS_DISTRIBUTED);
	}
	return ctx;
}

/*
 * True if the pipeline's run statement is one INSERT whose returned rows the
 * caller counts, rather than a statement that returns the counts.
 */
bool
RunSqlReturnsRows(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx;

	if (mode->returns_rows == NULL)
		return false;
	ctx = run_context(p);
	return mode->returns_rows(&ctx, p, shape);
}

/* Build the statement of one run of the pipeline. */
char *
BuildRunSql(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx = run_context(p);
	StringInfoData buf;

	if (mode->build_run == NULL)
		elog(ERROR, "a %s pipeline has no run statement", PipelineModeName(p->mode));
	initStringInfo(&buf);
	mode->build_run(&buf, &ctx, p, shape);
	return buf.data;
}

/*
 * Build the statements a run executes before its run statement
 * (ModeOps.build_first), in order; NIL if it needs none.
 */
List *
BuildRunFirstSqls(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx;

	if (mode->build_first == NULL)
		return NIL;
	ctx = run_context(p);
	return mode->build_first(&ctx, p, shape);
}

/*
 * Build the plain INSERT of the run's new rows (ModeOps.build_run_new), or
 * return NULL when the pipeline's new rows go in with its run statement.
 * Not over Citus, whose statements count their window apart.
 */
char *
BuildRunNewSql(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx = {.run_tokens = RunTokensSupported(),.omit_tally = false};
	StringInfoData buf;

	if (mode->build_run_new == NULL || !mode->plain_new_rows(p, shape) ||
		PipelineOverCitus(p))
		return NULL;
	initStringInfo(&buf);
	mode->build_run_new(&buf, &ctx, p, shape);
	return buf.data;
}

/*
 * Build the count of a run's window over Citus (SqlWindowCount), with the
 * mode's column that tells whether its split run must be one statement
 * (ModeOps.build_unsplit).
 */
char *
BuildWindowCountSql(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx = run_context(p);	/* the context its statements are built in */
	StringInfoData buf;

	initStringInfo(&buf);
	if (mode->build_unsplit)
		mode->build_unsplit(&buf, &ctx, p, shape);
	return SqlWindowCount(p, shape, buf.len > 0 ? buf.data : NULL);
}

/*
 * SELECT the rows the target should hold when the pipeline has loaded every
 * source row with a cursor from $1 to $2 (both inclusive): what each mode's
 * run statement writes, built with the same pieces (casts, the version of a
 * key that wins, deletes).  Columns: the load columns, named as in the
 * target; scd2 and cdc add _incr_c, the cursor of the row or event that
 * wins.  It counts nothing: incr_verify has no tally, and a call of the
 * extension's function would keep postgres_fdw from pushing the scan and
 * its aggregates to the remote side.
 */
char *
BuildExpectedSql(Pipeline *p, PipelineShape *shape)
{
	const ModeOps *mode = ModeOf(p);
	BuildContext ctx = {.run_tokens = true,.omit_tally = true,.citus = PipelineOverCitus(p)};
	StringInfoData buf;

	if (mode->build_expected == NULL)
		elog(ERROR, "a %s pipeline promises no rows to compare", PipelineModeName(p->mode));
	initStringInfo(&buf);
	mode->build_expected(&buf, &ctx, p, shape);
	return buf.data;
}
