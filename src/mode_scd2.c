/*
 * mode_scd2.c
 *		The scd2 mode: keep the history of each key as versions with
 *		valid_from, valid_to and current columns.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "mode.h"

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
 * (sql_keyed_source), so the version takes the winner's values in place,
 * or is removed when the winner is a delete, and a key deleted at that very
 * value opens a version there again when the winner is a live row.  The
 * history is then what one run over the whole log makes, whenever the runs
 * happened (doc/correctness.md, "Ties").
 */
static void
build_scd2(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	const char *vf = quote_identifier(p->valid_from_column);
	const char *vt = quote_identifier(p->valid_to_column);
	const char *cur = quote_identifier(p->current_column);
	List	   *extras = NIL;
	ListCell   *lc;

	extras = lappend(extras, psprintf("s.%s AS _incr_c", quote_identifier(p->cursor_column)));
	extras = lappend(extras, psprintf("%s AS _incr_deleted",
									  p->delete_column ? sql_delete_expr(p, shape) : "false"));

	appendStringInfoString(buf, "WITH src AS (\n  ");
	sql_keyed_source(buf, ctx, p, shape, true, extras);
	appendStringInfo(buf, "\n),\nchg AS (\n  SELECT src.*, (t.ctid IS NOT NULL) AS _incr_had,\n"
					 "    COALESCE(src._incr_c OPERATOR(pg_catalog.=) t.%s, false) AS _incr_tie\n"
					 "  FROM src LEFT JOIN %s AS t ON ", vf, shape->target_sql);
	sql_key_match(buf, shape->columns, "t", "src");
	appendStringInfo(buf, " AND t.%s\n"
					 "  WHERE CASE WHEN t.ctid IS NULL THEN NOT src._incr_deleted\n"
					 "      AND NOT EXISTS (SELECT FROM %s AS h WHERE ", cur, shape->target_sql);
	sql_key_match(buf, shape->columns, "h", "src");
	appendStringInfo(buf, "\n        AND (h.%s OPERATOR(pg_catalog.>=) src._incr_c"
					 " OR h.%s OPERATOR(pg_catalog.>) src._incr_c))\n"
					 "    ELSE (t.%s IS NULL OR src._incr_c OPERATOR(pg_catalog.>=) t.%s)\n"
					 "      AND (src._incr_deleted OR ",
					 vf, vt, vf, vf);
	sql_row_changed(buf, shape->columns, NULL, "t", "src");
	appendStringInfo(buf, ") END\n),\n"
					 "closed AS (\n  UPDATE %s AS t SET %s = chg._incr_c, %s = false\n"
					 "  FROM chg WHERE chg._incr_had AND NOT chg._incr_tie AND t.%s AND ",
					 shape->target_sql, vt, cur, cur);
	sql_key_match(buf, shape->columns, "t", "chg");
	appendStringInfoString(buf, "\n  RETURNING 1\n),\n");
	if (sql_has_columns(shape->columns, NON_KEY_COLUMNS))
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
		sql_key_match(buf, shape->columns, "t", "chg");
		appendStringInfoString(buf, "\n  RETURNING 1\n),\n");
	}
	appendStringInfo(buf, "dropped AS (\n  DELETE FROM %s AS t USING chg\n"
					 "  WHERE chg._incr_tie AND chg._incr_deleted AND t.%s AND ",
					 shape->target_sql, cur);
	sql_key_match(buf, shape->columns, "t", "chg");
	appendStringInfo(buf, "\n  RETURNING 1\n),\nopened AS (\n"
					 "  INSERT INTO %s AS t (", shape->target_sql);
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfo(buf, ", %s, %s, %s)%s\n  SELECT ", vf, vt, cur,
					 shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfoString(buf, ", _incr_c, NULL, true FROM chg WHERE NOT _incr_deleted AND NOT _incr_tie\n"
						   "  RETURNING 1\n)\n"
						   "SELECT pg_catalog.count(*) FILTER (WHERE NOT _incr_had),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_had AND NOT _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_c OPERATOR(pg_catalog.<=) ");
	appendStringInfo(buf, "%s)\nFROM chg", sql_param(ctx, p, 3));
}

/* The rows scd2's current versions hold: the latest row per key, less the deleted, with its cursor. */
static void
scd2_expected(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_latest_rows(buf, ctx, p, shape, true);
}

const ModeOps mode_scd2 = {
	.source = SOURCE_CURSOR,
	.build_run = build_scd2,
	.build_expected = scd2_expected,
};
