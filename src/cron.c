/*
 * cron.c
 *		pg_cron as the alternative scheduler: incr_cron_schedule and
 *		incr_cron_unschedule.  pg_cron is found through its extension, never
 *		by the name of a schema (see CronSchemaQuoted), and its functions are
 *		called qualified with that schema and with their exact argument types.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "catalog.h"

PG_FUNCTION_INFO_V1(incremental_incr_cron_schedule);
PG_FUNCTION_INFO_V1(incremental_incr_cron_unschedule);

/* Raise the error for a NULL in an argument that needs a value. */
static void
require_cron_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/* Load the pipeline named by the first argument and check the caller may act on it. */
static Pipeline *
cron_pipeline(FunctionCallInfo fcinfo)
{
	Pipeline   *p;

	require_cron_arg(fcinfo, 0, "name");
	p = LoadPipeline(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	CheckPipelineOwner(p);
	return p;
}

/*
 * incr_cron_schedule(name, cron_expression): create or replace the pg_cron
 * job "incremental:<name>" that calls incr_run, and return its id (a new
 * one: the job is made again, with pg_cron's connection settings of now).  The job
 * is the caller's: pg_cron runs it as the role that scheduled it.
 */
Datum
incremental_incr_cron_schedule(PG_FUNCTION_ARGS)
{
	Pipeline   *p = cron_pipeline(fcinfo);
	char	   *schema;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	int			save_nestlevel;
	bool		isnull;
	int64		job;

	require_cron_arg(fcinfo, 1, "cron_expression");
	schema = CronSchemaQuoted();
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("pg_cron is not installed in this database"),
				 errhint("Install pg_cron (shared_preload_libraries = 'pg_cron', CREATE EXTENSION pg_cron in cron.database_name), or schedule with incr_schedule and the background worker.")));

	/*
	 * pg_cron's job names are of type name: a longer one would be cut, and
	 * two pipelines whose names start alike would share (and replace) one job.
	 */
	if (strlen("incremental:") + strlen(p->name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("pipeline name \"%s\" is too long for a pg_cron job name", p->name),
				 errdetail("The job is named \"incremental:<pipeline>\", and pg_cron keeps at most %d bytes of a job name.",
						   NAMEDATALEN - 1),
				 errhint("Schedule it with incr_schedule and the background worker, or recreate the pipeline under a name of at most %d bytes.",
						 NAMEDATALEN - 1 - (int) strlen("incremental:"))));

	/*
	 * A new job rather than pg_cron's update of the old one, which would keep
	 * the connection (nodename, nodeport) the old one was made with: a job
	 * made before cron.host was set would go on failing to connect.
	 */
	(void) DropCronJob(p->name);

	values[0] = CStringGetTextDatum(psprintf("incremental:%s", p->name));
	values[1] = PG_GETARG_DATUM(1);
	values[2] = CStringGetTextDatum(CronJobCommand(p->name));

	/* as the caller, whose job it is, with nothing of the caller's on the path */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT %s.schedule($1::pg_catalog.text,"
									   " $2::pg_catalog.text, $3::pg_catalog.text)", schema),
							  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not schedule the pg_cron job of pipeline \"%s\"", p->name);
	job = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	AtEOXact_GUC(true, save_nestlevel);
	if (PipelineScheduled(p->name))
		ereport(WARNING,
				(errmsg("pipeline \"%s\" is also scheduled for the background worker", p->name),
				 errdetail("Both pg_cron and the background worker will start its runs; one waits for or skips the other, which only adds load."),
				 errhint("Keep one: SELECT incr_unschedule(%s); or SELECT incr_cron_unschedule(%s);",
						 quote_literal_cstr(p->name), quote_literal_cstr(p->name))));
	PG_RETURN_INT64(job);
}

/*
 * incr_cron_unschedule(name), and _incr_cron_unschedule(name) of 0.2: remove
 * the pg_cron jobs of a pipeline; false if there was none (or no pg_cron).
 */
Datum
incremental_incr_cron_unschedule(PG_FUNCTION_ARGS)
{
	Pipeline   *p = cron_pipeline(fcinfo);

	PG_RETURN_BOOL(DropCronJob(p->name));
}
