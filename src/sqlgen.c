/*
 * sqlgen.c
 *		The pieces of SQL that the statement builders of the modes
 *		(mode_*.c) share: column lists, key matches, the window and its
 *		tally, the keyed source, upserts, and tombstones.
 *
 * Rules every statement of a run follows: identifiers are quoted; values are
 * parameters; operators and functions are schema-qualified (key columns are
 * matched with the equality operator of the target's key index, named with
 * its schema), and rows are compared byte for byte (sql_row_changed):
 * with pg_catalog's = for the types where that is the same thing, and
 * through record_image_eq, which needs no operator lookup, for the others,
 * so nothing on the caller's search_path is picked up.
 * Names the statements introduce start with "_incr_".
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "cursor.h"
#include "sqlgen.h"

/* True if the column passes the filter. */
static bool
column_passes(ColumnMap *col, ColumnFilter filter)
{
	return filter == ALL_COLUMNS ||
		(filter == KEY_COLUMNS && col->is_key) ||
		(filter == NON_KEY_COLUMNS && !col->is_key);
}

/* Append "prefix.col, ..." for the columns that pass the filter. */
void
sql_columns(StringInfo buf, List *columns, const char *prefix, ColumnFilter filter)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!column_passes(col, filter))
			continue;
		if (!first)
			appendStringInfoString(buf, ", ");
		if (prefix)
			appendStringInfo(buf, "%s.", prefix);
		appendStringInfoString(buf, quote_identifier(col->name));
		first = false;
	}
}

/* True if some column passes the filter. */
bool
sql_has_columns(List *columns, ColumnFilter filter)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		if (column_passes((ColumnMap *) lfirst(lc), filter))
			return true;
	}
	return false;
}

/*
 * Append "l.k1 OPERATOR(x.=) r.k1 COLLATE c AND ...": the key columns of two
 * rows match by the key index's equality, with its collation (so that a
 * source in another collation matches as the index does), and NULLs match
 * where the index holds them equal (NULLS NOT DISTINCT).
 */
void
sql_key_match(StringInfo buf, List *columns, const char *left, const char *right)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *c = quote_identifier(col->name);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s%s.%s %s %s.%s%s", first ? "" : " AND ",
						 col->key_nulls_equal ? "(" : "",
						 left, c, col->eq_operator, right, c, col->key_collate);
		if (col->key_nulls_equal)
			appendStringInfo(buf, " OR (%s.%s IS NULL AND %s.%s IS NULL))",
							 left, c, right, c);
		first = false;
	}
}

/*
 * Append the key columns as "expr COLLATE c, ...", in the key index's
 * collation, for DISTINCT ON and its ORDER BY: rows the index holds equal
 * (under a case-insensitive collation, say) must fall into one group, or the
 * statement would write one key twice.  prefix NULL: the source expressions
 * of the keys (cast to the target's types); otherwise prefix.key.
 */
void
sql_key_groups(StringInfo buf, List *columns, const char *prefix)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		if (!first)
			appendStringInfoString(buf, ", ");
		if (prefix)
			appendStringInfo(buf, "%s.%s", prefix, quote_identifier(col->name));
		else
			sql_source_expr(buf, col);
		appendStringInfoString(buf, col->key_collate);
		first = false;
	}
}

/* The target type of a column, as SQL. */
char *
sql_target_type(ColumnMap *col)
{
	return format_type_extended(col->target_type, col->target_typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/* Append the source expression of a column, cast to the target's type if needed. */
void
sql_source_expr(StringInfo buf, ColumnMap *col)
{
	if (col->source_type == col->target_type &&
		col->source_typmod == col->target_typmod)
		appendStringInfo(buf, "s.%s", quote_identifier(col->name));
	else
		appendStringInfo(buf, "CAST(s.%s AS %s)", quote_identifier(col->name),
						 sql_target_type(col));
}

/* Append the source expressions of all columns; with names, "AS col" each. */
void
sql_source_exprs(StringInfo buf, List *columns, bool with_names)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		sql_source_expr(buf, col);
		if (with_names)
			appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
}

/* "$n", a cursor-typed parameter; "$n::type" in a statement for Citus. */
char *
sql_param(const BuildContext *ctx, Pipeline *p, int n)
{
	if (!ctx->citus)
		return psprintf("$%d", n);
	return psprintf("$%d::%s", n, format_type_be_qualified(p->cursor_type));
}

/* Append "alias.cursor OPERATOR(pg_catalog.op) $n". */
void
sql_cursor_cmp(StringInfo buf, const BuildContext *ctx, const char *alias, Pipeline *p,
			   const char *op, int param)
{
	appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.%s) %s",
					 alias, quote_identifier(p->cursor_column), op, sql_param(ctx, p, param));
}

/*
 * Append the call that counts a row read and tracks the greatest cursor:
 * the extension's _incr_tally for the cursor's type, every argument cast to
 * exactly the type it is declared with, so that overload resolution finds
 * that one function and no other (a more exact one cannot exist), and the
 * run's token $4.  A database at 0.1 or 0.2 has only _incr_tally(anyelement).
 */
void
sql_tally(StringInfo buf, const BuildContext *ctx, Pipeline *p)
{
	if (ctx->omit_tally || ctx->citus)
	{
		appendStringInfoString(buf, "true");
		return;
	}
	if (!ctx->run_tokens)
	{
		appendStringInfo(buf, "%s._incr_tally(s.%s)", ExtensionSchemaQuoted(),
						 quote_identifier(p->cursor_column));
		return;
	}
	appendStringInfo(buf, "%s._incr_tally(s.%s::%s, $4::pg_catalog.int8)",
					 ExtensionSchemaQuoted(), quote_identifier(p->cursor_column),
					 format_type_extended(getBaseType(p->cursor_type), -1,
										  FORMAT_TYPE_FORCE_QUALIFY));
}

/* Append "s.cursor >= $1 AND s.cursor <= $2 AND <tally>": the window's rows. */
void
sql_window(StringInfo buf, const BuildContext *ctx, Pipeline *p)
{
	sql_cursor_cmp(buf, ctx, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	sql_cursor_cmp(buf, ctx, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	sql_tally(buf, ctx, p);
}

/* The expression over source row s that says it marks a delete. */
char *
sql_delete_expr(Pipeline *p, PipelineShape *shape)
{
	return psprintf(shape->delete_is_bool ? "(s.%s IS TRUE)" : "(s.%s IS NOT NULL)",
					quote_identifier(p->delete_column));
}

/*
 * Append the SELECT that feeds a keyed write: the window's rows, one per key,
 * with the target's column names, then the extra columns (SQL over source
 * row s, each "expr AS _incr_name").  When a unique index on the source
 * proves the keys unique, no sort is needed.  Otherwise DISTINCT ON keeps the
 * row with the greatest cursor (latest_wins) or the smallest (append keeps
 * the first version); among rows of one key with the same cursor value the
 * greatest row image wins, which is arbitrary but the same on every run.
 */
void
sql_keyed_source(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape,
					bool latest_wins, List *extras)
{
	ListCell   *lc;

	if (shape->source_unique_on_keys)
	{
		appendStringInfoString(buf, "SELECT ");
		sql_source_exprs(buf, shape->columns, true);
		foreach(lc, extras)
			appendStringInfo(buf, ", %s", (char *) lfirst(lc));
		appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
		sql_window(buf, ctx, p);
		return;
	}

	appendStringInfoString(buf, "SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, NULL);
	appendStringInfoString(buf, ") ");
	sql_source_exprs(buf, shape->columns, true);
	foreach(lc, extras)
		appendStringInfo(buf, ", %s", (char *) lfirst(lc));
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	sql_window(buf, ctx, p);
	appendStringInfoString(buf, "\n  ORDER BY ");
	sql_key_groups(buf, shape->columns, NULL);
	appendStringInfo(buf, ", s.%s %s, ROW(", quote_identifier(p->cursor_column),
					 latest_wins ? "DESC" : "ASC");
	sql_columns(buf, shape->columns, "s", ALL_COLUMNS);
	appendStringInfoString(buf, ") USING OPERATOR(pg_catalog.*>)");
}

/* Append "INSERT INTO target AS t (cols[, extra]) [OVERRIDING SYSTEM VALUE]". */
void
sql_insert_head(StringInfo buf, PipelineShape *shape, const char *extra_column)
{
	appendStringInfo(buf, "INSERT INTO %s AS t (", shape->target_sql);
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	if (extra_column)
		appendStringInfo(buf, ", %s", quote_identifier(extra_column));
	appendStringInfoString(buf, ")");
	if (shape->overriding_system_value)
		appendStringInfoString(buf, " OVERRIDING SYSTEM VALUE");
	appendStringInfoString(buf, "\n  ");
}

/*
 * True if two values of the type are equal by pg_catalog's = (with the C
 * collation for text) exactly when they are the same bytes, which is what
 * record_image_eq compares.  Not so for numeric (1.0 = 1.00), the floats
 * (0 = -0), interval ('1 day' = '24 hours'), bpchar (trailing blanks), and
 * types whose = is looser by design.
 */
static bool
equality_is_identity(Oid type)
{
	switch (type)
	{
		case BOOLOID:
		case CHAROID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case UUIDOID:
		case BYTEAOID:
		case TEXTOID:
		case VARCHAROID:
			return true;
		default:
			return false;
	}
}

/*
 * Append a condition that holds when the non-key columns (and extra_column,
 * if given) of rows left and right differ in any byte, NULLs alike.
 * Columns whose = is byte identity are compared one by one, which stops at
 * the first difference; the others go through one record_image_eq, which
 * has to build a row of each side first.
 */
void
sql_row_changed(StringInfo buf, List *columns, const char *extra_column,
				   const char *left, const char *right)
{
	ListCell   *lc;
	bool		first = true;
	bool		rest = (extra_column != NULL);

	appendStringInfoChar(buf, '(');
	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *c = quote_identifier(col->name);

		if (col->is_key)
			continue;
		if (!equality_is_identity(col->target_type))
		{
			rest = true;
			continue;
		}
		appendStringInfo(buf, "%s(%s.%s OPERATOR(pg_catalog.=) %s.%s%s) IS NOT TRUE"
						 " AND (%s.%s IS NOT NULL OR %s.%s IS NOT NULL)",
						 first ? "" : "\n      OR ", left, c, right, c,
						 (col->target_type == TEXTOID || col->target_type == VARCHAROID) ?
						 " COLLATE pg_catalog.\"C\"" : "",
						 left, c, right, c);
		first = false;
	}
	if (rest)
	{
		bool		first_rest = true;

		appendStringInfo(buf, "%sNOT pg_catalog.record_image_eq(ROW(", first ? "" : "\n      OR ");
		for (int side = 0; side < 2; side++)
		{
			const char *alias = side == 0 ? left : right;

			if (side == 1)
				appendStringInfoString(buf, "), ROW(");
			first_rest = true;
			foreach(lc, columns)
			{
				ColumnMap  *col = (ColumnMap *) lfirst(lc);

				if (col->is_key || equality_is_identity(col->target_type))
					continue;
				appendStringInfo(buf, "%s%s.%s", first_rest ? "" : ", ", alias,
								 quote_identifier(col->name));
				first_rest = false;
			}
			if (extra_column)
				appendStringInfo(buf, "%s%s.%s", first_rest ? "" : ", ", alias,
								 quote_identifier(extra_column));
		}
		appendStringInfoString(buf, "))");
		first = false;
	}
	if (first)
		appendStringInfoString(buf, "false");
	appendStringInfoChar(buf, ')');
}

/*
 * Append "ON CONFLICT (keys) DO UPDATE SET ... WHERE <changed> [AND guard]",
 * or DO NOTHING when every column is a key.  A row whose non-key columns are
 * byte-for-byte what the target holds is not rewritten.  guard, if given, is
 * a further condition (older never overwrites newer).  extra_column (cdc's
 * version column) is set and compared too, so that it keeps up with the
 * latest event even when the values did not change.
 */
void
sql_upsert(StringInfo buf, const BuildContext *ctx, PipelineShape *shape, const char *guard,
			  const char *extra_column, const char *live)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoString(buf, "\n  ON CONFLICT (");
	sql_columns(buf, shape->columns, NULL, KEY_COLUMNS);
	appendStringInfoString(buf, ")");
	if (!sql_has_columns(shape->columns, NON_KEY_COLUMNS))
	{
		appendStringInfoString(buf, " DO NOTHING");
		return;
	}
	appendStringInfoString(buf, " DO UPDATE SET ");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			continue;
		appendStringInfo(buf, "%s%s = EXCLUDED.%s", first ? "" : ", ",
						 quote_identifier(col->name), quote_identifier(col->name));
		first = false;
	}
	if (extra_column)
		appendStringInfo(buf, ", %s = EXCLUDED.%s", quote_identifier(extra_column),
						 quote_identifier(extra_column));
	appendStringInfoString(buf, "\n  WHERE ");
	sql_row_changed(buf, shape->columns, extra_column, "t", "EXCLUDED");
	if (guard)
		appendStringInfo(buf, "\n    AND %s", guard);
	/* last, so that it counts the rows the update really writes */
	if (shape->target_partitioned && ctx->run_tokens)
		appendStringInfo(buf, "\n    AND %s._incr_count_update((%s)::pg_catalog.bool, $4::pg_catalog.int8)",
						 ExtensionSchemaQuoted(), live ? live : "true");
	else if (shape->target_partitioned)
		appendStringInfo(buf, "\n    AND %s._incr_count_update(%s)",
						 ExtensionSchemaQuoted(), live ? live : "true");
}

/*
 * The RETURNING expression that tells an inserted row from an updated one.
 * A partitioned target cannot return xmax on 15: every row returned is
 * counted as inserted, and _incr_count_update in the upsert's WHERE counts
 * the updates, which the run moves from one count to the other (statement.c).
 */
const char *
sql_inserted_expr(PipelineShape *shape)
{
	return shape->target_partitioned ? "true" : "t.xmax OPERATOR(pg_catalog.=) 0";
}

/* "t.cursor OPERATOR(pg_catalog.<=) $3 AS late", or "NULL::pg_catalog.bool AS late". */
char *
sql_late_expr(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	if (!shape->target_has_cursor || ctx->late_unknown)
		return "NULL::pg_catalog.bool AS late";
	return psprintf("t.%s OPERATOR(pg_catalog.<=) %s AS late",
					quote_identifier(p->cursor_column), sql_param(ctx, p, 3));
}

/*
 * Append the count of late rows, the rows written (w) at or below the
 * checkpoint, NULL when they cannot be told.  Deletes (d) are not late rows:
 * a delete's RETURNING holds the target's old value, not the source's.
 */
void
sql_count_late(StringInfo buf, const BuildContext *ctx, PipelineShape *shape)
{
	if (!shape->target_has_cursor || ctx->late_unknown)
		appendStringInfoString(buf, "NULL::pg_catalog.int8");
	else
		appendStringInfoString(buf, "(SELECT pg_catalog.count(*) FILTER (WHERE late) FROM w)");
}

/*
 * Append "_incr_tombstone_key(ARRAY['k1', ...]::text[], ROW(alias.k1, ...))":
 * a key as incr_tombstones keeps it, jsonb printed with the output settings
 * fixed, so that sessions with another TimeZone (or bytea_output,
 * extra_float_digits, ...) build the same key.  Both arguments are of the
 * exact types the function declares (a ROW is a record).
 */
void
sql_key_json(StringInfo buf, List *columns, const char *alias)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfo(buf, "%s._incr_tombstone_key(ARRAY[", ExtensionSchemaQuoted());
	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s", first ? "" : ", ", quote_literal_cstr(col->name));
		first = false;
	}
	appendStringInfoString(buf, "]::pg_catalog.text[], ROW(");
	first = true;
	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s.%s", first ? "" : ", ", alias, quote_identifier(col->name));
		first = false;
	}
	appendStringInfoString(buf, "))");
}

/* True if every key column's equality is equality of its tombstone key (key_exact). */
static bool
keys_exact(List *columns)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key && !col->key_exact)
			return false;
	}
	return true;
}

/*
 * Append "FROM incr_tombstones AS tb ... WHERE <tb is the pipeline's, for
 * the key of row alias> AND <tb's version op alias._incr_c>".  Where the key
 * index's equality is that of the printed key, the primary key finds it.
 * Otherwise (a case-insensitive collation, say: 'abc' must meet the
 * tombstone of 'ABC') each of the pipeline's tombstones is read back into
 * the target's row type, tk, and compared with the index's own operators
 * and collation.  The table is read as the owner, who may see the
 * pipeline's rows (row-level security).
 */
static void
sql_tombstone_match(StringInfo buf, Pipeline *p, PipelineShape *shape,
					   const char *alias, const char *op)
{
	appendStringInfo(buf, " FROM %s.incr_tombstones AS tb", ExtensionSchemaQuoted());
	if (!keys_exact(shape->columns))
		appendStringInfo(buf, ", pg_catalog.jsonb_populate_record(NULL::%s,"
						 " CASE WHEN pg_catalog.jsonb_typeof(tb.key) OPERATOR(pg_catalog.=) 'object'"
						 " THEN tb.key END) AS tk", shape->target_sql);
	appendStringInfo(buf, " WHERE tb.pipeline OPERATOR(pg_catalog.=) %s\n      AND ",
					 quote_literal_cstr(p->name));
	if (keys_exact(shape->columns))
	{
		appendStringInfoString(buf, "tb.key OPERATOR(pg_catalog.=) ");
		sql_key_json(buf, shape->columns, alias);
	}
	else
	{
		appendStringInfoChar(buf, '(');
		sql_key_match(buf, shape->columns, "tk", alias);
		appendStringInfoChar(buf, ')');
	}
	appendStringInfo(buf, "\n      AND %s OPERATOR(pg_catalog.%s) %s._incr_c",
					 CursorCheckpointExpr(p, "tb"), op, alias);
}

/*
 * Append "EXISTS (SELECT <a tombstone of the key of row alias, or with
 * any_key of every key (a cdc truncate's 'null'), whose version op
 * alias._incr_c>)".
 */
void
sql_tombstone_exists(StringInfo buf, Pipeline *p, PipelineShape *shape,
						const char *alias, bool any_key, const char *op)
{
	appendStringInfoString(buf, "(EXISTS (SELECT");
	sql_tombstone_match(buf, p, shape, alias, op);
	appendStringInfoChar(buf, ')');
	if (any_key)
		appendStringInfo(buf, "\n      OR EXISTS (SELECT FROM %s.incr_tombstones AS tb"
						 " WHERE tb.pipeline OPERATOR(pg_catalog.=) %s"
						 " AND tb.key OPERATOR(pg_catalog.=) 'null'::pg_catalog.jsonb"
						 " AND %s OPERATOR(pg_catalog.%s) %s._incr_c)",
						 ExtensionSchemaQuoted(), quote_literal_cstr(p->name),
						 CursorCheckpointExpr(p, "tb"), op, alias);
	appendStringInfoChar(buf, ')');
}

/*
 * Append the CTEs tomb (the keys the run's deletes, and a truncate's
 * 'null', leave tombstones for, with their versions) and revived (keys
 * written again past their tombstone's version), over the CTE src, whose
 * rows with is_delete true are deletes, and the target's version_column;
 * then the final SELECT appends tombstone_columns.  revived is empty when
 * the pipeline has no tombstones.
 */
void
sql_tombstone_ctes(StringInfo buf, Pipeline *p, PipelineShape *shape,
					  const char *is_delete, const char *version_column,
					  const char *truncate)
{
	appendStringInfoString(buf, ",\ntomb AS (\n  SELECT ");
	sql_key_json(buf, shape->columns, "src");
	appendStringInfo(buf, " AS k, src._incr_c AS v FROM src WHERE %s", is_delete);
	/* a delete older than the key's row (a backfill) leaves nothing: the row guards */
	appendStringInfo(buf, "\n    AND NOT EXISTS (SELECT FROM %s AS t WHERE ", shape->target_sql);
	sql_key_match(buf, shape->columns, "t", "src");
	appendStringInfo(buf, " AND t.%s OPERATOR(pg_catalog.>) src._incr_c)",
					 quote_identifier(version_column));
	if (truncate)
		appendStringInfoString(buf, truncate);
	appendStringInfoString(buf, "\n),\nrevived AS (\n  ");
	/* the tombstone's own key, which may print otherwise than src's (tk) */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "SELECT tb.key AS k, src._incr_c AS v FROM src, LATERAL (SELECT tb.key");
		sql_tombstone_match(buf, p, shape, "src", "<");
		appendStringInfo(buf, ") AS tb WHERE NOT (%s)", is_delete);
	}
	else
		appendStringInfoString(buf, "SELECT NULL::pg_catalog.jsonb AS k, src._incr_c AS v FROM src WHERE false");
	appendStringInfoString(buf, "\n)");
}

/* The final SELECT's columns after the counts: tomb's and revived's keys and versions. */
const char *const SqlTombstoneColumns =
",\n       (SELECT pg_catalog.array_agg(k) FROM tomb), (SELECT pg_catalog.array_agg(v) FROM tomb),"
"\n       (SELECT pg_catalog.array_agg(k) FROM revived), (SELECT pg_catalog.array_agg(v) FROM revived)";

/*
 * Make text safe inside a -- comment line (incr_plan's): a name may hold a
 * line break, which would end the comment and turn the rest of the name
 * into SQL.
 */
char *
SqlCommentSafe(const char *text)
{
	char	   *copy = pstrdup(text);

	for (char *c = copy; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return copy;
}

/*
 * Append the SELECT of the latest row per key in the window, less the rows
 * marked deleted (hard deletes), as incr_verify expects merge and scd2 to
 * leave them; with_cursor adds the winning row's cursor as _incr_c.
 */
void
sql_latest_rows(StringInfo buf, const BuildContext *ctx, Pipeline *p,
				PipelineShape *shape, bool with_cursor)
{
	List	   *extras = NIL;

	if (with_cursor)
		extras = lappend(extras, psprintf("s.%s AS _incr_c",
										  quote_identifier(p->cursor_column)));
	if (p->delete_column && !p->soft_delete)
		extras = lappend(extras, psprintf("%s AS _incr_deleted",
										  sql_delete_expr(p, shape)));
	appendStringInfoString(buf, "SELECT ");
	sql_columns(buf, shape->columns, "e", ALL_COLUMNS);
	if (with_cursor)
		appendStringInfoString(buf, ", e._incr_c");
	appendStringInfoString(buf, " FROM (");
	sql_keyed_source(buf, ctx, p, shape, true, extras);
	appendStringInfoString(buf, ") AS e");
	if (p->delete_column && !p->soft_delete)
		appendStringInfoString(buf, " WHERE NOT e._incr_deleted");
}

/*
 * The changes of a wal run (mode.h, WAL_CHANGES_RELATION) with the values
 * they did not carry filled in.  An update that leaves a large value alone
 * does not carry it (pgoutput's unchanged TOAST value): the value is the one
 * the row had before that update, which is the value of the key's previous
 * change in the window (itself perhaps filled the same way), or, when the
 * window has none, what the fallback finds in the target (the mode's
 * choice), or NULL.  A change that changed the key continues the chain of
 * its old key.
 */

/* Append "alias._incr_old_<key>" for a key column. */
static void
wal_old_key(StringInfo buf, ColumnMap *col, const char *alias)
{
	appendStringInfo(buf, "%s.%s", alias,
					 quote_identifier(psprintf("_incr_old_%s", col->name)));
}

/* True if the column's values can be left out of a change (varlena, not a key). */
bool
sql_wal_fillable(ColumnMap *col)
{
	return !col->is_key && get_typlen(col->target_type) == -1;
}

/* Append a condition that holds when change alias changed its row's key. */
static void
wal_key_changed(StringInfo buf, List *columns, const char *alias)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoString(buf, "NOT (");
	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		if (!first)
			appendStringInfoString(buf, " AND ");
		wal_old_key(buf, col, alias);
		appendStringInfoString(buf, " IS NULL");
		first = false;
	}
	appendStringInfoChar(buf, ')');
}

/*
 * Append the key the row of change alias had before it: its old key if it
 * changed the key, else its key.  One expression for the key column col.
 */
static void
wal_key_before(StringInfo buf, List *columns, ColumnMap *col, const char *alias)
{
	appendStringInfoString(buf, "CASE WHEN ");
	wal_key_changed(buf, columns, alias);
	appendStringInfoString(buf, " THEN ");
	wal_old_key(buf, col, alias);
	appendStringInfo(buf, " ELSE %s.%s END", alias, quote_identifier(col->name));
}

/*
 * Append "left.k OPERATOR(x.=) <key before change alias> AND ...": the rows
 * of the target (left) that hold the key the row of the change had before it.
 */
void
sql_wal_key_before_match(StringInfo buf, List *columns, const char *left, const char *alias)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s.%s %s (", first ? "" : " AND ", left,
						 quote_identifier(col->name), col->eq_operator);
		wal_key_before(buf, columns, col, alias);
		appendStringInfo(buf, ")%s", col->key_collate);
		first = false;
	}
}

/* Append "<alias>._incr_op OPERATOR(pg_catalog.=) 'X'". */
void
sql_wal_op_is(StringInfo buf, const char *alias, char op)
{
	appendStringInfo(buf, "%s._incr_op OPERATOR(pg_catalog.=) '%c'::pg_catalog.\"char\"",
					 alias, op);
}

/* Append "'col' OPERATOR(pg_catalog.=) ANY (alias._incr_unchanged)". */
static void
wal_unchanged(StringInfo buf, ColumnMap *col, const char *alias)
{
	appendStringInfo(buf, "%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s._incr_unchanged)",
					 quote_literal_cstr(col->name), alias);
}

/*
 * Append the columns of a filled change: those of the change c, and for
 * each value c did not carry the same column of from (NULL: a NULL).
 */
static void
wal_filled_columns(StringInfo buf, Pipeline *p, PipelineShape *shape, const char *from)
{
	ListCell   *lc;

	appendStringInfoString(buf, "c._incr_seq, c._incr_op, c._incr_lsn, c._incr_commit_time");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfoString(buf, ", ");
		wal_old_key(buf, col, "c");
	}
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *name = quote_identifier(col->name);

		if (!sql_wal_fillable(col))
		{
			appendStringInfo(buf, ", c.%s", name);
			continue;
		}
		appendStringInfoString(buf, ", CASE WHEN ");
		wal_unchanged(buf, col, "c");
		if (from)
			appendStringInfo(buf, " THEN %s.%s ELSE c.%s END AS %s", from, name, name, name);
		else
			appendStringInfo(buf, " THEN NULL ELSE c.%s END AS %s", name, name);
	}
}

/* Append the condition that change alias is an insert or update that left values out. */
static void
wal_misses_values(StringInfo buf, const char *alias)
{
	appendStringInfo(buf, "%s._incr_unchanged IS NOT NULL AND (", alias);
	sql_wal_op_is(buf, alias, 'I');
	appendStringInfoString(buf, " OR ");
	sql_wal_op_is(buf, alias, 'U');
	appendStringInfoChar(buf, ')');
}

/*
 * Append the CTEs _incr_chg (the changes, read once), _incr_rd (each change
 * that left values out, its row with _incr_prev, the _incr_seq of the key's
 * previous insert or update in the window, or NULL) and _incr_filled (every
 * change, values filled in, same columns as _incr_chg less
 * _incr_unchanged), after "WITH RECURSIVE ".  extra, if given, is a SELECT of one more change, added to
 * _incr_chg.  fallback, if given, appends a FROM item named b with the
 * fillable columns for a change c whose key the window has no earlier row
 * of.  The recursion goes as deep as a key's run of updates that left a
 * value out, one level per update; each level joins only its new rows.
 * Without keys a change cannot be followed: values left out are NULL.
 */
void
sql_wal_filled(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape,
			   const char *extra, WalFallback fallback)
{
	bool		keyed = sql_has_columns(shape->columns, KEY_COLUMNS);
	ListCell   *lc;

	appendStringInfo(buf, "_incr_chg AS MATERIALIZED (\n  SELECT * FROM %s AS c", ctx->wal_changes);
	if (extra)
		appendStringInfo(buf, "\n  UNION ALL\n  %s", extra);
	appendStringInfoString(buf, "\n),\n");
	if (!keyed)
	{
		appendStringInfoString(buf, "_incr_filled AS (\n  SELECT ");
		wal_filled_columns(buf, p, shape, NULL);
		appendStringInfoString(buf, " FROM _incr_chg AS c\n)");
		return;
	}

	/*
	 * the previous insert or update of the key: a running max over the key's
	 * changes; with the reader's change, so that the recursion joins only
	 * these few rows and never the whole, wide, change set again
	 */
	appendStringInfoString(buf, "_incr_rd AS MATERIALIZED (\n  SELECT e._incr_prev, c.* FROM (\n"
						   "    SELECT w._incr_seq, w._incr_reads, pg_catalog.max(w._incr_seq)"
						   " FILTER (WHERE NOT w._incr_reads)\n      OVER (PARTITION BY ");
	sql_key_groups(buf, shape->columns, "w");
	appendStringInfoString(buf, " ORDER BY w._incr_seq, w._incr_reads DESC"
						   " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _incr_prev\n"
						   "    FROM (SELECT c._incr_seq, false AS _incr_reads, ");
	sql_columns(buf, shape->columns, "c", KEY_COLUMNS);
	appendStringInfoString(buf, " FROM _incr_chg AS c WHERE (");
	sql_wal_op_is(buf, "c", 'I');
	appendStringInfoString(buf, " OR ");
	sql_wal_op_is(buf, "c", 'U');
	/* only of the keys some change reads: a hash, rather than a sort of every change */
	appendStringInfoString(buf, ")\n        AND EXISTS (SELECT FROM _incr_chg AS r WHERE ");
	wal_misses_values(buf, "r");
	appendStringInfoString(buf, " AND ");
	sql_wal_key_before_match(buf, shape->columns, "c", "r");
	appendStringInfoString(buf, ")\n      UNION ALL\n      SELECT c._incr_seq, true");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfoString(buf, ", ");
		wal_key_before(buf, shape->columns, col, "c");
	}
	appendStringInfoString(buf, " FROM _incr_chg AS c WHERE ");
	wal_misses_values(buf, "c");
	/* c's own test too, so that the planner hashes these few rows, not all */
	appendStringInfoString(buf, ") AS w) AS e\n    JOIN _incr_chg AS c ON c._incr_seq OPERATOR(pg_catalog.=) e._incr_seq\n"
						   "  WHERE e._incr_reads AND ");
	wal_misses_values(buf, "c");
	appendStringInfoString(buf, "\n),\n");

	/* changes with every value, then those whose key has no earlier row in the window */
	appendStringInfoString(buf, "_incr_filled AS (\n  SELECT ");
	wal_filled_columns(buf, p, shape, NULL);
	appendStringInfoString(buf, "\n  FROM _incr_chg AS c WHERE NOT (");
	wal_misses_values(buf, "c");
	appendStringInfoString(buf, ") IS TRUE\n  UNION ALL\n  SELECT ");
	wal_filled_columns(buf, p, shape, fallback ? "b" : NULL);
	appendStringInfoString(buf, "\n  FROM _incr_rd AS c");
	if (fallback)
	{
		appendStringInfoString(buf, "\n    ");
		fallback(buf, p, shape);
	}
	appendStringInfoString(buf, "\n  WHERE c._incr_prev IS NULL\n  UNION ALL\n  SELECT ");
	wal_filled_columns(buf, p, shape, "f");
	appendStringInfoString(buf, "\n  FROM _incr_filled AS f JOIN _incr_rd AS c ON c._incr_prev"
						   " OPERATOR(pg_catalog.=) f._incr_seq\n)");
}

/*
 * The ALTER TABLE that adds a source column to the target, with the
 * source's type (on_schema_change add_columns).
 */
char *
SqlAddColumn(const char *target_sql, ColumnMap *col)
{
	return psprintf("ALTER TABLE %s ADD COLUMN %s %s", target_sql,
					quote_identifier(col->name),
					format_type_extended(col->source_type, col->source_typmod,
										 FORMAT_TYPE_TYPEMOD_GIVEN |
										 FORMAT_TYPE_FORCE_QUALIFY));
}

/*
 * SELECT how many source rows the window holds and the greatest cursor
 * among them: what _incr_tally counts in a run statement, for a run over
 * Citus, where the statement cannot call it.  One aggregate, which Citus
 * computes on the shards; extra, if not NULL, is a third output column, an
 * aggregate over the rows s too (ModeOps.build_unsplit).
 */
char *
SqlWindowCount(Pipeline *p, PipelineShape *shape, const char *extra)
{
	BuildContext ctx = {.citus = true};
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT pg_catalog.count(*), pg_catalog.max(s.%s)%s%s FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>=) %s AND s.%s OPERATOR(pg_catalog.<=) %s",
					c, extra ? ", " : "", extra ? extra : "", shape->source_sql,
					c, sql_param(&ctx, p, 1), c, sql_param(&ctx, p, 2));
}
