/*
 * mode_append.c
 *		The append mode: insert new rows; with keys, only keys the target
 *		does not have yet, without keys every row not loaded before.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "mode.h"

/*
 * append with keys: insert rows whose key the target does not have yet; the
 * first version of a key in the window wins.
 */
static void
build_append_keyed(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, " FROM (\n  ");
	sql_keyed_source(buf, ctx, p, shape, false, NIL);
	appendStringInfoString(buf, ") AS src\n  ON CONFLICT (");
	sql_columns(buf, shape->columns, NULL, KEY_COLUMNS);
	appendStringInfo(buf, ") DO NOTHING\n  RETURNING true AS inserted, false AS deleted, %s",
					 sql_late_expr(ctx, p, shape));
}

/*
 * Append the columns for a comparison of whole rows by their bytes: text-like
 * columns in the C collation, where equal means the same bytes; under a
 * case-insensitive collation EXCEPT ALL would take 'SQL' for a loaded 'sql'
 * and could return either.  prefix NULL: the source expressions (cast to
 * the target's types); otherwise prefix.col.
 */
static void
bytes_columns(StringInfo buf, List *columns, const char *prefix)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		if (prefix)
			appendStringInfo(buf, "%s.%s", prefix, quote_identifier(col->name));
		else
			sql_source_expr(buf, col);
		if (type_is_collatable(col->target_type))
			appendStringInfoString(buf, " COLLATE pg_catalog.\"C\"");
	}
}

/* Append "alias.cursor > $3 AND alias.cursor <= $2": the rows past what was loaded. */
static void
new_stretch(StringInfo buf, const BuildContext *ctx, Pipeline *p, const char *alias)
{
	sql_cursor_cmp(buf, ctx, alias, p, ">", 3);
	appendStringInfoString(buf, " AND ");
	sql_cursor_cmp(buf, ctx, alias, p, "<=", 2);
}

/* Append the rows read again, $1 to $3 (and not past $2), of alias. */
static void
reread_stretch(StringInfo buf, const BuildContext *ctx, Pipeline *p, const char *alias)
{
	sql_cursor_cmp(buf, ctx, alias, p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	sql_cursor_cmp(buf, ctx, alias, p, "<=", 3);
	appendStringInfoString(buf, " AND ");
	sql_cursor_cmp(buf, ctx, alias, p, "<=", 2);
}

/*
 * append without keys: rows past $3 are inserted as they are; rows read
 * again (ties at the checkpoint, the lag stretch) are inserted only as far as
 * the target does not hold them already, compared as multisets of whole rows
 * over the same stretch of the target's cursor (EXCEPT ALL).  $3 is the
 * greater of the checkpoint and the target's greatest cursor value, so rows
 * loaded before a reset count as loaded.
 */
static void
build_append_keyless(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	sql_source_exprs(buf, shape->columns, false);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	new_stretch(buf, ctx, p, "s");
	appendStringInfoString(buf, " AND ");
	sql_tally(buf, ctx, p);
	appendStringInfoString(buf, "\n  UNION ALL\n  (SELECT ");
	bytes_columns(buf, shape->columns, NULL);
	appendStringInfo(buf, "\n   FROM %s AS s\n   WHERE ", shape->source_sql);
	reread_stretch(buf, ctx, p, "s");
	appendStringInfoString(buf, " AND ");
	sql_tally(buf, ctx, p);
	appendStringInfoString(buf, "\n   EXCEPT ALL\n   SELECT ");
	bytes_columns(buf, shape->columns, "x");
	appendStringInfo(buf, "\n   FROM %s AS x\n   WHERE ", shape->target_sql);
	reread_stretch(buf, ctx, p, "x");
	appendStringInfo(buf, ")\n  RETURNING true AS inserted, false AS deleted, %s",
					 sql_late_expr(ctx, p, shape));
}

/*
 * True if a run of an append without keys is two statements over Citus
 * (build_append_keyless_citus_first): from a distributed source into a
 * distributed target.  A source of another kind makes late unknown (the
 * run context's late_unknown), and Citus collects its rows on the
 * coordinator anyway.
 */
static bool
keyless_split(const BuildContext *ctx, Pipeline *p)
{
	return ctx->citus && ctx->citus_distributed_target && !ctx->late_unknown && p->keys == NIL;
}

/*
 * append without keys over Citus, into a distributed target (Citus cannot
 * plan the first one into a reference table): what build_append_keyless
 * does, as two statements Citus pushes down to co-located shards (it would plan EXCEPT
 * ALL apart, its rows passing through the coordinator, and it cannot push
 * down both parts in one statement).  The first (build_first) inserts the
 * rows read again ($1 to $3), each as many times as the source holds it
 * more often than the target over the same stretch of the cursor: the
 * source's and the target's rows of that stretch in one UNION ALL, numbered
 * within each row value (the distribution column is one of the columns, so
 * each value lies on one shard); a source row goes in when its number is
 * past the target's count of its value.  That is EXCEPT ALL's multiset
 * difference, with its NULLs equal and its text compared byte for byte.
 * The run statement then inserts the rows past $3 as they are.
 */
static List *
build_append_keyless_citus_first(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;

	if (!keyless_split(ctx, p))
		return NIL;
	initStringInfo(&buf);
	sql_insert_head(&buf, shape, NULL);
	appendStringInfoString(&buf, "SELECT ");
	sql_columns(&buf, shape->columns, "w", ALL_COLUMNS);
	appendStringInfoString(&buf, " FROM (\n    SELECT u.*, pg_catalog.row_number() OVER (PARTITION BY ");
	bytes_columns(&buf, shape->columns, "u");
	appendStringInfoString(&buf, ", u._incr_src) AS _incr_n,\n"
						   "      pg_catalog.sum(1 OPERATOR(pg_catalog.-) u._incr_src) OVER (PARTITION BY ");
	bytes_columns(&buf, shape->columns, "u");
	appendStringInfoString(&buf, ") AS _incr_have\n    FROM (SELECT ");
	sql_source_exprs(&buf, shape->columns, true);
	appendStringInfo(&buf, ", 1 AS _incr_src\n      FROM %s AS s\n      WHERE ", shape->source_sql);
	reread_stretch(&buf, ctx, p, "s");
	appendStringInfoString(&buf, "\n      UNION ALL\n      SELECT ");
	sql_columns(&buf, shape->columns, "x", ALL_COLUMNS);
	appendStringInfo(&buf, ", 0\n      FROM %s AS x\n      WHERE ", shape->target_sql);
	reread_stretch(&buf, ctx, p, "x");
	appendStringInfoString(&buf, ") AS u) AS w\n"
						   "  WHERE w._incr_src OPERATOR(pg_catalog.=) 1"
						   " AND w._incr_n OPERATOR(pg_catalog.>) w._incr_have");
	appendStringInfo(&buf, "\n  RETURNING true AS inserted, false AS deleted, %s",
					 sql_late_expr(ctx, p, shape));
	return list_make1(buf.data);
}

/*
 * The values an update left out, for a key the window has no earlier row
 * of: from the target's rows of the key with the greatest LSN (the key's
 * last transaction already loaded), when they agree on the value; several
 * changes of the key in that one transaction that disagree give NULL, since
 * the target cannot tell which came last.
 */
static void
append_wal_fallback(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	const char *lsn = quote_identifier(p->wal_lsn_column);
	ListCell   *lc;
	bool		first = true;

	appendStringInfoString(buf, "LEFT JOIN LATERAL (SELECT ");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *name = quote_identifier(col->name);

		if (!sql_wal_fillable(col))
			continue;
		appendStringInfo(buf, "%sCASE WHEN pg_catalog.count(DISTINCT ROW(x.%s)::pg_catalog.text)"
						 " OPERATOR(pg_catalog.=) 1 THEN (pg_catalog.array_agg(x.%s))[1] END AS %s",
						 first ? "" : ", ", name, name, name);
		first = false;
	}
	if (first)
		appendStringInfoString(buf, "1");
	appendStringInfo(buf, "\n      FROM %s AS x WHERE ", shape->target_sql);
	sql_wal_key_before_match(buf, shape->columns, "x", "c");
	appendStringInfo(buf, " AND x.%s OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(y.%s) FROM %s AS y WHERE ",
					 lsn, lsn, shape->target_sql);
	sql_wal_key_before_match(buf, shape->columns, "y", "c");
	appendStringInfoString(buf, ")) AS b ON true");
}

/*
 * append with capture wal: a change log, one target row per change in
 * commit order (_incr_seq): the new row of an insert or update, the old one
 * of a delete (its key, or the whole row with REPLICA IDENTITY FULL), and a
 * row of NULLs for a truncate, with the operation, the commit's LSN and its
 * time in the columns the options name.  A plain INSERT: keys are optional
 * and never a conflict target, since a log holds a key once per change; the
 * run applies each change once (the wal source kind's checkpoint).  Values
 * an update left out are filled in (sql_wal_filled, append_wal_fallback).
 */
static void
build_append_wal(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	bool		fallback = p->keys != NIL && p->wal_lsn_column != NULL;

	appendStringInfoString(buf, "WITH RECURSIVE ");
	sql_wal_filled(buf, ctx, p, shape, NULL, fallback ? append_wal_fallback : NULL);
	appendStringInfo(buf, ",\n_incr_ins AS (\n  INSERT INTO %s AS t (", shape->target_sql);
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	if (p->wal_op_column)
		appendStringInfo(buf, ", %s", quote_identifier(p->wal_op_column));
	if (p->wal_lsn_column)
		appendStringInfo(buf, ", %s", quote_identifier(p->wal_lsn_column));
	if (p->wal_time_column)
		appendStringInfo(buf, ", %s", quote_identifier(p->wal_time_column));
	appendStringInfo(buf, ")%s\n  SELECT ",
					 shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
	sql_columns(buf, shape->columns, "f", ALL_COLUMNS);
	if (p->wal_op_column)
		appendStringInfoString(buf, ", f._incr_op::pg_catalog.text");
	if (p->wal_lsn_column)
		appendStringInfoString(buf, ", f._incr_lsn");
	if (p->wal_time_column)
		appendStringInfoString(buf, ", f._incr_commit_time");
	appendStringInfoString(buf, "\n  FROM _incr_filled AS f ORDER BY f._incr_seq\n  RETURNING 1\n)\n"
						   "SELECT pg_catalog.count(*), 0::pg_catalog.int8, 0::pg_catalog.int8,"
						   " NULL::pg_catalog.int8 FROM _incr_ins");
}

/*
 * True if the keyed append's rows past the checkpoint may go in with a plain
 * INSERT: a unique index on the source proves its keys unique, so no two
 * rows of the window share a key.  A key the target holds already is the
 * only collision left: when the cursor is one of the keys, only someone
 * else's row can hold it (every row the pipeline wrote has a cursor value at
 * or below the checkpoint, or, after incr_reset moved it back, at or below
 * the greatest value in the target: loaded_bound in statement.c); otherwise
 * also a row the pipeline loaded whose source row has since moved past the
 * checkpoint.  execute_split in statement.c undoes the plain INSERT when a
 * row collides, runs the one statement instead, and has the next runs of
 * the session skip the split for a while; with a cursor that is not a key
 * it splits only in sessions that run the pipeline again (plain_new_rows_plan).
 * Not into a target with triggers of its own: two statements, and a third
 * after a collision, would fire its statement triggers more than once.
 */
static bool
append_plain_new_rows(Pipeline *p, PipelineShape *shape)
{
	return p->keys != NIL && shape->source_unique_on_keys && !shape->target_has_triggers;
}

/*
 * The new rows of a keyed append (append_plain_new_rows): the source's rows
 * past $3 up to $2 as they are, as a hand-written INSERT ... SELECT would
 * insert them; the key index still refuses a key the target has.
 */
static void
build_append_new(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	sql_source_exprs(buf, shape->columns, false);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	new_stretch(buf, ctx, p, "s");
	appendStringInfoString(buf, " AND ");
	sql_tally(buf, ctx, p);
}

/*
 * The second statement of an append without keys over Citus: the rows past
 * $3 as build_append_new inserts them (over Citus without _incr_tally),
 * returning a row each for the count, as the first statement does.
 */
static void
build_append_keyless_citus(StringInfo buf, const BuildContext *ctx, Pipeline *p,
						   PipelineShape *shape)
{
	build_append_new(buf, ctx, p, shape);
	appendStringInfo(buf, "\n  RETURNING true AS inserted, false AS deleted, %s",
					 sql_late_expr(ctx, p, shape));
}

/* Build the run statement of an append pipeline, with keys or without. */
static void
build_append(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	if (p->keys != NIL)
		build_append_keyed(buf, ctx, p, shape);
	else if (keyless_split(ctx, p))
		build_append_keyless_citus(buf, ctx, p, shape);
	else
		build_append_keyless(buf, ctx, p, shape);
}

/* The rows append leaves: the first row per key, or every row without keys. */
static void
append_expected(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	if (p->keys != NIL)
	{
		sql_keyed_source(buf, ctx, p, shape, false, NIL);
		return;
	}
	appendStringInfoString(buf, "SELECT ");
	sql_source_exprs(buf, shape->columns, true);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	sql_window(buf, ctx, p);
}

/* Every append is one INSERT whose returned rows the run counts. */
static bool
append_returns_rows(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return true;
}

/* A keyless append counts rows up to the target's greatest cursor value as loaded. */
static bool
append_target_max_loaded(Pipeline *p)
{
	return p->keys == NIL;
}

const ModeOps mode_append = {
	.source = SOURCE_CURSOR,
	.build_run = build_append,
	.build_first = build_append_keyless_citus_first,
	.build_expected = append_expected,
	.build_wal = build_append_wal,
	.returns_rows = append_returns_rows,
	.target_max_loaded = append_target_max_loaded,
	.build_run_new = build_append_new,
	.plain_new_rows = append_plain_new_rows,
};
