/*
 * cursor.c
 *		The cursor types, one row each: extremes, finiteness, predecessor, lag,
 *		safe bound, and how incr_checkpoints and incr_tombstones keep values.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/syscache.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "cursor.h"

/* Read a numeric constant with numeric's own input function. */
static Datum
numeric_from_text(const char *text)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Return -infinity or infinity as a timestamp (with or without time zone). */
static Datum
timestamp_extreme(bool greatest)
{
	Timestamp	t;

	if (greatest)
		TIMESTAMP_NOEND(t);
	else
		TIMESTAMP_NOBEGIN(t);
	return TimestampGetDatum(t);
}

/* Return the last finite timestamp. */
static Datum
timestamp_greatest_finite(void)
{
	return TimestampGetDatum(END_TIMESTAMP - 1);
}

/* Tell whether a timestamp is finite. */
static bool
timestamp_value_finite(Datum v)
{
	return !TIMESTAMP_NOT_FINITE(DatumGetTimestamp(v));
}

/* Return the timestamp one microsecond earlier. */
static Datum
timestamp_predecessor(Datum v)
{
	return TimestampGetDatum(DatumGetTimestamp(v) - 1);
}

/* Subtract a lag from a timestamptz. */
static Datum
timestamptz_minus_lag(Datum v, Interval *lag)
{
	return DirectFunctionCall2(timestamptz_mi_interval, v, IntervalPGetDatum(lag));
}

/* Subtract a lag from a timestamp. */
static Datum
timestamp_minus_lag(Datum v, Interval *lag)
{
	return DirectFunctionCall2(timestamp_mi_interval, v, IntervalPGetDatum(lag));
}

/* Return a time as a timestamptz. */
static Datum
timestamptz_from_time(TimestampTz t)
{
	return TimestampTzGetDatum(t);
}

/* Return a time as a timestamp of the session's time zone. */
static Datum
timestamp_from_time(TimestampTz t)
{
	return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(t));
}

/* Return -infinity or infinity as a date. */
static Datum
date_extreme(bool greatest)
{
	DateADT		d;

	if (greatest)
		DATE_NOEND(d);
	else
		DATE_NOBEGIN(d);
	return DateADTGetDatum(d);
}

/* Return the last finite date. */
static Datum
date_greatest_finite(void)
{
	return DateADTGetDatum(DATE_END_JULIAN - POSTGRES_EPOCH_JDATE - 1);
}

/* Tell whether a date is finite. */
static bool
date_value_finite(Datum v)
{
	return !DATE_NOT_FINITE(DatumGetDateADT(v));
}

/* Return the day before. */
static Datum
date_predecessor(Datum v)
{
	return DateADTGetDatum(DatumGetDateADT(v) - 1);
}

/* Subtract a lag from a date: date - interval is a timestamp; its date rounds down, reading more. */
static Datum
date_minus_lag(Datum v, Interval *lag)
{
	return DirectFunctionCall1(timestamp_date,
							   DirectFunctionCall2(date_mi_interval, v, IntervalPGetDatum(lag)));
}

/* Return a time as a date of the session's time zone. */
static Datum
date_from_time(TimestampTz t)
{
	return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(t));
}

/* Return the least or greatest smallint. */
static Datum
int2_extreme(bool greatest)
{
	return Int16GetDatum(greatest ? PG_INT16_MAX : PG_INT16_MIN);
}

/* Return the least or greatest integer. */
static Datum
int4_extreme(bool greatest)
{
	return Int32GetDatum(greatest ? PG_INT32_MAX : PG_INT32_MIN);
}

/* Return the least or greatest bigint. */
static Datum
int8_extreme(bool greatest)
{
	return Int64GetDatum(greatest ? PG_INT64_MAX : PG_INT64_MIN);
}

/* Keep a smallint as numeric (int2 to numeric cast). */
static Datum
int2_to_checkpoint(Datum v)
{
	return NumericGetDatum(int64_to_numeric(DatumGetInt16(v)));
}

/* Keep an integer as numeric (int4 to numeric cast). */
static Datum
int4_to_checkpoint(Datum v)
{
	return NumericGetDatum(int64_to_numeric(DatumGetInt32(v)));
}

/* Keep a bigint as numeric (int8 to numeric cast). */
static Datum
int8_to_checkpoint(Datum v)
{
	return NumericGetDatum(int64_to_numeric(DatumGetInt64(v)));
}

/* Read a smallint kept as numeric (numeric to int2 cast). */
static Datum
int2_from_checkpoint(Datum d)
{
	return DirectFunctionCall1(numeric_int2, d);
}

/* Read an integer kept as numeric (numeric to int4 cast). */
static Datum
int4_from_checkpoint(Datum d)
{
	return DirectFunctionCall1(numeric_int4, d);
}

/* Read a bigint kept as numeric (numeric to int8 cast). */
static Datum
int8_from_checkpoint(Datum d)
{
	return DirectFunctionCall1(numeric_int8, d);
}

/* Return -Infinity or Infinity as numeric. */
static Datum
numeric_extreme(bool greatest)
{
	return numeric_from_text(greatest ? "Infinity" : "-Infinity");
}

/* Return the largest power of ten numeric accepts. */
static Datum
numeric_greatest_finite(void)
{
	return numeric_from_text("1e131071");
}

/* Tell whether a numeric is neither NaN nor infinite. */
static bool
numeric_value_finite(Datum v)
{
	return !numeric_is_nan(DatumGetNumeric(v)) && !numeric_is_inf(DatumGetNumeric(v));
}

/* Copy a numeric out of the catalog's tuple. */
static Datum
numeric_from_checkpoint(Datum d)
{
	return datumCopy(d, false, -1);
}

/* Return transaction id 0 or the greatest xid8. */
static Datum
xid8_extreme(bool greatest)
{
	return FullTransactionIdGetDatum(FullTransactionIdFromU64(greatest ? PG_UINT64_MAX : 0));
}

/* Return the transaction id before. */
static Datum
xid8_predecessor(Datum v)
{
	return FullTransactionIdGetDatum(FullTransactionIdFromU64(U64FromFullTransactionId(DatumGetFullTransactionId(v)) - 1));
}

/* Keep an xid8 as numeric, through text: the value may exceed int64. */
static Datum
xid8_to_checkpoint(Datum v)
{
	char		digits[32];

	snprintf(digits, sizeof(digits), UINT64_FORMAT,
			 U64FromFullTransactionId(DatumGetFullTransactionId(v)));
	return numeric_from_text(digits);
}

/* Read an xid8 kept as numeric, through text: the value may exceed int64. */
static Datum
xid8_from_checkpoint(Datum d)
{
	char	   *digits = DatumGetCString(DirectFunctionCall1(numeric_out, d));

	return FullTransactionIdGetDatum(FullTransactionIdFromU64(strtou64(digits, NULL, 10)));
}

/* Return the least or greatest LSN. */
static Datum
lsn_extreme(bool greatest)
{
	return LSNGetDatum(greatest ? PG_UINT64_MAX : 0);
}

/* Keep an LSN as numeric, its byte position: exact, and in incr_checkpoints' numeric column. */
static Datum
lsn_to_checkpoint(Datum v)
{
	char		digits[32];

	snprintf(digits, sizeof(digits), UINT64_FORMAT, (uint64) DatumGetLSN(v));
	return numeric_from_text(digits);
}

/* Read an LSN kept as numeric, through text: the value may exceed int64. */
static Datum
lsn_from_checkpoint(Datum d)
{
	char	   *digits = DatumGetCString(DirectFunctionCall1(numeric_out, d));

	return LSNGetDatum((XLogRecPtr) strtou64(digits, NULL, 10));
}

#define TIME_BOUND	BOUND_OLDEST_TRANSACTION_START, "start of the oldest open transaction"
#define WRITERS_BOUND BOUND_GREATEST_AFTER_WRITERS, "greatest value, after waiting for open writers"
#define XID_BOUND	BOUND_OLDEST_XID, "oldest running transaction id"
#define WAL_BOUND	BOUND_WAL_FLUSH, "WAL flushed when the run starts"

/* The cursor types; a new one is a row here (and its checkpoint column). */
static const CursorType cursor_types[] = {
	{TIMESTAMPTZOID, CURSOR_TIMESTAMPTZ, 1, "value_timestamptz", true, TIME_BOUND,
		timestamp_extreme, timestamp_greatest_finite, timestamp_value_finite,
		timestamp_predecessor, timestamptz_minus_lag, timestamptz_from_time,
	false, NULL, NULL},
	{TIMESTAMPOID, CURSOR_TIMESTAMP, 2, "value_timestamp", true, TIME_BOUND,
		timestamp_extreme, timestamp_greatest_finite, timestamp_value_finite,
		timestamp_predecessor, timestamp_minus_lag, timestamp_from_time,
	false, NULL, NULL},
	{DATEOID, CURSOR_DATE, 3, "value_date", true, TIME_BOUND,
		date_extreme, date_greatest_finite, date_value_finite,
		date_predecessor, date_minus_lag, date_from_time,
	false, NULL, NULL},
	{INT2OID, CURSOR_INTEGER, 4, "value_numeric", false, WRITERS_BOUND,
		int2_extreme, NULL, NULL, NULL, NULL, NULL,
	false, int2_to_checkpoint, int2_from_checkpoint},
	{INT4OID, CURSOR_INTEGER, 4, "value_numeric", false, WRITERS_BOUND,
		int4_extreme, NULL, NULL, NULL, NULL, NULL,
	false, int4_to_checkpoint, int4_from_checkpoint},
	{INT8OID, CURSOR_INTEGER, 4, "value_numeric", false, WRITERS_BOUND,
		int8_extreme, NULL, NULL, NULL, NULL, NULL,
	false, int8_to_checkpoint, int8_from_checkpoint},
	{NUMERICOID, CURSOR_NUMERIC, 4, "value_numeric", false, WRITERS_BOUND,
		numeric_extreme, numeric_greatest_finite, numeric_value_finite, NULL, NULL, NULL,
	false, NULL, numeric_from_checkpoint},
	{XID8OID, CURSOR_XID8, 4, "value_numeric", false, XID_BOUND,
		xid8_extreme, NULL, NULL, xid8_predecessor, NULL, NULL,
	true, xid8_to_checkpoint, xid8_from_checkpoint},
	/* capture => 'wal': not a column's type, the checkpoint of the wal kind */
	{PG_LSNOID, CURSOR_LSN, 4, "value_numeric", false, WAL_BOUND,
		lsn_extreme, NULL, NULL, NULL, NULL, NULL,
	false, lsn_to_checkpoint, lsn_from_checkpoint},
};

/* Find the row of a type (domains by their base); NULL if it cannot be a cursor. */
const CursorType *
CursorTypeFor(Oid typid)
{
	Oid			base = getBaseType(typid);

	for (int i = 0; i < lengthof(cursor_types); i++)
		if (cursor_types[i].typid == base)
			return &cursor_types[i];
	return NULL;
}

PG_FUNCTION_INFO_V1(incremental_bound_name);

/*
 * _incr_bound_name(cursor_type): the safe bound of a cursor type as
 * incr_status names it, from the table above (NULL for a type that cannot
 * be a cursor), so that the view does not restate it.
 */
Datum
incremental_bound_name(PG_FUNCTION_ARGS)
{
	Oid			typid = PG_GETARG_OID(0);
	const CursorType *ct;

	/* a type that is not there (a made-up oid) is not a cursor type */
	if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(typid)))
		PG_RETURN_NULL();
	ct = CursorTypeFor(typid);
	if (ct == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ct->bound_name));
}

/* Classify a cursor column's type (domains by their base); false if unsupported. */
bool
CursorKindFromType(Oid typid, CursorKind *kind)
{
	const CursorType *ct = CursorTypeFor(typid);

	if (ct == NULL)
		return false;
	*kind = ct->kind;
	return true;
}

/* Find the row of a pipeline's cursor type; it was checked when the pipeline was made. */
const CursorType *
PipelineCursor(Pipeline *p)
{
	const CursorType *ct = CursorTypeFor(p->cursor_type);

	if (ct == NULL)
		elog(ERROR, "unsupported cursor type %u", p->cursor_type);
	return ct;
}

/* Return the least value of the cursor's type. */
Datum
CursorLeast(Pipeline *p)
{
	return PipelineCursor(p)->extreme(false);
}

/*
 * Return the greatest finite value of the cursor's type.  Windows never reach
 * past it, so rows whose cursor is NaN or infinite are never loaded: they
 * would move the checkpoint to where no later row can pass it.
 */
Datum
CursorGreatestFinite(Pipeline *p)
{
	const CursorType *ct = PipelineCursor(p);

	return ct->greatest_finite ? ct->greatest_finite() : ct->extreme(true);
}

/* Tell whether a cursor value is neither NaN nor infinite. */
bool
CursorIsFinite(Pipeline *p, Datum value)
{
	const CursorType *ct = PipelineCursor(p);

	return ct->is_finite ? ct->is_finite(value) : true;
}

/*
 * Return the greatest value below v, for the cursor types whose safe bound a
 * query pipeline must stay strictly under: its $2 is inclusive and it cannot
 * tell loaded rows from new ones, so it must not read the bound's own value.
 */
Datum
CursorPredecessor(Pipeline *p, Datum value)
{
	const CursorType *ct = PipelineCursor(p);

	return ct->predecessor ? ct->predecessor(value) : value;
}

/* Return the checkpoint less the lag: where a run starts reading (inclusive). */
Datum
CursorLowerBound(Pipeline *p, Datum checkpoint)
{
	const CursorType *ct = PipelineCursor(p);

	if (p->lag == NULL || !ct->takes_lag)
		return checkpoint;		/* lag is refused for other cursors */
	return ct->minus_lag(checkpoint, p->lag);
}

/* Return a time as a value of a time-bound cursor type. */
Datum
CursorFromTime(Pipeline *p, TimestampTz t)
{
	const CursorType *ct = PipelineCursor(p);

	Assert(ct->from_time != NULL);
	return ct->from_time(t);
}

/* Tell whether a < b in the cursor type's default ordering. */
bool
CursorLessThan(Pipeline *p, Datum a, Datum b)
{
	TypeCacheEntry *tc = lookup_type_cache(p->cursor_type, TYPECACHE_CMP_PROC_FINFO);

	return DatumGetInt32(FunctionCall2Coll(&tc->cmp_proc_finfo, InvalidOid, a, b)) < 0;
}

/* Format a cursor value with its type's output function. */
char *
CursorValueOut(Pipeline *p, Datum value)
{
	Oid			output;
	bool		isvarlena;

	getTypeOutputInfo(p->cursor_type, &output, &isvarlena);
	return OidOutputFunctionCall(output, value);
}

/*
 * Read a cursor value given by a user (incr_reset, incr_backfill) with its
 * type's input function, refusing what no window can use: NaN and infinite
 * values, and the junk xid8's own input function lets through ("abc" is 0).
 */
Datum
CursorValueIn(Pipeline *p, const char *text)
{
	Oid			input;
	Oid			ioparam;
	Datum		value;

	if (p->cursor_type == XID8OID &&
		(text[0] == '\0' || strspn(text, "0123456789") != strlen(text)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type xid8: \"%s\"", text)));
	getTypeInputInfo(p->cursor_type, &input, &ioparam);
	value = OidInputFunctionCall(input, unconstify(char *, text), ioparam, -1);
	if (!CursorIsFinite(p, value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cursor value \"%s\" is not finite", text),
				 errdetail("Rows whose cursor is NaN or infinite are never loaded, so no window can start or end there.")));
	return value;
}

/* Return the column of incr_checkpoints (1-based among the value columns) of the cursor. */
int
CursorCheckpointColumn(Pipeline *p)
{
	return PipelineCursor(p)->checkpoint_column;
}

/*
 * Return a cursor value as incr_checkpoints (and incr_tombstones) keep it:
 * integers and xid8 as numeric, the others as themselves.
 */
Datum
CursorToCheckpoint(Pipeline *p, Datum value)
{
	const CursorType *ct = PipelineCursor(p);

	return ct->to_checkpoint ? ct->to_checkpoint(value) : value;
}

/* Return a value read from the checkpoint column as a value of the cursor's type. */
Datum
CursorFromCheckpoint(Pipeline *p, Datum stored)
{
	const CursorType *ct = PipelineCursor(p);

	/* timestamptz, timestamp and date are pass-by-value */
	return ct->from_checkpoint ? ct->from_checkpoint(stored) : stored;
}

/* Return SQL reading the checkpoint column of a catalog row (alias) as the cursor's type. */
char *
CursorCheckpointExpr(Pipeline *p, const char *alias)
{
	const CursorType *ct = PipelineCursor(p);
	char	   *column = psprintf("%s.%s", alias, ct->checkpoint_column_name);

	if (ct->kind == CURSOR_LSN)
		return psprintf("(CAST('0/0' AS pg_catalog.pg_lsn) OPERATOR(pg_catalog.+) %s)", column);
	if (ct->checkpoint_through_text)
		return psprintf("CAST(CAST(%s AS pg_catalog.text) AS %s)", column,
						format_type_be_qualified(p->cursor_type));
	if (ct->to_checkpoint == NULL)
		return column;
	return psprintf("CAST(%s AS %s)", column, format_type_be_qualified(p->cursor_type));
}
