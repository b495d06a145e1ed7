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
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
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

/* How Citus holds the relation: CITUS_NONE for a plain table or without Citus. */
CitusKind
CitusRelationKind(Oid relid)
{
	const char *schema;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	CitusKind	kind = CITUS_NONE;
	int			ret;

	for (int i = 0; i < CITUS_KIND_CACHE; i++)
		if (kind_cache[i].lxid == MyProc->lxid && kind_cache[i].relid == relid &&
			OidIsValid(relid))
			return kind_cache[i].kind;
	schema = citus_schema();
	if (schema == NULL || !OidIsValid(relid))
		return CITUS_NONE;
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
 * Find the start of the oldest transaction open in this database on the
 * other nodes of the Citus cluster, other than this run's own (its backends
 * on the workers carry its global pid); false if none.  This node's own
 * transactions are the caller's to see (oldest_open_transaction, from shared
 * memory).  Every other active primary node must answer, and its
 * pg_stat_activity must show the transactions of every user: a node or a
 * transaction the bound cannot see could commit rows below it.  *where says
 * which node and pid.
 */
bool
CitusOldestOpenTransaction(TimestampTz *start, char **where)
{
	const char *schema = citus_schema();
	MemoryContext caller = CurrentMemoryContext;
	int			ret;
	bool		isnull;
	bool		found = false;

	if (schema == NULL)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * One command on every other node, in a connection of its own, in
	 * parallel: the transactions open there, less this backend's (by global
	 * pid), and the ones whose start this role may not see.  Citus opens a
	 * new connection for each (master_run_on_worker, under
	 * run_command_on_all_nodes): leaving this node out, which shared memory
	 * answers for, saves the connection to itself, and calling it directly
	 * saves run_command_on_all_nodes's PL/pgSQL.
	 */
	ret = SPI_execute(psprintf("SELECT n.nodeid, r.success, r.result"
							   " FROM (SELECT pg_catalog.array_agg(d.nodename::pg_catalog.text) AS names,"
							   " pg_catalog.array_agg(d.nodeport) AS ports"
							   " FROM %s.pg_dist_node AS d"
							   " WHERE d.isactive AND d.noderole::pg_catalog.text OPERATOR(pg_catalog.=) 'primary'"
							   " AND d.nodecluster OPERATOR(pg_catalog.=) pg_catalog.current_setting('citus.cluster_name')"
							   " AND d.groupid OPERATOR(pg_catalog.<>) ALL (SELECT g.groupid FROM %s.pg_dist_local_group AS g)) AS l,"
							   " LATERAL %s.master_run_on_worker(l.names, l.ports,"
							   " pg_catalog.array_fill(pg_catalog.format("
							   "$c$SELECT pg_catalog.concat_ws(' ', pg_catalog.count(*) FILTER"
							   " (WHERE a.xact_start IS NULL AND a.state IS NULL),"
							   " pg_catalog.min(a.xact_start)::pg_catalog.text,"
							   " (pg_catalog.array_agg(a.pid ORDER BY a.xact_start) FILTER (WHERE a.xact_start IS NOT NULL))[1])"
							   " FROM pg_catalog.pg_stat_activity AS a"
							   " LEFT JOIN %s.get_all_active_transactions() AS g ON g.process_id OPERATOR(pg_catalog.=) a.pid"
							   " WHERE a.datname OPERATOR(pg_catalog.=) %%L"
							   " AND a.backend_type OPERATOR(pg_catalog.=) ANY (ARRAY['client backend', 'background worker'])"
							   " AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
							   " AND g.global_pid IS DISTINCT FROM %%s$c$,"
							   " pg_catalog.current_database(), %s.citus_backend_gpid()),"
							   " ARRAY[pg_catalog.cardinality(l.names)]), true) AS r"
							   " JOIN %s.pg_dist_node AS n ON n.nodename OPERATOR(pg_catalog.=) r.node_name"
							   " AND n.nodeport OPERATOR(pg_catalog.=) r.node_port"
							   " WHERE l.names IS NOT NULL",
							   schema, schema, schema, schema, schema, schema),
					  false, 0);
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

		if (!success)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not see the open transactions of Citus node %d", node),
					 errdetail("%s", result ? result : "The node did not answer."),
					 errhint("The safe upper bound needs every node of the cluster: a transaction open on a node it cannot see could commit rows below it.")));
		/* "hidden [yyyy-mm-dd hh:mm:ss.ffffff+zz pid]" */
		fields = sscanf(result, "%ld %31s %63s %d", &hidden, date, ts, &pid);
		if (fields < 1)
			elog(ERROR, "unexpected answer from Citus node %d: %s", node, result);
		if (hidden > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the pipeline's owner cannot see the transactions of other roles on Citus node %d", node),
					 errdetail("The safe upper bound of a run over Citus tables is the start of the oldest transaction open on any node, which pg_stat_activity shows only to roles with pg_read_all_stats."),
					 errhint("GRANT pg_read_all_stats TO the owner of the pipeline.")));
		if (fields >= 3)
		{
			TimestampTz t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																	CStringGetDatum(psprintf("%s %s", date, ts)),
																	ObjectIdGetDatum(InvalidOid),
																	Int32GetDatum(-1)));

			if (!found || t < *start)
			{
				MemoryContext old = MemoryContextSwitchTo(caller);

				*start = t;
				*where = psprintf("node %d, pid %d", node, pid);
				MemoryContextSwitchTo(old);
				found = true;
			}
		}
	}
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
