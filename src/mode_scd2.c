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
 * Append the SELECT of the window's last row per key (sql_keyed_source),
 * with its cursor (_incr_c) and whether it marks a delete (_incr_deleted).
 */
static void
scd2_source(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	List	   *extras = NIL;

	extras = lappend(extras, psprintf("s.%s AS _incr_c", quote_identifier(p->cursor_column)));
	extras = lappend(extras, psprintf("%s AS _incr_deleted",
									  p->delete_column ? sql_delete_expr(p, shape) : "false"));
	sql_keyed_source(buf, ctx, p, shape, true, extras);
}

/* Append "INSERT INTO target AS t (columns, valid_from, valid_to, current) SELECT ". */
static void
scd2_insert_head(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	appendStringInfo(buf, "INSERT INTO %s AS t (", shape->target_sql);
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	appendStringInfo(buf, ", %s, %s, %s)%s\n  SELECT ", quote_identifier(p->valid_from_column),
					 quote_identifier(p->valid_to_column), quote_identifier(p->current_column),
					 shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
}

/*
 * True if an scd2 run is split into statements that Citus pushes down to
 * the co-located shards, whereas it runs the CTEs of the one statement as
 * subplans whose rows pass through the coordinator: over Citus from a
 * distributed source (a source of another kind makes late unknown, the run
 * context's late_unknown) into a distributed target whose valid_from is NOT
 * NULL (a version is closed by a conflict on the keys and valid_from, which
 * a NULL never meets), which is not partitioned (the counts read xmax) and
 * has no triggers of its own (a closing row is proposed as an insert first,
 * which would fire its BEFORE INSERT triggers).
 *
 * With deletes, two statements come first (build_scd2_first): remove the
 * current versions that a deleted row ties with, and close those a deleted
 * row follows.  Then one INSERT ... ON CONFLICT (build_scd2_opened) opens
 * the new versions and, in the same statement, closes the current versions
 * they follow: each changed key gives two rows, the closing one (the
 * current version's keys and valid_from, which conflict with it, with the
 * new valid_to and current false) and the opening one; a tie gives the
 * opening one only, which conflicts with the current version and replaces
 * its values.  Closing before opening (ORDER BY), so that a unique index
 * on the current versions' keys holds throughout.  A version is closed and
 * its successor opened from one read of the source: a key never ends up
 * closed without a successor, whatever a writer does between statements.
 * Each statement reads the last row per key itself (DISTINCT ON the keys,
 * which hold the distribution column) and joins the target on the keys, on
 * the same shard.  The result and the counts are the one statement's.
 */
static bool
scd2_split(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return ctx->citus && ctx->citus_distributed_target && !ctx->late_unknown &&
		shape->valid_from_not_null && !shape->target_partitioned && !shape->target_has_triggers;
}

/*
 * The first statements of a split scd2 run with deletes (scd2_split):
 * delete the current versions whose key's last row is a delete at their
 * valid_from, then close those it follows; each returns a row per delete.
 */
static List *
build_scd2_first(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	const char *vf = quote_identifier(p->valid_from_column);
	const char *cur = quote_identifier(p->current_column);
	StringInfoData dropped;
	StringInfoData closed;

	if (!scd2_split(ctx, p, shape) || p->delete_column == NULL)
		return NIL;

	initStringInfo(&dropped);
	appendStringInfo(&dropped, "DELETE FROM %s AS t USING (\n  ", shape->target_sql);
	scd2_source(&dropped, ctx, p, shape);
	appendStringInfo(&dropped, "\n) AS src\n  WHERE src._incr_deleted AND t.%s AND ", cur);
	sql_key_match(&dropped, shape->columns, "t", "src");
	appendStringInfo(&dropped, "\n    AND t.%s OPERATOR(pg_catalog.=) src._incr_c"
					 "\n  RETURNING false AS inserted, true AS deleted, false AS late", vf);

	initStringInfo(&closed);
	appendStringInfo(&closed, "UPDATE %s AS t SET %s = src._incr_c, %s = false FROM (\n  ",
					 shape->target_sql, quote_identifier(p->valid_to_column), cur);
	scd2_source(&closed, ctx, p, shape);
	appendStringInfo(&closed, "\n) AS src\n  WHERE src._incr_deleted AND t.%s AND ", cur);
	sql_key_match(&closed, shape->columns, "t", "src");
	appendStringInfo(&closed, "\n    AND t.%s OPERATOR(pg_catalog.<) src._incr_c"
					 "\n  RETURNING false AS inserted, true AS deleted, false AS late", vf);
	return list_make2(dropped.data, closed.data);
}

/*
 * The last statement of a split scd2 run (scd2_split): the versions opened,
 * for new keys, keys back after a delete, and changed keys, and the closing
 * of the current versions they follow, in one INSERT ... ON CONFLICT over
 * the keys and valid_from.  Returns a row per row written: an opened
 * version is inserted; a closed one is superseded, so that the pair counts
 * as one update; a replaced one (a tie) is updated.
 */
static void
build_scd2_opened(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	const char *vf = quote_identifier(p->valid_from_column);
	const char *vt = quote_identifier(p->valid_to_column);
	const char *cur = quote_identifier(p->current_column);
	ListCell   *lc;

	scd2_insert_head(buf, p, shape);
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		const char *c = quote_identifier(col->name);

		if (col->is_key)
			appendStringInfo(buf, "src.%s, ", c);
		else
			appendStringInfo(buf, "CASE WHEN o._incr_open THEN src.%s ELSE x.%s END, ", c, c);
	}
	appendStringInfo(buf, "\n    CASE WHEN o._incr_open THEN src._incr_c ELSE x.%s END,"
					 " CASE WHEN o._incr_open THEN NULL ELSE src._incr_c END, o._incr_open"
					 "\n  FROM (\n  ", vf);
	scd2_source(buf, ctx, p, shape);
	appendStringInfo(buf, "\n  ) AS src\n  LEFT JOIN %s AS x ON ", shape->target_sql);
	sql_key_match(buf, shape->columns, "x", "src");
	appendStringInfo(buf, " AND x.%s\n"
					 "  CROSS JOIN (VALUES (false), (true)) AS o(_incr_open)\n"
					 "  WHERE NOT src._incr_deleted AND CASE WHEN x.%s IS NULL\n"
					 "    THEN o._incr_open AND NOT EXISTS (SELECT FROM %s AS h WHERE ",
					 cur, vf, shape->target_sql);
	sql_key_match(buf, shape->columns, "h", "src");
	appendStringInfo(buf, "\n      AND (h.%s OPERATOR(pg_catalog.>=) src._incr_c"
					 " OR h.%s OPERATOR(pg_catalog.>) src._incr_c))\n"
					 "    ELSE src._incr_c OPERATOR(pg_catalog.>=) x.%s AND ",
					 vf, vt, vf);
	sql_row_changed(buf, shape->columns, NULL, "x", "src");
	/*
	 * A closed version at or past the row (a history not written by runs)
	 * would take the opening row's conflict, and the key would be left
	 * closed without a successor: leave such a key as it is (the one
	 * statement fails on it with a duplicate key).
	 */
	appendStringInfo(buf, "\n      AND (o._incr_open OR src._incr_c OPERATOR(pg_catalog.>) x.%s)\n"
					 "      AND NOT EXISTS (SELECT FROM %s AS h WHERE ", vf, shape->target_sql);
	sql_key_match(buf, shape->columns, "h", "src");
	appendStringInfo(buf, "\n        AND NOT h.%s AND h.%s OPERATOR(pg_catalog.>=) src._incr_c) END\n"
					 "  ORDER BY o._incr_open\n  ON CONFLICT (", cur, vf);
	sql_columns(buf, shape->columns, NULL, KEY_COLUMNS);
	appendStringInfo(buf, ", %s) DO UPDATE SET ", vf);
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			appendStringInfo(buf, "%s = EXCLUDED.%s, ", quote_identifier(col->name),
							 quote_identifier(col->name));
	}
	appendStringInfo(buf, "%s = EXCLUDED.%s, %s = EXCLUDED.%s\n  WHERE t.%s\n"
					 "  RETURNING %s AS inserted, false AS deleted, ",
					 vt, vt, cur, cur, cur, sql_inserted_expr(shape));
	if (ctx->late_unknown)
		appendStringInfoString(buf, "NULL::pg_catalog.bool AS late");
	else
		appendStringInfo(buf, "t.%s OPERATOR(pg_catalog.<=) %s AS late", vf, sql_param(ctx, p, 3));
	appendStringInfo(buf, ", NOT t.%s AS superseded", cur);
}

/* A split scd2 run (scd2_split) returns a row per row written. */
static bool
scd2_returns_rows(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return scd2_split(ctx, p, shape);
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
	ListCell   *lc;

	/* the last of a split run: the versions opened, and those they close */
	if (scd2_split(ctx, p, shape))
	{
		build_scd2_opened(buf, ctx, p, shape);
		return;
	}

	appendStringInfoString(buf, "WITH src AS (\n  ");
	scd2_source(buf, ctx, p, shape);
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
	appendStringInfoString(buf, "\n  RETURNING 1\n),\nopened AS (\n  ");
	scd2_insert_head(buf, p, shape);
	sql_columns(buf, shape->columns, NULL, ALL_COLUMNS);
	/*
	 * After closed, which the planner would run last (data-modifying CTEs
	 * that the query does not read run in reverse order): a unique index on
	 * the current versions' keys must not see two current versions of a key.
	 */
	appendStringInfoString(buf, ", _incr_c, NULL, true FROM chg WHERE NOT _incr_deleted AND NOT _incr_tie\n"
						   "    AND (SELECT pg_catalog.count(*) FROM closed) OPERATOR(pg_catalog.>=) 0\n"
						   "  RETURNING 1\n)\n"
						   "SELECT pg_catalog.count(*) FILTER (WHERE NOT _incr_had),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_had AND NOT _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_deleted),\n"
						   "       pg_catalog.count(*) FILTER (WHERE NOT _incr_deleted AND _incr_c OPERATOR(pg_catalog.<=) ");
	appendStringInfo(buf, "%s)\nFROM chg", sql_param(ctx, p, 3));
}

/* The values an update left out, for a key the window has no earlier row of: its current version's. */
static void
scd2_wal_fallback(StringInfo buf, Pipeline *p, PipelineShape *shape)
{
	appendStringInfo(buf, "LEFT JOIN %s AS b ON b.%s AND ", shape->target_sql,
					 quote_identifier(p->current_column));
	sql_wal_key_before_match(buf, shape->columns, "b", "c");
}

/* Append the shape's columns: the key columns from alias (with an old key's prefix), NULLs for the others. */
static void
scd2_key_only(StringInfo buf, PipelineShape *shape, const char *alias, bool old_key)
{
	ListCell   *lc;

	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(shape->columns))
			appendStringInfoString(buf, ", ");
		if (!col->is_key)
			appendStringInfo(buf, "CAST(NULL AS %s)", sql_target_type(col));
		else if (old_key)
			appendStringInfo(buf, "%s.%s", alias,
							 quote_identifier(psprintf("_incr_old_%s", col->name)));
		else
			appendStringInfo(buf, "%s.%s", alias, quote_identifier(col->name));
		appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
}

/*
 * For the first run's copy of the source (wal_changes is not the decoded
 * changes' relation, mode.h), a truncate before the copy's rows, at the
 * copy's time: the copy is the whole source, so a current version whose
 * key it does not hold (history kept over incr_reset) is closed, and one
 * whose values it changed is closed and opened again.  The copy's rows all
 * have the statement's time.  NULL for decoded changes.
 */
static char *
scd2_copy_truncate(const BuildContext *ctx, PipelineShape *shape)
{
	StringInfoData buf;
	ListCell   *lc;

	if (strcmp(ctx->wal_changes, WAL_CHANGES_RELATION) == 0)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT 0, 'T'::pg_catalog.\"char\", NULL::pg_catalog.pg_lsn,"
						   " pg_catalog.statement_timestamp(), NULL::pg_catalog.text[]");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			appendStringInfo(&buf, ", CAST(NULL AS %s)", sql_target_type(col));
	}
	foreach(lc, shape->columns)
		appendStringInfo(&buf, ", CAST(NULL AS %s)", sql_target_type((ColumnMap *) lfirst(lc)));
	return buf.data;
}

/*
 * scd2 with capture wal: one version per commit that changed a key, from
 * that commit's time.  Each change says what its keys are after it: an
 * insert or update, the new row; a delete, and the old key of an update that
 * changed the key, gone; a truncate, every key gone (those of the window
 * and the target's current versions).  Of several changes of one key with
 * one commit time (one transaction) the last (_incr_seq) wins, so valid_from
 * never ties within a run.  A key's states in commit order, after its
 * current version (_incr_base), open a version where the key comes back or
 * its values change (by bytes), and close the previous one; the same values
 * again, or gone after gone, change nothing.  A version runs to the time of
 * the key's next state, or stays current.  A state at exactly the current
 * version's valid_from (another transaction with the same commit time, in
 * an earlier run) replaces that version, or removes it when gone, as the
 * cursor scd2 does with ties.  Values an update left out are the previous
 * version's (sql_wal_filled, scd2_wal_fallback).
 */
static void
build_scd2_wal(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	const char *vf = quote_identifier(p->valid_from_column);
	const char *vt = quote_identifier(p->valid_to_column);
	const char *cur = quote_identifier(p->current_column);
	bool		has_values = sql_has_columns(shape->columns, NON_KEY_COLUMNS);
	ListCell   *lc;
	bool		first;

	appendStringInfoString(buf, "WITH RECURSIVE ");
	sql_wal_filled(buf, ctx, p, shape, scd2_copy_truncate(ctx, shape), scd2_wal_fallback);

	/* the states the changes leave */
	appendStringInfoString(buf, ",\n_incr_evc AS (\n  SELECT ");
	sql_columns(buf, shape->columns, "f", ALL_COLUMNS);
	appendStringInfoString(buf, ", f._incr_commit_time AS _incr_t, f._incr_seq AS _incr_s,"
						   " true AS _incr_live, false AS _incr_base\n  FROM _incr_filled AS f WHERE ");
	sql_wal_op_is(buf, "f", 'I');
	appendStringInfoString(buf, " OR ");
	sql_wal_op_is(buf, "f", 'U');
	appendStringInfoString(buf, "\n  UNION ALL\n  SELECT ");
	scd2_key_only(buf, shape, "c", true);
	appendStringInfoString(buf, ", c._incr_commit_time, c._incr_seq, false, false\n"
						   "  FROM _incr_chg AS c WHERE ");
	sql_wal_op_is(buf, "c", 'U');
	first = true;
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%sc.%s IS NOT NULL", first ? " AND (" : " OR ",
						 quote_identifier(psprintf("_incr_old_%s", col->name)));
		first = false;
	}
	appendStringInfoString(buf, ")\n  UNION ALL\n  SELECT ");
	scd2_key_only(buf, shape, "c", false);
	appendStringInfoString(buf, ", c._incr_commit_time, c._incr_seq, false, false\n"
						   "  FROM _incr_chg AS c WHERE ");
	sql_wal_op_is(buf, "c", 'D');

	/*
	 * The current versions of the keys changed, and after a truncate those
	 * of all other keys: two semi-joins (an OR of the two would be a
	 * subquery per current version).
	 */
	for (int part = 0; part < 2; part++)
	{
		appendStringInfoString(buf, part == 0 ? "\n),\n_incr_ev0 AS (\n  SELECT * FROM _incr_evc\n"
							   : "\n");
		appendStringInfoString(buf, "  UNION ALL\n  SELECT ");
		sql_columns(buf, shape->columns, "t", ALL_COLUMNS);
		appendStringInfo(buf, ", t.%s, 0, true, true\n  FROM %s AS t WHERE t.%s AND ",
						 vf, shape->target_sql, cur);
		if (part == 1)
		{
			appendStringInfoString(buf, "EXISTS (SELECT FROM _incr_chg AS c WHERE ");
			sql_wal_op_is(buf, "c", 'T');
			appendStringInfoString(buf, ") AND NOT ");
		}
		appendStringInfoString(buf, "EXISTS (SELECT FROM _incr_evc AS e WHERE ");
		sql_key_match(buf, shape->columns, "t", "e");
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoString(buf, "\n),\n_incr_ev AS (\n  SELECT * FROM _incr_ev0\n  UNION ALL\n  SELECT ");
	scd2_key_only(buf, shape, "k", false);
	appendStringInfoString(buf, ", tr._incr_commit_time, tr._incr_seq, false, false\n  FROM (SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, "e");
	appendStringInfoString(buf, ") ");
	sql_columns(buf, shape->columns, "e", KEY_COLUMNS);
	appendStringInfoString(buf, " FROM _incr_ev0 AS e) AS k\n"
						   "    CROSS JOIN (SELECT c._incr_commit_time, c._incr_seq FROM _incr_chg AS c WHERE ");
	sql_wal_op_is(buf, "c", 'T');
	appendStringInfoString(buf, ") AS tr\n),\n");

	/* one state per key and commit time: the last change wins */
	appendStringInfoString(buf, "_incr_one AS (\n  SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, "e");
	appendStringInfoString(buf, ", e._incr_t, e._incr_base) e.* FROM _incr_ev AS e\n  ORDER BY ");
	sql_key_groups(buf, shape->columns, "e");
	appendStringInfoString(buf, ", e._incr_t, e._incr_base, e._incr_s DESC\n),\n");

	/* each state with the one before it */
	appendStringInfoString(buf, "_incr_lagged AS (\n  SELECT o.*, pg_catalog.lag(o._incr_live) OVER _incr_w AS _incr_was,\n"
						   "    COALESCE(pg_catalog.lag(o._incr_base) OVER _incr_w AND pg_catalog.lag(o._incr_t) OVER _incr_w"
						   " OPERATOR(pg_catalog.=) o._incr_t, false) AS _incr_tie");
	if (has_values)
	{
		appendStringInfoString(buf, ",\n    pg_catalog.lag(ROW(");
		sql_columns(buf, shape->columns, "o", NON_KEY_COLUMNS);
		appendStringInfoString(buf, ")) OVER _incr_w AS _incr_prev");
	}
	appendStringInfoString(buf, "\n  FROM _incr_one AS o WINDOW _incr_w AS (PARTITION BY ");
	sql_key_groups(buf, shape->columns, "o");
	appendStringInfoString(buf, " ORDER BY o._incr_t, o._incr_s)\n),\n");

	/* the states that change something, each with the time of the next */
	appendStringInfoString(buf, "_incr_kept AS (\n  SELECT l.*, pg_catalog.lead(l._incr_t) OVER _incr_w AS _incr_to,\n"
						   "    pg_catalog.row_number() OVER _incr_w AS _incr_n\n"
						   "  FROM _incr_lagged AS l\n"
						   "  WHERE NOT l._incr_base AND CASE WHEN l._incr_live THEN l._incr_was IS NOT TRUE");
	if (has_values)
	{
		appendStringInfoString(buf, "\n      OR pg_catalog.record_image_eq(ROW(");
		sql_columns(buf, shape->columns, "l", NON_KEY_COLUMNS);
		appendStringInfoString(buf, "), l._incr_prev) IS NOT TRUE");
	}
	appendStringInfoString(buf, "\n    ELSE l._incr_was IS TRUE END\n  WINDOW _incr_w AS (PARTITION BY ");
	sql_key_groups(buf, shape->columns, "l");
	appendStringInfoString(buf, " ORDER BY l._incr_t, l._incr_s)\n),\n");

	/* close the current version at the first state, or replace or remove it on a tie */
	appendStringInfo(buf, "_incr_closed AS (\n  UPDATE %s AS t SET %s = k._incr_t, %s = false FROM _incr_kept AS k\n"
					 "  WHERE k._incr_n OPERATOR(pg_catalog.=) 1 AND NOT k._incr_tie AND t.%s AND ",
					 shape->target_sql, vt, cur, cur);
	sql_key_match(buf, shape->columns, "t", "k");
	appendStringInfoString(buf, "\n  RETURNING 1\n),\n");
	appendStringInfo(buf, "_incr_replaced AS (\n  UPDATE %s AS t SET ", shape->target_sql);
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			continue;
		appendStringInfo(buf, "%s = k.%s, ", quote_identifier(col->name),
						 quote_identifier(col->name));
	}
	appendStringInfo(buf, "%s = k._incr_to, %s = (k._incr_to IS NULL) FROM _incr_kept AS k\n"
					 "  WHERE k._incr_n OPERATOR(pg_catalog.=) 1 AND k._incr_tie AND k._incr_live AND t.%s AND ",
					 vt, cur, cur);
	sql_key_match(buf, shape->columns, "t", "k");
	appendStringInfo(buf, "\n  RETURNING 1\n),\n_incr_dropped AS (\n  DELETE FROM %s AS t USING _incr_kept AS k\n"
					 "  WHERE k._incr_n OPERATOR(pg_catalog.=) 1 AND k._incr_tie AND NOT k._incr_live AND t.%s AND ",
					 shape->target_sql, cur);
	sql_key_match(buf, shape->columns, "t", "k");
	/* opened after closed, replaced and dropped, as in build_scd2, for a unique index on current versions */
	appendStringInfoString(buf, "\n  RETURNING 1\n),\n_incr_opened AS (\n  ");
	scd2_insert_head(buf, p, shape);
	sql_columns(buf, shape->columns, "k", ALL_COLUMNS);
	appendStringInfoString(buf, ", k._incr_t, k._incr_to, k._incr_to IS NULL FROM _incr_kept AS k\n"
						   "  WHERE k._incr_live AND NOT (k._incr_tie AND k._incr_n OPERATOR(pg_catalog.=) 1)\n"
						   "    AND (SELECT pg_catalog.count(*) FROM _incr_closed) OPERATOR(pg_catalog.+)\n"
						   "      (SELECT pg_catalog.count(*) FROM _incr_replaced) OPERATOR(pg_catalog.+)\n"
						   "      (SELECT pg_catalog.count(*) FROM _incr_dropped) OPERATOR(pg_catalog.>=) 0\n"
						   "  RETURNING 1\n)\n"
						   "SELECT pg_catalog.count(*) FILTER (WHERE _incr_live AND _incr_was IS NOT TRUE),\n"
						   "       pg_catalog.count(*) FILTER (WHERE _incr_live AND _incr_was),\n"
						   "       pg_catalog.count(*) FILTER (WHERE NOT _incr_live),\n"
						   "       NULL::pg_catalog.int8\nFROM _incr_kept");
}

/* The rows scd2's current versions hold: the latest row per key, less the deleted, with its cursor. */
static void
scd2_expected(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	sql_latest_rows(buf, ctx, p, shape, true);
}

const ModeOps mode_scd2 = {
	.source = SOURCE_CURSOR,
	.late_without_cursor = true,
	.build_run = build_scd2,
	.build_first = build_scd2_first,
	.returns_rows = scd2_returns_rows,
	.build_expected = scd2_expected,
	.build_wal = build_scd2_wal,
};
