/*
 * catalog.c
 *		Reading and writing the extension's catalog tables with SPI.  Catalog
 *		statements run as the bootstrap superuser, so users need no privileges
 *		on the tables; who may change what is checked here, in C.
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "commands/extension.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"
#include "utils/xid8.h"

#include "catalog.h"
#include "cursor.h"
#include "options.h"

/* Saved identity and settings while a catalog statement runs as the superuser. */
typedef struct CatalogContext
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogContext;

/*
 * Connect to SPI and become the bootstrap superuser for catalog statements,
 * with search_path = pg_catalog, pg_temp: nothing a user put on the path can
 * run with the superuser's rights.  Restricted too, as a defence in depth:
 * should a catalog statement ever reach a user's object, it could not change
 * role or create temporary objects.  An error unwinds both with the
 * (sub)transaction.
 */
static void
catalog_begin(CatalogContext *cxt)
{
	GetUserIdAndSecContext(&cxt->save_userid, &cxt->save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   cxt->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	cxt->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Disconnect from SPI and become the caller again, with its settings. */
static void
catalog_end(CatalogContext *cxt)
{
	SPI_finish();
	AtEOXact_GUC(true, cxt->save_nestlevel);
	SetUserIdAndSecContext(cxt->save_userid, cxt->save_sec_context);
}

/*
 * A catalog statement's saved plan, by the constant it is built from and
 * the schema it names.
 */
typedef struct CatalogPlan
{
	const char *fmt;
	char	   *schema;
	SPIPlanPtr	plan;
} CatalogPlan;

static List *catalog_plans = NIL;

static char *catalog_sql(const char *fmt);

/*
 * Return the saved plan of a catalog statement, preparing it the first time:
 * every run executes several, and parsing and planning them each time was a
 * good part of a run that finds nothing to do.  fmt must be a string
 * constant: its address is the statement's name, so that finding the plan
 * needs neither building the text nor comparing it.  The plan cache replans
 * them when the catalog tables change; they always run as the same role
 * with the same search_path, so nothing else invalidates them.
 */
static SPIPlanPtr
catalog_plan(const char *fmt, int nargs, Oid *argtypes)
{
	ListCell   *lc;
	CatalogPlan *entry;
	MemoryContext old;
	SPIPlanPtr	plan;
	const char *schema = ExtensionSchemaQuoted();
	char	   *sql;

	foreach(lc, catalog_plans)
	{
		entry = (CatalogPlan *) lfirst(lc);
		if (entry->fmt == fmt && strcmp(entry->schema, schema) == 0)
			return entry->plan;
	}
	sql = catalog_sql(fmt);

	/*
	 * Generic plans: each statement reads or writes a handful of rows by key,
	 * which one plan does well for every value.  Left to choose, the plan
	 * cache kept planning some of them again for each run, their custom plans
	 * costing a little less than the generic one.
	 */
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare catalog statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of a catalog statement: %s", sql);
	old = MemoryContextSwitchTo(TopMemoryContext);
	entry = palloc(sizeof(CatalogPlan));
	entry->fmt = fmt;
	entry->schema = pstrdup(schema);
	entry->plan = plan;
	catalog_plans = lappend(catalog_plans, entry);
	MemoryContextSwitchTo(old);
	return plan;
}

/*
 * Run one catalog statement, fmt with the extension's schema for each %s (a
 * string constant: see catalog_plan); elog on an unexpected SPI result.
 */
static void
catalog_exec(const char *fmt, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, int expected)
{
	int			ret;

	ret = SPI_execute_plan(catalog_plan(fmt, nargs, argtypes), values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "catalog statement failed (SPI result %d): %s", ret, fmt);
}

/* Build a catalog statement: every %s in fmt is replaced by the schema. */
static char *
catalog_sql(const char *fmt)
{
	StringInfoData buf;
	const char *schema = ExtensionSchemaQuoted();
	const char *p;

	initStringInfo(&buf);
	for (p = fmt; *p; p++)
	{
		if (p[0] == '%' && p[1] == 's')
		{
			appendStringInfoString(&buf, schema);
			p++;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/* Raise the error for a pipeline name that is not in the catalog. */
static void
pipeline_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("pipeline \"%s\" does not exist", name),
			 errhint("List the pipelines with: SELECT name FROM incr_pipelines;")));
}

/* A source column and its type, as options.source_columns records them. */
typedef struct SourceColumn
{
	char	   *name;
	char	   *type;
} SourceColumn;

/* Order source columns by name, as ORDER BY on text in the database's collation. */
static int
source_column_cmp(const void *a, const void *b)
{
	const SourceColumn *x = (const SourceColumn *) a;
	const SourceColumn *y = (const SourceColumn *) b;

	return varstr_cmp(x->name, strlen(x->name), y->name, strlen(y->name),
					  DEFAULT_COLLATION_OID);
}

/*
 * Read options.source_columns (column name to type) into the pipeline's
 * source_columns and source_types, ordered by name.
 */
static void
read_source_columns(Pipeline *p, Jsonb *options)
{
	JsonbValue *v;
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;
	SourceColumn *columns;
	int			n = 0;

	if (options == NULL || !JB_ROOT_IS_OBJECT(options))
		return;
	v = getKeyJsonValueFromContainer(&options->root, "source_columns",
									 strlen("source_columns"), NULL);
	if (v == NULL || v->type == jbvNull)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		elog(ERROR, "pipeline \"%s\" has invalid source_columns", p->name);

	columns = palloc(sizeof(SourceColumn) * (JsonContainerSize(v->val.binary.data) + 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		if (token != WJB_KEY)
			continue;
		token = JsonbIteratorNext(&it, &value, true);
		Assert(token == WJB_VALUE);
		columns[n].name = pnstrdup(key.val.string.val, key.val.string.len);
		columns[n].type = value.type == jbvString ?
			pnstrdup(value.val.string.val, value.val.string.len) : pstrdup("");
		n++;
	}
	qsort(columns, n, sizeof(SourceColumn), source_column_cmp);
	for (int i = 0; i < n; i++)
	{
		p->source_columns = lappend(p->source_columns, columns[i].name);
		p->source_types = lappend(p->source_types, columns[i].type);
	}
}

/*
 * Refuse to change a pipeline on a hot standby, naming the standby: the first
 * catalog write would otherwise fail with a message about SELECT FOR UPDATE.
 */
void
RefuseOnStandby(const char *action, const char *name)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s pipeline \"%s\" on a standby", action, name),
				 errdetail("The server is in recovery: pipelines, checkpoints and targets are read-only here."),
				 errhint("Run it on the primary; incr_status and incr_plan work on a standby.")));
}

/*
 * Load a pipeline's definition by name, or raise an error if there is none.
 * The result is allocated in the caller's memory context.
 */
Pipeline *
LoadPipeline(const char *name)
{
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	Pipeline   *p;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	char	   *mode_name;
	Jsonb	   *options;

	values[0] = CStringGetTextDatum(name);

	catalog_begin(&cxt);
	catalog_exec("SELECT source, target, cursor_column::text, cursor_type,"
				 " mode, keys::text[], lag, batch_size, enabled, owner, options"
				 " FROM %s.incr_pipelines"
				 " WHERE name OPERATOR(pg_catalog.=) $1",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		catalog_end(&cxt);
		pipeline_not_found(name);
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	MemoryContextSwitchTo(caller);
	p = palloc0(sizeof(Pipeline));
	p->name = pstrdup(name);
	p->source = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	p->target = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	p->cursor_column = SPI_getvalue(tup, desc, 3);
	p->cursor_type = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	mode_name = SPI_getvalue(tup, desc, 5);
	if (!PipelineModeFromName(mode_name, &p->mode))
		elog(ERROR, "pipeline \"%s\" has unknown mode \"%s\"", name, mode_name);
	if (!CursorKindFromType(p->cursor_type, &p->cursor_kind))
		elog(ERROR, "pipeline \"%s\" has unsupported cursor type %u",
			 name, p->cursor_type);

	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *elemnulls;
		int			nelems;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &elemnulls, &nelems);
		for (int i = 0; i < nelems; i++)
			p->keys = lappend(p->keys, TextDatumGetCString(elems[i]));
	}

	d = SPI_getbinval(tup, desc, 7, &isnull);
	if (!isnull)
		p->lag = (Interval *) DatumGetPointer(datumCopy(d, false, sizeof(Interval)));

	d = SPI_getbinval(tup, desc, 8, &isnull);
	p->batch_size = isnull ? 0 : DatumGetInt64(d);
	p->enabled = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
	p->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 10, &isnull));
	d = SPI_getbinval(tup, desc, 11, &isnull);
	options = isnull ? NULL : DatumGetJsonbP(d);
	LoadPipelineOptions(p, options);
	read_source_columns(p, options);

	catalog_end(&cxt);
	return p;
}

/* True if a pipeline of that name exists. */
bool
PipelineExists(const char *name)
{
	CatalogContext cxt;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		exists;

	values[0] = CStringGetTextDatum(name);
	catalog_begin(&cxt);
	catalog_exec("SELECT 1 FROM %s.incr_pipelines WHERE name OPERATOR(pg_catalog.=) $1",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	exists = (SPI_processed > 0);
	catalog_end(&cxt);
	return exists;
}

/* The quoted name of a role, or its OID if it was dropped. */
static char *
owner_name(Oid owner)
{
	char	   *name = GetUserNameFromId(owner, true);

	return name ? psprintf("\"%s\"", name) : psprintf("with OID %u (dropped)", owner);
}

/*
 * Refuse to run a pipeline whose owner role was dropped: there is no one to
 * run it as.  Superusers can still drop it.
 */
void
CheckPipelineOwnerExists(Pipeline *pipeline)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(pipeline->owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("owner of pipeline \"%s\" no longer exists", pipeline->name),
				 errdetail("The role with OID %u that owned it was dropped.", pipeline->owner),
				 errhint("A superuser can drop the pipeline with incr_drop_pipeline and create it again.")));
}

/*
 * Refuse to go on unless the current user may act on the pipeline: its
 * owner, a member of the owning role, or a superuser.
 */
void
CheckPipelineOwner(Pipeline *pipeline)
{
	if (!has_privs_of_role(GetUserId(), pipeline->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of pipeline \"%s\"", pipeline->name),
				 errdetail("Pipeline \"%s\" is owned by role %s.",
						   pipeline->name, owner_name(pipeline->owner)),
				 errhint("Run it as its owner, or as a member of the owning role.")));
}

/* The source columns and their types as a JSON object, for options.source_columns. */
static char *
source_columns_json(Pipeline *p)
{
	StringInfoData buf;
	ListCell   *n;
	ListCell   *t;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	forboth(n, p->source_columns, t, p->source_types)
	{
		if (n != list_head(p->source_columns))
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, (char *) lfirst(n));
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, (char *) lfirst(t));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Record the source's columns as a run now finds them (after add_columns). */
void
StoreSourceColumns(Pipeline *p)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(p->name);
	values[1] = CStringGetTextDatum(source_columns_json(p));
	catalog_begin(&cxt);
	catalog_exec("UPDATE %s.incr_pipelines"
				 " SET options = options OPERATOR(pg_catalog.||)"
				 "   pg_catalog.jsonb_build_object('source_columns', $2::pg_catalog.jsonb)"
				 " WHERE name OPERATOR(pg_catalog.=) $1",
				 2, argtypes, values, NULL, SPI_OK_UPDATE);
	catalog_end(&cxt);
}

/*
 * Insert a validated pipeline and its empty checkpoint; return the new
 * incr_pipelines row as a composite Datum in the caller's context.
 */
Datum
InsertPipeline(Pipeline *p, Interval *schedule)
{
	CatalogContext cxt;
	Oid			argtypes[14] = {TEXTOID, REGCLASSOID, REGCLASSOID, TEXTOID, REGTYPEOID,
		TEXTOID, TEXTARRAYOID, INTERVALOID, INT8OID, INTERVALOID, BOOLOID, REGROLEOID,
	TEXTOID, TEXTOID};
	Datum		values[14];
	char		nulls[14];
	Datum		result;

	values[12] = CStringGetTextDatum(PipelineOptionsJson(p));
	nulls[12] = ' ';
	/* what a run compares the source with (on_schema_change); files have no source */
	values[13] = p->mode == MODE_FILES ? (Datum) 0 : CStringGetTextDatum(source_columns_json(p));
	nulls[13] = p->mode == MODE_FILES ? 'n' : ' ';

	memset(nulls, ' ', 12);
	values[0] = CStringGetTextDatum(p->name);
	values[1] = ObjectIdGetDatum(p->source);
	nulls[1] = OidIsValid(p->source) ? ' ' : 'n';
	values[2] = ObjectIdGetDatum(p->target);
	values[3] = p->cursor_column ? CStringGetTextDatum(p->cursor_column) : (Datum) 0;
	nulls[3] = p->cursor_column ? ' ' : 'n';
	values[4] = ObjectIdGetDatum(p->cursor_type);
	values[5] = CStringGetTextDatum(PipelineModeName(p->mode));
	values[6] = values[7] = values[8] = values[9] = (Datum) 0;
	if (p->keys == NIL)
		nulls[6] = 'n';
	else
	{
		Datum	   *elems = palloc(sizeof(Datum) * list_length(p->keys));
		int			i = 0;
		ListCell   *lc;

		foreach(lc, p->keys)
			elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
		values[6] = PointerGetDatum(construct_array(elems, i, TEXTOID, -1,
													false, TYPALIGN_INT));
	}
	if (p->lag)
		values[7] = IntervalPGetDatum(p->lag);
	else
		nulls[7] = 'n';
	if (p->batch_size > 0)
		values[8] = Int64GetDatum(p->batch_size);
	else
		nulls[8] = 'n';
	if (schedule)
		values[9] = IntervalPGetDatum(schedule);
	else
		nulls[9] = 'n';
	values[10] = BoolGetDatum(p->enabled);
	values[11] = ObjectIdGetDatum(p->owner);

	catalog_begin(&cxt);
	catalog_exec("INSERT INTO %s.incr_pipelines"
				 " (name, source, target, cursor_column, cursor_type, mode,"
				 "  keys, lag, batch_size, schedule, enabled, owner, options)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
				 "  pg_catalog.jsonb_strip_nulls($13::pg_catalog.jsonb OPERATOR(pg_catalog.||)"
				 "   pg_catalog.jsonb_build_object('source_columns', $14::pg_catalog.jsonb)))"
				 " RETURNING *",
				 14, argtypes, values, nulls, SPI_OK_INSERT_RETURNING);
	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	catalog_exec("INSERT INTO %s.incr_checkpoints (pipeline) VALUES ($1)",
				 1, argtypes, values, NULL, SPI_OK_INSERT);
	catalog_end(&cxt);

	return result;
}

/* Delete a pipeline; its checkpoint goes with it, its history stays. */
void
DeletePipeline(const char *name)
{
	CatalogContext cxt;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(name);
	catalog_begin(&cxt);
	catalog_exec("DELETE FROM %s.incr_pipelines WHERE name OPERATOR(pg_catalog.=) $1",
				 1, argtypes, values, NULL, SPI_OK_DELETE);
	if (SPI_processed != 1)
	{
		catalog_end(&cxt);
		pipeline_not_found(name);
	}
	catalog_end(&cxt);
}

/* Set the enabled flag of a pipeline (incr_pause, incr_resume). */
void
SetPipelineEnabled(const char *name, bool enabled)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(name);
	values[1] = BoolGetDatum(enabled);
	catalog_begin(&cxt);
	catalog_exec("UPDATE %s.incr_pipelines SET enabled = $2"
				 " WHERE name OPERATOR(pg_catalog.=) $1",
				 2, argtypes, values, NULL, SPI_OK_UPDATE);
	if (SPI_processed != 1)
	{
		catalog_end(&cxt);
		pipeline_not_found(name);
	}
	catalog_end(&cxt);
}

/* Set or clear (NULL) the schedule of a pipeline. */
void
SetPipelineSchedule(const char *name, Interval *schedule)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, INTERVALOID};
	Datum		values[2];
	char		nulls[2] = {' ', schedule ? ' ' : 'n'};

	values[0] = CStringGetTextDatum(name);
	values[1] = schedule ? IntervalPGetDatum(schedule) : (Datum) 0;
	catalog_begin(&cxt);
	catalog_exec("UPDATE %s.incr_pipelines SET schedule = $2"
				 " WHERE name OPERATOR(pg_catalog.=) $1",
				 2, argtypes, values, nulls, SPI_OK_UPDATE);
	catalog_end(&cxt);
}

/*
 * The quoted name of pg_cron's schema in this database, or NULL if pg_cron is
 * not installed here; within an SPI connection.  pg_cron creates its schema
 * in its script, so the schema is a member of the extension: found through
 * pg_depend, never by the name "cron", which any role with CREATE on the
 * database can take where pg_cron is not installed.  (pg_extension's
 * extnamespace does not name it: pg_cron is not relocatable and names no
 * schema in its control file, so that column holds the schema that was first
 * on the search_path at CREATE EXTENSION, usually public.)
 */
static char *
cron_schema(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_depend d"
					"   ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
					"  AND d.refobjid OPERATOR(pg_catalog.=) e.oid"
					"  AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass"
					"  AND d.deptype OPERATOR(pg_catalog.=) 'e'"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) d.objid"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'"
					" ORDER BY n.oid LIMIT 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the schema of pg_cron");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return pstrdup(quote_identifier(NameStr(*DatumGetName(d))));
}

/*
 * The quoted name of pg_cron's schema in this database, or NULL if pg_cron is
 * not installed here; allocated in the caller's memory context.
 */
char *
CronSchemaQuoted(void)
{
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	char	   *schema;
	char	   *result = NULL;

	catalog_begin(&cxt);
	schema = cron_schema();
	if (schema)
		result = MemoryContextStrdup(caller, schema);
	catalog_end(&cxt);
	return result;
}

/* The command of a pipeline's pg_cron job: what incr_cron_schedule schedules. */
char *
CronJobCommand(const char *name)
{
	return psprintf("SELECT %s.incr_run(%s)", ExtensionSchemaQuoted(), quote_literal_cstr(name));
}

/* Has the pipeline a schedule for the background worker (incr_schedule)? */
bool
PipelineScheduled(const char *name)
{
	CatalogContext cxt;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		scheduled;

	values[0] = CStringGetTextDatum(name);
	catalog_begin(&cxt);
	catalog_exec("SELECT FROM %s.incr_pipelines"
				 " WHERE name OPERATOR(pg_catalog.=) $1 AND schedule IS NOT NULL",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	scheduled = SPI_processed > 0;
	catalog_end(&cxt);
	return scheduled;
}

/* Does a pg_cron job of this database run the pipeline (incr_cron_schedule)? */
bool
HasCronJob(const char *name)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *schema;
	bool		found = false;

	values[0] = CStringGetTextDatum(psprintf("incremental:%s", name));
	values[1] = CStringGetTextDatum(CronJobCommand(name));
	catalog_begin(&cxt);
	schema = cron_schema();
	if (schema != NULL)
	{
		if (SPI_execute_with_args(psprintf("SELECT FROM %s.job"
										   " WHERE jobname OPERATOR(pg_catalog.=) $1::pg_catalog.name"
										   " AND command OPERATOR(pg_catalog.=) $2::pg_catalog.text"
										   " AND database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
										   schema),
								  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up the pg_cron jobs of pipeline \"%s\"", name);
		found = SPI_processed > 0;
	}
	catalog_end(&cxt);
	return found;
}

/*
 * Remove the pg_cron jobs of a pipeline the caller has been allowed to act on
 * (its owner, a member of the owning role, or a superuser); return whether
 * there was one.  Does nothing if pg_cron is not installed here.
 *
 * The jobs are those named "incremental:<name>" in this database whose role
 * the caller may act as: the owner's, the caller's own, and for a superuser
 * every one, also one whose role was dropped.  pg_cron's own
 * cron.unschedule(name) removes only the caller's job, and row-level
 * security on cron.job hides the others, so a superuser or a member of the
 * owning role could not drop the pipeline of a role that had scheduled it.
 * Hence the jobs are found and removed as the bootstrap superuser, by id
 * (cron.unschedule(bigint) lets a superuser remove any job and tells
 * pg_cron's launcher to reload its jobs), the choice of jobs being made here.
 * FOR UPDATE keeps a job from being removed by another session between
 * finding and removing it.
 */
bool
DropCronJob(const char *name)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *schema;
	bool		caller_is_superuser;
	int64	   *jobs;
	int			njobs = 0;
	SPITupleTable *tuptable;
	uint64		nrows;

	values[0] = CStringGetTextDatum(psprintf("incremental:%s", name));
	/* the command too: a job name is cut at 63 bytes, a command is not */
	values[1] = CStringGetTextDatum(CronJobCommand(name));
	catalog_begin(&cxt);
	caller_is_superuser = superuser_arg(cxt.save_userid);
	schema = cron_schema();
	if (schema == NULL)
	{
		catalog_end(&cxt);
		return false;
	}
	if (SPI_execute_with_args(psprintf("SELECT jobid, username FROM %s.job"
									   " WHERE jobname OPERATOR(pg_catalog.=) $1::pg_catalog.name"
									   " AND command OPERATOR(pg_catalog.=) $2::pg_catalog.text"
									   " AND database OPERATOR(pg_catalog.=) pg_catalog.current_database()"
									   " ORDER BY jobid FOR UPDATE", schema),
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the pg_cron jobs of pipeline \"%s\"", name);
	tuptable = SPI_tuptable;
	nrows = SPI_processed;
	jobs = palloc(sizeof(int64) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		Datum		jobid = SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 1, &isnull);
		char	   *username = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 2);
		Oid			role = username ? get_role_oid(username, true) : InvalidOid;

		if (caller_is_superuser ||
			(OidIsValid(role) && has_privs_of_role(cxt.save_userid, role)))
			jobs[njobs++] = DatumGetInt64(jobid);
	}
	for (int i = 0; i < njobs; i++)
	{
		Oid			jobtypes[1] = {INT8OID};
		Datum		jobvalues[1] = {Int64GetDatum(jobs[i])};

		/* qualified, with its exact argument type: nothing else can be picked */
		if (SPI_execute_with_args(psprintf("SELECT %s.unschedule($1::pg_catalog.int8)", schema),
								  1, jobtypes, jobvalues, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not remove the pg_cron job of pipeline \"%s\"", name);
	}
	catalog_end(&cxt);
	return njobs > 0;
}

/*
 * Read the checkpoint of a pipeline, locking its row as asked.  The row lock
 * is the pipeline lock: a second run of the same pipeline waits here until
 * the first commits or aborts, and then reads the checkpoint it left (READ
 * COMMITTED re-checks the locked row).  CHECKPOINT_LOCK_NOWAIT returns false
 * at once when another transaction holds the lock; CHECKPOINT_NO_LOCK reads
 * without locking (incr_plan, incr_status).
 */
bool
ReadCheckpoint(Pipeline *p, CheckpointLock lock, Checkpoint *cp)
{
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	Datum		d;
	bool		isnull;
	const char *sql;

	/* three constants, one per lock mode: see catalog_plan */
	if (lock == CHECKPOINT_LOCK_WAIT)
		sql = "SELECT value_timestamptz, value_timestamp, value_date, value_numeric"
			" FROM %s.incr_checkpoints WHERE pipeline OPERATOR(pg_catalog.=) $1"
			" FOR UPDATE";
	else if (lock == CHECKPOINT_LOCK_NOWAIT)
		sql = "SELECT value_timestamptz, value_timestamp, value_date, value_numeric"
			" FROM %s.incr_checkpoints WHERE pipeline OPERATOR(pg_catalog.=) $1"
			" FOR UPDATE SKIP LOCKED";
	else
		sql = "SELECT value_timestamptz, value_timestamp, value_date, value_numeric"
			" FROM %s.incr_checkpoints WHERE pipeline OPERATOR(pg_catalog.=) $1";

	values[0] = CStringGetTextDatum(p->name);
	catalog_begin(&cxt);
	catalog_exec(sql,
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		catalog_end(&cxt);
		if (lock != CHECKPOINT_LOCK_NOWAIT)
			pipeline_not_found(p->name);	/* dropped while we waited */
		return false;
	}

	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
					  CursorCheckpointColumn(p), &isnull);
	MemoryContextSwitchTo(caller);
	cp->isnull = isnull;
	cp->value = (Datum) 0;
	if (!isnull)
		cp->value = CursorFromCheckpoint(p, d);
	catalog_end(&cxt);
	return true;
}

/* Write the checkpoint of a pipeline, with the run that moved it. */
void
StoreCheckpoint(Pipeline *p, Checkpoint *cp, int64 run_id)
{
	CatalogContext cxt;
	Oid			argtypes[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPOID, DATEOID,
	NUMERICOID, INT8OID, BOOLOID};
	Datum		values[7];
	char		nulls[7] = {' ', 'n', 'n', 'n', 'n', ' ', ' '};
	int			col = CursorCheckpointColumn(p);

	values[0] = CStringGetTextDatum(p->name);
	values[1] = values[2] = values[3] = values[4] = (Datum) 0;
	values[5] = Int64GetDatum(run_id);
	values[6] = BoolGetDatum(run_id != 0);
	if (run_id == 0)
		nulls[5] = 'n';
	if (!cp->isnull)
	{
		values[col] = CursorToCheckpoint(p, cp->value);
		nulls[col] = ' ';
	}

	catalog_begin(&cxt);
	catalog_exec("UPDATE %s.incr_checkpoints"
				 " SET value_timestamptz = $2, value_timestamp = $3,"
				 "     value_date = $4, value_numeric = $5,"
				 "     moved_at = pg_catalog.now(), moved_by_run = $6"
				 " WHERE pipeline OPERATOR(pg_catalog.=) $1",
				 7, argtypes, values, nulls, SPI_OK_UPDATE);
	catalog_end(&cxt);
}

/*
 * Return the names (char *) of the slots of every wal pipeline, as the
 * catalog holds them now: read with a fresh snapshot, not the transaction's
 * (which, in REPEATABLE READ, may predate pipelines committed since, whose
 * slots would then look like nobody's).
 */
List *
WalSlotNames(void)
{
	static const char *sql = "SELECT options OPERATOR(pg_catalog.->>) 'wal_slot' FROM %s.incr_pipelines"
		" WHERE options OPERATOR(pg_catalog.?) 'wal_slot'";
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	List	   *names = NIL;
	Snapshot	snap;
	int			ret;

	catalog_begin(&cxt);
	snap = RegisterSnapshot(GetLatestSnapshot());
	ret = SPI_execute_snapshot(catalog_plan(sql, 0, NULL), NULL, NULL, snap,
							   InvalidSnapshot, true, false, 0);
	UnregisterSnapshot(snap);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "catalog statement failed (SPI result %d): %s", ret, sql);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	catalog_end(&cxt);
	return names;
}

/*
 * Tell whether the current transaction (or one of its live subtransactions)
 * wrote the checkpoint row of a pipeline: then its value has not committed
 * and may still be rolled back.
 */
bool
CheckpointWrittenHere(Pipeline *p)
{
	CatalogContext cxt;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		here = false;

	values[0] = CStringGetTextDatum(p->name);
	catalog_begin(&cxt);
	catalog_exec("SELECT xmin FROM %s.incr_checkpoints WHERE pipeline OPERATOR(pg_catalog.=) $1",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		xmin = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		here = !isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin));
	}
	catalog_end(&cxt);
	return here;
}

/*
 * Read what the first run of a wal pipeline recorded of its copy: the
 * snapshot (pg_snapshot's text) and the WAL position after it; false if
 * nothing is recorded (any more).  Only wal pipelines, which need 0.4,
 * read these columns.
 */
bool
ReadWalCopy(Pipeline *p, char **snapshot, Datum *lsn)
{
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		found = false;

	values[0] = CStringGetTextDatum(p->name);
	catalog_begin(&cxt);
	catalog_exec("SELECT wal_copy_snapshot, wal_copy_lsn"
				 " FROM %s.incr_checkpoints WHERE pipeline OPERATOR(pg_catalog.=) $1"
				 " AND wal_copy_snapshot IS NOT NULL",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		char	   *text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		MemoryContextSwitchTo(caller);
		*snapshot = pstrdup(text);
		*lsn = d;				/* pg_lsn is passed by value */
		found = true;
	}
	catalog_end(&cxt);
	return found;
}

/* Record (or with NULL clear) the copy of a wal pipeline's first run. */
void
StoreWalCopy(Pipeline *p, const char *snapshot, Datum lsn)
{
	CatalogContext cxt;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, PG_LSNOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(p->name);
	values[1] = snapshot ? CStringGetTextDatum(snapshot) : (Datum) 0;
	values[2] = lsn;
	if (snapshot == NULL)
		nulls[1] = nulls[2] = 'n';
	catalog_begin(&cxt);
	catalog_exec("UPDATE %s.incr_checkpoints"
				 " SET wal_copy_snapshot = $2, wal_copy_lsn = $3"
				 " WHERE pipeline OPERATOR(pg_catalog.=) $1",
				 3, argtypes, values, nulls, SPI_OK_UPDATE);
	catalog_end(&cxt);
}

/*
 * Draw the id of a new run: nextval of incr_runs' sequence, called directly
 * rather than through a statement, as the bootstrap superuser like the
 * catalog statements, so that callers need no privilege on the sequence.
 * An error unwinds the identity with the (sub)transaction.
 */
int64
NextRunId(void)
{
	Oid			seq = get_relname_relid("incr_runs_run_id_seq", ExtensionSchemaOid());
	Oid			save_userid;
	int			save_sec_context;
	int64		id;

	if (!OidIsValid(seq))
		elog(ERROR, "sequence incr_runs_run_id_seq of extension \"incremental\" is missing");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	id = DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return id;
}

/*
 * Does incr_runs have the columns of version 0.3 (sqlstate, detail,
 * rows_in_window, rows_affected)?  A database still at 0.2 runs this
 * library too until it is updated, and gets the older shape.
 */
static bool
runs_have_details(void)
{
	Oid			runs = get_relname_relid("incr_runs", ExtensionSchemaOid());

	return OidIsValid(runs) && get_attnum(runs, "rows_affected") != InvalidAttrNumber;
}

/* Record a run in incr_runs; return the row as a composite Datum. */
Datum
InsertRun(int64 run_id, RunRecord *r)
{
	CatalogContext cxt;
	Oid			argtypes[20] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, TEXTOID, TEXTOID, INT8OID, REGROLEOID,
	TEXTOID, TEXTOID, INT8OID, INT8OID};
	Datum		values[20];
	char		nulls[20];
	Datum		result;
	bool		details = runs_have_details();

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(r->pipeline);
	values[2] = CStringGetTextDatum(r->trigger);
	values[3] = TimestampTzGetDatum(r->started_at);
	values[4] = TimestampTzGetDatum(r->finished_at);
	values[5] = r->window_from ? CStringGetTextDatum(r->window_from) : (Datum) 0;
	nulls[5] = r->window_from ? ' ' : 'n';
	values[6] = r->window_to ? CStringGetTextDatum(r->window_to) : (Datum) 0;
	nulls[6] = r->window_to ? ' ' : 'n';
	values[7] = Int64GetDatum(r->rows_read);
	values[8] = Int64GetDatum(r->rows_inserted);
	values[9] = Int64GetDatum(r->rows_updated);
	values[10] = Int64GetDatum(r->rows_deleted);
	values[11] = Int64GetDatum(r->rows_unchanged);
	values[12] = CStringGetTextDatum(r->status);
	values[13] = r->error ? CStringGetTextDatum(r->error) : (Datum) 0;
	nulls[13] = r->error ? ' ' : 'n';
	values[14] = Int64GetDatum(r->rows_late);
	nulls[14] = r->rows_late_known ? ' ' : 'n';
	values[15] = ObjectIdGetDatum(r->owner);
	nulls[15] = OidIsValid(r->owner) ? ' ' : 'n';
	values[16] = r->sqlstate ? CStringGetTextDatum(r->sqlstate) : (Datum) 0;
	nulls[16] = r->sqlstate ? ' ' : 'n';
	values[17] = r->detail ? CStringGetTextDatum(r->detail) : (Datum) 0;
	nulls[17] = r->detail ? ' ' : 'n';
	values[18] = Int64GetDatum(r->rows_in_window);
	nulls[18] = r->rows_window_known ? ' ' : 'n';
	values[19] = Int64GetDatum(r->rows_affected);
	nulls[19] = r->rows_window_known ? ' ' : 'n';

	catalog_begin(&cxt);
	if (details)
		catalog_exec("INSERT INTO %s.incr_runs"
					 " (run_id, pipeline, trigger, started_at, finished_at,"
					 "  window_from, window_to, rows_read, rows_inserted,"
					 "  rows_updated, rows_deleted, rows_unchanged, status, error,"
					 "  rows_late, owner, sqlstate, detail, rows_in_window, rows_affected)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
					 "         $12, $13, $14, $15, $16, $17, $18, $19, $20)"
					 " RETURNING *",
					 20, argtypes, values, nulls, SPI_OK_INSERT_RETURNING);
	else
		catalog_exec("INSERT INTO %s.incr_runs"
					 " (run_id, pipeline, trigger, started_at, finished_at,"
					 "  window_from, window_to, rows_read, rows_inserted,"
					 "  rows_updated, rows_deleted, rows_unchanged, status, error,"
					 "  rows_late, owner)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
					 "         $12, $13, $14, $15, $16)"
					 " RETURNING *",
					 16, argtypes, values, nulls, SPI_OK_INSERT_RETURNING);
	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	catalog_end(&cxt);
	return result;
}

/*
 * Delete the runs started before now() - older_than, of every pipeline
 * (all_owners) or of those whose owner's rights the current user has; each
 * pipeline's latest run stays, so incr_status keeps its last run.  Returns
 * how many rows went.
 */
int64
PruneRuns(Interval *older_than, bool all_owners)
{
	CatalogContext cxt;
	Oid			argtypes[3] = {INTERVALOID, BOOLOID, OIDOID};
	Datum		values[3];
	int64		deleted;

	values[0] = IntervalPGetDatum(older_than);
	values[1] = BoolGetDatum(all_owners);
	values[2] = ObjectIdGetDatum(GetUserId());
	catalog_begin(&cxt);
	catalog_exec("DELETE FROM %s.incr_runs AS r"
				 " WHERE r.started_at OPERATOR(pg_catalog.<)"
				 "       (pg_catalog.now() OPERATOR(pg_catalog.-) $1)"
				 "   AND ($2 OR (r.owner IS NOT NULL"
				 "        AND pg_catalog.pg_has_role($3, r.owner, 'USAGE')))"
				 "   AND r.run_id OPERATOR(pg_catalog.<>)"
				 "       (SELECT pg_catalog.max(l.run_id) FROM %s.incr_runs AS l"
				 "        WHERE l.pipeline OPERATOR(pg_catalog.=) r.pipeline)",
				 3, argtypes, values, NULL, SPI_OK_DELETE);
	deleted = SPI_processed;
	catalog_end(&cxt);
	return deleted;
}

/*
 * What incr_files has of the given files (FileEntry *) of a files pipeline:
 * for each path loaded before, its newest row, by path in byte order (as
 * list_files has them), allocated in the caller's memory context.  Rows of
 * files no longer in the folder are not read.
 */
List *
LoadedFiles(Pipeline *p, List *paths)
{
	CatalogContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];
	Datum	   *elems;
	List	   *files = NIL;
	ListCell   *lc;
	int			n = 0;

	if (paths == NIL)
		return NIL;
	elems = palloc(sizeof(Datum) * list_length(paths));
	foreach(lc, paths)
		elems[n++] = CStringGetTextDatum(((FileEntry *) lfirst(lc))->path);
	values[0] = CStringGetTextDatum(p->name);
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	catalog_begin(&cxt);
	catalog_exec("SELECT DISTINCT ON (path COLLATE pg_catalog.\"C\")"
				 "  path, size, modified_at, checksum, run_id"
				 " FROM %s.incr_files WHERE pipeline OPERATOR(pg_catalog.=) $1"
				 "  AND path OPERATOR(pg_catalog.=) ANY ($2)"
				 " ORDER BY path COLLATE pg_catalog.\"C\", run_id DESC",
				 2, argtypes, values, NULL, SPI_OK_SELECT);
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		FileEntry  *f = palloc0(sizeof(FileEntry));
		bool		isnull;

		f->path = SPI_getvalue(tup, desc, 1);
		f->size = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		f->modified_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		f->checksum = SPI_getvalue(tup, desc, 4);
		f->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		files = lappend(files, f);
	}
	catalog_end(&cxt);
	return files;
}

/* An array of the given type of the elements, for an unnest of files. */
static Datum
files_array(Datum *elems, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, type, typlen, typbyval, typalign));
}

/*
 * Record what a run of a files pipeline did, in one statement each: a row
 * for each file it loaded, and the new modification time of each file found
 * touched but with the content it was loaded with, so that the next run
 * need not read it again.
 */
void
RecordFiles(Pipeline *p, int64 run_id, List *loaded, List *touched)
{
	CatalogContext cxt;
	Oid			insert_types[7] = {TEXTOID, INT8OID, TEXTARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
	Oid			update_types[4] = {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[7];
	ListCell   *lc;

	catalog_begin(&cxt);
	values[0] = CStringGetTextDatum(p->name);
	if (loaded != NIL)
	{
		int			n = list_length(loaded);
		Datum	   *paths = palloc(sizeof(Datum) * n);
		Datum	   *sizes = palloc(sizeof(Datum) * n);
		Datum	   *times = palloc(sizeof(Datum) * n);
		Datum	   *sums = palloc(sizeof(Datum) * n);
		Datum	   *rows = palloc(sizeof(Datum) * n);

		foreach(lc, loaded)
		{
			FileEntry  *f = lfirst(lc);
			int			i = foreach_current_index(lc);

			paths[i] = CStringGetTextDatum(f->path);
			sizes[i] = Int64GetDatum(f->size);
			times[i] = TimestampTzGetDatum(f->modified_at);
			sums[i] = CStringGetTextDatum(f->checksum);
			rows[i] = Int64GetDatum(f->rows);
		}
		values[1] = Int64GetDatum(run_id);
		values[2] = files_array(paths, n, TEXTOID);
		values[3] = files_array(sizes, n, INT8OID);
		values[4] = files_array(times, n, TIMESTAMPTZOID);
		values[5] = files_array(sums, n, TEXTOID);
		values[6] = files_array(rows, n, INT8OID);
		catalog_exec("INSERT INTO %s.incr_files"
					 " (pipeline, path, size, modified_at, checksum, loaded_at, run_id, rows)"
					 " SELECT $1, f.path, f.size, f.modified_at, f.checksum, pg_catalog.now(), $2, f.rows"
					 " FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
					 "  pg_catalog.unnest($6), pg_catalog.unnest($7))"
					 "  AS f (path, size, modified_at, checksum, rows)",
					 7, insert_types, values, NULL, SPI_OK_INSERT);
	}
	if (touched != NIL)
	{
		int			n = list_length(touched);
		Datum	   *paths = palloc(sizeof(Datum) * n);
		Datum	   *runs = palloc(sizeof(Datum) * n);
		Datum	   *times = palloc(sizeof(Datum) * n);

		foreach(lc, touched)
		{
			FileEntry  *f = lfirst(lc);
			int			i = foreach_current_index(lc);

			paths[i] = CStringGetTextDatum(f->path);
			runs[i] = Int64GetDatum(f->run_id);
			times[i] = TimestampTzGetDatum(f->modified_at);
		}
		values[1] = files_array(paths, n, TEXTOID);
		values[2] = files_array(runs, n, INT8OID);
		values[3] = files_array(times, n, TIMESTAMPTZOID);
		catalog_exec("UPDATE %s.incr_files AS i SET modified_at = f.modified_at"
					 " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4))"
					 "  AS f (path, run_id, modified_at)"
					 " WHERE i.pipeline OPERATOR(pg_catalog.=) $1"
					 "   AND i.path OPERATOR(pg_catalog.=) f.path"
					 "   AND i.run_id OPERATOR(pg_catalog.=) f.run_id",
					 4, update_types, values, NULL, SPI_OK_UPDATE);
	}
	catalog_end(&cxt);
}

/*
 * Forget the files a files pipeline loaded, all of them or those modified
 * after a time, so that the next run loads them again (incr_reset).
 */
void
ForgetFiles(Pipeline *p, Checkpoint *after)
{
	CatalogContext cxt;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	char		nulls[2] = {' ', after->isnull ? 'n' : ' '};

	values[0] = CStringGetTextDatum(p->name);
	values[1] = after->isnull ? (Datum) 0 : after->value;
	catalog_begin(&cxt);
	catalog_exec("DELETE FROM %s.incr_files WHERE pipeline OPERATOR(pg_catalog.=) $1"
				 " AND ($2 IS NULL OR modified_at OPERATOR(pg_catalog.>) $2)",
				 2, argtypes, values, nulls, SPI_OK_DELETE);
	catalog_end(&cxt);
}

/*
 * True if the catalog has incr_tombstones: a database still at version 0.2
 * (the library is newer than its ALTER EXTENSION UPDATE) has not, and its
 * runs keep no tombstones.
 */
bool
TombstonesKept(void)
{
	Oid			relid = get_relname_relid("incr_tombstones", ExtensionSchemaOid());

	/*
	 * Found by name in a schema others may create in: only the extension's
	 * own table counts.  At 0.2 a role with CREATE there could otherwise put
	 * a view of that name in its place and have the catalog statements,
	 * which run as the bootstrap superuser, read it.
	 */
	return ExtensionOwnsObject(RelationRelationId, relid);
}

/* True if some delete of the pipeline left a tombstone (TombstonesKept first). */
bool
HasTombstones(Pipeline *p)
{
	CatalogContext cxt;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		found;

	values[0] = CStringGetTextDatum(p->name);
	catalog_begin(&cxt);
	catalog_exec("SELECT FROM %s.incr_tombstones WHERE pipeline OPERATOR(pg_catalog.=) $1 LIMIT 1",
				 1, argtypes, values, NULL, SPI_OK_SELECT);
	found = (SPI_processed > 0);
	catalog_end(&cxt);
	return found;
}

/*
 * Turn an array of cursor values into the four arrays of incr_tombstones'
 * value columns, all NULL but the one of the cursor's kind.
 */
static void
tombstone_values(Pipeline *p, Datum versions, Datum *out, char *nulls)
{
	ArrayType  *arr = DatumGetArrayTypeP(versions);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			col = CursorCheckpointColumn(p) - 1;
	static const Oid family[4] = {TIMESTAMPTZOID, TIMESTAMPOID, DATEOID, NUMERICOID};

	get_typlenbyvalalign(p->cursor_type, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, p->cursor_type, typlen, typbyval, typalign,
					  &elems, &elem_nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (elem_nulls[i])
			elog(ERROR, "a tombstone of pipeline \"%s\" has no version", p->name);
		elems[i] = CursorToCheckpoint(p, elems[i]);
	}
	for (int i = 0; i < 4; i++)
	{
		out[i] = (Datum) 0;
		nulls[i] = 'n';
	}
	out[col] = files_array(elems, n, family[col]);
	nulls[col] = ' ';
}

/*
 * Record what a run did to the tombstones of its pipeline, in its
 * transaction: keys (jsonb[]) deleted at versions (the cursor's type, an
 * array), each keeping the greatest version of its key; and keys written
 * again at revived_versions, which lose an older tombstone, as the row now
 * in the target guards them.  NULL arrays are nothing to record.
 */
void
RecordTombstones(Pipeline *p, int64 run_id, Datum keys, Datum versions,
				 Datum revived, Datum revived_versions)
{
	CatalogContext cxt;
	Oid			types[7] = {TEXTOID, INT8OID, JSONBARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPARRAYOID, DATEARRAYOID, NUMERICARRAYOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', 'n', 'n', 'n', 'n'};

	values[0] = CStringGetTextDatum(p->name);
	values[1] = Int64GetDatum(run_id);
	catalog_begin(&cxt);
	if (revived != (Datum) 0)
	{
		values[2] = revived;
		tombstone_values(p, revived_versions, &values[3], &nulls[3]);
		catalog_exec("DELETE FROM %s.incr_tombstones AS tb"
					 " USING ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4),"
					 "  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7))"
					 "  AS f (key, tstz, ts, d, n)"
					 " WHERE tb.pipeline OPERATOR(pg_catalog.=) $1"
					 "   AND tb.key OPERATOR(pg_catalog.=) f.key"
					 "   AND (tb.value_timestamptz OPERATOR(pg_catalog.<) f.tstz"
					 "     OR tb.value_timestamp OPERATOR(pg_catalog.<) f.ts"
					 "     OR tb.value_date OPERATOR(pg_catalog.<) f.d"
					 "     OR tb.value_numeric OPERATOR(pg_catalog.<) f.n)",
					 7, types, values, nulls, SPI_OK_DELETE);
	}
	if (keys != (Datum) 0)
	{
		values[2] = keys;
		tombstone_values(p, versions, &values[3], &nulls[3]);
		/* one row per key: jsonb's = may find equal keys the key index told apart */
		catalog_exec("INSERT INTO %s.incr_tombstones AS tb"
					 " (pipeline, key, value_timestamptz, value_timestamp, value_date, value_numeric,"
					 "  deleted_at, run_id)"
					 " SELECT DISTINCT ON (f.key) $1, f.key, f.tstz, f.ts, f.d, f.n, pg_catalog.now(), $2"
					 " FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4),"
					 "  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7))"
					 "  AS f (key, tstz, ts, d, n)"
					 " ORDER BY f.key, f.tstz DESC NULLS LAST, f.ts DESC NULLS LAST,"
					 "  f.d DESC NULLS LAST, f.n DESC NULLS LAST"
					 " ON CONFLICT (pipeline, key) DO UPDATE"
					 " SET value_timestamptz = EXCLUDED.value_timestamptz,"
					 "     value_timestamp = EXCLUDED.value_timestamp,"
					 "     value_date = EXCLUDED.value_date, value_numeric = EXCLUDED.value_numeric,"
					 "     deleted_at = EXCLUDED.deleted_at, run_id = EXCLUDED.run_id"
					 " WHERE tb.value_timestamptz OPERATOR(pg_catalog.<) EXCLUDED.value_timestamptz"
					 "    OR tb.value_timestamp OPERATOR(pg_catalog.<) EXCLUDED.value_timestamp"
					 "    OR tb.value_date OPERATOR(pg_catalog.<) EXCLUDED.value_date"
					 "    OR tb.value_numeric OPERATOR(pg_catalog.<) EXCLUDED.value_numeric",
					 7, types, values, nulls, SPI_OK_INSERT);
	}
	catalog_end(&cxt);
}

/*
 * Forget the tombstones of a pipeline newer than a checkpoint, or all of them
 * (incr_reset): the runs after the reset read those deletes again.
 */
void
ForgetTombstones(Pipeline *p, Checkpoint *after)
{
	CatalogContext cxt;
	Oid			argtypes[5] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPOID, DATEOID, NUMERICOID};
	Datum		values[5] = {0, 0, 0, 0, 0};
	char		nulls[5] = {' ', 'n', 'n', 'n', 'n'};
	int			col = CursorCheckpointColumn(p);

	if (!TombstonesKept())
		return;
	values[0] = CStringGetTextDatum(p->name);
	if (!after->isnull)
	{
		values[col] = CursorToCheckpoint(p, after->value);
		nulls[col] = ' ';
	}
	catalog_begin(&cxt);
	catalog_exec("DELETE FROM %s.incr_tombstones WHERE pipeline OPERATOR(pg_catalog.=) $1"
				 " AND (pg_catalog.num_nonnulls($2, $3, $4, $5) OPERATOR(pg_catalog.=) 0"
				 "   OR value_timestamptz OPERATOR(pg_catalog.>) $2"
				 "   OR value_timestamp OPERATOR(pg_catalog.>) $3"
				 "   OR value_date OPERATOR(pg_catalog.>) $4"
				 "   OR value_numeric OPERATOR(pg_catalog.>) $5)",
				 5, argtypes, values, nulls, SPI_OK_DELETE);
	catalog_end(&cxt);
}
