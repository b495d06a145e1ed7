/*
 * citus.c
 *		Pipelines over Citus tables (doc/citus.md).  A run over a distributed
 *		or reference table executes its statement through Citus, which sends
 *		it to the shards: the statement cannot call _incr_tally (its state is
 *		in this backend, and the workers run the scan), so the window's count
 *		and greatest cursor come from one aggregate before it (SqlWindowCount,
 *		statement.c); the safe upper bound must see the open transactions and
 *		the writers of every node, since clients may write through any of them.
 *
 * Citus is found only through pg_extension: its catalog table must be a
 * member of the extension named citus, in that extension's schema, so that
 * nobody can pose as Citus with a table of that name somewhere on the path.
 * Nothing here runs unless that extension is installed.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "citus.h"

/* The schema of an installed extension (get_extension_schema is static in 15). */
static Oid
extension_schema(Oid ext)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * The quoted schema of the installed citus extension, or NULL when it is
 * not installed or its catalog pg_dist_partition is not its own.
 */
static const char *
citus_schema(void)
{
	Oid			citus = get_extension_oid("citus", true);
	Oid			nsp;
	Oid			dist;

	if (!OidIsValid(citus))
		return NULL;
	nsp = extension_schema(citus);
	dist = get_relname_relid("pg_dist_partition", nsp);
	if (!OidIsValid(dist) || getExtensionOfObject(RelationRelationId, dist) != citus)
		return NULL;
	return quote_identifier(get_namespace_name(nsp));
}

/*
 * The last relations looked up, valid in the transaction that looked them up:
 * a run asks about its source and target several times, and a table's
 * distribution does not change under the lock a run holds on it.
 */
#define CITUS_KIND_CACHE 4
static struct
{
	LocalTransactionId lxid;
	Oid			relid;
	CitusKind	kind;
}			kind_cache[CITUS_KIND_CACHE];
static int	kind_cache_next = 0;
static bool kind_cache_callback = false;

/*
 * Forget what the cache says of a relation whose relcache entry is
 * invalidated (create_distributed_table and undistribute_table do that),
 * or of every relation: an answer given before Citus was installed, or
 * before the table was distributed in the same transaction, is stale.
 */
static void
kind_cache_invalidate(Datum arg, Oid relid)
{
	for (int i = 0; i < CITUS_KIND_CACHE; i++)
		if (!OidIsValid(relid) || kind_cache[i].relid == relid)
			kind_cache[i].lxid = InvalidLocalTransactionId;
}

/* How Citus holds the relation: CITUS_NONE for a plain table or without Citus. */
CitusKind
CitusRelationKind(Oid relid)
{
	const char *schema;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	CitusKind	kind = CITUS_NONE;
	int			ret;

	if (!kind_cache_callback)
	{
		CacheRegisterRelcacheCallback(kind_cache_invalidate, (Datum) 0);
		kind_cache_callback = true;
	}
	for (int i = 0; i < CITUS_KIND_CACHE; i++)
		if (kind_cache[i].lxid == MyProc->lxid && kind_cache[i].relid == relid &&
			OidIsValid(relid))
			return kind_cache[i].kind;
	if (!OidIsValid(relid))
		return CITUS_NONE;
	/* without Citus too, remembered: an idle run would look it up a dozen times */
	schema = citus_schema();
	if (schema == NULL)
		goto remember;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(psprintf("SELECT p.partmethod::pg_catalog.text, p.repmodel::pg_catalog.text"
										 " FROM %s.pg_dist_partition AS p"
										 " WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1",
										 schema),
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_partition (SPI result %d)", ret);
	if (SPI_processed == 1)
	{
		char	   *method = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *model = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		if (strcmp(method, "h") == 0)
			kind = CITUS_DISTRIBUTED;
		else if (strcmp(method, "n") == 0 && strcmp(model, "t") == 0)
			kind = CITUS_REFERENCE;
		else
			kind = CITUS_OTHER;
	}
	SPI_finish();
remember:
	kind_cache[kind_cache_next].lxid = MyProc->lxid;
	kind_cache[kind_cache_next].relid = relid;
	kind_cache[kind_cache_next].kind = kind;
	kind_cache_next = (kind_cache_next + 1) % CITUS_KIND_CACHE;
	return kind;
}

/*
 * True if Citus holds the relation (distributed, reference or otherwise):
 * for the checks of other features that Citus tables do not support, such
 * as a capture of changes from the WAL, whose changes are written on the
 * workers' shards, not here.
 */
bool
RelationIsCitusTable(Oid relid)
{
	return CitusRelationKind(relid) != CITUS_NONE;
}

/*
 * True if a run of the pipeline goes through Citus: its source or its
 * target is a Citus table.  Its statement then takes no _incr_tally and
 * casts its parameters (a worker parses the statement without their types).
 */
bool
PipelineOverCitus(Pipeline *p)
{
	if (p->mode == MODE_FILES)
		return false;
	return CitusRelationKind(p->source) != CITUS_NONE ||
		CitusRelationKind(p->target) != CITUS_NONE;
}

/* The colocation group of a distributed table. */
static int64
colocation_id(const char *schema, Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	int64		id = -1;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(psprintf("SELECT p.colocationid::pg_catalog.int8"
										 " FROM %s.pg_dist_partition AS p"
										 " WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1",
										 schema),
								1, argtypes, args, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			id = DatumGetInt64(d);
	}
	SPI_finish();
	return id;
}

/*
 * Refuse, at creation, a pipeline over Citus tables that a run could not
 * load exactly or without moving every row through the coordinator:
 * - an xid8 cursor over a Citus source: every node numbers its own
 *   transactions, so the ids in the rows of different shards do not follow
 *   commit order and no bound over them is safe;
 * - a distributed source into a distributed target of another colocation
 *   group: the upsert would be repartitioned between the workers;
 * - tables Citus holds in other ways (Citus local tables, append- or
 *   range-distributed ones), which no test covers.
 */
void
CheckCitusPipeline(Pipeline *p)
{
	CitusKind	source;
	CitusKind	target;
	const char *schema = citus_schema();

	if (schema == NULL || p->mode == MODE_FILES)
		return;
	source = CitusRelationKind(p->source);
	target = CitusRelationKind(p->target);
	if (source == CITUS_OTHER || target == CITUS_OTHER)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pipeline \"%s\" reads or writes a Citus table that is neither hash-distributed nor a reference table",
						p->name),
				 errdetail("Pipelines over Citus support hash-distributed tables, reference tables and plain tables on the coordinator."),
				 errhint("Distribute the table with create_distributed_table or create_reference_table.")));
	if (source != CITUS_NONE && p->cursor_kind == CURSOR_XID8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pipeline \"%s\" cannot use an xid8 cursor over Citus table \"%s\"",
						p->name, get_rel_name(p->source)),
				 errdetail("Each node numbers its own transactions, so transaction ids in rows written through different nodes do not follow commit order."),
				 errhint("Use a timestamptz cursor filled by now() or clock_timestamp().")));
	if (source == CITUS_DISTRIBUTED && target == CITUS_DISTRIBUTED &&
		colocation_id(schema, p->source) != colocation_id(schema, p->target))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("source \"%s\" and target \"%s\" of pipeline \"%s\" are not co-located",
						get_rel_name(p->source), get_rel_name(p->target), p->name),
				 errdetail("A run must write each shard of the target from the shard of the source beside it; across colocation groups Citus would repartition the rows between the workers."),
				 errhint("Distribute the target by the column the source is distributed by, with colocate_with => '%s'.",
						 get_rel_name(p->source))));
}

/*
 * What one node reports of its open transactions: "group hidden [start pid]",
 * its Citus group, the number of backends whose transaction this role may
 * not see, and the start (microseconds since 2000, as a TimestampTz) and pid
 * of the oldest one it sees, other than those of the run with global pid
 * run_gpid.
 */
static const char *
node_open_transactions(int64 run_gpid)
{
	const char *schema = citus_schema();
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(run_gpid)};
	bool		isnull;
	int32		group;
	int64		hidden;
	TimestampTz oldest;
	const char *answer;
	int			ret;

	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Citus is not installed in this database"),
				 errdetail("_incr_citus_open_transactions is called on the nodes of a Citus cluster by the runs of pipelines over Citus tables.")));
	if (!pgstat_track_activities)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("track_activities is off on this Citus node, so its open transactions cannot be seen"),
				 errdetail("The safe upper bound of a run over Citus tables is the start of the oldest transaction open on any node."),
				 errhint("Turn track_activities on on every node.")));

	/*
	 * A backend this role may not see shows no backend_type either: count
	 * it, whatever it is.  The backends now, not as a snapshot taken earlier
	 * in this transaction:
	 * a later run of the same coordinator transaction (incr_catch_up) reaches
	 * this node through the same connection, in the same remote transaction.
	 */
	pgstat_clear_backend_activity_snapshot();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(psprintf("SELECT (SELECT l.groupid FROM %s.pg_dist_local_group AS l),"
										 " pg_catalog.count(*) FILTER (WHERE a.xact_start IS NULL AND a.state IS NULL),"
										 " pg_catalog.min(a.xact_start),"
										 " (pg_catalog.array_agg(a.pid ORDER BY a.xact_start) FILTER (WHERE a.xact_start IS NOT NULL))[1]"
										 " FROM pg_catalog.pg_stat_activity AS a"
										 " LEFT JOIN %s.get_all_active_transactions() AS g ON g.process_id OPERATOR(pg_catalog.=) a.pid"
										 " WHERE a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()"
										 " AND (a.backend_type OPERATOR(pg_catalog.=) ANY (ARRAY['client backend', 'background worker'])"
										 " OR a.backend_type IS NULL)"
										 " AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
										 " AND g.global_pid IS DISTINCT FROM $1",
										 schema, schema),
								1, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the open transactions of this node (SPI result %d)", ret);
	group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "this node has no Citus group");
	hidden = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	oldest = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		answer = psprintf("%d " INT64_FORMAT, group, hidden);
	else
		answer = psprintf("%d " INT64_FORMAT " " INT64_FORMAT " %d", group, hidden, (int64) oldest,
						  DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));
	SPI_finish();
	return answer;
}

PG_FUNCTION_INFO_V1(incremental_citus_open_transactions);

/*
 * _incr_citus_open_transactions(run_gpid bigint): this node's open
 * transactions, as node_open_transactions reports them.  A run's bound query
 * calls it on the rows of the first page of every shard of its source,
 * through the connections Citus keeps for the run's session; it looks at
 * the backends once per statement and answers the other rows from memory.
 * It shows what pg_stat_activity shows the caller, no more.
 */
Datum
incremental_citus_open_transactions(PG_FUNCTION_ARGS)
{
	static LocalTransactionId memo_lxid = InvalidLocalTransactionId;
	static TimestampTz memo_statement = 0;
	static int64 memo_gpid = 0;
	static char memo[128] = "";
	int64		run_gpid = PG_GETARG_INT64(0);

	if (memo_lxid != MyProc->lxid || memo_statement != GetCurrentStatementStartTimestamp() ||
		memo_gpid != run_gpid || memo[0] == '\0')
	{
		memo[0] = '\0';
		strlcpy(memo, node_open_transactions(run_gpid), sizeof(memo));
		memo_lxid = MyProc->lxid;
		memo_statement = GetCurrentStatementStartTimestamp();
		memo_gpid = run_gpid;
	}
	PG_RETURN_TEXT_P(cstring_to_text(memo));
}

/* The other nodes whose transactions the bound must see. */
typedef struct CitusNodes
{
	int			count;
	int32	   *nodeid;
	int32	   *groupid;
	bool	   *answered;
}			CitusNodes;

/*
 * Fold what a node reports into the bound: refuse a node that hides other
 * roles' transactions, keep the oldest start.
 */
static void
note_node(int32 node, int64 hidden, bool has_start, TimestampTz t, int pid,
		  MemoryContext caller, TimestampTz *start, char **where, bool *found)
{
	if (hidden > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the pipeline's owner cannot see the transactions of other roles on Citus node %d", node),
				 errdetail("The safe upper bound of a run over Citus tables is the start of the oldest transaction open on any node, which pg_stat_activity shows only to roles with pg_read_all_stats."),
				 errhint("GRANT pg_read_all_stats TO the owner of the pipeline.")));
	if (has_start && (!*found || t < *start))
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		*start = t;
		*where = psprintf("node %d, pid %d", node, pid);
		MemoryContextSwitchTo(old);
		*found = true;
	}
}

/*
 * The function that reports a node's open transactions, or InvalidOid in a
 * database whose extension predates it (before 0.4).
 */
static Oid
open_transactions_function(void)
{
	Oid			argtypes[1] = {INT8OID};
	Oid			fn;

	fn = LookupFuncName(list_make2(makeString(get_namespace_name(ExtensionSchemaOid())),
								   makeString("_incr_citus_open_transactions")),
						1, argtypes, true);
	if (!OidIsValid(fn) || !ExtensionOwnsObject(ProcedureRelationId, fn))
		return InvalidOid;
	return fn;
}

/*
 * Ask the nodes holding shards of the distributed table relid, through one
 * query over the first page of each shard: Citus sends it over the
 * connections it keeps for this session, which the run's count and
 * statement then use too, so the run pays for connecting once, as any
 * distributed statement does.  A node whose shards have no row there does
 * not answer (the caller asks it otherwise).
 */
static void
ask_through_shards(const char *schema, Oid relid, CitusNodes *nodes,
				   MemoryContext caller, TimestampTz *start, char **where, bool *found)
{
	bool		isnull;
	int64		gpid;
	int			ret;

	ret = SPI_execute(psprintf("SELECT %s.citus_backend_gpid()", schema), true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read this backend's Citus global pid (SPI result %d)", ret);
	gpid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	ret = SPI_execute(psprintf("SELECT DISTINCT %s._incr_citus_open_transactions(" INT64_FORMAT "::pg_catalog.int8)"
							   " FROM %s.%s AS s WHERE s.ctid OPERATOR(pg_catalog.<) '(1,0)'::pg_catalog.tid",
							   ExtensionSchemaQuoted(), gpid,
							   quote_identifier(get_namespace_name(get_rel_namespace(relid))),
							   quote_identifier(get_rel_name(relid))),
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list the open transactions of the Citus cluster (SPI result %d)", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *answer = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		int			group;
		long long	hidden;
		long long	t = 0;
		int			pid = 0;
		int			fields;

		fields = answer ? sscanf(answer, "%d %lld %lld %d", &group, &hidden, &t, &pid) : 0;
		if (fields != 2 && fields != 4)
			elog(ERROR, "unexpected answer from a Citus node: %s", answer ? answer : "NULL");
		/* this node's group (a local placement) is the caller's to see */
		for (int n = 0; n < nodes->count; n++)
			if (nodes->groupid[n] == group)
			{
				note_node(nodes->nodeid[n], (int64) hidden, fields == 4, (TimestampTz) t, pid,
						  caller, start, where, found);
				nodes->answered[n] = true;
			}
	}
}

/*
 * Ask the given nodes in connections of their own, in parallel: Citus opens
 * a new one to each (master_run_on_worker, under run_command_on_all_nodes),
 * so this is for the nodes the shards of the source do not reach.
 */
static void
ask_each_node(const char *schema, CitusNodes *nodes,
			  MemoryContext caller, TimestampTz *start, char **where, bool *found)
{
	Datum	   *ids = palloc(sizeof(Datum) * nodes->count);
	int			nids = 0;
	Oid			argtypes[1] = {INT4ARRAYOID};
	Datum		args[1];
	bool		isnull;
	int			ret;

	for (int n = 0; n < nodes->count; n++)
		if (!nodes->answered[n])
			ids[nids++] = Int32GetDatum(nodes->nodeid[n]);
	if (nids == 0)
		return;
	args[0] = PointerGetDatum(construct_array(ids, nids, INT4OID, sizeof(int32), true, TYPALIGN_INT));

	/*
	 * The transactions open there, less this backend's (by global pid), and
	 * the ones whose start this role may not see (nor their backend_type).  Calling
	 * master_run_on_worker directly saves run_command_on_all_nodes's PL/pgSQL.
	 */
	ret = SPI_execute_with_args(psprintf("SELECT n.nodeid, r.success, r.result"
										 " FROM (SELECT pg_catalog.array_agg(d.nodename::pg_catalog.text) AS names,"
										 " pg_catalog.array_agg(d.nodeport) AS ports"
										 " FROM %s.pg_dist_node AS d"
										 " WHERE d.nodeid OPERATOR(pg_catalog.=) ANY ($1)) AS l,"
										 " LATERAL %s.master_run_on_worker(l.names, l.ports,"
										 " pg_catalog.array_fill(pg_catalog.format("
										 "$c$SELECT pg_catalog.concat_ws(' ', pg_catalog.count(*) FILTER"
										 " (WHERE a.xact_start IS NULL AND a.state IS NULL),"
										 " pg_catalog.min(a.xact_start)::pg_catalog.text,"
										 " (pg_catalog.array_agg(a.pid ORDER BY a.xact_start) FILTER (WHERE a.xact_start IS NOT NULL))[1])"
										 " FROM pg_catalog.pg_stat_activity AS a"
										 " LEFT JOIN %s.get_all_active_transactions() AS g ON g.process_id OPERATOR(pg_catalog.=) a.pid"
										 " WHERE a.datname OPERATOR(pg_catalog.=) %%L"
										 " AND (a.backend_type OPERATOR(pg_catalog.=) ANY (ARRAY['client backend', 'background worker'])"
										 " OR a.backend_type IS NULL)"
										 " AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
										 " AND g.global_pid IS DISTINCT FROM %%s$c$,"
										 " pg_catalog.current_database(), %s.citus_backend_gpid()),"
										 " ARRAY[pg_catalog.cardinality(l.names)]), true) AS r"
										 " JOIN %s.pg_dist_node AS n ON n.nodename OPERATOR(pg_catalog.=) r.node_name"
										 " AND n.nodeport OPERATOR(pg_catalog.=) r.node_port"
										 " WHERE l.names IS NOT NULL",
										 schema, schema, schema, schema, schema),
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list the open transactions of the Citus cluster (SPI result %d)", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		int32		node = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		bool		success = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		char	   *result = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
		long		hidden;
		char		ts[64] = "";
		char		date[32] = "";
		int			pid = 0;
		int			fields;
		TimestampTz t = 0;

		if (!success)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not see the open transactions of Citus node %d", node),
					 errdetail("%s", result ? result : "The node did not answer."),
					 errhint("The safe upper bound needs every node of the cluster: a transaction open on a node it cannot see could commit rows below it.")));
		/* "hidden [yyyy-mm-dd hh:mm:ss.ffffff+zz pid]" */
		fields = result ? sscanf(result, "%ld %31s %63s %d", &hidden, date, ts, &pid) : 0;
		if (fields < 1)
			elog(ERROR, "unexpected answer from Citus node %d: %s", node, result ? result : "NULL");
		if (fields >= 3)
			t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														CStringGetDatum(psprintf("%s %s", date, ts)),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
		note_node(node, hidden, fields >= 3, t, pid, caller, start, where, found);
		for (int n = 0; n < nodes->count; n++)
			if (nodes->nodeid[n] == node)
				nodes->answered[n] = true;
	}
	for (int n = 0; n < nodes->count; n++)
		if (!nodes->answered[n])
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not see the open transactions of Citus node %d", nodes->nodeid[n]),
					 errdetail("The node did not answer."),
					 errhint("The safe upper bound needs every node of the cluster: a transaction open on a node it cannot see could commit rows below it.")));
}

/*
 * Find the start of the oldest transaction open in this database on the
 * other nodes of the Citus cluster, other than this run's own (its backends
 * on the workers carry its global pid); false if none.  This node's own
 * transactions are the caller's to see (oldest_open_transaction, from shared
 * memory).  Every other active primary node must answer, and its
 * pg_stat_activity must show the transactions of every user: a node or a
 * transaction the bound cannot see could commit rows below it.  *where says
 * which node and pid.  relid is the run's source: when it is distributed,
 * the nodes holding its shards are asked through its shards.
 */
bool
CitusOldestOpenTransaction(Oid relid, TimestampTz *start, char **where)
{
	const char *schema = citus_schema();
	MemoryContext caller = CurrentMemoryContext;
	CitusNodes	nodes;
	bool		isnull;
	bool		found = false;
	int			ret;

	if (schema == NULL)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute(psprintf("SELECT d.nodeid, d.groupid FROM %s.pg_dist_node AS d"
							   " WHERE d.isactive AND d.noderole::pg_catalog.text OPERATOR(pg_catalog.=) 'primary'"
							   " AND d.nodecluster OPERATOR(pg_catalog.=) pg_catalog.current_setting('citus.cluster_name')"
							   " AND d.groupid OPERATOR(pg_catalog.<>) ALL (SELECT g.groupid FROM %s.pg_dist_local_group AS g)",
							   schema, schema),
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list the nodes of the Citus cluster (SPI result %d)", ret);
	nodes.count = (int) SPI_processed;
	nodes.nodeid = palloc0(sizeof(int32) * (nodes.count + 1));
	nodes.groupid = palloc0(sizeof(int32) * (nodes.count + 1));
	nodes.answered = palloc0(sizeof(bool) * (nodes.count + 1));
	for (int n = 0; n < nodes.count; n++)
	{
		nodes.nodeid[n] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[n], SPI_tuptable->tupdesc, 1, &isnull));
		nodes.groupid[n] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[n], SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (nodes.count > 0 && CitusRelationKind(relid) == CITUS_DISTRIBUTED &&
		OidIsValid(open_transactions_function()))
		ask_through_shards(schema, relid, &nodes, caller, start, where, &found);
	if (nodes.count > 0)
		ask_each_node(schema, &nodes, caller, start, where, &found);
	SPI_finish();
	return found;
}

/*
 * Wait for the transactions that hold a write lock on the source on any
 * node: Citus propagates LOCK on a distributed or reference table to every
 * node that holds its metadata, where writers through that node lock it.
 * Taken in a subtransaction that is rolled back, which releases the lock
 * here and on the workers (Citus rolls their savepoint back too), so the
 * run holds nothing afterwards; while it waits, new writers queue behind
 * it.  lock_timeout bounds the wait.
 */
void
CitusWaitForWriters(Pipeline *p)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *sql = psprintf("LOCK TABLE %s.%s IN SHARE MODE",
							   quote_identifier(get_namespace_name(get_rel_namespace(p->source))),
							   quote_identifier(get_rel_name(p->source)));

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not wait for the writers of \"%s\"", get_rel_name(p->source));
		SPI_finish();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		RollbackAndReleaseCurrentSubTransaction();
		CurrentResourceOwner = owner;
		PG_RE_THROW();
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}
