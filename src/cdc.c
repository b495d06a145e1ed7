/*
 * cdc.c
 *		Decoding the values of change events.  The statement of a cdc run
 *		(mode_cdc.c) takes events apart with jsonb operators; the functions
 *		here turn one value's Debezium encoding into its target type's text
 *		input.
 *
 * Debezium writes some types in encodings of its own, named by the field's
 * schema when the converter includes schemas: dates as days since the epoch,
 * timestamps as milli-, micro- or nanoseconds since the epoch, times as
 * units since midnight, decimals as the base64 of a big-endian two's
 * complement integer with the scale in the schema.  Without a schema the
 * target column's type decides: a number into a timestamp is an epoch value
 * in epoch_unit, a number into a date is days, a number into a time is
 * epoch_unit since midnight, and a string into a numeric column that is not
 * a number is a base64 decimal with the column's scale.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(incremental_cdc_value);
PG_FUNCTION_INFO_V1(incremental_cdc_fail);

/* Microseconds between the Unix epoch and PostgreSQL's. */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* Return a string member of a jsonb object, or NULL. */
static char *
object_string(Jsonb *obj, const char *key)
{
	JsonbValue *v;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Return a member of a jsonb object as a Jsonb, or NULL. */
static Jsonb *
object_member(Jsonb *obj, const char *key)
{
	JsonbValue *v;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
	return v ? JsonbValueToJsonb(v) : NULL;
}

/* Return the text of a JSON scalar (strings unquoted), or NULL for null. */
static char *
scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/*
 * Stop the run on an encoded date or time that no value of the target type
 * can hold (22008), rather than let it wrap around or print nonsense.
 */
static void
out_of_range(Numeric n, const char *unit, Oid target)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("change event value %s is out of range for type %s",
					DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n))),
					format_type_be(target)),
			 errdetail("It was read as %s (%s).",
					   strcmp(unit, "d") == 0 ? "days since 1970-01-01" :
					   target == TIMEOID ? "time since midnight" : "time since 1970-01-01 00:00:00 UTC",
					   unit),
			 errhint("Fix or delete the event in the source, then run again.")));
}

/*
 * A JSON number scaled to microseconds (unit: d, s, ms, us, ns), rounded
 * down; computed in numeric, so that nothing overflows unnoticed.
 */
static int64
to_micros(Numeric n, const char *unit, Oid target)
{
	const char *factor = strcmp(unit, "d") == 0 ? "86400000000" :
		strcmp(unit, "s") == 0 ? "1000000" :
		strcmp(unit, "ms") == 0 ? "1000" :
		strcmp(unit, "ns") == 0 ? "0.001" : "1";
	Datum		f = DirectFunctionCall3(numeric_in, CStringGetDatum(factor),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	Datum		us = DirectFunctionCall1(numeric_floor,
										 DirectFunctionCall2(numeric_mul, NumericGetDatum(n), f));

	if (numeric_is_nan(DatumGetNumeric(us)) || numeric_is_inf(DatumGetNumeric(us)) ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, us,
										  NumericGetDatum(int64_to_numeric(PG_INT64_MIN)))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, us,
										  NumericGetDatum(int64_to_numeric(PG_INT64_MAX)))) > 0)
		out_of_range(n, unit, target);
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, us));
}

/*
 * Format an epoch value (n in unit) as the text of the target type: ISO 8601
 * in UTC with an explicit offset, whatever the session's DateStyle and
 * TimeZone, so that casting it back to the type reads the same instant.
 * (timestamptz_out wrote the session's zone, and with DateStyle Postgres its
 * abbreviation, which the input routine may read as another zone.)
 */
static char *
epoch_text(Numeric n, const char *unit, Oid target)
{
	int64		us = to_micros(n, unit, target);
	Timestamp	ts;
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (pg_sub_s64_overflow(us, UNIX_TO_PG_USECS, &ts))
		out_of_range(n, unit, target);
	if (target == DATEOID)
	{
		int64		days = ts / USECS_PER_DAY;

		/* round down, as timestamp_date does */
		if (ts < 0 && ts % USECS_PER_DAY != 0)
			days--;
		if (days < PG_INT32_MIN || days > PG_INT32_MAX || !IS_VALID_DATE((DateADT) days))
			out_of_range(n, unit, target);
		j2date((int) days + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		EncodeDateOnly(&tm, USE_ISO_DATES, buf);
		return pstrdup(buf);
	}
	if (!IS_VALID_TIMESTAMP(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		out_of_range(n, unit, target);
	tm.tm_isdst = 0;			/* UTC: EncodeDateTime prints no offset for -1 */
	EncodeDateTime(&tm, fsec, target == TIMESTAMPTZOID, 0, NULL, USE_ISO_DATES, buf);
	return pstrdup(buf);
}

/* Format n units since midnight as a time (ISO, as any DateStyle reads it). */
static char *
time_text(Numeric n, const char *unit)
{
	int64		us = to_micros(n, unit, TIMEOID);
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (us < INT64CONST(0) || us > USECS_PER_DAY)
		out_of_range(n, unit, TIMEOID);
	time2tm(us, &tm, &fsec);
	EncodeTimeOnly(&tm, fsec, false, 0, USE_ISO_DATES, buf);
	return pstrdup(buf);
}

/*
 * Decode a base64 big-endian two's complement integer and place the decimal
 * point scale digits from the right: Kafka Connect's Decimal.
 */
static char *
decimal_text(const char *b64, int scale)
{
	int			len = strlen(b64);
	char	   *bytes = palloc(pg_b64_dec_len(len) + 1);
	int			n = pg_b64_decode(b64, len, bytes, pg_b64_dec_len(len));
	Datum		acc = NumericGetDatum(int64_to_numeric(0));
	Datum		base = NumericGetDatum(int64_to_numeric(256));
	char	   *digits;
	bool		negative;
	StringInfoData buf;
	int			ndigits;

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid base64 decimal \"%s\"", b64)));
	if (scale < 0 || scale > NUMERIC_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("decimal scale %d is out of range", scale),
				 errdetail("A numeric's scale is between 0 and %d.", NUMERIC_MAX_SCALE)));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		acc = DirectFunctionCall2(numeric_add,
								  DirectFunctionCall2(numeric_mul, acc, base),
								  NumericGetDatum(int64_to_numeric((unsigned char) bytes[i])));
	}
	if (n > 0 && (bytes[0] & 0x80))
	{
		/* two's complement: subtract 256^n */
		Datum		range = NumericGetDatum(int64_to_numeric(1));

		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			range = DirectFunctionCall2(numeric_mul, range, base);
		}
		acc = DirectFunctionCall2(numeric_sub, acc, range);
	}

	digits = DatumGetCString(DirectFunctionCall1(numeric_out, acc));
	negative = (digits[0] == '-');
	if (negative)
		digits++;
	if (scale <= 0)
		return psprintf("%s%s", negative ? "-" : "", digits);

	initStringInfo(&buf);
	if (negative)
		appendStringInfoChar(&buf, '-');
	ndigits = strlen(digits);
	if (ndigits <= scale)
	{
		appendStringInfoString(&buf, "0.");
		for (int i = ndigits; i < scale; i++)
			appendStringInfoChar(&buf, '0');
		appendStringInfoString(&buf, digits);
	}
	else
	{
		appendBinaryStringInfo(&buf, digits, ndigits - scale);
		appendStringInfoChar(&buf, '.');
		appendStringInfoString(&buf, digits + ndigits - scale);
	}
	return buf.data;
}

/* True if s reads as a number (what numeric_in accepts, without spaces). */
static bool
looks_numeric(const char *s)
{
	const char *p = s;
	bool		digits = false;

	if (pg_strcasecmp(s, "NaN") == 0 || pg_strcasecmp(s, "Infinity") == 0 ||
		pg_strcasecmp(s, "-Infinity") == 0)
		return true;
	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char) *p))
		p++, digits = true;
	if (*p == '.')
		for (p++; isdigit((unsigned char) *p); p++)
			digits = true;
	if (digits && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return digits && *p == '\0';
}

/* The scale of a numeric typmod, or 0 when unconstrained. */
static int
numeric_typmod_scale(int32 typmod)
{
	if (typmod < (int32) VARHDRSZ)
		return 0;
	return (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
}

/* Decode a value by the Debezium logical type in its field schema; NULL if none applies. */
static char *
decode_logical(const char *name, Jsonb *field, JsonbValue *v, Oid target)
{
	bool		number = (v->type == jbvNumeric);

	if (!number && v->type != jbvString)
		return NULL;
	if ((strcmp(name, "io.debezium.time.Date") == 0 ||
		 strcmp(name, "org.apache.kafka.connect.data.Date") == 0) && number)
		return epoch_text(v->val.numeric, "d", target);
	if ((strcmp(name, "io.debezium.time.Timestamp") == 0 ||
		 strcmp(name, "org.apache.kafka.connect.data.Timestamp") == 0) && number)
		return epoch_text(v->val.numeric, "ms", target);
	if (strcmp(name, "io.debezium.time.MicroTimestamp") == 0 && number)
		return epoch_text(v->val.numeric, "us", target);
	if (strcmp(name, "io.debezium.time.NanoTimestamp") == 0 && number)
		return epoch_text(v->val.numeric, "ns", target);
	if ((strcmp(name, "io.debezium.time.Time") == 0 ||
		 strcmp(name, "org.apache.kafka.connect.data.Time") == 0) && number)
		return time_text(v->val.numeric, "ms");
	if (strcmp(name, "io.debezium.time.MicroTime") == 0 && number)
		return time_text(v->val.numeric, "us");
	if (strcmp(name, "io.debezium.time.NanoTime") == 0 && number)
		return time_text(v->val.numeric, "ns");
	if (strcmp(name, "org.apache.kafka.connect.data.Decimal") == 0 && !number)
	{
		Jsonb	   *params = object_member(field, "parameters");
		char	   *scale = object_string(params, "scale");

		return decimal_text(pnstrdup(v->val.string.val, v->val.string.len),
							scale ? atoi(scale) : 0);
	}
	return NULL;
}

/*
 * _incr_cdc_value(value jsonb, field jsonb, target oid, typmod int,
 * epoch_unit text): the text input, for the target column's type, of one
 * value of a change event's row image.  field is the value's Debezium field
 * schema, or NULL.
 */
Datum
incremental_cdc_value(PG_FUNCTION_ARGS)
{
	Jsonb	   *value;
	Jsonb	   *field = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Oid			target;
	int32		typmod;
	char	   *unit = PG_ARGISNULL(4) ? "ms" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *name = object_string(field, "name");
	JsonbValue	v;
	char	   *result = NULL;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target and typmod must not be null")));
	if (!SearchSysCacheExists1(TYPEOID, PG_GETARG_DATUM(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%u is not a type", PG_GETARG_OID(2))));
	target = getBaseType(PG_GETARG_OID(2));
	typmod = PG_GETARG_INT32(3);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	value = PG_GETARG_JSONB_P(0);

	if (!JsonbExtractScalar(&value->root, &v))
	{
		/* an object or array: VariableScaleDecimal, or JSON kept as JSON */
		if (name && strcmp(name, "io.debezium.data.VariableScaleDecimal") == 0)
		{
			char	   *scale = object_string(value, "scale");
			Jsonb	   *scale_json = object_member(value, "scale");
			char	   *digits = object_string(value, "value");

			if (scale == NULL && scale_json)
				scale = JsonbToCString(NULL, &scale_json->root, VARSIZE(scale_json));
			if (digits)
				PG_RETURN_TEXT_P(cstring_to_text(decimal_text(digits, scale ? atoi(scale) : 0)));
		}
		PG_RETURN_TEXT_P(cstring_to_text(JsonbToCString(NULL, &value->root, VARSIZE(value))));
	}
	if (v.type == jbvNull)
		PG_RETURN_NULL();

	if (name)
		result = decode_logical(name, field, &v, target);
	if (result == NULL && v.type == jbvNumeric)
	{
		switch (target)
		{
			case TIMESTAMPTZOID:
			case TIMESTAMPOID:
				result = epoch_text(v.val.numeric, unit, target);
				break;
			case DATEOID:
				result = epoch_text(v.val.numeric, "d", target);
				break;
			case TIMEOID:
				result = time_text(v.val.numeric, unit);
				break;
			default:
				break;
		}
	}
	if (result == NULL && v.type == jbvString && target == NUMERICOID)
	{
		char	   *s = pnstrdup(v.val.string.val, v.val.string.len);

		result = looks_numeric(s) ? s : decimal_text(s, numeric_typmod_scale(typmod));
	}
	if (result == NULL)
		result = scalar_text(&v);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * _incr_cdc_fail(cursor text, problem text): stop a cdc run on a bad event,
 * naming the event.  Declared to return text so it can stand in for a value.
 */
Datum
incremental_cdc_fail(PG_FUNCTION_ARGS)
{
	char	   *cursor = PG_ARGISNULL(0) ? "NULL" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *problem = PG_ARGISNULL(1) ? "is invalid" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("change event at cursor %s %s", cursor, problem),
			 errdetail("Nothing of the run's window was applied."),
			 errhint("Fix or delete the event in the source, then run again.")));
	PG_RETURN_NULL();
}
