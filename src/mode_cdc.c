/*
 * mode_cdc.c
 *		The cdc mode: apply change events (Debezium envelopes or flat
 *		op/after/before columns) to the target, the last event per key.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "mode.h"

/*
 * Append the decoded value of a target column from a change event: the
 * event's row image (_incr_row) and, with a Debezium schema, the field's
 * schema (_incr_fields), through _incr_cdc_value, which turns Debezium's
 * encodings into the column type's text input.  Over Citus _incr_fields is
 * the array of the row image's field schemas (cdc_events), searched here.
 */
static void
cdc_event_value(StringInfo buf, const BuildContext *ctx, Pipeline *p, ColumnMap *col,
				const char *alias, const char *fields_alias)
{
	const char *schema = ExtensionSchemaQuoted();
	Oid			base = getBaseType(col->target_type);
	char	   *value;
	char	   *field;

	if (ctx->citus)
	{
		StringInfoData vars;

		initStringInfo(&vars);
		appendStringInfoString(&vars, "{\"f\": ");
		escape_json(&vars, col->name);
		appendStringInfoChar(&vars, '}');
		field = psprintf("pg_catalog.jsonb_path_query_first(%s._incr_fields,"
						 " 'strict $[*] ? (@.field == $f)', %s::pg_catalog.jsonb, true)",
						 fields_alias, quote_literal_cstr(vars.data));
	}
	else
		field = psprintf("%s._incr_fields OPERATOR(pg_catalog.->) %s::pg_catalog.text",
						 fields_alias, quote_literal_cstr(col->name));

	/* only numbers and times have encodings of their own; the rest is text input */
	if (base == NUMERICOID || base == TIMESTAMPTZOID || base == TIMESTAMPOID ||
		base == DATEOID || base == TIMEOID)
		value = psprintf("%s._incr_cdc_value(%s._incr_row OPERATOR(pg_catalog.->) %s::pg_catalog.text,"
						 " %s, %u::pg_catalog.oid,"
						 " %d::pg_catalog.int4, %s::pg_catalog.text)",
						 schema, alias, quote_literal_cstr(col->name), field, col->target_type,
						 col->target_typmod, quote_literal_cstr(p->epoch_unit));
	else
		value = psprintf("(%s._incr_row OPERATOR(pg_catalog.->>) %s)", alias,
						 quote_literal_cstr(col->name));

	if (col->is_key)
		appendStringInfo(buf, "CAST(COALESCE(%s, %s._incr_cdc_fail(%s._incr_c::pg_catalog.text, %s::pg_catalog.text)) AS %s)",
						 value, schema, alias,
						 quote_literal_cstr(psprintf("has no value for key column \"%s\"",
													 col->name)),
						 sql_target_type(col));
	else
		appendStringInfo(buf, "CAST(%s AS %s)", value, sql_target_type(col));
}

/*
 * The op of a flat layout's event s, checked: c (or i), r, u, d, t or m,
 * lower case, i as c; an event with another stops the run, naming it.
 */
static char *
cdc_flat_op(Pipeline *p)
{
	char	   *op = psprintf("pg_catalog.lower(s.%s::pg_catalog.text)",
							  quote_identifier(p->op_column));

	return psprintf("CASE WHEN %s OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','i','d','t','m'])\n"
					"         THEN pg_catalog.translate(%s, 'i', 'c')\n"
					"         ELSE %s._incr_cdc_fail(s.%s::pg_catalog.text, 'has no valid op'::pg_catalog.text) END",
					op, op, ExtensionSchemaQuoted(), quote_identifier(p->cursor_column));
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
cdc_events(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape, bool tally)
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
		/*
		 * Over Citus, whose planner fails on the function scans of the
		 * subquery below ("invalid attnum"), the row image's field schemas
		 * as they come, an array searched by cdc_event_value.
		 */
		if (ctx->citus)
			appendStringInfo(buf, ",\n    CASE WHEN %s OPERATOR(pg_catalog.=) 'd' THEN r._incr_env OPERATOR(pg_catalog.->) 'before'\n"
							 "         ELSE r._incr_env OPERATOR(pg_catalog.->) 'after' END AS _incr_row,\n"
							 "    CASE WHEN %s OPERATOR(pg_catalog.=) 'd'\n"
							 "         THEN pg_catalog.jsonb_path_query_first(r._incr_doc,"
							 " 'strict $.schema.fields[*] ? (@.field == \"before\").fields', '{}'::pg_catalog.jsonb, true)\n"
							 "         ELSE pg_catalog.jsonb_path_query_first(r._incr_doc,"
							 " 'strict $.schema.fields[*] ? (@.field == \"after\").fields', '{}'::pg_catalog.jsonb, true) END AS _incr_fields",
							 op, op);
		else
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

		appendStringInfo(buf, "SELECT s.%s AS _incr_c,\n    %s AS _incr_op", c, cdc_flat_op(p));
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
				sql_source_expr(buf, (ColumnMap *) lfirst(lc));
				appendStringInfo(buf, " AS %s", quote_identifier(((ColumnMap *) lfirst(lc))->name));
			}
		}
		appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	}
	sql_cursor_cmp(buf, ctx, "s", p, ">=", 1);
	appendStringInfoString(buf, " AND ");
	sql_cursor_cmp(buf, ctx, "s", p, "<=", 2);
	if (tally)
	{
		appendStringInfoString(buf, " AND ");
		sql_tally(buf, ctx, p);
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
cdc_unavailable_fill(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	ListCell   *lc;

	appendStringInfoString(buf, "fill AS (\n  SELECT ");
	sql_columns(buf, shape->columns, "e", KEY_COLUMNS);
	appendStringInfoString(buf, ", pg_catalog.jsonb_object_agg(kv.key, kv.value ORDER BY e._incr_c) AS _incr_row\n"
						   "  FROM (SELECT e._incr_c, e._incr_row");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfoString(buf, ", ");
		cdc_event_value(buf, ctx, p, col, "e", "e");
		appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
	appendStringInfoString(buf, "\n    FROM (");
	cdc_events(buf, ctx, p, shape, false);
	appendStringInfoString(buf, ") AS e\n"
						   "    WHERE e._incr_op OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u'])\n"
						   "      AND (e._incr_c OPERATOR(pg_catalog.>) (SELECT at FROM trunc)"
						   " OR (SELECT at FROM trunc) IS NULL)) AS e,\n"
						   "    pg_catalog.jsonb_each(e._incr_row) AS kv");
	/*
	 * the keys of src: over Citus a join (src holds a key once), as Citus
	 * cannot plan a correlated subquery beside a subquery in FROM
	 */
	if (ctx->citus)
		appendStringInfoString(buf, ", src AS k");
	appendStringInfoString(buf, "\n  WHERE EXISTS (SELECT FROM src WHERE src._incr_row OPERATOR(pg_catalog.@?) "
						   "'$.* ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath)\n"
						   "    AND NOT kv.value OPERATOR(pg_catalog.@?) '$ ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath\n");
	if (ctx->citus)
	{
		appendStringInfoString(buf, "    AND ");
		sql_key_match(buf, shape->columns, "k", "e");
	}
	else
	{
		appendStringInfoString(buf, "    AND EXISTS (SELECT FROM src WHERE ");
		sql_key_match(buf, shape->columns, "src", "e");
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoString(buf, "\n  GROUP BY ");
	sql_columns(buf, shape->columns, "e", KEY_COLUMNS);
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
cdc_available_value(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape,
					ColumnMap *col)
{
	const char *name = quote_literal_cstr(col->name);

	appendStringInfo(buf, "CASE WHEN (src._incr_row OPERATOR(pg_catalog.->) %s)"
					 " OPERATOR(pg_catalog.@?) '$ ? " UNAVAILABLE_VALUE_TEST "'::pg_catalog.jsonpath\n"
					 "    THEN CASE WHEN fill._incr_row OPERATOR(pg_catalog.?) %s THEN ",
					 name, name);
	cdc_event_value(buf, ctx, p, col, "fill", "src");
	/* over Citus x is joined (cdc_join_target): it cannot plan the correlated subquery */
	if (ctx->citus)
		appendStringInfo(buf, "\n      ELSE x.%s END\n    ELSE ", quote_identifier(col->name));
	else
	{
		appendStringInfo(buf, "\n      ELSE (SELECT x.%s FROM %s AS x WHERE ",
						 quote_identifier(col->name), shape->target_sql);
		sql_key_match(buf, shape->columns, "x", "src");
		appendStringInfoString(buf, ") END\n    ELSE ");
	}
	cdc_event_value(buf, ctx, p, col, "src", "src");
	appendStringInfoString(buf, " END");
}

/*
 * Over Citus, append the LEFT JOIN of the target row x of each key of src,
 * for cdc_available_value.
 */
static void
cdc_join_target(StringInfo buf, const BuildContext *ctx, PipelineShape *shape)
{
	if (!ctx->citus)
		return;
	appendStringInfo(buf, " LEFT JOIN %s AS x ON ", shape->target_sql);
	sql_key_match(buf, shape->columns, "x", "src");
}

/*
 * Append the CTEs of a cdc statement over the window: dec, the last event
 * per key (and the last truncate); trunc, when that truncate came; src, the
 * events that count (those after the truncate).
 */
static void
cdc_ctes(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
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
	sql_key_groups(buf, shape->columns, "dec");
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
			cdc_event_value(buf, ctx, p, col, "e", "e");
		else if (col->is_key)
			appendStringInfo(buf, "COALESCE(e.%s, %s._incr_cdc_fail(e._incr_c::pg_catalog.text, %s::pg_catalog.text)::%s)",
							 quote_identifier(col->name), schema,
							 quote_literal_cstr(psprintf("has no value for key column \"%s\"",
														 col->name)),
							 sql_target_type(col));
		else
			appendStringInfo(buf, "e.%s", quote_identifier(col->name));
		if (col->is_key)
			appendStringInfoString(buf, " END");
		appendStringInfo(buf, " AS %s", quote_identifier(col->name));
	}
	appendStringInfoString(buf, "\n    FROM (");
	cdc_events(buf, ctx, p, shape, true);
	appendStringInfoString(buf, ") AS e\n"
						   "    WHERE e._incr_op OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','d','t'])) AS dec\n"
						   "  ORDER BY ");
	sql_key_groups(buf, shape->columns, "dec");
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
 * True if a cdc run is two statements, the deletes (build_cdc_first) and
 * then the upserts: over Citus, which pushes each down to the co-located
 * shards, whereas it runs the CTEs of the one statement as subplans whose
 * rows pass through the coordinator.  Only for a flat layout with the
 * target's columns: a jsonb layout's keys are values inside the event,
 * which Citus cannot tell are the source's distribution column.  Only into
 * a distributed target: Citus refuses a DELETE of a table of the coordinator
 * joined with a distributed one.  Not for a window with a truncate
 * (shape->one_statement, cdc_unsplit), whose delete spans every shard, nor
 * with tombstones.
 */
static bool
cdc_split(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	return ctx->citus && ctx->citus_distributed_target && !shape->json_layout &&
		!shape->one_statement && shape->tombstones == TOMBSTONES_OFF;
}

/*
 * Append the last event per key of a split cdc run (cdc_split) in one
 * SELECT over the source, as Citus pushes it down: DISTINCT ON the key
 * columns themselves (the distribution column among them; no fence, which
 * Citus would plan apart), the events that write (c, r, u, d) with their
 * cursor (_incr_c), op (_incr_op) and columns.  Every event's op is checked,
 * and a writing event's keys, as the one statement does.  Among events of
 * one key with the same cursor the greatest row image wins, so that both
 * statements pick the same one.  A truncate is left out: the window's count
 * found none (cdc_unsplit), and one written since is past the safe bound.
 */
static void
cdc_last_events(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	const char *schema = ExtensionSchemaQuoted();
	const char *c = quote_identifier(p->cursor_column);
	char	   *writes = psprintf("%s OPERATOR(pg_catalog.=) ANY (ARRAY['c','r','u','d'])",
								  cdc_flat_op(p));
	ListCell   *lc;

	appendStringInfoString(buf, "SELECT DISTINCT ON (");
	sql_key_groups(buf, shape->columns, NULL);
	appendStringInfo(buf, ") s.%s AS _incr_c,\n    %s AS _incr_op, ", c, cdc_flat_op(p));
	sql_source_exprs(buf, shape->columns, true);
	appendStringInfo(buf, "\n  FROM %s AS s\n  WHERE ", shape->source_sql);
	sql_window(buf, ctx, p);
	appendStringInfo(buf, "\n    AND %s", writes);
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (!col->is_key)
			continue;
		/* whichever the planner checks first: an event that does not write needs no key */
		appendStringInfo(buf, "\n    AND (s.%s IS NOT NULL OR (%s) IS NOT TRUE\n"
						 "      OR %s._incr_cdc_fail(s.%s::pg_catalog.text, %s::pg_catalog.text) IS NOT NULL)",
						 quote_identifier(col->name), writes, schema, c,
						 quote_literal_cstr(psprintf("has no value for key column \"%s\"",
													 col->name)));
	}
	appendStringInfoString(buf, "\n  ORDER BY ");
	sql_key_groups(buf, shape->columns, NULL);
	appendStringInfo(buf, ", s.%s DESC, ROW(s.%s, ", c, quote_identifier(p->op_column));
	sql_columns(buf, shape->columns, "s", ALL_COLUMNS);
	appendStringInfoString(buf, ") USING OPERATOR(pg_catalog.*>)");
}

/*
 * The first of a split cdc run's statements (cdc_split): delete the target
 * rows of the keys whose last event in the window is a delete (with
 * version_column, unless the target's version is newer), returning a row
 * per delete.  Nothing for a run that is not split.
 */
static List *
build_cdc_first(const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	StringInfoData buf;

	if (!cdc_split(ctx, p, shape))
		return NIL;
	initStringInfo(&buf);
	appendStringInfo(&buf, "DELETE FROM %s AS t USING (\n  ", shape->target_sql);
	cdc_last_events(&buf, ctx, p, shape);
	appendStringInfoString(&buf, "\n) AS src\n  WHERE src._incr_op OPERATOR(pg_catalog.=) 'd' AND ");
	sql_key_match(&buf, shape->columns, "t", "src");
	if (p->version_column)
		appendStringInfo(&buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) src._incr_c)",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	appendStringInfoString(&buf, "\n  RETURNING false AS inserted, true AS deleted, false AS late");
	return list_make1(buf.data);
}

/*
 * The second of a split cdc run's statements: upsert the keys whose last
 * event in the window is not a delete, returning a row per row written
 * (late is not known, as in the one statement).
 */
static void
build_cdc_upserts(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape,
				  const char *guard)
{
	sql_insert_head(buf, shape, p->version_column);
	appendStringInfoString(buf, "SELECT ");
	sql_columns(buf, shape->columns, "src", ALL_COLUMNS);
	if (p->version_column)
		appendStringInfoString(buf, ", src._incr_c");
	appendStringInfoString(buf, " FROM (\n  ");
	cdc_last_events(buf, ctx, p, shape);
	appendStringInfoString(buf, "\n) AS src WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd'");
	sql_upsert(buf, ctx, shape, guard, p->version_column, NULL);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted, false AS deleted, NULL::pg_catalog.bool AS late",
					 sql_inserted_expr(shape));
}

/*
 * The column of the window's count over Citus that tells a split run
 * (cdc_split) from one whose window holds a truncate event: how many it
 * holds.  A truncate deletes every target row that no later event writes,
 * on every shard, which only the one statement does.
 */
static void
cdc_unsplit(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	if (!cdc_split(ctx, p, shape))
		return;
	appendStringInfo(buf, "pg_catalog.count(CASE WHEN pg_catalog.lower(s.%s::pg_catalog.text)"
					 " OPERATOR(pg_catalog.=) 't' THEN 1 END)",
					 quote_identifier(p->op_column));
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
build_cdc(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	char	   *guard = NULL;
	ListCell   *lc;

	/* a row without a version (loaded before the pipeline) is older than any event */
	if (p->version_column)
		guard = psprintf("(t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) EXCLUDED.%s)",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	/* the second of a split run: the upserts, after build_cdc_first's deletes */
	if (cdc_split(ctx, p, shape))
	{
		build_cdc_upserts(buf, ctx, p, shape, guard);
		return;
	}

	cdc_ctes(buf, ctx, p, shape);
	if (shape->json_layout)
		cdc_unavailable_fill(buf, ctx, p, shape);

	/* deletes by key, and after a truncate every row no later event writes */
	appendStringInfo(buf, "d AS (\n  DELETE FROM %s AS t USING src\n"
					 "  WHERE src._incr_op OPERATOR(pg_catalog.=) 'd' AND (SELECT at FROM trunc) IS NULL\n    AND ",
					 shape->target_sql);
	sql_key_match(buf, shape->columns, "t", "src");
	if (p->version_column)
		appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) src._incr_c)",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	appendStringInfo(buf, "\n  RETURNING 1\n),\n"
					 "dt AS (\n  DELETE FROM %s AS t\n"
					 "  WHERE (SELECT at FROM trunc) IS NOT NULL\n"
					 "    AND NOT EXISTS (SELECT FROM src WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd' AND ",
					 shape->target_sql);
	sql_key_match(buf, shape->columns, "t", "src");
	appendStringInfoString(buf, ")");
	if (p->version_column)
		appendStringInfo(buf, "\n    AND (t.%s IS NULL OR t.%s OPERATOR(pg_catalog.<=) (SELECT at FROM trunc))",
						 quote_identifier(p->version_column),
						 quote_identifier(p->version_column));
	appendStringInfoString(buf, "\n  RETURNING 1\n),\nw AS (\n  ");
	sql_insert_head(buf, shape, p->version_column);
	appendStringInfoString(buf, "SELECT ");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (lc != list_head(shape->columns))
			appendStringInfoString(buf, ", ");
		if (shape->json_layout && !col->is_key)
			cdc_available_value(buf, ctx, p, shape, col);
		else
			appendStringInfo(buf, "src.%s", quote_identifier(col->name));
	}
	if (p->version_column)
		appendStringInfoString(buf, ", src._incr_c");
	appendStringInfoString(buf, " FROM src");
	if (shape->json_layout)
	{
		appendStringInfoString(buf, " LEFT JOIN fill ON ");
		sql_key_match(buf, shape->columns, "fill", "src");
		cdc_join_target(buf, ctx, shape);
	}
	appendStringInfoString(buf, " WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd'");
	/* a key deleted (or truncated) at this version or a later one stays deleted */
	if (shape->tombstones == TOMBSTONES_CHECK)
	{
		appendStringInfoString(buf, "\n    AND NOT ");
		sql_tombstone_exists(buf, p, shape, "src", true, ">=");
	}
	sql_upsert(buf, ctx, shape, guard, p->version_column, NULL);
	appendStringInfo(buf, "\n  RETURNING %s AS inserted\n)", sql_inserted_expr(shape));
	if (shape->tombstones != TOMBSTONES_OFF)
		sql_tombstone_ctes(buf, p, shape, "src._incr_op OPERATOR(pg_catalog.=) 'd'",
							  p->version_column,
							  "\n  UNION ALL SELECT 'null'::pg_catalog.jsonb, trunc.at FROM trunc"
							  " WHERE trunc.at IS NOT NULL");
	appendStringInfoString(buf, "\nSELECT (SELECT pg_catalog.count(*) FILTER (WHERE inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FILTER (WHERE NOT inserted) FROM w),\n"
						   "       (SELECT pg_catalog.count(*) FROM d) OPERATOR(pg_catalog.+)"
						   " (SELECT pg_catalog.count(*) FROM dt),\n"
						   "       NULL::pg_catalog.int8");
	if (shape->tombstones != TOMBSTONES_OFF)
		appendStringInfoString(buf, SqlTombstoneColumns);
}

/* The state a replay of the window's events leaves, with each key's last event cursor. */
static void
cdc_expected(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	ListCell   *lc;

	cdc_ctes(buf, ctx, p, shape);
	/* Debezium's unavailable values count as the values a run keeps */
	if (shape->json_layout)
		cdc_unavailable_fill(buf, ctx, p, shape);
	appendStringInfoString(buf, "sel AS (\n  SELECT ");
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (shape->json_layout && !col->is_key)
			cdc_available_value(buf, ctx, p, shape, col);
		else
			appendStringInfo(buf, "src.%s", quote_identifier(col->name));
		appendStringInfo(buf, " AS %s, ", quote_identifier(col->name));
	}
	appendStringInfoString(buf, "src._incr_c FROM src");
	if (shape->json_layout)
	{
		appendStringInfoString(buf, " LEFT JOIN fill ON ");
		sql_key_match(buf, shape->columns, "fill", "src");
		cdc_join_target(buf, ctx, shape);
	}
	appendStringInfoString(buf, " WHERE src._incr_op OPERATOR(pg_catalog.<>) 'd'\n)\n"
						   "SELECT * FROM sel");
}

/* With version_column an older event must not undo a delete: deletes leave tombstones. */
static bool
cdc_keeps_tombstones(Pipeline *p, PipelineShape *shape)
{
	return p->version_column != NULL;
}

const ModeOps mode_cdc = {
	.source = SOURCE_CURSOR,
	.build_run = build_cdc,
	.build_first = build_cdc_first,
	.build_unsplit = cdc_unsplit,
	.unsplit_what = "a window with a truncate event (op t)",
	.build_expected = cdc_expected,
	.keeps_tombstones = cdc_keeps_tombstones,
};
