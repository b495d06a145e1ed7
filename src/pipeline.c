/*
 * pipeline.c
 *		Defining pipelines: incr_create_pipeline and the SQL functions that
 *		change or remove one.  The check of a definition against its
 *		relations is DescribePipeline (describe.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/xact.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_sequence.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "commands/dbcommands.h"
#include "utils/varlena.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "cursor.h"
#include "options.h"
#include "citus.h"
#include "pipeline.h"
#include "describe.h"
#include "scheduler.h"
#include "source_cursor.h"
#include "source_files.h"
#include "source_wal.h"

PG_FUNCTION_INFO_V1(incremental_incr_create_pipeline);
PG_FUNCTION_INFO_V1(incremental_incr_drop_pipeline);
PG_FUNCTION_INFO_V1(incremental_incr_pause);
PG_FUNCTION_INFO_V1(incremental_incr_resume);
PG_FUNCTION_INFO_V1(incremental_incr_reset);
PG_FUNCTION_INFO_V1(incremental_incr_prune_runs);
PG_FUNCTION_INFO_V1(incremental_incr_schedule);
PG_FUNCTION_INFO_V1(incremental_incr_unschedule);
PG_FUNCTION_INFO_V1(incremental_check_owner);
PG_FUNCTION_INFO_V1(incremental_is_member);
PG_FUNCTION_INFO_V1(incremental_source_subscribed);

static void read_mode_options(FunctionCallInfo fcinfo, Pipeline *p);

/* Raise the error for a NULL in an argument that needs a value. */
static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}


/* Read the keys argument, and refuse keys a mode needs and has not or takes and has. */
static void
read_keys(FunctionCallInfo fcinfo, Pipeline *p)
{
	if (!PG_ARGISNULL(5))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(5);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("keys must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("keys must not be an empty array"),
					 errhint("Pass NULL for a pipeline without keys.")));
		for (int i = 0; i < n; i++)
		{
			char	   *key;
			ListCell   *lc;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("keys must not contain NULL")));
			key = TextDatumGetCString(elems[i]);
			foreach(lc, p->keys)
			{
				if (strcmp((char *) lfirst(lc), key) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_COLUMN),
							 errmsg("key column \"%s\" is named twice", key)));
			}
			p->keys = lappend(p->keys, key);
		}
	}
	if ((p->mode == MODE_MERGE || p->mode == MODE_CDC || p->mode == MODE_SCD2) &&
		p->keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s pipeline \"%s\" needs keys", PipelineModeName(p->mode), p->name),
				 errhint("Pass keys => ARRAY['id'], naming columns of a unique index on the target.")));
	if (p->mode == MODE_QUERY && p->keys != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query pipeline \"%s\" takes no keys", p->name),
				 errdetail("Its command decides how rows are written.")));
	if (p->mode == MODE_FILES && p->keys != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pipeline \"%s\" takes no keys", p->name),
				 errdetail("Each file is loaded with COPY, which appends its rows."),
				 errhint("Load the files into a staging table and merge it on from there with a second pipeline.")));
}

/*
 * Plan a query pipeline's command with its two parameters, as the creating
 * role, so that a command that cannot run is refused at creation.
 */
static void
prepare_command(Pipeline *p)
{
	Oid			types[2] = {p->cursor_type, p->cursor_type};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_prepare(p->command, 2, types) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("command of query pipeline \"%s\" could not be prepared: %s",
						p->name, SPI_result_code_string(SPI_result))));
	SPI_finish();
}

/* Read the lag argument: not negative, and only for cursor types that take one. */
static void
read_lag(FunctionCallInfo fcinfo, Pipeline *p)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	if (!PG_ARGISNULL(6))
	{
		p->lag = PG_GETARG_INTERVAL_P(6);
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(p->lag),
											  IntervalPGetDatum(&zero))) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lag must not be negative")));
		if (p->mode == MODE_QUERY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query pipeline \"%s\" cannot have a lag", p->name),
					 errdetail("Its command cannot tell rows it has seen from new ones, so a stretch read again would count twice.")));
		if (!PipelineCursor(p)->takes_lag)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lag needs a timestamp or date cursor"),
					 errdetail("Cursor column \"%s\" has type %s.",
							   p->cursor_column, format_type_be(p->cursor_type)),
					 errhint("Pass lag => NULL for a version or sequence cursor.")));
	}
}

/*
 * Read the capture argument (0.4): true for 'wal', false for 'cursor' or a
 * database whose incr_create_pipeline has no capture.
 */
static bool
read_capture(FunctionCallInfo fcinfo)
{
	char	   *capture;

	if (PG_NARGS() <= 25 || PG_ARGISNULL(25))
		return false;
	capture = text_to_cstring(PG_GETARG_TEXT_PP(25));
	if (strcmp(capture, "wal") == 0)
		return true;
	if (strcmp(capture, "cursor") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("capture must be cursor or wal, not \"%s\"", capture)));
	return false;
}

/*
 * incr_create_pipeline(name, source, target, cursor_column, mode, keys, lag,
 * batch_size, schedule, enabled, then the mode options of options.c):
 * validate a definition and store it.  A database at 0.1 passes 23
 * arguments (no files, copy_options), one at 0.2 or 0.3 25, one at 0.4 29
 * (capture, then wal_op_column, wal_lsn_column, wal_time_column).
 */
Datum
incremental_incr_create_pipeline(PG_FUNCTION_ARGS)
{
	Pipeline   *p = palloc0(sizeof(Pipeline));
	Interval   *schedule = NULL;
	Datum		result;
	char	   *mode_name;
	PipelineShape *shape;
	Interval	zero;
	bool		wal;

	/*
	 * Version 0.1 of the install script declares 23 arguments, 0.2 adds files
	 * and copy_options, 0.4 capture and the change log's columns; anything else is a script this library
	 * does not know: refuse, not crash.
	 */
	if (PG_NARGS() != 23 && PG_NARGS() != 25 && PG_NARGS() != 29)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("incr_create_pipeline of this database does not match the installed library"),
				 errdetail("It takes %d arguments; the library expects 23, 25 or 29.", PG_NARGS()),
				 errhint("Run ALTER EXTENSION incremental UPDATE.")));
	require_arg(fcinfo, 0, "name");
	require_arg(fcinfo, 2, "target");

	p->name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RefuseOnStandby("create", p->name);
	p->target = PG_GETARG_OID(2);
	/* 0.3 declares no default mode: left out, it is append, said aloud below */
	mode_name = PG_ARGISNULL(4) ? "append" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	wal = read_capture(fcinfo);
	if (strcmp(mode_name, "files") == 0)
	{
		if (PG_NARGS() < 25)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("files pipelines need version 0.2 of extension incremental"),
					 errdetail("This database has an older version, whose incr_create_pipeline has no files argument."),
					 errhint("Run ALTER EXTENSION incremental UPDATE.")));
		if (!PG_ARGISNULL(1) || !PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("files pipeline \"%s\" takes no source or cursor_column", p->name),
					 errdetail("It reads the files its pattern names; their modification time is its cursor."),
					 errhint("Pass files => '/path/*.csv' and leave source and cursor_column out.")));
		p->cursor_type = TIMESTAMPTZOID;
		p->cursor_kind = CURSOR_TIMESTAMPTZ;
	}
	else
	{
		require_arg(fcinfo, 1, "source");
		p->source = PG_GETARG_OID(1);
		if (!wal)
		{
			require_arg(fcinfo, 3, "cursor_column");
			p->cursor_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
		}
	}
	p->enabled = PG_ARGISNULL(9) ? true : PG_GETARG_BOOL(9);
	p->owner = GetUserId();
	memset(&zero, 0, sizeof(zero));

	if (p->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pipeline name must not be empty")));
	if (PipelineExists(p->name))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pipeline \"%s\" already exists", p->name),
				 errhint("Choose another name, or drop the pipeline first with incr_drop_pipeline.")));

	if (!PipelineModeFromName(mode_name, &p->mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown mode \"%s\"", mode_name),
				 errhint("Use one of: append, merge, cdc, scd2, query, files.")));
	read_mode_options(fcinfo, p);
	/* a cursor pipeline keeps no capture in its options, as before 0.4 */
	if (!wal)
		p->capture = NULL;

	read_keys(fcinfo, p);
	if (wal)
		WalCheckDefinition(p, !PG_ARGISNULL(3));

	if (!PG_ARGISNULL(7))
	{
		p->batch_size = PG_GETARG_INT64(7);
		if (p->batch_size <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be positive, not " INT64_FORMAT, p->batch_size),
					 errhint("Pass NULL for no limit.")));
	}
	if (!PG_ARGISNULL(8))
	{
		schedule = PG_GETARG_INTERVAL_P(8);
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(schedule),
											  IntervalPGetDatum(&zero))) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schedule must be a positive interval")));
	}

	/* the cursor's type decides what a checkpoint and a lag are */
	if (wal)
	{
		/* the checkpoint of a wal pipeline is a position in the WAL */
		p->cursor_type = PG_LSNOID;
		p->cursor_kind = CURSOR_LSN;
		if (!PG_ARGISNULL(6))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wal pipeline \"%s\" cannot have a lag", p->name),
					 errdetail("Its changes come in commit order from the WAL: none is ever late."),
					 errhint("Leave lag out.")));
	}
	else if (p->mode != MODE_FILES)
		ReadCursorType(p);
	read_lag(fcinfo, p);

	shape = DescribePipeline(p, DESCRIBE_FOR_CREATE);
	/* the source's columns as created, for on_schema_change to compare with */
	p->source_columns = shape->source_columns;
	p->source_types = shape->source_types;
	CheckCitusPipeline(p);
	if (p->mode == MODE_QUERY)
	{
		prepare_command(p);
		WarnInclusiveLowerBound(p);
	}

	/*
	 * An append pipeline never applies a change to a row it loaded: on a
	 * source whose cursor is a timestamp (an updated_at), left out, append is
	 * rarely what was meant.
	 */
	if (PG_ARGISNULL(4) && (p->cursor_kind == CURSOR_TIMESTAMPTZ ||
							p->cursor_kind == CURSOR_TIMESTAMP ||
							p->cursor_kind == CURSOR_DATE))
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" appends: no mode was given", p->name),
				 errdetail("An append pipeline inserts the rows whose cursor passed the checkpoint; it never applies an update or a delete to a row it has loaded."),
				 errhint("For a source whose rows change (an updated_at cursor), pass mode => 'merge' and keys => ARRAY[...]; to keep append and not see this, pass mode => 'append'.")));

	if (p->mode != MODE_FILES && !wal && !shape->source_has_cursor_index &&
		shape->source_relkind != RELKIND_VIEW &&
		shape->source_relkind != RELKIND_FOREIGN_TABLE)
		ereport(NOTICE,
				(errmsg("source \"%s\" has no index leading with cursor column \"%s\"",
						get_rel_name(p->source), p->cursor_column),
				 errdetail("Every run will scan the whole source."),
				 errhint("CREATE INDEX ON %s (%s);", shape->source_sql,
						 quote_identifier(p->cursor_column))));

	if (p->mode != MODE_FILES && !wal && p->lag == NULL &&
		shape->source_relkind != RELKIND_FOREIGN_TABLE && SourceIsSubscribed(p->source))
		ereport(WARNING,
				(errmsg("source \"%s\" of pipeline \"%s\" is replicated by a subscription, so its rows have no safe upper bound",
						get_rel_name(p->source), p->name),
				 errdetail("A transaction that commits later on the publisher can bring rows below the checkpoint; the safe bound sees only this server's transactions, so those rows would never be loaded."),
				 errhint("Pass lag => an interval longer than the publisher's longest transaction plus the replication delay (timestamp and date cursors), or run the pipeline on the publisher.")));

	/* its publication, last: the checks above write nothing */
	if (wal)
	{
		if (PipelineOverCitus(p))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("wal pipeline \"%s\" cannot read a Citus table", p->name),
					 errdetail("The changes of a distributed table are written to the WAL of its workers."),
					 errhint("Use capture => 'cursor'.")));
		p->wal_slot = WalNewSlotName();
		WalCreatePublication(p);
	}
	result = InsertPipeline(p, schedule);
	if (schedule)
		WarnScheduleNotRunning(p);
	PG_RETURN_DATUM(result);
}

/*
 * Does a query pipeline's command compare the cursor with $1 inclusively
 * (BETWEEN $1, >= $1, $1 <=)?  $1 is the exclusive lower bound, the last
 * value an earlier run processed, so such a command processes the rows at
 * the boundary twice: what pg_incremental's "between $1 and $2" becomes when
 * carried over unchanged.  A text search: a hint, not a proof.
 */
static bool
command_includes_lower_bound(const char *command)
{
	char	   *c = asc_tolower(command, strlen(command));

	for (char *at = strstr(c, "$1"); at; at = strstr(at + 2, "$1"))
	{
		const char *before = at;
		const char *after = at + 2;

		if (isdigit((unsigned char) *after))
			continue;
		while (before > c && isspace((unsigned char) before[-1]))
			before--;
		if (before - c >= 2 && strncmp(before - 2, ">=", 2) == 0)
			return true;
		if (before - c >= 7 && strncmp(before - 7, "between", 7) == 0)
			return true;
		while (*after && isspace((unsigned char) *after))
			after++;
		if (strncmp(after, "<=", 2) == 0)
			return true;
	}
	return false;
}

/* Warn when a query pipeline's command includes its exclusive lower bound $1. */
void
WarnInclusiveLowerBound(Pipeline *p)
{
	if (p->mode == MODE_QUERY && p->command && command_includes_lower_bound(p->command))
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("command of query pipeline \"%s\" seems to include its lower bound $1", p->name),
				 errdetail("$1 is the last cursor value an earlier run processed, so \"BETWEEN $1 AND $2\" or \">= $1\" processes the rows at that value twice."),
				 errhint("Compare the cursor as in: WHERE cursor > $1 AND cursor <= $2.")));
}

/*
 * Read the options of incr_create_pipeline that only some modes take (the
 * option table, options.c), refuse each one given to a mode that does not
 * use it, and check the combinations a mode needs.
 */
static void
read_mode_options(FunctionCallInfo fcinfo, Pipeline *p)
{
	bool		cdc = (p->mode == MODE_CDC);

	ReadPipelineOptions(fcinfo, p);
	if (strcmp(p->on_schema_change, "fail") != 0 && strcmp(p->on_schema_change, "ignore") != 0 &&
		strcmp(p->on_schema_change, "add_columns") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_schema_change must be fail, ignore or add_columns, not \"%s\"",
						p->on_schema_change)));
	RefuseOptions(p);

	if (p->soft_delete && p->delete_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("soft_delete needs delete_column"),
				 errhint("Name the source column that marks a row deleted.")));
	if (cdc)
	{
		if ((p->payload_column == NULL) == (p->op_column == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cdc pipeline \"%s\" needs either payload_column or op_column",
							p->name),
					 errhint("payload_column names a jsonb column holding Debezium events; op_column names the operation column of a flat change table.")));
		if (p->payload_column && (p->after_column || p->before_column))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("after_column and before_column go with op_column, not payload_column")));
		if (strcmp(p->epoch_unit, "s") != 0 && strcmp(p->epoch_unit, "ms") != 0 &&
			strcmp(p->epoch_unit, "us") != 0 && strcmp(p->epoch_unit, "ns") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("epoch_unit must be one of s, ms, us, ns, not \"%s\"", p->epoch_unit)));
	}
	if (p->mode == MODE_SCD2)
	{
		if (!p->valid_from_column || !p->valid_to_column || !p->current_column)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("valid_from_column, valid_to_column and current_column must not be null")));
	}
	if (p->mode == MODE_FILES && p->files == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pipeline \"%s\" needs files", p->name),
				 errhint("Pass files => '/path/to/folder/*.csv', a pattern of absolute paths on the database server.")));
	if (p->mode == MODE_QUERY && p->command == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query pipeline \"%s\" needs a command", p->name),
				 errhint("Pass command => 'INSERT INTO ... SELECT ... WHERE cursor > $1 AND cursor <= $2'.")));
}

/* Load a pipeline named by the first argument and check the caller owns it. */
static Pipeline *
owned_pipeline(FunctionCallInfo fcinfo)
{
	Pipeline   *p;

	require_arg(fcinfo, 0, "name");
	p = LoadPipeline(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	CheckPipelineOwner(p);
	return p;
}

/* Like owned_pipeline, for a function that changes the pipeline: not on a standby. */
static Pipeline *
writable_pipeline(FunctionCallInfo fcinfo, const char *action)
{
	require_arg(fcinfo, 0, "name");
	RefuseOnStandby(action, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	return owned_pipeline(fcinfo);
}

/* incr_drop_pipeline(name): remove a pipeline, its checkpoint and its pg_cron job. */
Datum
incremental_incr_drop_pipeline(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "drop");

	if (PipelineIsWal(p))
		WalDropPipeline(p);
	DeletePipeline(p->name);
	DropCronJob(p->name);
	PG_RETURN_VOID();
}

/*
 * Warn when a schedule stored for the background worker will not run: the
 * library is not preloaded, the scheduler is off, or this database is not
 * one it serves; and when a pg_cron job runs the pipeline too.
 */
void
WarnScheduleNotRunning(Pipeline *p)
{
	char	   *dbname = get_database_name(MyDatabaseId);
	char	   *list = pstrdup(incr_scheduler_databases ? incr_scheduler_databases : "");
	List	   *names = NIL;
	bool		served = false;
	ListCell   *lc;

	if (!scheduler_preloaded)
	{
		ereport(WARNING,
				(errmsg("pipeline \"%s\" is scheduled, but no scheduler runs it", p->name),
				 errdetail("The background worker starts only with incremental in shared_preload_libraries, which this server was not started with."),
				 errhint("Add incremental to shared_preload_libraries and restart the server, or schedule with incr_cron_schedule (pg_cron).")));
		return;
	}
	if (!incr_scheduler_enabled)
		ereport(WARNING,
				(errmsg("pipeline \"%s\" is scheduled, but the scheduler is off", p->name),
				 errhint("Set incremental.enabled = on and reload the configuration.")));
	if (SplitGUCList(list, ',', &names))
		foreach(lc, names)
			if (strcmp((char *) lfirst(lc), dbname) == 0)
				served = true;
	if (!served)
		ereport(WARNING,
				(errmsg("pipeline \"%s\" is scheduled, but the scheduler does not serve database \"%s\"",
						p->name, dbname),
				 errdetail("incremental.database is \"%s\".", incr_scheduler_databases ? incr_scheduler_databases : ""),
				 errhint("Add the database to incremental.database (a comma list) and reload the configuration.")));
	if (HasCronJob(p->name))
		ereport(WARNING,
				(errmsg("pipeline \"%s\" is also run by a pg_cron job", p->name),
				 errdetail("Both the background worker and pg_cron will start its runs; one waits for or skips the other, which only adds load."),
				 errhint("Keep one: SELECT incr_cron_unschedule(%s); or SELECT incr_unschedule(%s);",
						 quote_literal_cstr(p->name), quote_literal_cstr(p->name))));
}

/* incr_schedule(name, schedule): run the pipeline every schedule from the scheduler. */
Datum
incremental_incr_schedule(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "schedule");
	Interval   *schedule;
	Interval	zero;

	require_arg(fcinfo, 1, "schedule");
	schedule = PG_GETARG_INTERVAL_P(1);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(schedule),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule must be a positive interval")));
	SetPipelineSchedule(p->name, schedule);
	WarnScheduleNotRunning(p);
	PG_RETURN_VOID();
}

/* incr_unschedule(name): stop running the pipeline from the scheduler. */
Datum
incremental_incr_unschedule(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "unschedule");

	SetPipelineSchedule(p->name, NULL);
	PG_RETURN_VOID();
}

/* _incr_is_member(role): may the current user act as role (row-level security)? */
Datum
incremental_is_member(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(has_privs_of_role(GetUserId(), PG_GETARG_OID(0)));
}

/* _incr_source_subscribed(source): is the source replicated into by a subscription? */
Datum
incremental_source_subscribed(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		is_missing = false;

	/*
	 * Callable by anyone: answer only about a relation the caller may read,
	 * checked before anything is locked (the walk below locks the relation
	 * and the tables under a view), and NULL for the rest.
	 */
	if (pg_class_aclcheck_ext(relid, GetUserId(), ACL_SELECT, &is_missing) != ACLCHECK_OK &&
		(is_missing ||
		 pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK))
		PG_RETURN_NULL();
	if (is_missing)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(SourceIsSubscribed(relid));
}

/* _incr_check_owner(name): raise an error unless the caller may act on the pipeline. */
Datum
incremental_check_owner(PG_FUNCTION_ARGS)
{
	(void) owned_pipeline(fcinfo);
	PG_RETURN_VOID();
}

/* incr_pause(name): disable a pipeline. */
Datum
incremental_incr_pause(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "pause");

	SetPipelineEnabled(p->name, false);
	PG_RETURN_VOID();
}

/* incr_resume(name): enable a pipeline. */
Datum
incremental_incr_resume(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "resume");

	SetPipelineEnabled(p->name, true);
	PG_RETURN_VOID();
}

/*
 * incr_reset(name, to_value): move the checkpoint to to_value, read with the
 * cursor type's input function, or clear it (NULL) so the next run starts
 * from the beginning.  Waits for a run of the pipeline in progress.  A files
 * pipeline also forgets the files modified after to_value (all of them for
 * NULL), so the next run loads them again.
 */
Datum
incremental_incr_reset(PG_FUNCTION_ARGS)
{
	Pipeline   *p = writable_pipeline(fcinfo, "reset");
	Checkpoint	cp;
	TupleDesc	desc;
	char	   *old_value;

	(void) ReadCheckpoint(p, CHECKPOINT_LOCK_WAIT, &cp);
	/* the definition the locked checkpoint belongs to: see ExecuteRun */
	p = owned_pipeline(fcinfo);
	if (ReadCheckpoint(p, CHECKPOINT_NO_LOCK, &cp) && !cp.isnull)
		old_value = CursorValueOut(p, cp.value);
	else
		old_value = NULL;
	cp.isnull = PG_ARGISNULL(1);
	if (!cp.isnull)
	{
		cp.value = CursorValueIn(p, text_to_cstring(PG_GETARG_TEXT_PP(1)));
		CheckXid8FromThisCluster(p, get_rel_relkind(p->source), cp.value, "cursor value");
	}
	/* a wal pipeline started over gets a new slot, and copies the table again */
	if (PipelineIsWal(p))
		WalResetPipeline(p, &cp);
	/* a files pipeline forgets the files modified after to_value, or all */
	if (p->mode == MODE_FILES)
		ForgetFiles(p, &cp);
	/* the deletes past to_value are read again, and leave their tombstones again */
	else
		ForgetTombstones(p, &cp);
	StoreCheckpoint(p, &cp, 0);

	/* 0.3 returns the checkpoint before and after; 0.2 declared void */
	if (get_call_result_type(fcinfo, NULL, &desc) == TYPEFUNC_COMPOSITE)
	{
		Datum		values[3];
		bool		nulls[3] = {false, old_value == NULL, cp.isnull};

		values[0] = CStringGetTextDatum(p->name);
		values[1] = old_value ? CStringGetTextDatum(old_value) : (Datum) 0;
		values[2] = cp.isnull ? (Datum) 0 : CStringGetTextDatum(CursorValueOut(p, cp.value));
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
	}
	PG_RETURN_VOID();
}

/*
 * incr_prune_runs(older_than): delete the history older than older_than of
 * every pipeline (superuser) or of the pipelines whose owner's rights the
 * caller has, each pipeline's latest run kept; returns how many rows went.
 * The scheduler does the same with incremental.runs_retention.
 */
Datum
incremental_incr_prune_runs(PG_FUNCTION_ARGS)
{
	Interval   *older_than = PG_GETARG_INTERVAL_P(0);
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	PG_RETURN_INT64(PruneRuns(older_than, superuser()));
}
