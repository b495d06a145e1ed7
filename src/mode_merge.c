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

/* Append "left.k OP COALESCE(right._incr_old_k, right.k) AND ...": a change's key before it changed. */
static void
wal_old_key_match(StringInfo buf, List *columns, const char *left, const char *right)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *c = quote_identifier(col->name);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s.%s %s COALESCE(%s.%s, %s.%s)%s", first ? "" : " AND ",
						 left, c, col->eq_operator, right,
						 quote_identifier(psprintf("_incr_old_%s", col->name)),
						 right, c, col->key_collate);
		first = false;
	}
}

/* Append "'name' = ANY (alias._incr_unchanged)": the change did not carry the column. */
static void
wal_unchanged(StringInfo buf, const char *alias, ColumnMap *col)
{
	appendStringInfo(buf, "%s OPERATOR(pg_catalog.=) ANY (%s._incr_unchanged)",
					 quote_literal_cstr(col->name), alias);
}

/*
 * Append the value a final change f writes to a column: its own, or for an
 * unchanged TOAST value (a large value the update did not touch, which the
 * WAL does not carry), the value of the latest earlier change of the key in
 * the window that carried it, else the target's (found by the key the row
 * had before the change).  Never NULL in its place.
 */
static void
wal_column_value(StringInfo buf, PipelineShape *shape, ColumnMap *col)
{
	const char *c = quote_identifier(col->name);

	if (col->is_key || get_typlen(col->target_type) != -1)
	{
		appendStringInfo(buf, "f.%s", c);
		return;
	}
	appendStringInfoString(buf, "CASE WHEN f._incr_unchanged IS NOT NULL AND ");
	wal_unchanged(buf, "f", col);
	appendStringInfo(buf, "\n      THEN (SELECT _incr_v.x FROM (SELECT e.%s AS x, e._incr_seq AS s FROM ev AS e"
					 " WHERE e._incr_op OPERATOR(pg_catalog.<>) 'D'"
					 " AND e._incr_seq OPERATOR(pg_catalog.<) f._incr_seq AND ", c);
	sql_key_match(buf, shape->columns, "e", "f");
	appendStringInfoString(buf, " AND (e._incr_unchanged IS NULL OR NOT ");
	wal_unchanged(buf, "e", col);
	appendStringInfo(buf, ")\n        UNION ALL SELECT t2.%s, 0 FROM %s AS t2 WHERE ", c, shape->target_sql);
	wal_old_key_match(buf, shape->columns, "t2", "f");
	appendStringInfo(buf, ") AS _incr_v ORDER BY _incr_v.s DESC LIMIT 1)\n      ELSE f.%s END", c);
}

/*
 * merge over a wal run's changes (mode.h): the target mirrors the source.
 * Only the changes after the window's last truncate count, and that
 * truncate empties the target of every key they do not leave alive.  Per
 * key the last change wins: an update that changed the key also deletes
 * its old key.  The keys whose last change is a delete are deleted (with
 * soft_delete: flagged, delete_column set to true or to the commit time of
 * the delete); the others are upserted with their last row (and the flag
 * cleared), unchanged rows not rewritten, unchanged TOAST values kept.  The
 * deletes and the upsert touch disjoint keys, so that one statement can do
 * both.  The first run's copy is only inserts: one upsert, and the
 * deletion of the target's keys the copy does not hold.
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

	appendStringInfo(buf, "WITH ch AS (\n  SELECT * FROM %s AS c\n),\n", ctx->wal_changes);
	appendStringInfoString(buf,
						   "lt AS (\n  SELECT ch._incr_seq AS s, ch._incr_commit_time AS tt FROM ch"
						   " WHERE ch._incr_op OPERATOR(pg_catalog.=) 'T'"
						   " ORDER BY ch._incr_seq DESC LIMIT 1\n),\n"
						   "ev AS (\n  SELECT ch.* FROM ch WHERE ch._incr_op OPERATOR(pg_catalog.<>) 'T'"
						   " AND ch._incr_seq OPERATOR(pg_catalog.>) COALESCE((SELECT lt.s FROM lt), 0)\n),\n");
	/* each change's event for its key, and a delete of the old key of a key change */
	appendStringInfoString(buf, "k AS (\n  SELECT ev._incr_seq AS _incr_s,"
						   " ev._incr_op OPERATOR(pg_catalog.=) 'D' AS _incr_del,"
						   " ev._incr_commit_time AS _incr_t, ");
	sql_columns(buf, shape->columns, "ev", KEY_COLUMNS);
	appendStringInfoString(buf, " FROM ev\n  UNION ALL\n  SELECT ev._incr_seq, true, ev._incr_commit_time");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			appendStringInfo(buf, ", ev.%s", quote_identifier(psprintf("_incr_old_%s", col->name)));
	}
	appendStringInfoString(buf, " FROM ev WHERE ev._incr_op OPERATOR(pg_catalog.=) 'U'");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
		{
			appendStringInfo(buf, " AND ev.%s IS NOT NULL",
							 quote_identifier(psprintf("_incr_old_%s", col->name)));
			break;
		}
	}
	appendStringInfoString(buf, "\n),\nlast AS (\n  SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, "k");
	appendStringInfoString(buf, ") * FROM k ORDER BY ");
	sql_key_groups(buf, shape->columns, "k");
	appendStringInfoString(buf, ", k._incr_s DESC\n),\n"
						   "f AS (\n  SELECT ev.* FROM last JOIN ev"
						   " ON ev._incr_seq OPERATOR(pg_catalog.=) last._incr_s WHERE NOT last._incr_del\n),\n");
	if (flag == NULL)
		appendStringInfo(buf, "d AS (\n  DELETE FROM %s AS t\n  WHERE (", shape->target_sql);
	else if (shape->delete_is_bool)
		appendStringInfo(buf, "d AS (\n  UPDATE %s AS t SET %s = true\n  WHERE t.%s IS NOT TRUE AND (",
						 shape->target_sql, quote_identifier(flag), quote_identifier(flag));
	else
	{
		/* flagged with the commit time of the delete, or of the truncate */
		appendStringInfo(buf, "d AS (\n  UPDATE %s AS t SET %s = COALESCE((SELECT last._incr_t FROM last WHERE last._incr_del AND ",
						 shape->target_sql, quote_identifier(flag));
		sql_key_match(buf, shape->columns, "t", "last");
		appendStringInfo(buf, " LIMIT 1), (SELECT lt.tt FROM lt))\n  WHERE t.%s IS NULL AND (",
						 quote_identifier(flag));
	}
	appendStringInfoString(buf, "EXISTS (SELECT FROM last WHERE last._incr_del AND ");
	sql_key_match(buf, shape->columns, "t", "last");
	appendStringInfoString(buf, ")\n     OR ((SELECT lt.s FROM lt) IS NOT NULL AND NOT EXISTS (SELECT FROM f WHERE ");
	sql_key_match(buf, shape->columns, "t", "f");
	appendStringInfoString(buf, ")))\n  RETURNING 1\n),\nw AS (\n  ");
	sql_insert_head(buf, shape, flag);
	appendStringInfoString(buf, "SELECT ");
	foreach(lc, shape->columns)
	{
		if (lc != list_head(shape->columns))
			appendStringInfoString(buf, ", ");
		wal_column_value(buf, shape, (ColumnMap *) lfirst(lc));
	}
	if (flag)
		appendStringInfo(buf, ", %s", live_flag);
	appendStringInfoString(buf, "\n  FROM f");
	sql_upsert(buf, ctx, shape, NULL, flag, NULL);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted\n)\n"
					 "SELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
					 "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
					 "       (SELECT pg_catalog.count(*) FROM d), CAST(NULL AS pg_catalog.int8)",
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
