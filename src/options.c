/*
 * options.c
 *		The options of incr_create_pipeline that only some modes take, in one
 *		table used to read, refuse, store (incr_pipelines.options) and load them.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "options.h"

/* How an option is passed and kept. */
typedef enum OptionType
{
	OPTION_TEXT,				/* char *, a JSON string */
	OPTION_BOOL,				/* bool, kept only when true */
	OPTION_JSONB				/* Jsonb *, kept as it is */
} OptionType;

#define MODE_BIT(m)	(1 << (m))

/* The argno of an option the pipeline's definition sets, not its caller. */
#define OPTION_NOT_AN_ARGUMENT (-1)

/* One option of incr_create_pipeline that only some modes take. */
typedef struct PipelineOption
{
	const char *name;			/* argument of incr_create_pipeline, key in options */
	OptionType	type;
	int			argno;			/* 0-based argument of incr_create_pipeline */
	int			modes;			/* MODE_BIT of each mode that takes it */
	const char *modes_text;		/* the same, for the hint of a refusal */
	bool		refuse;			/* refuse it for other modes, else ignore it */
	const char *default_value;	/* text options: the value when not given */
	bool		default_always; /* the default holds for every mode, and on load */
	size_t		offset;			/* its field in Pipeline */
} PipelineOption;

/*
 * The options, in the order their refusals are checked.  A new option is a
 * row here, a field of Pipeline and a parameter of incr_create_pipeline.
 */
static const PipelineOption pipeline_options[] = {
	{"delete_column", OPTION_TEXT, 10, MODE_BIT(MODE_MERGE) | MODE_BIT(MODE_SCD2),
	"merge or scd2", true, NULL, false, offsetof(Pipeline, delete_column)},
	{"soft_delete", OPTION_BOOL, 11, MODE_BIT(MODE_MERGE),
	"merge", true, NULL, false, offsetof(Pipeline, soft_delete)},
	{"payload_column", OPTION_TEXT, 12, MODE_BIT(MODE_CDC),
	"cdc", true, NULL, false, offsetof(Pipeline, payload_column)},
	{"op_column", OPTION_TEXT, 13, MODE_BIT(MODE_CDC),
	"cdc", true, NULL, false, offsetof(Pipeline, op_column)},
	{"after_column", OPTION_TEXT, 14, MODE_BIT(MODE_CDC),
	"cdc", true, NULL, false, offsetof(Pipeline, after_column)},
	{"before_column", OPTION_TEXT, 15, MODE_BIT(MODE_CDC),
	"cdc", true, NULL, false, offsetof(Pipeline, before_column)},
	{"version_column", OPTION_TEXT, 16, MODE_BIT(MODE_CDC),
	"cdc", true, NULL, false, offsetof(Pipeline, version_column)},
	{"command", OPTION_TEXT, 17, MODE_BIT(MODE_QUERY),
	"query", true, NULL, false, offsetof(Pipeline, command)},
	{"valid_from_column", OPTION_TEXT, 18, MODE_BIT(MODE_SCD2),
	"scd2", false, NULL, false, offsetof(Pipeline, valid_from_column)},
	{"valid_to_column", OPTION_TEXT, 19, MODE_BIT(MODE_SCD2),
	"scd2", false, NULL, false, offsetof(Pipeline, valid_to_column)},
	{"current_column", OPTION_TEXT, 20, MODE_BIT(MODE_SCD2),
	"scd2", false, NULL, false, offsetof(Pipeline, current_column)},
	{"epoch_unit", OPTION_TEXT, 21, MODE_BIT(MODE_CDC),
	"cdc", false, "ms", false, offsetof(Pipeline, epoch_unit)},
	{"files", OPTION_TEXT, 23, MODE_BIT(MODE_FILES),
	"files", true, NULL, false, offsetof(Pipeline, files)},
	{"on_schema_change", OPTION_TEXT, 22,
		MODE_BIT(MODE_APPEND) | MODE_BIT(MODE_MERGE) | MODE_BIT(MODE_CDC) |
		MODE_BIT(MODE_SCD2) | MODE_BIT(MODE_QUERY),
	"append, merge, cdc or scd2", true, "fail", true, offsetof(Pipeline, on_schema_change)},
	{"copy_options", OPTION_JSONB, 24, MODE_BIT(MODE_FILES),
	"files", true, NULL, false, offsetof(Pipeline, copy_options)},
	/* cdc and query refuse wal with their own error (pipeline.c) */
	{"capture", OPTION_TEXT, 25,
		MODE_BIT(MODE_APPEND) | MODE_BIT(MODE_MERGE) | MODE_BIT(MODE_CDC) |
		MODE_BIT(MODE_SCD2) | MODE_BIT(MODE_QUERY),
	"append, merge or scd2", true, "cursor", false, offsetof(Pipeline, capture)},
	/* set by incr_create_pipeline for a wal pipeline, not an argument */
	{"wal_slot", OPTION_TEXT, OPTION_NOT_AN_ARGUMENT,
		MODE_BIT(MODE_APPEND) | MODE_BIT(MODE_MERGE) | MODE_BIT(MODE_SCD2),
	"append, merge or scd2", true, NULL, false, offsetof(Pipeline, wal_slot)},
	/* the columns of an append change log (capture => 'wal', checked in describe.c) */
	{"wal_op_column", OPTION_TEXT, 26, MODE_BIT(MODE_APPEND),
	"append", true, NULL, false, offsetof(Pipeline, wal_op_column)},
	{"wal_lsn_column", OPTION_TEXT, 27, MODE_BIT(MODE_APPEND),
	"append", true, NULL, false, offsetof(Pipeline, wal_lsn_column)},
	{"wal_time_column", OPTION_TEXT, 28, MODE_BIT(MODE_APPEND),
	"append", true, NULL, false, offsetof(Pipeline, wal_time_column)},
};

#define OPTION_FIELD(p, o, type) ((type *) ((char *) (p) + (o)->offset))

/*
 * Read the options from the arguments of incr_create_pipeline (those a
 * database at an older version does not pass stay unset), with their defaults.
 */
void
ReadPipelineOptions(FunctionCallInfo fcinfo, Pipeline *p)
{
	for (int i = 0; i < lengthof(pipeline_options); i++)
	{
		const PipelineOption *o = &pipeline_options[i];
		bool		given = o->argno >= 0 && o->argno < PG_NARGS() &&
			!PG_ARGISNULL(o->argno);

		switch (o->type)
		{
			case OPTION_TEXT:
				*OPTION_FIELD(p, o, char *) = given ?
					text_to_cstring(PG_GETARG_TEXT_PP(o->argno)) :
					(o->default_value ? pstrdup(o->default_value) : NULL);
				break;
			case OPTION_BOOL:
				*OPTION_FIELD(p, o, bool) = given && PG_GETARG_BOOL(o->argno);
				break;
			case OPTION_JSONB:
				*OPTION_FIELD(p, o, Jsonb *) = given ? PG_GETARG_JSONB_P_COPY(o->argno) : NULL;
				break;
		}
	}
}

/* Tell whether an option holds a value other than its default. */
static bool
option_given(Pipeline *p, const PipelineOption *o)
{
	switch (o->type)
	{
		case OPTION_TEXT:
			{
				char	   *v = *OPTION_FIELD(p, o, char *);

				return v != NULL && (o->default_value == NULL ||
									 strcmp(v, o->default_value) != 0);
			}
		case OPTION_BOOL:
			return *OPTION_FIELD(p, o, bool);
		case OPTION_JSONB:
			return *OPTION_FIELD(p, o, Jsonb *) != NULL;
	}
	return false;				/* keep compiler quiet */
}

/*
 * Refuse each option given to a mode that does not take it, or forget it
 * where the table says to ignore it (the mode then has the default, if that
 * holds for every mode).
 */
void
RefuseOptions(Pipeline *p)
{
	for (int i = 0; i < lengthof(pipeline_options); i++)
	{
		const PipelineOption *o = &pipeline_options[i];

		if (o->modes & MODE_BIT(p->mode))
			continue;
		if (o->refuse && option_given(p, o))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" does not apply to mode \"%s\"", o->name,
							PipelineModeName(p->mode)),
					 errhint("It is an option of mode %s.", o->modes_text)));
		if (o->type == OPTION_TEXT)
			*OPTION_FIELD(p, o, char *) = (o->default_always && o->default_value) ?
				pstrdup(o->default_value) : NULL;
	}
}

/* Return the options of a pipeline as a JSON object, without unset ones. */
char *
PipelineOptionsJson(Pipeline *p)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < lengthof(pipeline_options); i++)
	{
		const PipelineOption *o = &pipeline_options[i];

		if (o->type == OPTION_TEXT ? *OPTION_FIELD(p, o, char *) == NULL :
			o->type == OPTION_BOOL ? !*OPTION_FIELD(p, o, bool) :
			*OPTION_FIELD(p, o, Jsonb *) == NULL)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		escape_json(&buf, o->name);
		appendStringInfoString(&buf, ": ");
		if (o->type == OPTION_TEXT)
			escape_json(&buf, *OPTION_FIELD(p, o, char *));
		else if (o->type == OPTION_BOOL)
			appendStringInfoString(&buf, "true");
		else
		{
			Jsonb	   *j = *OPTION_FIELD(p, o, Jsonb *);

			appendStringInfoString(&buf, JsonbToCString(NULL, &j->root, VARSIZE(j)));
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Return the text of a member of the options object, as ->> gives it: a
 * string unquoted, a number or boolean as written, JSON null or no member as
 * NULL.
 */
static char *
option_text(Jsonb *options, const char *key)
{
	JsonbValue *v;

	if (options == NULL || !JB_ROOT_IS_OBJECT(options))
		return NULL;
	v = getKeyJsonValueFromContainer(&options->root, key, strlen(key), NULL);
	if (v == NULL)
		return NULL;
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
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

/* Set the options of a pipeline from incr_pipelines.options (NULL: none). */
void
LoadPipelineOptions(Pipeline *p, Jsonb *options)
{
	for (int i = 0; i < lengthof(pipeline_options); i++)
	{
		const PipelineOption *o = &pipeline_options[i];
		char	   *text_value;
		JsonbValue *v;

		switch (o->type)
		{
			case OPTION_TEXT:
				text_value = option_text(options, o->name);
				if (text_value == NULL && o->default_always)
					text_value = pstrdup(o->default_value);
				*OPTION_FIELD(p, o, char *) = text_value;
				break;
			case OPTION_BOOL:
				text_value = option_text(options, o->name);
				*OPTION_FIELD(p, o, bool) = text_value &&
					DatumGetBool(DirectFunctionCall1(boolin, CStringGetDatum(text_value)));
				break;
			case OPTION_JSONB:
				*OPTION_FIELD(p, o, Jsonb *) = NULL;
				if (options == NULL || !JB_ROOT_IS_OBJECT(options))
					break;
				v = getKeyJsonValueFromContainer(&options->root, o->name,
												 strlen(o->name), NULL);
				if (v != NULL && v->type == jbvBinary)
					*OPTION_FIELD(p, o, Jsonb *) = JsonbValueToJsonb(v);
				break;
		}
	}
}
