/*
 * verify.c
 *		incr_verify: compare a target with the rows its pipeline promises up
 *		to the checkpoint, cheaply; incr_repair: make the differing keys right.
 *
 * The comparison is pushed down.  Both sides are hashed per bucket of the
 * key's hash with plain aggregates (count, and the sum of a 64-bit hash of
 * each row) over built-in immutable functions only, so postgres_fdw runs the
 * source's aggregate remotely and a matching table moves about one row per
 * bucket.  Rows are fetched only for the buckets whose digests differ, and
 * compared there key by key (or, without keys, as multisets of rows).
 *
 * A column's hash must be the same on both sides for the same value, and
 * differ where a run would see a difference (runs compare byte for byte):
 * the text form through the type's output function where that is immutable
 * (numeric keeps its scale, floats their sign of zero), the timestamp hash of
 * the UTC time for timestamps and dates (whose output depends on DateStyle),
 * and otherwise the text cast, which postgres_fdw does not ship (the rows of
 * such a source are then hashed locally).  The settings that shape text
 * output are pinned as postgres_fdw pins them on its connections.
 *
 * Rows with a cursor past the checkpoint are not compared: a key that has
 * such a row in the source is left out on both sides, because the target
 * may hold an older version of it that the source no longer has.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "citus.h"
#include "describe.h"
#include "mode.h"
#include "run.h"
#include "source_cursor.h"

PG_FUNCTION_INFO_V1(incremental_incr_verify);
PG_FUNCTION_INFO_V1(incremental_incr_repair);

/* How many differing keys (or rows) incr_verify shows in its sample. */
#define VERIFY_SAMPLE 10

/* A compared column: as the expected rows and the target side name it. */
typedef struct VerifyColumn
{
	char	   *name;			/* in the expected rows (r.name), unquoted */
	char	   *target_name;	/* in the target */
	Oid			type;
	bool		is_key;
	char	   *eq_operator;	/* keys: OPERATOR(schema.=) of the key index */
} VerifyColumn;

/* One comparison of a pipeline's target with its promise. */
typedef struct Verify
{
	Pipeline   *p;
	PipelineShape *shape;
	Checkpoint	cp;
	int			buckets;
	MemoryContext cxt;			/* the caller's: what outlives SPI is made there */
	List	   *columns;		/* VerifyColumn * */
	bool		keyed;
	char	   *expected_sql;	/* the rows the target should hold ($1, $2) */
	char	   *target_sql;		/* the rows it holds that are compared ($2) */
	char	   *past_sql;		/* source keys with rows past the checkpoint ($2) */
	Datum		values[4];		/* $1 first cursor, $2 checkpoint, $3 buckets, $4 keys */
	char		nulls[4];
	Oid			types[4];

	/* results */
	int64		rows_source;
	int64		rows_target;
	int64		missing;
	int64		extra;
	int64		retained;		/* target rows a mode that never deletes keeps */
	int64		different;
	int64		invalid_history;
	bool		history_checked;
	int			buckets_differing;
	int64		rows_fetched;
	int64		skipped;		/* keys left out: rows past the checkpoint */
	StringInfoData sample;
	int			sampled;
	List	   *bad_keys;		/* text of the differing keys (or row hashes) */
} Verify;

/*
 * Append the hash (int8, never NULL) of a value expression of a type.  Only
 * built-in immutable functions over the column itself, so that postgres_fdw
 * ships them: text made from a value would carry a collation postgres_fdw
 * does not trust, and output functions return cstring, which it does not
 * ship.  The type's own extended hash function where one is built in (equal
 * values, equal hashes), with numeric's scale added (1.5 and 1.50 are equal
 * but not the same); timestamptz and date as their distance from 2000-01-01,
 * because their hash functions take other types; anything else through its
 * text, computed locally.
 */
static void
append_value_hash(StringInfo buf, const char *expr, Oid type, int seed)
{
	Oid			base = getBaseType(type);
	TypeCacheEntry *tc;

	appendStringInfo(buf, "CASE WHEN %s IS NULL THEN %d::pg_catalog.int8 ELSE ", expr, seed);
	if (base == TIMESTAMPTZOID || base == DATEOID)
	{
		bool		ts = (base == TIMESTAMPTZOID);

		appendStringInfo(buf, "CASE WHEN pg_catalog.isfinite(%s) THEN pg_catalog.%s(%s OPERATOR(pg_catalog.-) %s, %d::pg_catalog.int8)"
						 " WHEN %s OPERATOR(pg_catalog.>) %s THEN %d::pg_catalog.int8 ELSE %d::pg_catalog.int8 END",
						 expr, ts ? "interval_hash_extended" : "hashint4extended", expr,
						 ts ? "'2000-01-01 00:00:00+00'::pg_catalog.timestamptz" : "'2000-01-01'::pg_catalog.date",
						 seed, expr,
						 ts ? "'2000-01-01 00:00:00+00'::pg_catalog.timestamptz" : "'2000-01-01'::pg_catalog.date",
						 -seed, -seed - 1000);
	}
	else if (base == BOOLOID)
		appendStringInfo(buf, "pg_catalog.hashint4extended(CASE WHEN %s THEN 1 ELSE 0 END, %d::pg_catalog.int8)",
						 expr, seed);
	else if (base == NUMERICOID)
		appendStringInfo(buf, "pg_catalog.hash_numeric_extended(%s, %d::pg_catalog.int8)"
						 " OPERATOR(pg_catalog.#) pg_catalog.hashint4extended(CASE WHEN pg_catalog.scale(%s) IS NULL"
						 " THEN -1 ELSE pg_catalog.scale(%s) END, %d::pg_catalog.int8)",
						 expr, seed, expr, expr, seed);
	else
	{
		Oid			fn;
		Oid			argtype = InvalidOid;

		tc = lookup_type_cache(base, TYPECACHE_HASH_EXTENDED_PROC);
		fn = tc->hash_extended_proc;
		if (OidIsValid(fn) && get_func_nargs(fn) == 2)
		{
			Oid		   *argtypes;
			int			nargs;

			(void) get_func_signature(fn, &argtypes, &nargs);
			argtype = argtypes[0];
		}
		if (OidIsValid(argtype) && get_func_namespace(fn) == PG_CATALOG_NAMESPACE &&
			func_volatile(fn) == PROVOLATILE_IMMUTABLE && !IsPolymorphicType(argtype) &&
			argtype != INTERNALOID && IsBinaryCoercible(base, argtype))
			appendStringInfo(buf, "pg_catalog.%s(CAST(%s AS %s), %d::pg_catalog.int8)",
							 quote_identifier(get_func_name(fn)), expr,
							 format_type_extended(argtype, -1, FORMAT_TYPE_FORCE_QUALIFY), seed);
		else
			appendStringInfo(buf, "pg_catalog.hashtextextended(CAST(%s AS pg_catalog.text), %d::pg_catalog.int8)",
							 expr, seed);
	}
	appendStringInfoString(buf, " END");
}

/* Append the hash of the columns of row r that pass (keys only, or all). */
static void
append_row_hash(StringInfo buf, Verify *v, const char *alias, bool keys_only)
{
	ListCell   *lc;
	int			seed = 0;
	bool		first = true;

	appendStringInfoChar(buf, '(');
	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		seed++;
		if (keys_only && !col->is_key)
			continue;
		if (!first)
			appendStringInfoString(buf, " OPERATOR(pg_catalog.#) ");
		append_value_hash(buf, psprintf("%s.%s", alias, quote_identifier(col->name)),
						  col->type, seed);
		first = false;
	}
	if (first)
		appendStringInfoString(buf, "0::pg_catalog.int8");
	appendStringInfoChar(buf, ')');
}

/* Append the bucket of row r: its key's hash (its own, without keys) modulo buckets. */
static void
append_bucket(StringInfo buf, Verify *v, const char *alias)
{
	appendStringInfoString(buf, "pg_catalog.abs(");
	append_row_hash(buf, v, alias, v->keyed);
	appendStringInfo(buf, " OPERATOR(pg_catalog.%%) %d::pg_catalog.int8)", v->buckets);
}

/* Append the text that identifies a group: the key as a jsonb array, or the row hash. */
static void
append_group_key(StringInfo buf, Verify *v, const char *alias)
{
	ListCell   *lc;
	bool		first = true;

	if (!v->keyed)
	{
		append_row_hash(buf, v, alias, false);
		appendStringInfoString(buf, "::pg_catalog.text");
		return;
	}
	appendStringInfoString(buf, "pg_catalog.jsonb_build_array(");
	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s.%s", first ? "" : ", ", alias, quote_identifier(col->name));
		first = false;
	}
	appendStringInfoString(buf, ")::pg_catalog.text");
}

/* SELECT the key columns of the source rows that pass a condition, as the expected rows have them. */
static char *
source_keys_sql(Verify *v, const char *where)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	foreach(lc, v->shape->columns)
	{
		ColumnMap  *lcol = lfirst(lc);

		if (!lcol->is_key)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		if (lcol->source_type == lcol->target_type &&
			lcol->source_typmod == lcol->target_typmod)
			appendStringInfo(&buf, "s.%s", quote_identifier(lcol->name));
		else
			appendStringInfo(&buf, "CAST(s.%s AS %s)", quote_identifier(lcol->name),
							 format_type_extended(lcol->target_type, lcol->target_typmod,
												  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
		appendStringInfo(&buf, " AS %s", quote_identifier(lcol->name));
	}
	appendStringInfo(&buf, " FROM %s AS s WHERE %s", v->shape->source_sql, where);
	return buf.data;
}

/* Build the SQL of both sides: the expected rows, the target's rows, the keys past the checkpoint. */
static void
build_sides(Verify *v)
{
	Pipeline   *p = v->p;
	PipelineShape *shape = v->shape;
	StringInfoData buf;
	ListCell   *lc;

	v->keyed = (p->keys != NIL);
	foreach(lc, shape->columns)
	{
		ColumnMap  *lcol = lfirst(lc);
		VerifyColumn *col = palloc0(sizeof(VerifyColumn));

		col->name = col->target_name = lcol->name;
		col->type = lcol->target_type;
		col->is_key = lcol->is_key;
		col->eq_operator = lcol->eq_operator;
		v->columns = lappend(v->columns, col);
	}
	/* cdc's version column holds the cursor of the event that wrote the row */
	if (p->mode == MODE_CDC && p->version_column)
	{
		VerifyColumn *col = palloc0(sizeof(VerifyColumn));

		col->name = "_incr_c";
		col->target_name = p->version_column;
		col->type = p->cursor_type;
		v->columns = lappend(v->columns, col);
	}
	/*
	 * append with keys keeps the first version of a key; a source that holds
	 * one row per key has lost that version once the row changed, so only
	 * the keys are compared then.
	 */
	if (p->mode == MODE_APPEND && v->keyed && shape->source_unique_on_keys)
	{
		List	   *keys = NIL;

		foreach(lc, v->columns)
			if (((VerifyColumn *) lfirst(lc))->is_key)
				keys = lappend(keys, lfirst(lc));
		v->columns = keys;
	}

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		appendStringInfo(&buf, "%st.%s AS %s", lc == list_head(v->columns) ? "" : ", ",
						 quote_identifier(col->target_name), quote_identifier(col->name));
	}
	appendStringInfo(&buf, " FROM %s AS t", shape->target_sql);
	if (p->mode == MODE_SCD2)
		appendStringInfo(&buf, " WHERE t.%s", quote_identifier(p->current_column));
	else if (!v->keyed && shape->target_has_cursor)
		appendStringInfo(&buf, " WHERE t.%s OPERATOR(pg_catalog.<=) $2",
						 quote_identifier(p->cursor_column));
	v->target_sql = buf.data;

	/* a cdc target is the replay up to the checkpoint: later events change nothing yet */
	if (v->keyed && p->mode != MODE_CDC)
	{
		/* plain comparisons, so that postgres_fdw sends them to the remote side */
		if (v->cp.isnull)
			v->past_sql = source_keys_sql(v, "true");
		else
			v->past_sql = source_keys_sql(v, psprintf("s.%s OPERATOR(pg_catalog.>) $2 OR s.%s IS NULL",
													  quote_identifier(p->cursor_column),
													  quote_identifier(p->cursor_column)));
	}
}

/*
 * Execute a statement of the comparison with its parameters; check its
 * result.  Not read-only: each statement takes a new snapshot, which sees
 * the run that committed while we waited for the pipeline lock, as the
 * checkpoint read after the wait does.
 */
static void
verify_exec(Verify *v, const char *sql, int expected)
{
	int			ret = SPI_execute_with_args(sql, 4, v->types, v->values, v->nulls,
											false, 0);

	/* SPI leaves us in its own context, which SPI_finish frees */
	MemoryContextSwitchTo(v->cxt);
	if (ret != expected)
		elog(ERROR, "could not verify (SPI result %d): %s", ret, sql);
}

/* Read the digests of one side into counts and sums per bucket; return the rows counted. */
static int64
read_digests(Verify *v, const char *side_sql, int64 *counts, char **sums)
{
	StringInfoData buf;
	int64		total = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	append_bucket(&buf, v, "r");
	appendStringInfoString(&buf, ", pg_catalog.count(*), pg_catalog.sum(");
	append_row_hash(&buf, v, "r", false);
	appendStringInfo(&buf, ") FROM (%s) AS r GROUP BY 1", side_sql);
	verify_exec(v, buf.data, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		bnull,
					cnull,
					snull;
		Datum		bd = SPI_getbinval(tup, desc, 1, &bnull);
		Datum		cd = SPI_getbinval(tup, desc, 2, &cnull);
		int64		b;

		(void) SPI_getbinval(tup, desc, 3, &snull);

		/*
		 * A foreign source's digests are computed by the remote server: never
		 * index memory with what a query returned before checking it.
		 */
		b = bnull ? -1 : DatumGetInt64(bd);
		if (b < 0 || b >= v->buckets || cnull || snull || counts[b] != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("could not verify pipeline \"%s\": a digest query returned an invalid bucket", v->p->name),
					 errdetail("Bucket %s of %d, count %s, sum %s.",
							   bnull ? "NULL" : psprintf(INT64_FORMAT, b), v->buckets,
							   cnull ? "NULL" : "set", snull ? "NULL" : "set"),
					 errhint("For a foreign source, check the remote server's built-in functions.")));
		counts[b] = DatumGetInt64(cd);
		sums[b] = SPI_getvalue(tup, desc, 3);
		total += counts[b];
	}
	return total;
}

/*
 * True if the pipeline's runs never delete a target row: append, merge
 * without hard deletes, scd2 without delete_column.  A target row whose
 * source rows are gone (a retention job) is then what the runs left, not a
 * difference: it is counted as retained, and incr_repair keeps it.
 */
static bool
never_deletes(Pipeline *p)
{
	if (p->mode == MODE_APPEND)
		return true;
	if (p->mode == MODE_MERGE)
		return p->delete_column == NULL || p->soft_delete;
	if (p->mode == MODE_SCD2)
		return p->delete_column == NULL;
	return false;
}

/* Add one differing group to the counts and, while there is room, to the sample. */
static void
note_group(Verify *v, const char *key, const char *problem, int64 n,
		   const char *source_row, StringInfo target_rows, int ntarget)
{
	if (strcmp(problem, "missing") == 0)
		v->missing += n;
	else if (strcmp(problem, "extra") == 0)
		v->extra += n;
	else
		v->different += n;
	v->bad_keys = lappend(v->bad_keys, pstrdup(key));
	if (v->sampled >= VERIFY_SAMPLE)
		return;
	appendStringInfo(&v->sample, "%s{\"%s\": %s, \"problem\": \"%s\", \"source\": %s, \"target\": ",
					 v->sampled == 0 ? "" : ", ", v->keyed ? "key" : "row_hash",
					 v->keyed ? key : psprintf("\"%s\"", key), problem,
					 source_row ? source_row : "null");
	if (ntarget == 0)
		appendStringInfoString(&v->sample, "null");
	else if (ntarget == 1 && v->keyed)
		appendStringInfoString(&v->sample, target_rows->data);
	else
		appendStringInfo(&v->sample, "[%s]", target_rows->data);
	if (!v->keyed)
		appendStringInfo(&v->sample, ", \"count\": " INT64_FORMAT, n);
	appendStringInfoChar(&v->sample, '}');
	v->sampled++;
}

/* Fetch the rows of the differing buckets from both sides and compare them group by group. */
static void
compare_buckets(Verify *v)
{
	StringInfoData buf;
	uint64		n;
	uint64		i = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT * FROM (SELECT ");
	append_group_key(&buf, v, "r");
	appendStringInfoString(&buf, " AS _k, 's' AS side, ");
	append_row_hash(&buf, v, "r", false);
	appendStringInfo(&buf, " AS _h, pg_catalog.to_jsonb(r)::pg_catalog.text AS _row FROM (%s) AS r WHERE ",
					 v->expected_sql);
	append_bucket(&buf, v, "r");
	appendStringInfoString(&buf, " OPERATOR(pg_catalog.=) ANY ($3)\n UNION ALL SELECT ");
	append_group_key(&buf, v, "r");
	appendStringInfoString(&buf, ", 't', ");
	append_row_hash(&buf, v, "r", false);
	appendStringInfo(&buf, ", pg_catalog.to_jsonb(r)::pg_catalog.text FROM (%s) AS r WHERE ",
					 v->target_sql);
	append_bucket(&buf, v, "r");
	appendStringInfoString(&buf, " OPERATOR(pg_catalog.=) ANY ($3)");
	if (v->past_sql)
	{
		appendStringInfoString(&buf, "\n UNION ALL SELECT DISTINCT ");
		append_group_key(&buf, v, "r");
		appendStringInfo(&buf, ", 'p', NULL::pg_catalog.int8, NULL::pg_catalog.text FROM (%s) AS r WHERE ",
						 v->past_sql);
		append_bucket(&buf, v, "r");
		appendStringInfoString(&buf, " OPERATOR(pg_catalog.=) ANY ($3)");
	}
	appendStringInfoString(&buf, ") AS x ORDER BY _k COLLATE pg_catalog.\"C\", side");
	verify_exec(v, buf.data, SPI_OK_SELECT);

	n = SPI_processed;
	while (i < n)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *key = SPI_getvalue(SPI_tuptable->vals[i], desc, 1);
		bool		past = false;
		int			ns = 0;
		int			nt = 0;
		char	   *shash = NULL;
		char	   *srow = NULL;
		bool		same = false;
		StringInfoData trows;

		initStringInfo(&trows);
		for (; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			char	   *side = SPI_getvalue(tup, desc, 2);

			if (strcmp(SPI_getvalue(tup, desc, 1), key) != 0)
				break;
			if (side[0] == 'p')
			{
				past = true;
				continue;
			}
			v->rows_fetched++;
			if (side[0] == 's')
			{
				ns++;
				shash = SPI_getvalue(tup, desc, 3);
				if (srow == NULL)
					srow = SPI_getvalue(tup, desc, 4);
			}
			else
			{
				nt++;
				if (nt <= 3)
					appendStringInfo(&trows, "%s%s", nt == 1 ? "" : ", ", SPI_getvalue(tup, desc, 4));
				same = (shash && strcmp(shash, SPI_getvalue(tup, desc, 3)) == 0);
			}
		}
		if (past)
		{
			v->skipped++;
			continue;
		}
		if (ns == 0 && never_deletes(v->p))
		{
			v->retained += v->keyed ? 1 : nt;
			continue;
		}
		if (!v->keyed)
		{
			if (ns > nt)
				note_group(v, key, "missing", ns - nt, srow, &trows, 0);
			else if (nt > ns)
				note_group(v, key, "extra", nt - ns, NULL, &trows, 1);
		}
		else if (nt == 0)
			note_group(v, key, "missing", 1, srow, &trows, 0);
		else if (ns == 0)
			note_group(v, key, "extra", 1, NULL, &trows, nt);
		else if (nt > 1 || !same)
			note_group(v, key, "different", 1, srow, &trows, nt);
	}
}

/* Count the scd2 keys whose history is broken: several current versions, overlaps, open closed ones. */
static void
check_history(Verify *v)
{
	Pipeline   *p = v->p;
	const char *vf = quote_identifier(p->valid_from_column);
	const char *vt = quote_identifier(p->valid_to_column);
	const char *cur = quote_identifier(p->current_column);
	StringInfoData keys;
	StringInfoData buf;
	ListCell   *lc;
	bool		isnull;

	initStringInfo(&keys);
	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		if (col->is_key)
			appendStringInfo(&keys, "%st.%s", keys.len ? ", " : "", quote_identifier(col->name));
	}
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "SELECT pg_catalog.count(DISTINCT h._k) FROM (\n"
					 "  SELECT pg_catalog.jsonb_build_array(%s)::pg_catalog.text AS _k, t.%s AS _vf, t.%s AS _vt, t.%s AS _cur,\n"
					 "    pg_catalog.lead(t.%s) OVER (PARTITION BY %s ORDER BY t.%s) AS _next,\n"
					 "    pg_catalog.count(*) FILTER (WHERE t.%s) OVER (PARTITION BY %s) AS _ncur\n"
					 "  FROM %s AS t) AS h\n"
					 "WHERE h._ncur OPERATOR(pg_catalog.>) 1\n"
					 "   OR (h._cur AND h._vt IS NOT NULL)\n"
					 "   OR (NOT h._cur AND h._vt IS NULL)\n"
					 "   OR h._vt OPERATOR(pg_catalog.<) h._vf\n"
					 "   OR (h._next IS NOT NULL AND (h._vt IS NULL OR h._vt OPERATOR(pg_catalog.>) h._next))",
					 keys.data, vf, vt, cur, vf, keys.data, vf, cur, keys.data,
					 v->shape->target_sql);
	verify_exec(v, buf.data, SPI_OK_SELECT);
	v->invalid_history = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull));
	v->history_checked = true;
}

/*
 * Compare the target with its promise: digests per bucket on both sides,
 * then the rows of the buckets that differ.  Connected to SPI, as the owner.
 */
static void
compare(Verify *v)
{
	int64	   *scount = palloc0(sizeof(int64) * v->buckets);
	int64	   *tcount = palloc0(sizeof(int64) * v->buckets);
	char	  **ssum = palloc0(sizeof(char *) * v->buckets);
	char	  **tsum = palloc0(sizeof(char *) * v->buckets);
	Datum	   *bad = palloc(sizeof(Datum) * v->buckets);
	int			nbad = 0;

	build_sides(v);

	/* $1, the first cursor value: the expected rows are those from there to the checkpoint */
	v->types[0] = v->types[1] = v->p->cursor_type;
	v->types[2] = INT8ARRAYOID;
	v->types[3] = TEXTARRAYOID;
	memset(v->nulls, 'n', sizeof(v->nulls));
	if (!v->cp.isnull)
	{
		v->values[1] = v->cp.value;
		v->nulls[1] = ' ';
	}
	if (!v->cp.isnull)
	{
		bool		isnull;

		verify_exec(v, psprintf("SELECT pg_catalog.min(s.%s) FROM %s AS s",
								quote_identifier(v->p->cursor_column), v->shape->source_sql),
					SPI_OK_SELECT);
		v->values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		v->nulls[0] = isnull ? 'n' : ' ';
	}

	/*
	 * A source without a unique index on the keys (a foreign table has none)
	 * gets the runs' DISTINCT ON per key, which postgres_fdw cannot ship.
	 * When the rows up to the checkpoint have as many distinct key hashes as
	 * rows, each key has one row there and DISTINCT ON keeps them all: the
	 * plain scan, whose aggregates ship, gives the same rows.  (Equal hashes
	 * of different keys only make the check fail, never pass wrongly.)
	 */
	if (v->keyed && v->p->mode != MODE_CDC && !v->shape->source_unique_on_keys && !v->cp.isnull)
	{
		StringInfoData buf;
		bool		isnull;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) pg_catalog.count(DISTINCT ");
		append_row_hash(&buf, v, "r", true);
		appendStringInfo(&buf, ") FROM (%s) AS r",
						 source_keys_sql(v, psprintf("s.%s OPERATOR(pg_catalog.>=) $1 AND s.%s OPERATOR(pg_catalog.<=) $2",
													 quote_identifier(v->p->cursor_column),
													 quote_identifier(v->p->cursor_column))));
		verify_exec(v, buf.data, SPI_OK_SELECT);
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			v->shape->source_unique_on_keys = true;
	}
	v->expected_sql = BuildExpectedSql(v->p, v->shape);

	v->rows_source = read_digests(v, v->expected_sql, scount, ssum);
	v->rows_target = read_digests(v, v->target_sql, tcount, tsum);
	for (int b = 0; b < v->buckets; b++)
	{
		if (scount[b] == tcount[b] &&
			(scount[b] == 0 || strcmp(ssum[b], tsum[b]) == 0))
			continue;
		bad[nbad++] = Int64GetDatum(b);
	}
	v->buckets_differing = nbad;
	initStringInfo(&v->sample);
	if (nbad > 0)
	{
		v->values[2] = PointerGetDatum(construct_array(bad, nbad, INT8OID, 8, true, TYPALIGN_DOUBLE));
		v->nulls[2] = ' ';
		compare_buckets(v);
	}
	if (v->p->mode == MODE_SCD2 && v->keyed)
		check_history(v);
}

/*
 * Pin the settings that shape text output, as postgres_fdw does on its
 * connections; EndAsOwner undoes them.
 */
static void
pin_output_settings(void)
{
	(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Load, check and lock a pipeline for verify or repair, refusing modes without a promise. */
static Pipeline *
verify_pipeline(FunctionCallInfo fcinfo, const char *what, Checkpoint *cp)
{
	Pipeline   *p;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"name\" must not be null")));
	/* both record a run in incr_runs, which a standby cannot */
	RefuseOnStandby(strcmp(what, "repaired") == 0 ? "repair" : "verify",
					text_to_cstring(PG_GETARG_TEXT_PP(0)));
	p = LoadPipeline(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	CheckPipelineOwner(p);
	CheckPipelineOwnerExists(p);
	if (PipelineIsWal(p))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wal pipeline \"%s\" cannot be %s", p->name, what),
				 errdetail("Its target holds the source as of its checkpoint, a position in the WAL; the source's rows now may be past it."),
				 errhint("Compare the target with its source by hand, with no writer active, after a run.")));
	if (strcmp(what, "repaired") == 0 && PipelineOverCitus(p) && p->keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pipeline \"%s\" without keys over Citus cannot be repaired", p->name),
				 errdetail("Without keys a repair finds the copies of a row it mends by their physical position (ctid), which Citus cannot use in a distributed modification."),
				 errhint("Find the differing keys with incr_verify(%s) and load their cursor range again with incr_backfill.",
						 quote_literal_cstr(p->name))));
	if (p->mode == MODE_QUERY || p->mode == MODE_FILES)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s pipeline \"%s\" cannot be %s", PipelineModeName(p->mode), p->name, what),
				 errdetail(p->mode == MODE_QUERY ?
						   "Its target is whatever its command makes of the source; there is no projection to compare with." :
						   "Its source is files loaded as they were; the files may have changed or gone since."),
				 errhint("Compare the target with its source by hand.")));

	/*
	 * The pipeline lock, as runs take it: no run commits while the target is
	 * compared, so target and checkpoint belong together.
	 */
	(void) ReadCheckpoint(p, CHECKPOINT_LOCK_WAIT, cp);

	/*
	 * The definition read before the lock may be of a pipeline dropped and
	 * created again under the same name while we waited: compare with the
	 * one the locked checkpoint belongs to.
	 */
	{
		Pipeline   *again = LoadPipeline(p->name);

		if (again->owner != p->owner || again->mode != p->mode ||
			again->source != p->source || again->target != p->target ||
			again->cursor_type != p->cursor_type)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("pipeline \"%s\" was redefined while waiting for its lock", p->name),
					 errhint("Call it again.")));
	}
	return p;
}

/* Run the comparison as the pipeline's owner, restricted as runs are. */
static void
verify_as_owner(Verify *v, DescribeFor purpose, void (*then) (Verify *))
{
	AsOwner		as;
	MemoryContext cxt = CurrentMemoryContext;

	v->cxt = cxt;
	/*
	 * The owner's settings level (BeginAsOwner) is undone, not kept, at the
	 * end: a set_config() in a source view must never become the caller's
	 * setting.  The output settings are pinned inside it.
	 */
	BeginAsOwner(v->p, &as);
	pin_output_settings();
	/* what outlives SPI_finish (sample, keys, counts) is made in the caller's context */
	MemoryContextSwitchTo(cxt);
	v->shape = purpose == DESCRIBE_FOR_RUN ? DescribeForRun(v->p) :
		DescribePipeline(v->p, purpose);
	MemoryContextSwitchTo(cxt);
	compare(v);
	if (then)
		then(v);
	EndAsOwner(&as);
}

/* The incr_runs row of a verify or repair, started now. */
static void
start_record(RunRecord *rec, Pipeline *p, const char *trigger, Checkpoint *cp)
{
	memset(rec, 0, sizeof(*rec));
	rec->pipeline = p->name;
	rec->owner = p->owner;
	rec->trigger = trigger;
	rec->started_at = GetCurrentTimestamp();
	rec->window_to = cp->isnull ? NULL : CursorValueOut(p, cp->value);
	rec->status = "ok";
}

/*
 * incr_verify(name, buckets): compare the target with what the pipeline
 * promises up to its checkpoint; change nothing; record it (trigger verify).
 */
Datum
incremental_incr_verify(PG_FUNCTION_ARGS)
{
	Verify		v;
	RunRecord	rec;
	TupleDesc	desc;
	Datum		values[14];
	bool		nulls[14];
	int64		run_id;

	memset(&v, 0, sizeof(v));
	v.buckets = PG_ARGISNULL(1) ? 1024 : PG_GETARG_INT32(1);
	if (v.buckets < 1 || v.buckets > 1048576)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must be between 1 and 1048576, not %d", v.buckets)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "incr_verify must return a row");
	v.p = verify_pipeline(fcinfo, "verified", &v.cp);
	start_record(&rec, v.p, "verify", &v.cp);

	verify_as_owner(&v, DESCRIBE_FOR_PLAN, NULL);

	rec.finished_at = GetCurrentTimestamp();
	rec.rows_read = v.rows_source + v.rows_target;
	rec.rows_unchanged = Max(v.rows_source - v.missing - v.different, 0);
	if (v.missing + v.extra + v.different + v.invalid_history > 0)
		rec.error = psprintf("target differs: " INT64_FORMAT " missing, " INT64_FORMAT
							 " extra, " INT64_FORMAT " different, " INT64_FORMAT " with invalid history",
							 v.missing, v.extra, v.different, v.invalid_history);
	run_id = NextRunId();
	(void) InsertRun(run_id, &rec);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(v.rows_source);
	values[2] = Int64GetDatum(v.rows_target);
	values[3] = Int64GetDatum(v.missing);
	values[4] = Int64GetDatum(v.extra);
	values[5] = Int64GetDatum(v.different);
	values[6] = Int64GetDatum(v.invalid_history);
	nulls[6] = !v.history_checked;
	values[7] = Int32GetDatum(v.buckets_differing);
	values[8] = Int64GetDatum(v.rows_fetched);
	values[9] = Int64GetDatum(v.skipped);
	values[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("[%s]", v.sample.data)));
	values[11] = rec.window_to ? CStringGetTextDatum(rec.window_to) : (Datum) 0;
	nulls[11] = (rec.window_to == NULL);
	values[12] = DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(rec.finished_at),
									 TimestampTzGetDatum(rec.started_at));
	values[13] = Int64GetDatum(v.retained);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* Counts of the repair statement, read back after it ran. */
static int64 repair_counts[3];

/* Append "l.k1 OPERATOR(x.=) r.k1 AND ...": the keys of two rows match. */
static void
append_key_match(StringInfo buf, Verify *v, const char *left, const char *right)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		if (!col->is_key)
			continue;
		appendStringInfo(buf, "%s%s.%s %s %s.%s", first ? "" : " AND ", left,
						 quote_identifier(col->target_name), col->eq_operator, right,
						 quote_identifier(col->name));
		first = false;
	}
}

/*
 * True if a repair finds the target rows it mends by their keys rather than
 * by their physical position (ctid): over Citus, which cannot use ctid in a
 * distributed modification (incr_repair refuses a pipeline without keys
 * there).
 */
static bool
repair_by_key(Verify *v)
{
	return PipelineOverCitus(v->p) && (v->keyed || v->p->mode == MODE_SCD2);
}

/* Append "WITH s AS (expected rows of the differing groups), t AS (target rows of them)". */
static void
append_repair_sides(StringInfo buf, Verify *v, const char *target_extra)
{
	appendStringInfoString(buf, "WITH s AS (\n  SELECT r.*, ");
	append_row_hash(buf, v, "r", false);
	appendStringInfo(buf, " AS _h, pg_catalog.row_number() OVER (PARTITION BY ");
	append_group_key(buf, v, "r");
	appendStringInfo(buf, ") AS _n FROM (%s) AS r WHERE ", v->expected_sql);
	append_bucket(buf, v, "r");
	appendStringInfoString(buf, " OPERATOR(pg_catalog.=) ANY ($3) AND ");
	append_group_key(buf, v, "r");
	appendStringInfoString(buf, " OPERATOR(pg_catalog.=) ANY ($4)\n),\nt AS (\n"
						   "  SELECT r.*, ");
	append_row_hash(buf, v, "r", false);
	appendStringInfoString(buf, " AS _h, ");
	append_group_key(buf, v, "r");
	appendStringInfoString(buf, " AS _k, pg_catalog.row_number() OVER (PARTITION BY ");
	append_group_key(buf, v, "r");
	appendStringInfo(buf, ") AS _n FROM (SELECT %s%s, %s) AS r WHERE ",
					 repair_by_key(v) ? "NULL::pg_catalog.oid AS _o, NULL::pg_catalog.tid AS _t" :
					 "t.tableoid AS _o, t.ctid AS _t",
					 target_extra, strchr(v->target_sql, ' ') + 1);
	append_bucket(buf, v, "r");
	appendStringInfoString(buf, " OPERATOR(pg_catalog.=) ANY ($3) AND ");
	append_group_key(buf, v, "r");
	appendStringInfoString(buf, " OPERATOR(pg_catalog.=) ANY ($4)\n)");
}

/*
 * Append the condition that row x of the target is target row t: the same
 * physical row, "x.tableoid = t._o AND x.ctid = t._t"; or, by key
 * (repair_by_key), the same keys, and for scd2 the same valid_from (t._vf):
 * one row, by the target's unique index.
 */
static void
append_same_row(StringInfo buf, Verify *v, const char *x, const char *t)
{
	const char *vf;

	if (!repair_by_key(v))
	{
		appendStringInfo(buf, "%s.tableoid OPERATOR(pg_catalog.=) %s._o AND %s.ctid OPERATOR(pg_catalog.=) %s._t",
						 x, t, x, t);
		return;
	}
	append_key_match(buf, v, x, t);
	if (v->p->mode != MODE_SCD2)
		return;
	vf = quote_identifier(v->p->valid_from_column);
	appendStringInfo(buf, " AND (%s.%s OPERATOR(pg_catalog.=) %s._vf OR (%s.%s IS NULL AND %s._vf IS NULL))",
					 x, vf, t, x, vf, t);
}

/*
 * Append the SET list of an UPDATE of target row x with the non-key values
 * of expected row from; "k = x.k" when every compared column is a key.
 */
static void
append_set_values(StringInfo buf, Verify *v, const char *from)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		if (col->is_key)
			continue;
		appendStringInfo(buf, "%s%s = %s.%s", first ? "" : ", ",
						 quote_identifier(col->target_name), from, quote_identifier(col->name));
		first = false;
	}
	if (first)
	{
		VerifyColumn *col = linitial(v->columns);

		appendStringInfo(buf, "%s = x.%s", quote_identifier(col->target_name),
						 quote_identifier(col->target_name));
	}
}

/* Append the column list of the target, and the matching "prefix.col" list. */
static void
append_insert_columns(StringInfo buf, Verify *v, const char *prefix)
{
	ListCell   *lc;

	foreach(lc, v->columns)
	{
		VerifyColumn *col = lfirst(lc);

		appendStringInfo(buf, "%s%s%s%s", lc == list_head(v->columns) ? "" : ", ",
						 prefix ? prefix : "", prefix ? "." : "",
						 quote_identifier(prefix ? col->name : col->target_name));
	}
}

/*
 * Build and run the statement that mends the differing groups, and keep its
 * counts: keyed modes delete extra keys, update different ones and insert
 * missing ones; without keys, surplus copies of a row are deleted and
 * missing copies inserted; scd2 closes wrong current versions and opens the
 * expected one.
 */
static void
repair(Verify *v)
{
	StringInfoData buf;
	const char *target = v->shape->target_sql;
	ListCell   *lc;
	Datum	   *keys;
	int			n = 0;
	bool		isnull;

	if (v->bad_keys == NIL)
		return;
	keys = palloc(sizeof(Datum) * list_length(v->bad_keys));
	foreach(lc, v->bad_keys)
		keys[n++] = CStringGetTextDatum(lfirst(lc));
	v->values[3] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
	v->nulls[3] = ' ';

	initStringInfo(&buf);
	if (v->p->mode == MODE_SCD2)
	{
		const char *vf = quote_identifier(v->p->valid_from_column);
		const char *vt = quote_identifier(v->p->valid_to_column);
		const char *cur = quote_identifier(v->p->current_column);

		append_repair_sides(&buf, v, psprintf(", t.%s AS _vf", vf));
		/* keep: per key, the latest current version that is what the source says */
		appendStringInfoString(&buf, ",\nkeep AS (\n  SELECT DISTINCT ON (t._k) t._o, t._t, t._k, t._vf FROM t JOIN s"
							   " ON s._h OPERATOR(pg_catalog.=) t._h AND ");
		append_key_match(&buf, v, "t", "s");
		appendStringInfoString(&buf, "\n  ORDER BY t._k, t._vf DESC\n),\n");
		/*
		 * joins rather than subqueries: over Citus a correlated subquery
		 * would make it plan the UPDATE by ctid, which it refuses
		 */
		appendStringInfo(&buf, "closed AS (\n  UPDATE %s AS x SET %s = false, %s = COALESCE(sv._incr_c, $2)\n"
						 "  FROM t LEFT JOIN s AS sv ON ", target, cur, vt);
		append_key_match(&buf, v, "t", "sv");
		if (repair_by_key(v))
			appendStringInfoString(&buf, "\n    LEFT JOIN keep ON keep._k OPERATOR(pg_catalog.=) t._k"
								   " AND (keep._vf OPERATOR(pg_catalog.=) t._vf OR (keep._vf IS NULL AND t._vf IS NULL))");
		else
			appendStringInfoString(&buf, "\n    LEFT JOIN keep ON keep._o OPERATOR(pg_catalog.=) t._o"
								   " AND keep._t OPERATOR(pg_catalog.=) t._t");
		appendStringInfoString(&buf, "\n    LEFT JOIN keep AS kk ON kk._k OPERATOR(pg_catalog.=) t._k\n  WHERE ");
		append_same_row(&buf, v, "x", "t");
		appendStringInfoString(&buf, " AND keep._k IS NULL\n"
							   "    AND NOT (kk._k IS NULL AND COALESCE(t._vf OPERATOR(pg_catalog.=) sv._incr_c, false))\n"
							   "  RETURNING 1\n),\n");

		/*
		 * replaced: a key with no right current version whose wrong one
		 * starts where the right one does gets the right values in place
		 * (closing it and opening the right one there would collide on
		 * the keys and valid_from)
		 */
		appendStringInfo(&buf, "replaced AS (\n  UPDATE %s AS x SET ", target);
		append_set_values(&buf, v, "sv");
		appendStringInfoString(&buf, "\n  FROM t JOIN s AS sv ON ");
		append_key_match(&buf, v, "t", "sv");
		appendStringInfoString(&buf, " AND t._vf OPERATOR(pg_catalog.=) sv._incr_c\n"
							   "    LEFT JOIN keep AS kk ON kk._k OPERATOR(pg_catalog.=) t._k\n  WHERE ");
		append_same_row(&buf, v, "x", "t");
		appendStringInfoString(&buf, " AND kk._k IS NULL\n  RETURNING 1\n),\n");
		appendStringInfo(&buf, "opened AS (\n  INSERT INTO %s (", target);
		append_insert_columns(&buf, v, NULL);
		appendStringInfo(&buf, ", %s, %s, %s)%s\n  SELECT ", vf, vt, cur,
						 v->shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
		append_insert_columns(&buf, v, "s");
		appendStringInfoString(&buf, ", s._incr_c, NULL, true FROM s WHERE NOT EXISTS (SELECT FROM keep WHERE keep._k OPERATOR(pg_catalog.=) ");
		append_group_key(&buf, v, "s");
		appendStringInfoString(&buf, ")\n    AND NOT EXISTS (SELECT FROM t WHERE t._k OPERATOR(pg_catalog.=) ");
		append_group_key(&buf, v, "s");
		appendStringInfoString(&buf, " AND t._vf OPERATOR(pg_catalog.=) s._incr_c)\n  RETURNING 1\n)\n");
		appendStringInfoString(&buf,
							   "SELECT (SELECT pg_catalog.count(*) FROM s WHERE NOT EXISTS (SELECT FROM t WHERE t._k OPERATOR(pg_catalog.=) ");
		append_group_key(&buf, v, "s");
		appendStringInfoString(&buf, ")),\n  (SELECT pg_catalog.count(*) FROM s WHERE EXISTS (SELECT FROM t WHERE t._k OPERATOR(pg_catalog.=) ");
		append_group_key(&buf, v, "s");
		appendStringInfoString(&buf, ")),\n  (SELECT pg_catalog.count(DISTINCT t._k) FROM t WHERE NOT EXISTS (SELECT FROM s WHERE t._k OPERATOR(pg_catalog.=) ");
		append_group_key(&buf, v, "s");
		appendStringInfoString(&buf, ")),\n  (SELECT pg_catalog.count(*) FROM closed) OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM replaced)"
							   " OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM opened)");
	}
	else if (v->keyed)
	{
		append_repair_sides(&buf, v, "");
		appendStringInfo(&buf, ",\nd AS (\n  DELETE FROM %s AS x USING t WHERE ", target);
		append_same_row(&buf, v, "x", "t");
		appendStringInfoString(&buf, " AND NOT EXISTS (SELECT FROM s WHERE ");
		append_key_match(&buf, v, "t", "s");
		appendStringInfo(&buf, ")\n  RETURNING 1\n),\nu AS (\n  UPDATE %s AS x SET ", target);
		append_set_values(&buf, v, "s");
		appendStringInfoString(&buf, "\n  FROM s, t WHERE ");
		append_same_row(&buf, v, "x", "t");
		appendStringInfoString(&buf, " AND ");
		append_key_match(&buf, v, "t", "s");
		appendStringInfoString(&buf, " AND t._h OPERATOR(pg_catalog.<>) s._h\n  RETURNING 1\n),\n");
		appendStringInfo(&buf, "i AS (\n  INSERT INTO %s (", target);
		append_insert_columns(&buf, v, NULL);
		appendStringInfo(&buf, ")%s\n  SELECT ", v->shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
		append_insert_columns(&buf, v, "s");
		appendStringInfoString(&buf, " FROM s WHERE NOT EXISTS (SELECT FROM t WHERE ");
		append_key_match(&buf, v, "t", "s");
		appendStringInfoString(&buf, ")\n  RETURNING 1\n)\n"
							   "SELECT (SELECT pg_catalog.count(*) FROM i), (SELECT pg_catalog.count(*) FROM u),"
							   " (SELECT pg_catalog.count(*) FROM d), 0::pg_catalog.int8");
	}
	else
	{
		append_repair_sides(&buf, v, "");
		appendStringInfo(&buf, ",\nd AS (\n  DELETE FROM %s AS x USING t WHERE ", target);
		append_same_row(&buf, v, "x", "t");
		appendStringInfoString(&buf, " AND NOT EXISTS (SELECT FROM s WHERE s._h OPERATOR(pg_catalog.=) t._h"
							   " AND s._n OPERATOR(pg_catalog.=) t._n)\n  RETURNING 1\n),\n");
		appendStringInfo(&buf, "i AS (\n  INSERT INTO %s (", target);
		append_insert_columns(&buf, v, NULL);
		appendStringInfo(&buf, ")%s\n  SELECT ", v->shape->overriding_system_value ? " OVERRIDING SYSTEM VALUE" : "");
		append_insert_columns(&buf, v, "s");
		appendStringInfoString(&buf, " FROM s WHERE NOT EXISTS (SELECT FROM t WHERE s._h OPERATOR(pg_catalog.=) t._h"
							   " AND s._n OPERATOR(pg_catalog.=) t._n)\n  RETURNING 1\n)\n"
							   "SELECT (SELECT pg_catalog.count(*) FROM i), 0::pg_catalog.int8,"
							   " (SELECT pg_catalog.count(*) FROM d), 0::pg_catalog.int8");
	}
	verify_exec(v, buf.data, SPI_OK_SELECT);
	for (int i = 0; i < 3; i++)
		repair_counts[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, i + 1, &isnull));
}

/*
 * incr_repair(name): make the keys (or rows) where the target differs from
 * its promise right, as one run with trigger repair; the checkpoint stays.
 */
Datum
incremental_incr_repair(PG_FUNCTION_ARGS)
{
	Verify		v;
	RunRecord	rec;

	memset(&v, 0, sizeof(v));
	v.buckets = 1024;
	v.p = verify_pipeline(fcinfo, "repaired", &v.cp);
	start_record(&rec, v.p, "repair", &v.cp);
	memset(repair_counts, 0, sizeof(repair_counts));

	verify_as_owner(&v, DESCRIBE_FOR_RUN, repair);

	rec.finished_at = GetCurrentTimestamp();
	rec.rows_read = v.rows_fetched;
	rec.rows_inserted = repair_counts[0];
	rec.rows_updated = repair_counts[1];
	rec.rows_deleted = repair_counts[2];
	rec.rows_unchanged = Max(v.rows_source - v.missing - v.different, 0);
	PG_RETURN_DATUM(InsertRun(NextRunId(), &rec));
}
