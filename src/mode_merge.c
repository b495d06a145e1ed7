/*
 * mode_merge.c
 *		The merge mode: upsert the latest row per key, with deletes (hard or
 *		soft) marked by delete_column.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

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
 * (build_merge_first) and then the upserts: over Citus into a distributed
 * target (Citus refuses a DELETE of another table joined with a distributed
 * one), which pushes each
 * down to the co-located shards, whereas it would run the CTEs of one
 * statement as subplans whose rows pass through the coordinator.  Not with
 * tombstones, whose CTEs need the deletes and the upserts together.
 */
static bool
merge_split(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return ctx->citus && ctx->citus_distributed_target && p->delete_column &&
		!p->soft_delete && shape->tombstones == TOMBSTONES_OFF;
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
static List *
build_merge_first(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;

	if (!merge_split(ctx, p, shape))
		return NIL;
	initStringInfo(&buf);
	appendStringInfo(&buf, "DELETE FROM %s AS t USING (\n  ", shape->target_sql);
	sql_keyed_source(&buf, ctx, p, shape, true,
					 list_make1(psprintf("%s AS _incr_deleted", sql_delete_expr(p, shape))));
	appendStringInfoString(&buf, "\n) AS src\n  WHERE src._incr_deleted AND ");
	sql_key_match(&buf, shape->columns, "t", "src");
	if (shape->target_has_cursor && !shape->source_unique_on_keys)
		merge_guard_src(&buf, p);
	appendStringInfoString(&buf, "\n  RETURNING false AS inserted, true AS deleted, false AS late");
	return list_make1(buf.data);
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
merge_returns_rows(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
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

/*
 * The values an update left out, for a key the window has no earlier row
 * of: the target's, of the key the row had before the change (sql_wal_filled
 * joins it by the target's key index, one probe per such change).
 */
static void
merge_wal_fallback(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	appendStringInfo(buf, "LEFT JOIN %s AS b ON ", shape->target_sql);
	sql_wal_key_before_match(buf, shape->columns, "b", "c");
}

/* Append "c._incr_seq > <the last truncate's seq, or 0>": a change after the window's last truncate. */
static void
wal_after_truncate(StringInfo buf)
{
	appendStringInfoString(buf, "c._incr_seq OPERATOR(pg_catalog.>) COALESCE((SELECT lt.s FROM lt), 0)");
}

/*
 * Append a CTE name AS (...) that marks deleted the target rows whose key
 * the changes leave gone: with by_last, the keys whose last change (in
 * last) is a delete, a join; else, when the window has a truncate, every
 * key the changes after it do not touch, an anti-join with last.  The two
 * touch disjoint rows.  Deleted is flag set (true, or the commit time of
 * the delete or of the truncate), or without flag the row deleted.
 */
static void
wal_delete_cte(StringInfo buf, Pipeline *p, PipelineShape *shape, const char *name,
			   const char *flag, bool by_last)
{
	appendStringInfo(buf, ",\n%s AS (\n  ", name);
	if (flag == NULL)
		appendStringInfo(buf, "DELETE FROM %s AS t", shape->target_sql);
	else if (shape->delete_is_bool)
		appendStringInfo(buf, "UPDATE %s AS t SET %s = true", shape->target_sql,
						 quote_identifier(flag));
	else
		appendStringInfo(buf, "UPDATE %s AS t SET %s = %s", shape->target_sql,
						 quote_identifier(flag),
						 by_last ? "last._incr_t" : "(SELECT lt.tt FROM lt)");
	if (by_last)
		appendStringInfoString(buf, flag ? " FROM last" : " USING last");
	appendStringInfoString(buf, "\n  WHERE ");
	if (flag)
		appendStringInfo(buf, shape->delete_is_bool ? "t.%s IS NOT TRUE AND " : "t.%s IS NULL AND ",
						 quote_identifier(flag));
	if (by_last)
	{
		appendStringInfoString(buf, "last._incr_del AND ");
		sql_key_match(buf, shape->columns, "t", "last");
	}
	else
	{
		appendStringInfoString(buf, "EXISTS (SELECT FROM lt) AND NOT EXISTS (SELECT FROM last WHERE ");
		sql_key_match(buf, shape->columns, "t", "last");
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoString(buf, "\n  RETURNING 1\n)");
}

/*
 * merge over a wal run's changes (mode.h): the target mirrors the source.
 * Only the changes after the window's last truncate count, and that
 * truncate empties the target of every key they do not leave alive.  Per
 * key the last change wins: an update that changed the key also deletes
 * its old key.  The keys whose last change is a delete are deleted (with
 * soft_delete: flagged, delete_column set to true or to the commit time of
 * the delete); the others are upserted with their last row (and the flag
 * cleared), unchanged rows not rewritten, unchanged TOAST values kept
 * (sql_wal_filled, following key changes, else the target's by the old
 * key).  The deletes and the upsert touch disjoint keys, so that one
 * statement can do both.  The first run's copy is only inserts: one upsert,
 * and the deletion of the target's keys the copy does not hold.
 *
 * Every step is a join, a window or one sort over the changes, never a
 * subquery per row: the changes are many (a backlog of a million), and a
 * correlated scan of them per target row or per change is quadratic.  The
 * changes are an ephemeral relation without statistics; its row count
 * (enrtuples, source_wal.c) is what the planner has, and the CTEs that
 * several parts read (last, the filled changes) are materialized once.
 */
static void
build_merge_wal(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	ListCell   *lc;
	const char *flag = p->soft_delete ? p->delete_column : NULL;
	const char *live_flag = shape->delete_is_bool ? "false" : "CAST(NULL AS pg_catalog.timestamptz)";

	if (strcmp(ctx->wal_changes, WAL_CHANGES_RELATION) != 0)
	{
		/*
		 * The copy: the target becomes the source's rows, so the keys it
		 * holds that the copy does not (rows deleted from the source before
		 * an incr_reset) are deleted, or flagged, too.
		 */
		appendStringInfo(buf, "WITH c AS MATERIALIZED %s,\n", ctx->wal_changes);
		if (flag == NULL)
			appendStringInfo(buf, "d AS (\n  DELETE FROM %s AS t\n  WHERE ", shape->target_sql);
		else if (shape->delete_is_bool)
			appendStringInfo(buf, "d AS (\n  UPDATE %s AS t SET %s = true\n  WHERE t.%s IS NOT TRUE AND ",
							 shape->target_sql, quote_identifier(flag), quote_identifier(flag));
		else
			appendStringInfo(buf, "d AS (\n  UPDATE %s AS t SET %s = pg_catalog.statement_timestamp()\n  WHERE t.%s IS NULL AND ",
							 shape->target_sql, quote_identifier(flag), quote_identifier(flag));
		appendStringInfoString(buf, "NOT EXISTS (SELECT FROM c WHERE ");
		sql_key_match(buf, shape->columns, "t", "c");
		appendStringInfoString(buf, ")\n  RETURNING 1\n),\nw AS (\n  ");
		sql_insert_head(buf, shape, flag);
		appendStringInfoString(buf, "SELECT ");
		sql_columns(buf, shape->columns, "c", ALL_COLUMNS);
		if (flag)
			appendStringInfo(buf, ", %s", live_flag);
		appendStringInfoString(buf, " FROM c");
		sql_upsert(buf, ctx, shape, NULL, flag, NULL);
		appendStringInfo(buf, "\n  RETURNING %s AS inserted\n)\n"
						 "SELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
						 "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
						 "       (SELECT pg_catalog.count(*) FROM d), CAST(NULL AS pg_catalog.int8)",
						 sql_inserted_expr(shape));
		return;
	}

	/* _incr_chg (the changes, read once) and _incr_filled (values left out filled in) */
	appendStringInfoString(buf, "WITH RECURSIVE ");
	sql_wal_filled(buf, ctx, p, shape, NULL, merge_wal_fallback);
	appendStringInfoString(buf,
						   ",\nlt AS (\n  SELECT c._incr_seq AS s, c._incr_commit_time AS tt FROM _incr_chg AS c WHERE ");
	sql_wal_op_is(buf, "c", 'T');
	appendStringInfoString(buf, " ORDER BY c._incr_seq DESC LIMIT 1\n)");
	/* each change's event for its key, and a delete of the old key of a key change */
	appendStringInfoString(buf, ",\nk AS (\n  SELECT c._incr_seq AS _incr_s, ");
	sql_wal_op_is(buf, "c", 'D');
	appendStringInfoString(buf, " AS _incr_del, c._incr_commit_time AS _incr_t, ");
	sql_columns(buf, shape->columns, "c", KEY_COLUMNS);
	appendStringInfoString(buf, " FROM _incr_chg AS c WHERE NOT ");
	sql_wal_op_is(buf, "c", 'T');
	appendStringInfoString(buf, " AND ");
	wal_after_truncate(buf);
	appendStringInfoString(buf, "\n  UNION ALL\n  SELECT c._incr_seq, true, c._incr_commit_time");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			appendStringInfo(buf, ", c.%s", quote_identifier(psprintf("_incr_old_%s", col->name)));
	}
	appendStringInfoString(buf, " FROM _incr_chg AS c WHERE ");
	sql_wal_op_is(buf, "c", 'U');
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
		{
			appendStringInfo(buf, " AND c.%s IS NOT NULL",
							 quote_identifier(psprintf("_incr_old_%s", col->name)));
			break;
		}
	}
	appendStringInfoString(buf, " AND ");
	wal_after_truncate(buf);
	/* per key the last change: one sort */
	appendStringInfoString(buf, "\n),\nlast AS MATERIALIZED (\n  SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, "k");
	appendStringInfoString(buf, ") * FROM k ORDER BY ");
	sql_key_groups(buf, shape->columns, "k");
	appendStringInfoString(buf, ", k._incr_s DESC\n),\n"
						   "f AS (\n  SELECT fl.* FROM last JOIN _incr_filled AS fl"
						   " ON fl._incr_seq OPERATOR(pg_catalog.=) last._incr_s WHERE NOT last._incr_del\n)");
	wal_delete_cte(buf, p, shape, "d", flag, true);
	wal_delete_cte(buf, p, shape, "dt", flag, false);
	appendStringInfoString(buf, ",\nw AS (\n  ");
	sql_insert_head(buf, shape, flag);
	appendStringInfoString(buf, "SELECT ");
	sql_columns(buf, shape->columns, "f", ALL_COLUMNS);
	if (flag)
		appendStringInfo(buf, ", %s", live_flag);
	appendStringInfoString(buf, "\n  FROM f");
	sql_upsert(buf, ctx, shape, NULL, flag, NULL);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted\n)\n"
					 "SELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
					 "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
					 "       (SELECT pg_catalog.count(*) FROM d) OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM dt),"
					 " CAST(NULL AS pg_catalog.int8)",
					 sql_inserted_expr(shape));
}

const ModeOps mode_merge = {
	.source = SOURCE_CURSOR,
	.build_run = build_merge,
	.build_first = build_merge_first,
	.build_wal = build_merge_wal,
	.build_expected = merge_expected,
	.returns_rows = merge_returns_rows,
	.keeps_tombstones = merge_keeps_tombstones,
};
