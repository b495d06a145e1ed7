/*
 * plan.c
 *		Building the SQL of a run.  Each mode is one statement that reads the
 *		window of the source, writes the target and returns its counts; the
 *		modes differ only in the text built here.
 *
 * Rules every statement here follows: identifiers are quoted; values are
 * parameters; operators and functions are schema-qualified (key columns are
 * matched with the equality operator of the target's key index, named with
 * its schema), and rows are compared byte for byte (append_row_changed):
 * with pg_catalog's = for the types where that is the same thing, and
 * through record_image_eq, which needs no operator lookup, for the others,
 * so nothing on the caller's search_path is picked up.
 * Names the statements introduce start with "_incr_".
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "catalog/pg_type.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "citus.h"
#include "cursor.h"
#include "files.h"
#include "plan.h"

static void append_source_expr(StringInfo buf, ColumnMap *col);

/* Which columns append_columns writes. */
typedef enum ColumnFilter
{
	ALL_COLUMNS,
	NON_KEY_COLUMNS,
	KEY_COLUMNS
} ColumnFilter;

/* True if the column passes the filter. */
static bool
column_passes(ColumnMap *col, ColumnFilter filter)
{
	return filter == ALL_COLUMNS ||
		(filter == KEY_COLUMNS && col->is_key) ||
		(filter == NON_KEY_COLUMNS && !col->is_key);
}

/* Append "prefix.col, ..." for the columns that pass the filter. */
static void
append_columns(StringInfo buf, List *columns, const char *prefix, ColumnFilter filter)
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
static bool
has_columns(List *columns, ColumnFilter filter)
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
static void
append_key_match(StringInfo buf, List *columns, const char *left, const char *right)
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
static void
append_key_groups(StringInfo buf, List *columns, const char *prefix)
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
			append_source_expr(buf, col);
		appendStringInfoString(buf, col->key_collate);
		first = false;
	}
}

/* The target type of a column, as SQL. */
static char *
target_type_sql(ColumnMap *col)
{
	return format_type_extended(col->target_type, col->target_typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/* Append the source expression of a column, cast to the target's type if needed. */
static void
append_source_expr(StringInfo buf, ColumnMap *col)
{
	if (col->source_type == col->target_type &&
		col->source_typmod == col->target_typmod)
		appendStringInfo(buf, "s.%s", quote_identifier(col->name));
	else
		appendStringInfo(buf, "CAST(s.%s AS %s)", quote_identifier(col->name),
						 target_type_sql(col));
}

/* Append the source expressions of all columns; with names, "AS col" each. */
static void
append_source_exprs(StringInfo buf, List *columns, bool with_names)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(columns))
			appendStringInfoString(buf, ", ");
		append_source_expr(buf, col);
		if (with_names)
			appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
}

/*
 * Set by each Build* function: the statement is for a pipeline over Citus
 * tables (PipelineOverCitus).  Its parameters are then cast to their types,
 * since a worker parses the text Citus sends it without them, and it calls
 * no _incr_tally, which cannot count on a worker: the run counts the window
 * with BuildWindowCountSql instead.
 */
static bool citus_sql = false;

/*
 * Set by BuildRunSql for a run over Citus whose INSERT Citus executes in two
 * steps, the rows collected on the coordinator, then inserted from there:
 * it sends that INSERT, with its RETURNING, without the statement's
 * parameters, so RETURNING cannot compare with the checkpoint $3, and the
 * late rows are not known.  That is a target distributed or replicated by
 * Citus fed from a table of another kind, or by a keyless append (its
 * EXCEPT ALL is not pushed down).
 */
static bool citus_late_unknown = false;

/* "$n", a cursor-typed parameter; "$n::type" in a statement for Citus. */
static char *
param_ref(Pipeline *p, int n)
{
	if (!citus_sql)
		return psprintf("$%d", n);
	return psprintf("$%d::%s", n, format_type_be_qualified(p->cursor_type));
}

/* Append "alias.cursor OPERATOR(pg_catalog.op) $n". */
static void
append_cursor_cmp(StringInfo buf, const char *alias, Pipeline *p,
				  const char *op, int param)
{
	appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.%s) %s",
					 alias, quote_identifier(p->cursor_column), op, param_ref(p, param));
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
	return OidIsValid(fn) &&
		getExtensionOfObject(ProcedureRelationId, fn) == get_extension_oid("incremental", false);
}

/* Whether the statement being built passes run tokens: see BuildRunSql. */
static bool run_tokens = true;

/*
 * Set while BuildExpectedSql builds: incr_verify counts nothing, and a call
 * of the extension's function would keep postgres_fdw from pushing the scan
 * and its aggregates to the remote side.
 */
static bool omit_tally = false;

/*
 * Append the call that counts a row read and tracks the greatest cursor:
 * the extension's _incr_tally for the cursor's type, every argument cast to
 * exactly the type it is declared with, so that overload resolution finds
 * that one function and no other (a more exact one cannot exist), and the
 * run's token $4.  A database at 0.1 or 0.2 has only _incr_tally(anyelement).
 */
static void
append_tally(StringInfo buf, Pipeline *p)
{
	if (omit_tally || citus_sql)
	{
		appendStringInfoString(buf, "true");
		return;
	}
	if (!run_tokens)
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
static void
append_window(StringInfo buf, Pipeline *p)
{
	append_cursor_cmp(buf, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
}

/* The expression over source row s that says it marks a delete. */
static char *
delete_expr(Pipeline *p, PipelineShape *shape)
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
static void
append_keyed_source(StringInfo buf, Pipeline *p, PipelineShape *shape,
					bool latest_wins, List *extras)
{
	ListCell   *lc;

	if (shape->source_unique_on_keys)
	{
		appendStringInfoString(buf, "SELECT ");
		append_source_exprs(buf, shape->columns, true);
		foreach(lc, extras)
			appendStringInfo(buf, ", %s", (char *) lfirst(lc));
		appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
		append_window(buf, p);
		return;
	}

	appendStringInfoString(buf, "SELECT DISTINCT ON (");
	append_key_groups(buf, shape->columns, NULL);
	appendStringInfoString(buf, ") ");
	append_source_exprs(buf, shape->columns, true);
	foreach(lc, extras)
		appendStringInfo(buf, ", %s", (char *) lfirst(lc));
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	append_window(buf, p);
	appendStringInfoString(buf, "\n  ORDER BY ");
	append_key_groups(buf, shape->columns, NULL);
	appendStringInfo(buf, ", s.%s %s, ROW(", quote_identifier(p->cursor_column),
					 latest_wins ? "DESC" : "ASC");
	append_columns(buf, shape->columns, "s", ALL_COLUMNS);
	appendStringInfoString(buf, ") USING OPERATOR(pg_catalog.*>)");
}

/* Append "INSERT INTO target AS t (cols[, extra]) [OVERRIDING SYSTEM VALUE]". */
static void
append_insert_head(StringInfo buf, PipelineShape *shape, const char *extra_column)
{
	appendStringInfo(buf, "INSERT INTO %s AS t (", shape->target_sql);
	append_columns(buf, shape->columns, NULL, ALL_COLUMNS);
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
static void
append_row_changed(StringInfo buf, List *columns, const char *extra_column,
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
static void
append_upsert(StringInfo buf, PipelineShape *shape, const char *guard,
			  const char *extra_column, const char *live)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoString(buf, "\n  ON CONFLICT (");
	append_columns(buf, shape->columns, NULL, KEY_COLUMNS);
	appendStringInfoString(buf, ")");
	if (!has_columns(shape->columns, NON_KEY_COLUMNS))
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
	append_row_changed(buf, shape->columns, extra_column, "t", "EXCLUDED");
	if (guard)
		appendStringInfo(buf, "\n    AND %s", guard);
	/* last, so that it counts the rows the update really writes */
	if (shape->target_partitioned && run_tokens)
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
 * the updates, which the run moves from one count to the other (run.c).
 */
static const char *
inserted_expr(PipelineShape *shape)
{
	return shape->target_partitioned ? "true" : "t.xmax OPERATOR(pg_catalog.=) 0";
}

/* "t.cursor OPERATOR(pg_catalog.<=) $3 AS late", or "NULL::pg_catalog.bool AS late". */
static char *
late_expr(Pipeline *p, PipelineShape *shape)
{
	if (!shape->target_has_cursor || citus_late_unknown)
		return "NULL::pg_catalog.bool AS late";
	return psprintf("t.%s OPERATOR(pg_catalog.<=) %s AS late",
					quote_identifier(p->cursor_column), param_ref(p, 3));
}

/*
 * Append the count of late rows, the rows written (w) at or below the
 * checkpoint, NULL when they cannot be told.  Deletes (d) are not late rows:
 * a delete's RETURNING holds the target's old value, not the source's.
 */
static void
append_count_late(StringInfo buf, PipelineShape *shape)
{
	if (!shape->target_has_cursor || citus_late_unknown)
		appendStringInfoString(buf, "NULL::pg_catalog.int8");
	else
		appendStringInfoString(buf, "(SELECT pg_catalog.count(*) FILTER (WHERE late) FROM w)");
}

/*
 * True if the pipeline's deletes leave tombstones (incr_tombstones): where
 * the mode keeps versions, so that an older event must not undo a delete.
 * That is cdc with version_column, and merge with hard deletes over a change
 * log into a target with the cursor column (its guard).  A source with one
 * row per key holds the delete itself, and a backfill reads it again.
 */
bool
PipelineKeepsTombstones(Pipeline *p, PipelineShape *shape)
{
	if (p->mode == MODE_CDC)
		return p->version_column != NULL;
	return p->mode == MODE_MERGE && p->delete_column && !p->soft_delete &&
		shape->target_has_cursor && !shape->source_unique_on_keys;
}

/*
 * Append "_incr_tombstone_key(ARRAY['k1', ...]::text[], ROW(alias.k1, ...))":
 * a key as incr_tombstones keeps it, jsonb printed with the output settings
 * fixed, so that sessions with another TimeZone (or bytea_output,
 * extra_float_digits, ...) build the same key.  Both arguments are of the
 * exact types the function declares (a ROW is a record).
 */
static void
append_key_json(StringInfo buf, List *columns, const char *alias)
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
append_tombstone_match(StringInfo buf, Pipeline *p, PipelineShape *shape,
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
		append_key_json(buf, shape->columns, alias);
	}
	else
	{
		appendStringInfoChar(buf, '(');
		append_key_match(buf, shape->columns, "tk", alias);
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
static void
append_tombstone_exists(StringInfo buf, Pipeline *p, PipelineShape *shape,
						const char *alias, bool any_key, const char *op)
{
	appendStringInfoString(buf, "(EXISTS (SELECT");
	append_tombstone_match(buf, p, shape, alias, op);
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
static void
append_tombstone_ctes(StringInfo buf, Pipeline *p, PipelineShape *shape,
					  const char *is_delete, const char *version_column,
					  const char *truncate)
{
	appendStringInfoString(buf, ",\ntomb AS (\n  SELECT ");
	append_key_json(buf, shape->columns, "src");
	appendStringInfo(buf, " AS k, src._incr_c AS v FROM src WHERE %s", is_delete);
	/* a delete older than the key's row (a backfill) leaves nothing: the row guards */
	appendStringInfo(buf, "\n    AND NOT EXISTS (SELECT FROM %s AS t WHERE ", shape->target_sql);
	append_key_match(buf, shape->columns, "t", "src");
	appendStringInfo(buf, " AND t.%s OPERATOR(pg_catalog.>) src._incr_c)",
					 quote_identifier(version_column));
	if (truncate)
		appendStringInfoString(buf, truncate);
	appendStringInfoString(buf, "\n),\nrevived AS (\n  ");
	/* the tombstone's own key, which may print otherwise than src's (tk) */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "SELECT tb.key AS k, src._incr_c AS v FROM src, LATERAL (SELECT tb.key");
		append_tombstone_match(buf, p, shape, "src", "<");
		appendStringInfo(buf, ") AS tb WHERE NOT (%s)", is_delete);
	}
	else
		appendStringInfoString(buf, "SELECT NULL::pg_catalog.jsonb AS k, src._incr_c AS v FROM src WHERE false");
	appendStringInfoString(buf, "\n)");
}

/* The final SELECT's columns after the counts: tomb's and revived's keys and versions. */
static const char *tombstone_columns =
",\n       (SELECT pg_catalog.array_agg(k) FROM tomb), (SELECT pg_catalog.array_agg(v) FROM tomb),"
"\n       (SELECT pg_catalog.array_agg(k) FROM revived), (SELECT pg_catalog.array_agg(v) FROM revived)";

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
static void
build_merge(StringInfo buf, Pipeline *p, PipelineShape *shape)
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
		extras = lappend(extras, psprintf("%s AS _incr_deleted", delete_expr(p, shape)));
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
	if (!hard_delete)
	{
		append_insert_head(buf, shape, NULL);
		append_keyed_source(buf, p, shape, true, NIL);
		append_upsert(buf, shape, guard, NULL, live);
		appendStringInfo(buf, "\n  RETURNING %s AS inserted,\n"
						 "    %s AS deleted,\n    %s",
						 inserted_expr(shape), deleted_out, late_expr(p, shape));
		return;
	}

	appendStringInfoString(buf, "WITH src AS (\n  ");
	append_keyed_source(buf, p, shape, true, extras);
	appendStringInfo(buf, "\n),\nd AS (\n  DELETE FROM %s AS t USING src\n  WHERE src._incr_deleted AND ",
					 shape->target_sql);
	append_key_match(buf, shape->columns, "t", "src");
	if (guard)
		appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) src.%s)",
						 quote_identifier(p->cursor_column),
						 quote_identifier(p->cursor_column),
						 quote_identifier(p->cursor_column));
	appendStringInfo(buf, "\n  RETURNING %s\n),\n", late_expr(p, shape));
	appendStringInfoString(buf, "w AS (\n  ");
	append_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	append_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, " FROM src WHERE NOT src._incr_deleted");
	/* a key deleted at this version or a later one stays deleted */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "\n    AND NOT ");
		append_tombstone_exists(buf, p, shape, "src", false, ">=");
	}
	append_upsert(buf, shape, guard, NULL, live);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted,\n"
					 "    %s AS deleted,\n    %s\n)",
					 inserted_expr(shape), deleted_out, late_expr(p, shape));
	if (shape->tombstones != TOMBSTONES_OFF)
		append_tombstone_ctes(buf, p, shape, "src._incr_deleted", p->cursor_column, NULL);
	appendStringInfoString(buf,
						   "\nSELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FROM d),\n       ");
	append_count_late(buf, shape);
	if (shape->tombstones != TOMBSTONES_OFF)
		appendStringInfoString(buf, tombstone_columns);
}

/*
 * append with keys: insert rows whose key the target does not have yet; the
 * first version of a key in the window wins.
 */
static void
build_append_keyed(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	append_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	append_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, " FROM (\n  ");
	append_keyed_source(buf, p, shape, false, NIL);
	appendStringInfoString(buf, ") AS src\n  ON CONFLICT (");
	append_columns(buf, shape->columns, NULL, KEY_COLUMNS);
	appendStringInfo(buf, ") DO NOTHING\n  RETURNING true AS inserted, false AS deleted, %s",
					 late_expr(p, shape));
}

/*
 * Append the columns for a comparison of whole rows by their bytes: text-like
 * columns in the C collation, where equal means the same bytes; under a
 * case-insensitive collation EXCEPT ALL would take 'SQL' for a loaded 'sql'
 * and could return either.  prefix NULL: the source expressions (cast to
 * the target's types); otherwise prefix.col.
 */
static void
append_bytes_columns(StringInfo buf, List *columns, const char *prefix)
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
			append_source_expr(buf, col);
		if (type_is_collatable(col->target_type))
			appendStringInfoString(buf, " COLLATE pg_catalog.\"C\"");
	}
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
build_append_keyless(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	append_insert_head(buf, shape, NULL);
	appendStringInfoString(buf, "SELECT ");
	append_source_exprs(buf, shape->columns, false);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	append_cursor_cmp(buf, "s", p, ">", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
	appendStringInfoString(buf, "\n  UNION ALL\n  (SELECT ");
	append_bytes_columns(buf, shape->columns, NULL);
	appendStringInfo(buf, "\n   FROM %s AS s\n   WHERE ", shape->source_sql);
	append_cursor_cmp(buf, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	appendStringInfoString(buf, " AND ");
	append_tally(buf, p);
	appendStringInfoString(buf, "\n   EXCEPT ALL\n   SELECT ");
	append_bytes_columns(buf, shape->columns, "x");
	appendStringInfo(buf, "\n   FROM %s AS x\n   WHERE ", shape->target_sql);
	append_cursor_cmp(buf, "x", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "x", p, "<=", 3);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "x", p, "<=", 2);
	appendStringInfo(buf, ")\n  RETURNING true AS inserted, false AS deleted, %s",
					 late_expr(p, shape));
}

/*
 * Append the decoded value of a target column from a change event: the
 * event's row image (_incr_row) and, with a Debezium schema, the field's
 * schema (_incr_fields), through _incr_cdc_value, which turns Debezium's
 * encodings into the column type's text input.
 */
static void
append_event_value(StringInfo buf, Pipeline *p, ColumnMap *col, const char *alias,
				   const char *fields_alias)
{
	const char *schema = ExtensionSchemaQuoted();
	Oid			base = getBaseType(col->target_type);
	char	   *value;

	/* only numbers and times have encodings of their own; the rest is text input */
	if (base == NUMERICOID || base == TIMESTAMPTZOID || base == TIMESTAMPOID ||
		base == DATEOID || base == TIMEOID)
		value = psprintf("%s._incr_cdc_value(%s._incr_row OPERATOR(pg_catalog.->) %s::pg_catalog.text,"
						 " %s._incr_fields OPERATOR(pg_catalog.->) %s::pg_catalog.text, %u::pg_catalog.oid,"
						 " %d::pg_catalog.int4, %s::pg_catalog.text)",
						 schema, alias, quote_literal_cstr(col->name), fields_alias,
						 quote_literal_cstr(col->name), col->target_type,
						 col->target_typmod, quote_literal_cstr(p->epoch_unit));
	else
		value = psprintf("(%s._incr_row OPERATOR(pg_catalog.->>) %s)", alias,
						 quote_literal_cstr(col->name));

	if (col->is_key)
		appendStringInfo(buf, "CAST(COALESCE(%s, %s._incr_cdc_fail(%s._incr_c::pg_catalog.text, %s::pg_catalog.text)) AS %s)",
						 value, schema, alias,
						 quote_literal_cstr(psprintf("has no value for key column \"%s\"",
													 col->name)),
						 target_type_sql(col));
	else
		appendStringInfo(buf, "CAST(%s AS %s)", value, target_type_sql(col));
}

/*
 * Append the SELECT of a cdc window's events: their cursor (_incr_c), their
 * op, checked (_incr_op: c, r, u, d, t or m; NULL for a tombstone), and their
 * row image as jsonb with the Debezium field schemas (_incr_row,
 * _incr_fields), or, for a flat layout, the target's columns.  The scan
 * counts every row it reads (_incr_tally).
 *
 * Each level that computes something the next one uses several times is
 * fenced with OFFSET 0, so that the planner does not flatten it and copy
 * its expressions into every place that uses them: the envelope would be
 * taken apart once per use, not once per event.  The fence around the scan
 * also keeps the op filter of the caller out of its WHERE clause, where it
 * would run before _incr_tally (which costs more) and hide the events it
 * drops (tombstones, messages) from the count.
 */
static void
append_events(StringInfo buf, Pipeline *p, PipelineShape *shape, bool tally)
{
	const char *schema = ExtensionSchemaQuoted();
	const char *c = quote_identifier(p->cursor_column);
	ListCell   *lc;

	if (p->payload_column)
	{
		const char *pc = quote_identifier(p->payload_column);
		const char *op = "r._incr_env OPERATOR(pg_catalog.->>) 'op'";

		appendStringInfo(buf, "SELECT r._incr_c,\n"
						 "    CASE WHEN r._incr_env IS NULL"
						 " OR pg_catalog.jsonb_typeof(r._incr_env) OPERATOR(pg_catalog.=) 'null' THEN NULL\n"
						 "         WHEN %s OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','d','t','m']) THEN %s\n"
						 "         ELSE %s._incr_cdc_fail(r._incr_c::pg_catalog.text, 'has no valid op'::pg_catalog.text) END AS _incr_op",
						 op, op, schema);
		appendStringInfo(buf, ",\n    CASE WHEN %s OPERATOR(pg_catalog.=) 'd' THEN r._incr_env OPERATOR(pg_catalog.->) 'before'\n"
						 "         ELSE r._incr_env OPERATOR(pg_catalog.->) 'after' END AS _incr_row,\n"
						 "    CASE WHEN r._incr_doc OPERATOR(pg_catalog.->) 'schema' IS NULL THEN NULL ELSE\n"
						 "    (SELECT pg_catalog.jsonb_object_agg(g OPERATOR(pg_catalog.->>) 'field', g)\n"
						 "     FROM pg_catalog.jsonb_array_elements(%s._incr_json_array((r._incr_doc"
						 " OPERATOR(pg_catalog.#>) '{schema,fields}')::pg_catalog.jsonb)) AS f,\n"
						 "          pg_catalog.jsonb_array_elements(%s._incr_json_array((f OPERATOR(pg_catalog.->) 'fields')::pg_catalog.jsonb)) AS g\n"
						 "     WHERE f OPERATOR(pg_catalog.->>) 'field' OPERATOR(pg_catalog.=)\n"
						 "           CASE WHEN %s OPERATOR(pg_catalog.=) 'd' THEN 'before' ELSE 'after' END) END AS _incr_fields",
						 op, schema, schema, op);
		appendStringInfo(buf, "\n  FROM (SELECT s.%s AS _incr_c, s.%s::pg_catalog.jsonb AS _incr_doc,\n"
						 "      COALESCE(s.%s::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'payload',"
						 " s.%s::pg_catalog.jsonb) AS _incr_env\n"
						 "    FROM %s AS s\n    WHERE ",
						 c, pc, pc, pc, shape->source_sql);
	}
	else
	{
		const char *opcol = quote_identifier(p->op_column);
		char	   *op = psprintf("pg_catalog.lower(s.%s::pg_catalog.text)", opcol);

		appendStringInfo(buf, "SELECT s.%s AS _incr_c,\n"
						 "    CASE WHEN %s OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','i','d','t','m'])\n"
						 "         THEN pg_catalog.translate(%s, 'i', 'c')\n"
						 "         ELSE %s._incr_cdc_fail(s.%s::pg_catalog.text, 'has no valid op'::pg_catalog.text) END AS _incr_op",
						 c, op, op, schema, c);
		if (shape->json_layout && p->before_column)
			appendStringInfo(buf, ",\n    CASE WHEN %s OPERATOR(pg_catalog.=) 'd'"
							 " THEN s.%s::pg_catalog.jsonb ELSE s.%s::pg_catalog.jsonb END AS _incr_row,"
							 " NULL::pg_catalog.jsonb AS _incr_fields",
							 op, quote_identifier(p->before_column), quote_identifier(p->after_column));
		else if (shape->json_layout)
			appendStringInfo(buf, ",\n    s.%s::pg_catalog.jsonb AS _incr_row, NULL::pg_catalog.jsonb AS _incr_fields",
							 quote_identifier(p->after_column));
		else
		{
			foreach(lc, shape->columns)
			{
				appendStringInfoString(buf, ", ");
				append_source_expr(buf, (ColumnMap *) lfirst(lc));
				appendStringInfo(buf, " AS %s", quote_identifier(((ColumnMap *) lfirst(lc))->name));
			}
		}
		appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	}
	append_cursor_cmp(buf, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	append_cursor_cmp(buf, "s", p, "<=", 2);
	if (tally)
	{
		appendStringInfoString(buf, " AND ");
		append_tally(buf, p);
	}
	if (p->payload_column)
		appendStringInfoString(buf, "\n    OFFSET 0) AS r");
	appendStringInfoString(buf, "\n  OFFSET 0");
}

/*
 * Debezium's placeholder for a value it does not have: an unchanged TOASTed
 * column of an update under REPLICA IDENTITY DEFAULT (the connector's
 * unavailable.value.placeholder, default shown here).  A text, json or array
 * column carries the string (an array as its one element), a bytea column
 * its bytes, which the JSON converter writes in base64 or, with
 * binary.handling.mode = hex, in hex.  As a jsonpath over a field's value:
 */
#define UNAVAILABLE_VALUE_TEST \
	"(@ == \"__debezium_unavailable_value\"" \
	" || @ == \"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"" \
	" || @ == \"5f5f646562657a69756d5f756e617661696c61626c655f76616c7565\")"

/*
 * Append fill: for the keys whose last event lacks a value (the placeholder),
 * every column's latest value in the window's events of that key that carry
 * one (c, r, u after the last truncate), as a jsonb row image.  A run with
 * no placeholder does not read the events again: the EXISTS is evaluated
 * once, before the scan.
 */
static void
append_unavailable_fill(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	ListCell   *lc;

	appendStringInfoString(buf, "fill AS (\n  SELECT ");
	append_columns(buf, shape->columns, "e", KEY_COLUMNS);
	appendStringInfoString(buf, ", pg_catalog.jsonb_object_agg(kv.key, kv.value ORDER BY e._incr_c) AS _incr_row\n"
						   "  FROM (SELECT e._incr_c, e._incr_row");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfoString(buf, ", ");
		append_event_value(buf, p, col, "e", "e");
		appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
	appendStringInfoString(buf, "\n    FROM (");
	append_events(buf, p, shape, false);
	appendStringInfoString(buf, ") AS e\n"
						   "    WHERE e._incr_op OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u'])\n"
						   "      AND (e._incr_c OPERATOR(pg_catalog.>) (SELECT at FROM trunc)"
						   " OR (SELECT at FROM trunc) IS NULL)) AS e,\n"
						   "    pg_catalog.jsonb_each(e._incr_row) AS kv\n"
						   "  WHERE EXISTS (SELECT FROM src WHERE src._incr_row OPERATOR(pg_catalog.@?) "
						   "'$.* ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath)\n"
						   "    AND NOT kv.value OPERATOR(pg_catalog.@?) '$ ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath\n"
						   "    AND EXISTS (SELECT FROM src WHERE ");
	append_key_match(buf, shape->columns, "src", "e");
	appendStringInfoString(buf, ")\n  GROUP BY ");
	append_columns(buf, shape->columns, "e", KEY_COLUMNS);
	appendStringInfoString(buf, "\n),\n");
}

/*
 * Append the value a cdc upsert writes into a non-key column of a jsonb
 * layout: the last event's, or when that is Debezium's placeholder (the
 * value did not change), the latest real one among the key's events in the
 * window (fill), else the target's.  A key the target does not have and
 * whose events never carried the value gets NULL: nothing tells it.
 */
static void
append_available_value(StringInfo buf, Pipeline *p, PipelineShape *shape, ColumnMap *col)
{
	const char *name = quote_literal_cstr(col->name);

	appendStringInfo(buf, "CASE WHEN (src._incr_row OPERATOR(pg_catalog.->) %s)"
					 " OPERATOR(pg_catalog.@?) '$ ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath\n"
					 "    THEN CASE WHEN fill._incr_row OPERATOR(pg_catalog.?) %s THEN ",
					 name, name);
	append_event_value(buf, p, col, "fill", "src");
	appendStringInfo(buf, "\n      ELSE (SELECT x.%s FROM %s AS x WHERE ",
					 quote_identifier(col->name), shape->target_sql);
	append_key_match(buf, shape->columns, "x", "src");
	appendStringInfoString(buf, ") END\n    ELSE ");
	append_event_value(buf, p, col, "src", "src");
	appendStringInfoString(buf, " END");
}

/*
 * Append the CTEs of a cdc statement over the window: dec, the last event
 * per key (and the last truncate); trunc, when that truncate came; src, the
 * events that count (those after the truncate).
 */
static void
append_cdc_ctes(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	const char *schema = ExtensionSchemaQuoted();
	ListCell   *lc;

	/*
	 * dec: one scan of the window; the events that can write (c, r, u, d)
	 * with their keys decoded, and the truncates (t), which have no key; the
	 * last one per key.  Truncates all share the key NULL, so the last
	 * truncate survives among them.  The other columns of a jsonb image are
	 * decoded only for the events left, when written.
	 */
	appendStringInfoString(buf, "WITH dec AS (\n  SELECT DISTINCT ON (");
	append_key_groups(buf, shape->columns, "dec");
	appendStringInfoString(buf, ") *\n  FROM (SELECT e._incr_c, e._incr_op");
	if (shape->json_layout)
		appendStringInfoString(buf, ", e._incr_row, e._incr_fields");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (shape->json_layout && !col->is_key)
			continue;
		appendStringInfoString(buf, ",\n    ");
		if (col->is_key)
			appendStringInfoString(buf, "CASE WHEN e._incr_op OPERATOR(pg_catalog.=) 't' THEN NULL ELSE ");
		if (shape->json_layout)
			append_event_value(buf, p, col, "e", "e");
		else if (col->is_key)
			appendStringInfo(buf, "COALESCE(e.%s, %s._incr_cdc_fail(e._incr_c::pg_catalog.text, %s::pg_catalog.text)::%s)",
							 quote_identifier(col->name), schema,
							 quote_literal_cstr(psprintf("has no value for key column \"%s\"",
														 col->name)),
							 target_type_sql(col));
		else
			appendStringInfo(buf, "e.%s", quote_identifier(col->name));
		if (col->is_key)
			appendStringInfoString(buf, " END");
		appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
	appendStringInfoString(buf, "\n    FROM (");
	append_events(buf, p, shape, true);
	appendStringInfoString(buf, ") AS e\n"
						   "    WHERE e._incr_op OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','d','t'])) AS dec\n"
						   "  ORDER BY ");
	append_key_groups(buf, shape->columns, "dec");
	appendStringInfoString(buf, ", _incr_c DESC\n),\n");

	/*
	 * trunc: the last truncate.  src: the events after it, which are the
	 * ones that count; a key whose last event came before the truncate had
	 * none after it.  Not materialized: each statement below reads dec.
	 */
	appendStringInfoString(buf, "trunc AS (\n  SELECT pg_catalog.max(dec._incr_c) AS at FROM dec"
						   " WHERE dec._incr_op OPERATOR(pg_catalog.=) 't'\n),\n"
						   "src AS NOT MATERIALIZED (\n  SELECT * FROM dec\n"
						   "  WHERE dec._incr_op OPERATOR(pg_catalog.<>) 't'\n"
						   "    AND (dec._incr_c OPERATOR(pg_catalog.>) (SELECT at FROM trunc)"
						   " OR (SELECT at FROM trunc) IS NULL)\n),\n");
}

/*
 * cdc: apply change events.  Per key only the last event in the window (by
 * the event cursor) counts: c, r, u upsert, d deletes; a t (truncate) deletes
 * every target row, and only the events after the last t count; m and
 * tombstones (a NULL payload) are read and ignored.  Events come as a
 * Debezium envelope in payload_column (with or without the "payload" and
 * "schema" wrapping), as op_column with after_column/before_column images,
 * or as op_column with the target's columns.  With version_column, the target
 * keeps each row's event cursor and an older event never overwrites a newer
 * applied one.  An event without a valid op, or an upsert or delete without
 * its key, stops the run with an error naming the event's cursor value.
 */
static void
build_cdc(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	char	   *guard = NULL;
	ListCell   *lc;

	append_cdc_ctes(buf, p, shape);
	if (shape->json_layout)
		append_unavailable_fill(buf, p, shape);

	/* a row without a version (loaded before the pipeline) is older than any event */
	if (p->version_column)
		guard = psprintf("(t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) EXCLUDED.%s)",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));

	/* deletes by key, and after a truncate every row no later event writes */
	appendStringInfo(buf, "d AS (\n  DELETE FROM %s AS t USING src\n"
					 "  WHERE src._incr_op OPERATOR(pg_catalog.=) 'd' AND (SELECT at FROM trunc) IS NULL\n    AND ",
					 shape->target_sql);
	append_key_match(buf, shape->columns, "t", "src");
	if (p->version_column)
		appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) src._incr_c)",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	appendStringInfo(buf, "\n  RETURNING 1\n),\n"
					 "dt AS (\n  DELETE FROM %s AS t\n"
					 "  WHERE (SELECT at FROM trunc) IS NOT NULL\n"
					 "    AND NOT EXISTS (SELECT FROM src WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd' AND ",
					 shape->target_sql);
	append_key_match(buf, shape->columns, "t", "src");
	appendStringInfoString(buf, ")");
	if (p->version_column)
		appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) (SELECT at FROM trunc))",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	appendStringInfoString(buf, "\n  RETURNING 1\n),\nw AS (\n  ");
	append_insert_head(buf, shape, p->version_column);
	appendStringInfoString(buf, "SELECT ");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(shape->columns))
			appendStringInfoString(buf, ", ");
		if (shape->json_layout && !col->is_key)
			append_available_value(buf, p, shape, col);
		else
			appendStringInfo(buf, "src.%s", quote_identifier(col->name));
	}
	if (p->version_column)
		appendStringInfoString(buf, ", src._incr_c");
	appendStringInfoString(buf, " FROM src");
	if (shape->json_layout)
	{
		appendStringInfoString(buf, " LEFT JOIN fill ON ");
		append_key_match(buf, shape->columns, "fill", "src");
	}
	appendStringInfoString(buf, " WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd'");
	/* a key deleted (or truncated) at this version or a later one stays deleted */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "\n    AND NOT ");
		append_tombstone_exists(buf, p, shape, "src", true, ">=");
	}
	append_upsert(buf, shape, guard, p->version_column, NULL);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted\n)", inserted_expr(shape));
	if (shape->tombstones != TOMBSTONES_OFF)
		append_tombstone_ctes(buf, p, shape, "src._incr_op OPERATOR(pg_catalog.=) 'd'",
							  p->version_column,
							  "\n  UNION ALL SELECT 'null'::pg_catalog.jsonb, trunc.at FROM trunc"
							  " WHERE trunc.at IS NOT NULL");
	appendStringInfoString(buf, "\nSELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FROM d) OPERATOR(pg_catalog.+)"
						   " (SELECT pg_catalog.count(*) FROM dt),\n"
						   "       NULL::pg_catalog.int8");
	if (shape->tombstones != TOMBSTONES_OFF)
		appendStringInfoString(buf, tombstone_columns);
}

/*
 * scd2: keep history.  The latest row per key in the window is compared with
 * the key's current version: a new key opens a version; a changed row (with
 * a cursor past the current version's start) closes the current version at
 * the row's cursor and opens a new one; a row marked deleted closes it.
 * Unchanged rows, and rows not newer than the key's latest version (late
 * rows, re-reads), change nothing, so re-runs and lag re-reads add no
 * versions.  A deleted key comes back with a row newer than its last version.
 *
 * A row with the same cursor value as the current version's start (a tie,
 * committed after the run that opened the version) is the same version:
 * among rows of one key and one cursor value the greatest row image wins
 * (append_keyed_source), so the version takes the winner's values in place,
 * or is removed when the winner is a delete, and a key deleted at that very
 * value opens a version there again when the winner is a live row.  The
 * history is then what one run over the whole log makes, whenever the runs
 * happened (doc/correctness.md, "Ties").
 */
static void
build_scd2(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	const char *vf = quote_identifier(p->valid_from_column);
	const char *vt = quote_identifier(p->valid_to_column);
	const char *cur = quote_identifier(p->current_column);
	List	   *extras = NIL;
	ListCell   *lc;

	extras = lappend(extras, psprintf("s.%s AS _incr_c", quote_identifier(p->cursor_column)));
	extras = lappend(extras, psprintf("%s AS _incr_deleted",
									  p->delete_column ? delete_expr(p, shape) : "false"));

	appendStringInfoString(buf, "WITH src AS (\n  ");
	append_keyed_source(buf, p, shape, true, extras);
	appendStringInfo(buf, "\n),\nchg AS (\n  SELECT src.*, (t.ctid IS NOT NULL) AS _incr_had,\n"
					 "    COALESCE(src._incr_c OPERATOR(pg_catalog.=) t.%s, false) AS _incr_tie\n"
					 "  FROM src LEFT JOIN %s AS t ON ", vf, shape->target_sql);
	append_key_match(buf, shape->columns, "t", "src");
	appendStringInfo(buf, " AND t.%s\n"
					 "  WHERE CASE WHEN t.ctid IS NULL THEN NOT src._incr_deleted\n"
					 "      AND NOT EXISTS (SELECT FROM %s AS h WHERE ", cur, shape->target_sql);
	append_key_match(buf, shape->columns, "h", "src");
	appendStringInfo(buf, "\n        AND (h.%s OPERATOR(pg_catalog.>=) src._incr_c"
					 " OR h.%s OPERATOR(pg_catalog.>) src._incr_c))\n"
					 "    ELSE (t.%s IS NULL OR src._incr_c OPERATOR(pg_catalog.>=) t.%s)\n"
					 "      AND (src._incr_deleted OR ",
					 vf, vt, vf, vf);
	append_row_changed(buf, shape->columns, NULL, "t", "src");
	appendStringInfo(buf, ") END\n),\n"
					 "closed AS (\n  UPDATE %s AS t SET %s = chg._incr_c, %s = false\n"
					 "  FROM chg WHERE chg._incr_had AND NOT chg._incr_tie AND t.%s AND ",
					 shape->target_sql, vt, cur, cur);
	append_key_match(buf, shape->columns, "t", "chg");
	appendStringInfoString(buf, "\n  RETURNING 1\n),\n");
	if (has_columns(shape->columns, NON_KEY_COLUMNS))
	{
		bool		first = true;

		appendStringInfo(buf, "replaced AS (\n  UPDATE %s AS t SET ", shape->target_sql);
		foreach(lc, shape->columns)
		{
			ColumnMap  *col = (ColumnMap *) lfirst(lc);

			if (col->is_key)
				continue;
			appendStringInfo(buf, "%s%s = chg.%s", first ? "" : ", ",
							 quote_identifier(col->name), quote_identifier(col->name));
			first = false;
		}
		appendStringInfo(buf, "\n  FROM chg WHERE chg._incr_tie AND NOT chg._incr_deleted AND t.%s AND ",
						 cur);
		append_key_match(buf, shape->columns, "t", "chg");
		appendStringInfoString(buf, "\n  RETURNING 1\n),\n");
	}
	appendStringInfo(buf, "dropped AS (\n  DELETE FROM %s AS t USING chg\n"
					 "  WHERE chg._incr_tie AND chg._incr_deleted AND t.%s AND ",
					 shape->target_sql, cur);
	append_key_match(buf, shape->columns, "t", "chg");
	appendStringInfo(buf, "\n  RETURNING 1\n),\nopened AS (\n"
					 "  INSERT INTO %s AS t (", shape->target_sql);
	append_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfo(buf, ", %s, %s, %s)%s\n  SELECT ", vf, vt, cur,
					 shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
	append_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, ", _incr_c, NULL, true FROM chg WHERE NOT _incr_deleted AND NOT _incr_tie\n"
						   "  RETURNING 1\n)\n"
						   "SELECT pg_catalog.count(*) FILTER (WHERE NOT _incr_had),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_had AND NOT _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_c OPERATOR(pg_catalog.<=) ");
	appendStringInfo(buf, "%s)\nFROM chg", param_ref(p, 3));
}

/*
 * True if the pipeline's run statement is one INSERT whose returned rows the
 * caller counts, rather than a statement that returns the counts.
 */
bool
RunSqlReturnsRows(Pipeline *p)
{
	return p->mode == MODE_APPEND ||
		(p->mode == MODE_MERGE && !(p->delete_column && !p->soft_delete));
}

/* Build the statement of one run of the pipeline. */
char *
BuildRunSql(Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;

	initStringInfo(&buf);
	run_tokens = RunTokensSupported();
	citus_sql = PipelineOverCitus(p);
	citus_late_unknown = false;
	if (citus_sql)
	{
		CitusKind	target = CitusRelationKind(p->target);

		citus_late_unknown = target != CITUS_NONE &&
			(CitusRelationKind(p->source) != target ||
			 (p->mode == MODE_APPEND && p->keys == NIL));
	}
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
		case MODE_CDC:
			build_cdc(&buf, p, shape);
			break;
		case MODE_SCD2:
			build_scd2(&buf, p, shape);
			break;
		case MODE_QUERY:
			/* the user's command, with $1 and $2 the window (checked in pipeline.c) */
			appendStringInfoString(&buf, p->command);
			break;
		case MODE_FILES:
			/* one COPY per file: BuildCopySql */
			elog(ERROR, "a files pipeline has no run statement");
			break;
	}
	return buf.data;
}

/*
 * The COPY that loads one file of a files pipeline into its target, with the
 * column list and options of copy_options.  COPY takes no parameters, so
 * the path is a quoted literal; option values are literals and column names
 * quoted identifiers, and the options' names come from a fixed list
 * (files.c), so no text of the definition reaches the statement unquoted.
 */
char *
BuildCopySql(Pipeline *p, const char *target_sql, const char *path)
{
	StringInfoData buf;
	StringInfoData with;
	ListCell   *lc;

	initStringInfo(&buf);
	initStringInfo(&with);
	appendStringInfo(&buf, "COPY %s", target_sql);
	foreach(lc, CopyOptionList(p))
	{
		CopyOption *opt = lfirst(lc);
		StringInfo	out = (strcmp(opt->name, "columns") == 0) ? &buf : &with;
		ListCell   *c;

		if (out == &with)
			appendStringInfo(&with, "%s%s ", with.len > 0 ? ", " : "", opt->name);
		else
			appendStringInfoChar(&buf, ' ');
		if (!opt->columns)
		{
			appendStringInfoString(out, quote_literal_cstr(opt->value));
			continue;
		}
		appendStringInfoChar(out, '(');
		foreach(c, opt->names)
			appendStringInfo(out, "%s%s", c == list_head(opt->names) ? "" : ", ",
							 quote_identifier(lfirst(c)));
		appendStringInfoChar(out, ')');
	}
	appendStringInfo(&buf, " FROM %s", quote_literal_cstr(path));
	if (with.len > 0)
		appendStringInfo(&buf, " WITH (%s)", with.data);
	return buf.data;
}

/*
 * SELECT how many source rows the window holds and the greatest cursor
 * among them: what _incr_tally counts in a run statement, for a run over
 * Citus, where the statement cannot call it.  One aggregate, which Citus
 * computes on the shards.
 */
char *
BuildWindowCountSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	citus_sql = PipelineOverCitus(p);
	return psprintf("SELECT pg_catalog.count(*), pg_catalog.max(s.%s) FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>=) %s AND s.%s OPERATOR(pg_catalog.<=) %s",
					c, shape->source_sql, c, param_ref(p, 1), c, param_ref(p, 2));
}

/* SELECT the greatest cursor value in the source up to $1 (NaN and infinities left out). */
char *
BuildMaxCursorSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	citus_sql = PipelineOverCitus(p);
	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s WHERE s.%s OPERATOR(pg_catalog.<=) %s",
					c, shape->source_sql, c, param_ref(p, 1));
}

/* SELECT the greatest cursor value in the target; no parameters. */
char *
BuildTargetMaxSql(Pipeline *p, PipelineShape *shape)
{
	return psprintf("SELECT pg_catalog.max(x.%s) FROM %s AS x",
					quote_identifier(p->cursor_column), shape->target_sql);
}

/*
 * SELECT the first cursor value past a full batch: the (batch_size + 1)-th
 * row after the checkpoint $1 (exclusive), up to $2 (inclusive).
 */
char *
BuildBatchEndSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	citus_sql = PipelineOverCitus(p);
	return psprintf("SELECT s.%s FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) %s AND s.%s OPERATOR(pg_catalog.<=) %s"
					" ORDER BY s.%s OFFSET " INT64_FORMAT " LIMIT 1",
					c, shape->source_sql, c, param_ref(p, 1), c, param_ref(p, 2), c, p->batch_size);
}

/* SELECT the greatest cursor value after $1 and before $2 (both exclusive). */
char *
BuildBatchPrevSql(Pipeline *p, PipelineShape *shape)
{
	const char *c = quote_identifier(p->cursor_column);

	citus_sql = PipelineOverCitus(p);
	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) %s AND s.%s OPERATOR(pg_catalog.<) %s",
					c, shape->source_sql, c, param_ref(p, 1), c, param_ref(p, 2));
}

/*
 * SELECT how many source rows lie past the checkpoint $1 (every row with a
 * cursor value when from_start), counting up to 1000000.
 */
char *
BuildPendingSql(Pipeline *p, const char *source_sql, bool from_start)
{
	const char *c = quote_identifier(p->cursor_column);

	citus_sql = PipelineOverCitus(p);
	/* Citus cannot plan a subquery without columns */
	return psprintf("SELECT pg_catalog.count(*) FROM (SELECT%s FROM %s AS s WHERE s.%s %s"
					" LIMIT 1000000) AS pending",
					citus_sql ? " 1" : "", source_sql, c,
					from_start ? "IS NOT NULL" :
					psprintf("OPERATOR(pg_catalog.>) %s", param_ref(p, 1)));
}

/*
 * SELECT the rows the target should hold when the pipeline has loaded every
 * source row with a cursor from $1 to $2 (both inclusive): what each mode's
 * run statement writes, built with the same pieces (casts, the version of a
 * key that wins, deletes).  Columns: the load columns, named as in the
 * target; scd2 and cdc add _incr_c, the cursor of the row or event that
 * wins.  merge: the latest row per key, less those marked deleted (kept,
 * flagged, with soft_delete); append with keys: the first row per key;
 * append without keys: every row; scd2: the latest row per key, less the
 * deleted ones; cdc: the state a replay of the events leaves.
 */
char *
BuildExpectedSql(Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;
	List	   *extras = NIL;
	ListCell   *lc;

	initStringInfo(&buf);
	citus_sql = PipelineOverCitus(p);
	omit_tally = true;
	PG_TRY();
	{
		switch (p->mode)
		{
			case MODE_MERGE:
			case MODE_SCD2:
				if (p->mode == MODE_SCD2)
					extras = lappend(extras, psprintf("s.%s AS _incr_c",
													  quote_identifier(p->cursor_column)));
				if (p->delete_column && !p->soft_delete)
					extras = lappend(extras, psprintf("%s AS _incr_deleted",
													  delete_expr(p, shape)));
				appendStringInfoString(&buf, "SELECT ");
				append_columns(&buf, shape->columns, "e", ALL_COLUMNS);
				if (p->mode == MODE_SCD2)
					appendStringInfoString(&buf, ", e._incr_c");
				appendStringInfoString(&buf, " FROM (");
				append_keyed_source(&buf, p, shape, true, extras);
				appendStringInfoString(&buf, ") AS e");
				if (p->delete_column && !p->soft_delete)
					appendStringInfoString(&buf, " WHERE NOT e._incr_deleted");
				break;
			case MODE_APPEND:
				if (p->keys != NIL)
				{
					append_keyed_source(&buf, p, shape, false, NIL);
					break;
				}
				appendStringInfoString(&buf, "SELECT ");
				append_source_exprs(&buf, shape->columns, true);
				appendStringInfo(&buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
				append_window(&buf, p);
				break;
			case MODE_CDC:
				append_cdc_ctes(&buf, p, shape);
				/* Debezium's unavailable values count as the values a run keeps */
				if (shape->json_layout)
					append_unavailable_fill(&buf, p, shape);
				appendStringInfoString(&buf, "sel AS (\n  SELECT ");
				foreach(lc, shape->columns)
				{
					ColumnMap  *col = (ColumnMap *) lfirst(lc);

					if (shape->json_layout && !col->is_key)
						append_available_value(&buf, p, shape, col);
					else
						appendStringInfo(&buf, "src.%s", quote_identifier(col->name));
					appendStringInfo(&buf, " AS %s, ", quote_identifier(col->name));
				}
				appendStringInfoString(&buf, "src._incr_c FROM src");
				if (shape->json_layout)
				{
					appendStringInfoString(&buf, " LEFT JOIN fill ON ");
					append_key_match(&buf, shape->columns, "fill", "src");
				}
				appendStringInfoString(&buf, " WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd'\n)\n"
									   "SELECT * FROM sel");
				break;
			case MODE_QUERY:
			case MODE_FILES:
				elog(ERROR, "a %s pipeline promises no rows to compare", PipelineModeName(p->mode));
				break;
		}
	}
	PG_FINALLY();
	{
		omit_tally = false;
	}
	PG_END_TRY();
	return buf.data;
}
