/*
 * plan.c
 *		Building the SQL of a run.  Each mode is one statement that reads the
 *		window of the source, writes the target and returns its counts; the
 *		modes differ only in the text built here.
 *
 * Rules every statement here follows: identifiers are quoted; values are
 * parameters; operators and functions are schema-qualified, and row
 * comparisons go through record_image_eq, which needs no operator lookup,
 * so nothing on the caller's search_path is ever picked up.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "plan.h"

/* Append "prefix.col, ..." for the columns that pass the filter. */
static void
append_columns(StringInfo buf, List *columns, const char *prefix,
			   bool skip_keys)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		LoadColumn *col = (LoadColumn *) lfirst(lc);

		if (skip_keys && col->is_key)
			continue;
		if (!first)
			appendStringInfoString(buf, ", ");
		if (prefix)
			appendStringInfo(buf, "%s.", prefix);
		appendStringInfoString(buf, quote_identifier(col->name));
		first = false;
	}
}

/* Append the source expression of a column, cast to the target's type if needed. */
static void
append_source_expr(StringInfo buf, LoadColumn *col)
{
	if (col->source_type == col->target_type &&
		col->source_typmod == col->target_typmod)
		appendStringInfo(buf, "s.%s", quote_identifier(col->name));
	else
		appendStringInfo(buf, "CAST(s.%s AS %s)", quote_identifier(col->name),
						 format_type_extended(col->target_type, col->target_typmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN |
											  FORMAT_TYPE_FORCE_QUALIFY));
}

/* Append the source expressions of all columns; with names, "AS col" each. */
static void
append_source_exprs(StringInfo buf, List *columns, bool with_names)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		LoadColumn *col = (LoadColumn *) lfirst(lc);

		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		append_source_expr(buf, col);
		if (with_names)
			appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
}

/* Append "alias.cursor OPERATOR(pg_catalog.op) $n". */
static void
append_cursor_cmp(StringInfo buf, const char *alias, Pipeline *p,
				  const char *op, int param)
{
	appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.%s) $%d",
					 alias, quote_identifier(p->cursor_column), op, param);
}

/* Append the call that counts a row read and tracks the greatest cursor. */
static void
append_tally(StringInfo buf, Pipeline *p)
{
	appendStringInfo(buf, "%s._incr_tally(s.%s)", ExtensionSchemaQuoted(),
					 quote_identifier(p->cursor_column));
}

/* Append "s.cursor >= $1 AND s.cursor <= $2 AND <tally>": the window's rows. */
static void
append_window(StringInfo buf, Pipeline *p)
{
	append_cursor_cmp(buf, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
}

/*
 * Append the SELECT that feeds a keyed write: the window's rows, one per key.
 * When a unique index on the source proves the keys unique, no sort is
 * needed.  Otherwise DISTINCT ON keeps the row with the greatest cursor
 * (latest_wins) or the smallest (append keeps the first version); among rows
 * of one key with the same cursor value the greatest row image wins, which
 * is arbitrary but the same on every run.
 */
static void
append_keyed_source(StringInfo buf, Pipeline *p, PipelineShape *shape,
					bool latest_wins)
{
	ListCell   *lc;

	if (shape->source_unique_on_keys)
	{
		appendStringInfoString(buf, "SELECT ");
		append_source_exprs(buf, shape->columns, false);
		appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
		append_window(buf, p);
		return;
	}

	appendStringInfoString(buf, "SELECT ");
	append_columns(buf, shape->columns, "d", false);
	appendStringInfoString(buf, "\n  FROM (SELECT DISTINCT ON (");
	foreach(lc, p->keys)
	{
		if (lc != list_head(p->keys))
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "s.%s", quote_identifier((char *) lfirst(lc)));
	}
	appendStringInfoString(buf, ") ");
	append_source_exprs(buf, shape->columns, true);
	appendStringInfo(buf, "\n        FROM %s AS s\n        WHERE ", shape->source_sql);
	append_window(buf, p);
	appendStringInfoString(buf, "\n        ORDER BY ");
	foreach(lc, p->keys)
		appendStringInfo(buf, "s.%s, ", quote_identifier((char *) lfirst(lc)));
	appendStringInfo(buf, "s.%s %s, ROW(", quote_identifier(p->cursor_column),
					 latest_wins ? "DESC" : "ASC");
	append_columns(buf, shape->columns, "s", false);
	appendStringInfoString(buf, ") USING OPERATOR(pg_catalog.*>)) AS d");
}

/*
 * Finish a RETURNING list and the CTE around it with "late": whether a row
 * written was at or below the checkpoint ($3), i.e. arrived after the run
 * that moved the checkpoint past it.  Known only if the target has the cursor.
 */
static void
append_returning_late(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	if (shape->target_has_cursor)
		appendStringInfo(buf, ",\n    t.%s OPERATOR(pg_catalog.<=) $3 AS late",
						 quote_identifier(p->cursor_column));
	appendStringInfoString(buf, "\n)\n");
}

/* Append the count of late rows, NULL when unknown, and "FROM w". */
static void
append_count_late(StringInfo buf, PipelineShape *shape)
{
	if (shape->target_has_cursor)
		appendStringInfoString(buf, "       pg_catalog.count(*) FILTER (WHERE late)\nFROM w");
	else
		appendStringInfoString(buf, "       NULL::bigint\nFROM w");
}

/* Append "INSERT INTO target AS t (cols) [OVERRIDING SYSTEM VALUE]\n". */
static void
append_insert_head(StringInfo buf, PipelineShape *shape)
{
	appendStringInfo(buf, "  INSERT INTO %s AS t (", shape->target_sql);
	append_columns(buf, shape->columns, NULL, false);
	appendStringInfoString(buf, ")");
	if (shape->overriding_system_value)
		appendStringInfoString(buf, " OVERRIDING SYSTEM VALUE");
	appendStringInfoString(buf, "\n  ");
}

/* Append "ON CONFLICT (keys)". */
static void
append_conflict_target(StringInfo buf, Pipeline *p)
{
	ListCell   *lc;

	appendStringInfoString(buf, "\n  ON CONFLICT (");
	foreach(lc, p->keys)
	{
		if (lc != list_head(p->keys))
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, quote_identifier((char *) lfirst(lc)));
	}
	appendStringInfoString(buf, ")");
}

/*
 * merge: upsert the latest row per key.  INSERT ... ON CONFLICT rather than
 * MERGE: it is race-free against concurrent inserts of the same key, and its
 * RETURNING tells inserts (xmax = 0) from updates, which MERGE on 15 cannot.
 * A row whose non-key columns are byte-for-byte what the target holds is not
 * rewritten.  When the source can hold several versions of a key (a change
 * log), a version older than the target's (by cursor) never overwrites it.
 * When a unique index makes the source hold one row per key, that row is the
 * key's current state and always wins: updated_at = now() can go backwards
 * when two transactions update one row, and the later commit is the truth.
 */
static void
build_merge(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	bool		has_non_keys = false;
	ListCell   *lc;

	foreach(lc, shape->columns)
	{
		if (!((LoadColumn *) lfirst(lc))->is_key)
			has_non_keys = true;
	}

	appendStringInfoString(buf, "WITH w AS (\n");
	append_insert_head(buf, shape);
	append_keyed_source(buf, p, shape, true);
	append_conflict_target(buf, p);
	if (!has_non_keys)
		appendStringInfoString(buf, " DO NOTHING\n  RETURNING true AS inserted");
	else
	{
		bool		first = true;

		appendStringInfoString(buf, " DO UPDATE SET ");
		foreach(lc, shape->columns)
		{
			LoadColumn *col = (LoadColumn *) lfirst(lc);

			if (col->is_key)
				continue;
			if (!first)
				appendStringInfoString(buf, ", ");
			appendStringInfo(buf, "%s = EXCLUDED.%s", quote_identifier(col->name),
							 quote_identifier(col->name));
			first = false;
		}
		appendStringInfoString(buf, "\n  WHERE NOT pg_catalog.record_image_eq(ROW(");
		append_columns(buf, shape->columns, "t", true);
		appendStringInfoString(buf, "), ROW(");
		append_columns(buf, shape->columns, "EXCLUDED", true);
		appendStringInfoString(buf, "))");
		if (shape->target_has_cursor && !shape->source_unique_on_keys)
			appendStringInfo(buf, "\n    AND t.%s OPERATOR(pg_catalog.<=) EXCLUDED.%s",
							 quote_identifier(p->cursor_column),
							 quote_identifier(p->cursor_column));
		appendStringInfoString(buf, "\n  RETURNING t.xmax OPERATOR(pg_catalog.=) 0 AS inserted");
	}
	append_returning_late(buf, p, shape);
	appendStringInfoString(buf,
						   "SELECT pg_catalog.count(*) FILTER (WHERE inserted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE NOT inserted),\n"
						   "       0::bigint,\n");
	append_count_late(buf, shape);
}

/*
 * append with keys: insert rows whose key the target does not have yet; the
 * first version of a key in the window wins.
 */
static void
build_append_keyed(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	appendStringInfoString(buf, "WITH w AS (\n");
	append_insert_head(buf, shape);
	append_keyed_source(buf, p, shape, false);
	append_conflict_target(buf, p);
	appendStringInfoString(buf, " DO NOTHING\n  RETURNING true AS inserted");
	append_returning_late(buf, p, shape);
	appendStringInfoString(buf, "SELECT pg_catalog.count(*), 0::bigint, 0::bigint,\n");
	append_count_late(buf, shape);
}

/*
 * append without keys: rows past the checkpoint are inserted as they are;
 * rows read again (ties at the checkpoint, the lag stretch) are inserted only
 * as far as the target does not hold them already, compared as multisets of
 * whole rows over the same stretch of the target's cursor (EXCEPT ALL).
 */
static void
build_append_keyless(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	appendStringInfoString(buf, "WITH w AS (\n");
	append_insert_head(buf, shape);
	appendStringInfoString(buf, "SELECT ");
	append_source_exprs(buf, shape->columns, false);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	append_cursor_cmp(buf, "s", p, ">", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
	appendStringInfoString(buf, "\n  UNION ALL\n  (SELECT ");
	append_source_exprs(buf, shape->columns, false);
	appendStringInfo(buf, "\n   FROM %s AS s\n   WHERE ", shape->source_sql);
	append_cursor_cmp(buf, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
	appendStringInfoString(buf, "\n   EXCEPT ALL\n   SELECT ");
	append_columns(buf, shape->columns, "x", false);
	appendStringInfo(buf, "\n   FROM %s AS x\n   WHERE ", shape->target_sql);
	append_cursor_cmp(buf, "x", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "x", p, "<=", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "x", p, "<=", 2);
	appendStringInfoString(buf, ")\n  RETURNING true AS inserted");
	append_returning_late(buf, p, shape);
	appendStringInfoString(buf, "SELECT pg_catalog.count(*), 0::bigint, 0::bigint,\n");
	append_count_late(buf, shape);
}

/* Build the statement of one run of the pipeline. */
char *
BuildRunSql(Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;

	initStringInfo(&buf);
	switch (p->mode)
	{
		case MODE_MERGE:
			build_merge(&buf, p, shape);
			break;
		case MODE_APPEND:
			if (p->keys != NIL)
				build_append_keyed(&buf, p, shape);
			else
				build_append_keyless(&buf, p, shape);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("mode \"%s\" is not supported yet", PipelineModeName(p->mode))));
	}
	return buf.data;
}

/* SELECT the greatest cursor value in the source; no parameters. */
char *
BuildMaxCursorSql(Pipeline *p, PipelineShape *shape)
{
	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s",
					quote_identifier(p->cursor_column), shape->source_sql);
}

/*
 * SELECT the first cursor value past a full batch: the (batch_size + 1)-th
 * row after the checkpoint $1 (exclusive), up to $2 (inclusive).
 */
char *
BuildBatchEndSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT s.%s FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) $1 AND s.%s OPERATOR(pg_catalog.<=) $2"
					" ORDER BY s.%s OFFSET " INT64_FORMAT " LIMIT 1",
					c, shape->source_sql, c, c, c, p->batch_size);
}

/* SELECT the greatest cursor value after $1 and before $2 (both exclusive). */
char *
BuildBatchPrevSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) $1 AND s.%s OPERATOR(pg_catalog.<) $2",
					c, shape->source_sql, c, c);
}

/*
 * SELECT how many source rows lie past the checkpoint $1 (every row with a
 * cursor value when from_start), counting up to 1000000.
 */
char *
BuildPendingSql(Pipeline *p, const char *source_sql, bool from_start)
{
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT pg_catalog.count(*) FROM (SELECT FROM %s AS s WHERE s.%s %s"
					" LIMIT 1000000) AS pending",
					source_sql, c,
					from_start ? "IS NOT NULL" : "OPERATOR(pg_catalog.>) $1");
}
