/*
 * mode_merge.c
 *		The merge mode: upsert the latest row per key, with deletes (hard or
 *		soft) marked by delete_column.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "mode.h"

/*
 * merge: upsert the latest row per key.  INSERT ... ON CONFLICT rather than
 * MERGE: it is race-free against concurrent inserts of the same key, and its
 * RETURNING tells inserts (xmax = 0) from updates, which MERGE on 15 cannot.
 * When the source can hold several versions of a key (a change log), a
 * version older than the target's (by cursor) never overwrites it.  When a
 * unique index makes the source hold one row per key, that row is the key's
 * current state and always wins: updated_at = now() can go backwards when
 * two transactions update one row, and the later commit is the truth.
 *
 * With delete_column, a row marked deleted deletes the target row of its key
 * (DELETE, matched with the key index's operators), or with soft_delete is
 * written like any other and counted as deleted.
 */
/*
 * True if a run of a merge with hard deletes is two statements, the deletes
 * (build_merge_first) and then the upserts: over Citus, which pushes each
 * down to the co-located shards, whereas it would run the CTEs of one
 * statement as subplans whose rows pass through the coordinator.  Not with
 * tombstones, whose CTEs need the deletes and the upserts together.
 */
static bool
merge_split(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return ctx->citus && p->delete_column && !p->soft_delete &&
		shape->tombstones == TOMBSTONES_OFF;
}

/* Append the guard that keeps a version older than the target's from winning. */
static void
merge_guard_src(StringInfo buf, Pipeline *p)
{
	appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) src.%s)",
					 quote_identifier(p->cursor_column),
					 quote_identifier(p->cursor_column),
					 quote_identifier(p->cursor_column));
}

/*
 * The first of a split merge's statements (merge_split): delete the target
 * rows of the keys whose latest row in the window is marked deleted,
 * returning a row per delete.  Nothing for a merge that is not split.
 */
static void
build_merge_first(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	if (!merge_split(ctx, p, shape))
		return;
	appendStringInfo(buf, "DELETE FROM %s AS t USING (\n  ", shape->target_sql);
	sql_keyed_source(buf, ctx, p, shape, true,
					 list_make1(psprintf("%s AS _incr_deleted", sql_delete_expr(p, shape))));
	appendStringInfoString(buf, "\n) AS src\n  WHERE src._incr_deleted AND ");
	sql_key_match(buf, shape->columns, "t", "src");
	if (shape->target_has_cursor && !shape->source_unique_on_keys)
		merge_guard_src(buf, p);
	appendStringInfoString(buf, "\n  RETURNING false AS inserted, true AS deleted, false AS late");
}

static void
build_merge(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	bool		hard_delete = (p->delete_column && !p->soft_delete);
	List	   *extras = NIL;
	char	   *guard = NULL;
	const char *deleted_out = "false";
	char	   *live = NULL;

	/* a NULL in the target is older than any value (a row loaded before the pipeline) */
	if (shape->target_has_cursor && !shape->source_unique_on_keys)
		guard = psprintf("(t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) EXCLUDED.%s)",
						 quote_identifier(p->cursor_column),
						 quote_identifier(p->cursor_column),
						 quote_identifier(p->cursor_column));
	if (hard_delete)
		extras = lappend(extras, psprintf("%s AS _incr_deleted", sql_delete_expr(p, shape)));
	if (shape->tombstones != TOMBSTONES_OFF)
		extras = lappend(extras, psprintf("s.%s AS _incr_c", quote_identifier(p->cursor_column)));
	if (p->soft_delete)
	{
		deleted_out = psprintf(shape->delete_is_bool ? "t.%s IS TRUE" : "t.%s IS NOT NULL",
							   quote_identifier(p->delete_column));
		/* a soft-deleted row is counted as deleted, not updated */
		live = psprintf(shape->delete_is_bool ? "EXCLUDED.%s IS NOT TRUE" : "EXCLUDED.%s IS NULL",
						quote_identifier(p->delete_column));
	}

	/*
	 * Without deletes the rows go straight into the INSERT, and the rows it
	 * returns are counted as they come (RunSqlReturnsRows): a CTE around the
	 * window's scan could not be inlined (it calls _incr_tally) and would
	 * copy every row through a tuplestore, and so would one around the
	 * INSERT to count what it returns.
	 */
	/* the second of a split merge: the upserts of the keys not deleted */
	if (merge_split(ctx, p, shape))
	{
		sql_insert_head(buf, shape, NULL);
		appendStringInfoString(buf, "SELECT ");
		sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
		appendStringInfoString(buf, " FROM (\n  ");
		sql_keyed_source(buf, ctx, p, shape, true, extras);
		appendStringInfoString(buf, "\n) AS src WHERE NOT src._incr_deleted");
		sql_upsert(buf, ctx, shape, guard, NULL, live);
		appendStringInfo(buf, "\n  RETURNING %s AS inserted,\n"
						 "    %s AS deleted,\n    %s",
						 sql_inserted_expr(shape), deleted_out, sql_late_expr(ctx, p, shape));
		return;
	}

	if (!hard_delete)
	{
		sql_insert_head(buf, shape, NULL);
		sql_keyed_source(buf, ctx, p, shape, true, NIL);
		sql_upsert(buf, ctx, shape, guard, NULL, live);
		appendStringInfo(buf, "\n  RETURNING %s AS inserted,\n"
						 "    %s AS deleted,\n    %s",
						 sql_inserted_expr(shape), deleted_out, sql_late_expr(ctx, p, shape));
		return;
	}

	appendStringInfoString(buf, "WITH src AS (\n  ");
	sql_keyed_source(buf, ctx, p, shape, true, extras);
	appendStringInfo(buf, "\n),\nd AS (\n  DELETE FROM %s AS t USING src\n  WHERE src._incr_deleted AND ",
					 shape->target_sql);
	sql_key_match(buf, shape->columns, "t", "src");
	if (guard)
		merge_guard_src(buf, p);
	appendStringInfo(buf, "\n  RETURNING %s\n),\n", sql_late_expr(ctx, p, shape));
	appendStringInfoString(buf, "w AS (\n  ");
	sql_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, " FROM src WHERE NOT src._incr_deleted");
	/* a key deleted at this version or a later one stays deleted */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "\n    AND NOT ");
		sql_tombstone_exists(buf, p, shape, "src", false, ">=");
	}
	sql_upsert(buf, ctx, shape, guard, NULL, live);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted,\n"
					 "    %s AS deleted,\n    %s\n)",
					 sql_inserted_expr(shape), deleted_out, sql_late_expr(ctx, p, shape));
	if (shape->tombstones != TOMBSTONES_OFF)
		sql_tombstone_ctes(buf, p, shape, "src._incr_deleted", p->cursor_column, NULL);
	appendStringInfoString(buf,
						   "\nSELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FROM d),\n       ");
	sql_count_late(buf, ctx, shape);
	if (shape->tombstones != TOMBSTONES_OFF)
		appendStringInfoString(buf, SqlTombstoneColumns);
}

/* Hard deletes make a statement of CTEs that returns the counts. */
static bool
merge_returns_rows(Pipeline *p)
{
	return !(p->delete_column && !p->soft_delete);
}

/*
 * True if the pipeline's deletes leave tombstones (incr_tombstones): with
 * hard deletes over a change log into a target with the cursor column (its
 * guard), so that an older version must not undo a delete.  A source with
 * one row per key holds the delete itself, and a backfill reads it again.
 */
static bool
merge_keeps_tombstones(Pipeline *p, PipelineShape *shape)
{
	return p->delete_column && !p->soft_delete &&
		shape->target_has_cursor && !shape->source_unique_on_keys;
}

/* The rows merge leaves: the latest row per key, less those deleted (kept, flagged, when soft). */
static void
merge_expected(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_latest_rows(buf, ctx, p, shape, false);
}

const ModeOps mode_merge = {
	.source = SOURCE_CURSOR,
	.build_run = build_merge,
	.build_first = build_merge_first,
	.build_expected = merge_expected,
	.returns_rows = merge_returns_rows,
	.keeps_tombstones = merge_keeps_tombstones,
};
