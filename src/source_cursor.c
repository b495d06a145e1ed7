/*
 * source_cursor.c
 *		The cursor source kind: a relation and a growing column.  Its window: the lower bound from the checkpoint and
 *		the lag, the safe upper bound that keeps rows of open transactions from
 *		being skipped, and the cut at batch_size.
 *
 * The safe upper bound.  A row is lost when a run moves the checkpoint past
 * its cursor value before it commits.  Runs re-read the checkpoint's own value
 * (ties), so a window may end at value B as long as no row below B can still
 * commit after the run's snapshot:
 *
 * - timestamp and date cursors are filled by now(), clock_timestamp() or
 *   current_date, which in any transaction are at least its start time.  B is
 *   the start of the oldest transaction open in this database, or the time of
 *   the check if that is earlier.  Nothing is waited for; a long open
 *   transaction holds the window back instead (incr_plan shows which).
 *
 * - integer and numeric cursors are filled by sequences in the INSERT that
 *   writes the row, which holds a lock on the source while it does.  B is the
 *   greatest value in the source, read first; then the run waits for every
 *   transaction holding a write lock on the source, its partitions or the
 *   tables under a view.  Values up to B are then committed or gone; later
 *   ones are greater than B.  The wait obeys lock_timeout.  Sequences with
 *   CACHE > 1 break the premise and are refused (describe.c).
 *
 * - xid8 cursors filled by pg_current_xact_id() carry the id of the writing
 *   transaction.  B is the xmin of a new snapshot: every transaction below it
 *   has ended.  Nothing is waited for, and unlike the two above this holds
 *   for any writer, whatever order it commits in.
 *
 * All three need the run's statement to take a new snapshot after the bound
 * is computed, which is why REPEATABLE READ callers are refused (run.c).
 * A query pipeline, which cannot tell rows it read from new ones, ends its
 * window strictly below B.  No window ever ends at NaN or infinity.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/twophase.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "rewrite/rewriteHandler.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "citus.h"
#include "cursor.h"
#include "keptplan.h"
#include "mode.h"
#include "sqlgen.h"
#include "source_cursor.h"
#include "statement.h"

/* SELECT the greatest cursor value in the source up to $1 (NaN and infinities left out). */
static char *
BuildMaxCursorSql(Pipeline *p, PipelineShape *shape)
{
	BuildContext ctx = {.citus = PipelineOverCitus(p)};
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s WHERE s.%s OPERATOR(pg_catalog.<=) %s",
					c, shape->source_sql, c, sql_param(&ctx, p, 1));
}

/* SELECT the greatest cursor value in the target; no parameters. */
static char *
BuildTargetMaxSql(Pipeline *p, PipelineShape *shape)
{
	return psprintf("SELECT pg_catalog.max(x.%s) FROM %s AS x",
					quote_identifier(p->cursor_column), shape->target_sql);
}

/*
 * SELECT the first cursor value past a full batch: the (batch_size + 1)-th
 * row after the checkpoint $1 (exclusive), up to $2 (inclusive).
 */
static char *
BuildBatchEndSql(Pipeline *p, PipelineShape *shape)
{
	BuildContext ctx = {.citus = PipelineOverCitus(p)};
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT s.%s FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) %s AND s.%s OPERATOR(pg_catalog.<=) %s"
					" ORDER BY s.%s OFFSET " INT64_FORMAT " LIMIT 1",
					c, shape->source_sql, c, sql_param(&ctx, p, 1), c, sql_param(&ctx, p, 2),
					c, p->batch_size);
}

/* SELECT the greatest cursor value after $1 and before $2 (both exclusive). */
static char *
BuildBatchPrevSql(Pipeline *p, PipelineShape *shape)
{
	BuildContext ctx = {.citus = PipelineOverCitus(p)};
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT pg_catalog.max(s.%s) FROM %s AS s"
					" WHERE s.%s OPERATOR(pg_catalog.>) %s AND s.%s OPERATOR(pg_catalog.<) %s",
					c, shape->source_sql, c, sql_param(&ctx, p, 1), c, sql_param(&ctx, p, 2));
}

/*
 * SELECT how many source rows lie past the checkpoint $1 (every row with a
 * cursor value when from_start), counting up to 1000000.
 */
char *
BuildPendingSql(Pipeline *p, const char *source_sql, bool from_start)
{
	BuildContext ctx = {.citus = PipelineOverCitus(p)};
	const char *c = quote_identifier(p->cursor_column);

	/* Citus cannot plan a subquery without columns */
	return psprintf("SELECT pg_catalog.count(*) FROM (SELECT%s FROM %s AS s WHERE s.%s %s"
					" LIMIT 1000000) AS pending",
					ctx.citus ? " 1" : "", source_sql, c,
					from_start ? "IS NOT NULL" :
					psprintf("OPERATOR(pg_catalog.>) %s", sql_param(&ctx, p, 1)));
}

/*
 * SELECT the first row past the checkpoint $1 (the first with any cursor
 * value when from_start): one step into the cursor's index, which the
 * ORDER BY makes the plan use even for a small source, where a scan would
 * read every row to find none.  The scheduler asks it before running a
 * pipeline it found idle (scheduler.c).
 */
char *
BuildPastCheckpointSql(Pipeline *p, const char *source_sql, bool from_start)
{
	const char *c = quote_identifier(p->cursor_column);

	return psprintf("SELECT s.%s FROM %s AS s WHERE s.%s %s ORDER BY s.%s LIMIT 1",
					c, source_sql, c,
					from_start ? "IS NOT NULL" : "OPERATOR(pg_catalog.>) $1", c);
}

/*
 * Refuse an xid8 cursor value above this cluster's next transaction id.  No
 * transaction here has had that id: the value comes from another
 * transaction-id history, such as the cluster a dump was taken from (pg_dump
 * keeps the ids in the rows and the checkpoint, not the counter).  A window
 * starting there would read nothing until this cluster's ids caught up.  A
 * foreign source's ids are the remote cluster's, so it is not checked.
 */
void
CheckXid8FromThisCluster(Pipeline *p, char source_relkind, Datum value,
						 const char *what)
{
	FullTransactionId next;
	uint64		v;

	if (p->cursor_kind != CURSOR_XID8 || source_relkind == RELKIND_FOREIGN_TABLE)
		return;
	next = ReadNextFullTransactionId();
	v = U64FromFullTransactionId(DatumGetFullTransactionId(value));
	if (v > U64FromFullTransactionId(next))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s " UINT64_FORMAT " of pipeline \"%s\" is not a transaction id of this cluster",
						what, v, p->name),
				 errdetail("The next transaction id is " UINT64_FORMAT ": the value comes from another transaction-id history, such as the cluster a dump was restored from, and a window starting there would read no new rows.",
						   U64FromFullTransactionId(next)),
				 errhint("Reset the checkpoint to a transaction id of this cluster, e.g. SELECT incr_reset(%s, pg_snapshot_xmin(pg_current_snapshot())::text); if rows were written since the restore, use an id below theirs, or incr_reset(%s) to load everything again.",
						 quote_literal_cstr(p->name), quote_literal_cstr(p->name))));
}

/*
 * Find the start of the oldest transaction open in this database, other than
 * ours, among client backends and background workers; false if none.
 */
static bool
oldest_open_transaction(TimestampTz *start, int *pid)
{
	int			n;
	bool		found = false;

	if (!pgstat_track_activities)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("track_activities is off, so open transactions cannot be seen"),
				 errdetail("The safe upper bound of a timestamp or date cursor is the start of the oldest open transaction."),
				 errhint("Turn track_activities on, or set incremental.safe_upper_bound = off and rely on lag.")));

	/* look at the backends now, not at a snapshot taken earlier in this transaction */
	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid == MyProcPid || be->st_databaseid != MyDatabaseId)
			continue;
		if (be->st_backendType != B_BACKEND && be->st_backendType != B_BG_WORKER)
			continue;
		if (be->st_xact_start_timestamp == 0)
			continue;
		if (!found || be->st_xact_start_timestamp < *start)
		{
			*start = be->st_xact_start_timestamp;
			*pid = be->st_procpid;
			found = true;
		}
	}
	return found;
}

static void collect_tables(Oid relid, List **tables, int depth);

/* Walk a view's query, collecting the tables of every relation it reads. */
static bool
collect_tables_walker(Node *node, void *context)
{
	List	  **tables = ((List **) context);

	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION && !list_member_oid(*tables, rte->relid))
				collect_tables(rte->relid, tables, list_length(*tables));
		}
		return query_tree_walker(query, collect_tables_walker, context, 0);
	}
	return expression_tree_walker(node, collect_tables_walker, context);
}

/*
 * Collect the tables whose writers a run must wait for: a table with its
 * partitions, or, for a view, those of every relation the view reads.
 * Foreign tables are left out: their writers are elsewhere.
 */
static void
collect_tables(Oid relid, List **tables, int depth)
{
	char		relkind = get_rel_relkind(relid);

	if (depth > 1000)
		return;
	if (relkind == RELKIND_VIEW)
	{
		Relation	view = relation_open(relid, AccessShareLock);
		Query	   *query = copyObject(get_view_query(view));

		relation_close(view, NoLock);
		/* the view itself: its rule's OLD and NEW entries point back at it */
		*tables = lappend_oid(*tables, relid);
		(void) collect_tables_walker((Node *) query, tables);
	}
	else if (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
			 relkind == RELKIND_MATVIEW)
		*tables = list_concat_unique_oid(*tables, find_all_inheritors(relid, NoLock, NULL));
}

/*
 * Does a subscription replicate into a table the source reads (the source, a
 * partition, a table under a view)?  Such rows commit in the order the
 * publisher's transactions committed, each in an apply transaction that
 * starts when it arrives, so no bound computed here sees the publisher's
 * open transactions.
 */
bool
SourceIsSubscribed(Oid source)
{
	List	   *relids = NIL;
	ListCell   *lc;
	Relation	subrel;
	bool		found = false;

	collect_tables(source, &relids, 0);
	subrel = table_open(SubscriptionRelRelationId, AccessShareLock);
	foreach(lc, relids)
	{
		ScanKeyData key;
		SysScanDesc scan;

		ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(subrel, SubscriptionRelSrrelidSrsubidIndexId, true,
								  NULL, 1, &key);
		if (HeapTupleIsValid(systable_getnext(scan)))
			found = true;
		systable_endscan(scan);
		if (found)
			break;
	}
	table_close(subrel, AccessShareLock);
	return found;
}

/* Error context while waiting: say what the run was waiting for. */
static void
wait_for_writers_context(void *arg)
{
	errcontext("waiting for open transactions that write the source of pipeline \"%s\"",
			   ((Pipeline *) arg)->name);
}

/*
 * Refuse to wait for the writers of the source when this transaction is one
 * of them and another one is open: that one may be waiting for us (the same
 * pipeline run from a trigger on its source, or after an INSERT in the same
 * transaction), and each would wait for the other's end.  Each takes its
 * write lock before it gets here, so of two such runs at least the later one
 * sees the other and refuses: no cycle of waits can form.  Alone, such a
 * transaction has no one to wait for and runs.
 */
static void
refuse_wait_on_peers(Pipeline *p, List *locktags)
{
	ListCell   *lc;
	bool		writing = false;

	foreach(lc, locktags)
		if (LockHeldByMe((LOCKTAG *) lfirst(lc), RowExclusiveLock))
			writing = true;
	if (!writing)
		return;
	foreach(lc, locktags)
	{
		VirtualTransactionId *others = GetLockConflicts((LOCKTAG *) lfirst(lc),
														ShareLock, NULL);

		if (VirtualTransactionIdIsValid(others[0]))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot run pipeline \"%s\" in a transaction that writes its source while others do",
							p->name),
					 errdetail("This transaction holds a write lock on \"%s\"; the run would wait for the other transactions that hold one, and they may be waiting for this one.",
							   get_rel_name(((LOCKTAG *) lfirst(lc))->locktag_field2)),
					 errhint("Run the pipeline in a transaction of its own after the writes commit: schedule it (incr_schedule), call it from pg_cron, or call incr_run after COMMIT; not from a trigger on its source.")));
	}
}

/* The lock tags of the tables the source reads: itself, its partitions, a view's tables. */
static List *
source_locktags(Pipeline *p)
{
	List	   *relids = NIL;
	List	   *locktags = NIL;
	ListCell   *lc;

	collect_tables(p->source, &relids, 0);
	foreach(lc, relids)
	{
		LOCKTAG    *tag;

		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_VIEW)
			continue;
		tag = palloc(sizeof(LOCKTAG));
		SET_LOCKTAG_RELATION(*tag, MyDatabaseId, lfirst_oid(lc));
		locktags = lappend(locktags, tag);
	}
	return locktags;
}

/*
 * Find a prepared transaction that holds a write lock on a table the source
 * reads; false if none.  Such a transaction has no backend, so
 * oldest_open_transaction does not see it, and the time it began is not
 * kept: its rows may carry any cursor value from before it was prepared.
 */
static bool
prepared_writer(Pipeline *p, TransactionId *xid)
{
	List	   *locktags = source_locktags(p);
	ListCell   *lc;

	foreach(lc, locktags)
	{
		VirtualTransactionId *others = GetLockConflicts((LOCKTAG *) lfirst(lc),
														ShareLock, NULL);

		for (int i = 0; VirtualTransactionIdIsValid(others[i]); i++)
		{
			bool		more = false;

			/*
			 * A prepared transaction keeps the virtual id of the session that
			 * prepared it (one recovered after a restart carries its xid).
			 */
			if (VirtualTransactionIdIsRecoveredPreparedXact(others[i]))
				*xid = others[i].localTransactionId;
			else
				*xid = TwoPhaseGetXidByVirtualXID(others[i], &more);
			if (TransactionIdIsValid(*xid))
				return true;
		}
	}
	return false;
}

/* The gid of a prepared transaction, for messages ("?" if it has ended since). */
static char *
prepared_gid(TransactionId xid)
{
	Oid			argtypes[1] = {XIDOID};
	Datum		args[1] = {TransactionIdGetDatum(xid)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT gid FROM pg_catalog.pg_prepared_xacts"
							  " WHERE transaction OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed == 0)
		return "?";
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? "?" : TextDatumGetCString(d);
}

/*
 * Wait until no transaction holds a write lock on a table the source reads:
 * the source, its partitions, or the tables under a view.  lock_timeout
 * bounds the wait.
 */
static void
wait_for_writers(Pipeline *p)
{
	List	   *locktags = source_locktags(p);
	ErrorContextCallback context;

	refuse_wait_on_peers(p, locktags);
	context.callback = wait_for_writers_context;
	context.arg = p;
	context.previous = error_context_stack;
	error_context_stack = &context;
	WaitForLockersMultiple(locktags, ShareLock, false);
	error_context_stack = context.previous;
}

/* The xmin of a new snapshot: every transaction id below it has ended. */
static Datum
oldest_running_xid8(void)
{
	bool		isnull;
	int			ret;

	/* not read-only, so SPI takes a new snapshot for the statement */
	ret = SPI_execute("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())",
					  false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the snapshot's xmin");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

/*
 * The window queries, prepared once per session and kept, most recently used
 * first, as the run statements are (keptplan.c): parsing and planning them
 * was a good part of a run that finds nothing to do.  An entry is found by
 * its text and parameter type.  A query that is executing is in use, and
 * never freed under it (a function of a source view may start a run).
 */
#define WINDOW_PLANS_KEPT 256
static KeptPlans window_plans = {NIL, WINDOW_PLANS_KEPT, sizeof(KeptPlan)};

/* Execute a window query with its kept plan (a plan of its own over Citus). */
static int
execute_window_query(Pipeline *p, const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	KeptPlan   *entry;
	int			ret;

	if (PipelineOverCitus(p))
		return SPI_execute_with_args(sql, nargs, argtypes, args, NULL, true, 1);
	entry = KeptPlanGet(&window_plans, NULL, 0, sql, argtypes[0], NULL);
	KeptPlanBeginUse(entry);
	PG_TRY();
	{
		if (entry->plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

			if (plan == NULL)
				elog(ERROR, "could not prepare a window query (%s): %s",
					 SPI_result_code_string(SPI_result), sql);
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "could not keep the plan of a window query: %s", sql);
			entry->plan = plan;
		}
		ret = SPI_execute_plan(entry->plan, args, NULL, true, 1);
	}
	PG_FINALLY();
	{
		KeptPlanEndUse(entry);
	}
	PG_END_TRY();
	return ret;
}

/* Run a one-column query of the window; false if it returned no row or NULL. */
static bool
query_cursor_value(Pipeline *p, const char *sql, int nargs, Datum *args, Datum *result)
{
	Oid			argtypes[2] = {p->cursor_type, p->cursor_type};
	bool		isnull;
	int			ret;

	ret = execute_window_query(p, sql, nargs, argtypes, args);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "window query failed (SPI result %d): %s", ret, sql);
	if (SPI_processed == 0)
		return false;
	*result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull;
}

/*
 * Refuse the first window of a query pipeline when the source holds rows at
 * the cursor type's least value.  Its command reads cursor > $1, and $1 is
 * that least value: no value of the type lies below it, so these rows could
 * be in no window, and the checkpoint would move past them unseen.
 */
static void
refuse_rows_at_least_value(Pipeline *p, PipelineShape *shape)
{
	Datum		least = CursorLeast(p);
	Datum		found;
	char	   *text = CursorValueOut(p, least);

	if (!query_cursor_value(p, BuildMaxCursorSql(p, shape), 1, &least, &found))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("source of query pipeline \"%s\" has rows at the least %s value, %s",
					p->name, format_type_be(p->cursor_type), text),
			 errdetail("The command reads %s > $1, and on a first run $1 is %s: no %s value lies below it, so no window can hold these rows.",
					   quote_identifier(p->cursor_column), text,
					   format_type_be(p->cursor_type)),
			 CursorIsFinite(p, least) ?
			 errhint("Process the rows at %s yourself, then call incr_reset(%s, %s) so that runs start after them; or give them another cursor value.",
					 text, quote_literal_cstr(p->name), quote_literal_cstr(text)) :
			 errhint("Give these rows a finite cursor value, or keep them out of the source (a view over the rows with finite values).")));
}

/*
 * Lower the upper bound to b if b is not above it.  A bound equal to the
 * type's greatest value (a smallint window ending at 32767) is a bound all
 * the same, and the history must show it.
 */
static void
cap_upper(Pipeline *p, RunWindow *w, Datum b, char *reason)
{
	if (!CursorLessThan(p, w->upper, b))
	{
		w->upper = b;
		w->upper_unbounded = false;
		w->upper_reason = reason;
	}
}

/*
 * Cut the window at batch_size rows past start (exclusive), on a whole
 * cursor value: the upper bound becomes the greatest value below the
 * (batch_size + 1)-th row, or that row's value when one value alone holds
 * more than batch_size rows (then it is read whole).
 */
static void
cut_at_batch(Pipeline *p, PipelineShape *shape, RunWindow *w, Datum start)
{
	Datum		args[2] = {start, w->upper};
	Datum		next;
	Datum		prev;

	if (!query_cursor_value(p, BuildBatchEndSql(p, shape), 2, args, &next))
		return;
	args[1] = next;
	if (query_cursor_value(p, BuildBatchPrevSql(p, shape), 2, args, &prev))
		cap_upper(p, w, prev, psprintf("batch_size " INT64_FORMAT, p->batch_size));
	else
		cap_upper(p, w, next,
				  psprintf("one cursor value holds more than batch_size " INT64_FORMAT
						   " rows; it is read whole", p->batch_size));
}

/*
 * Hold a timestamp or date window at the checkpoint (load nothing new) while
 * a prepared transaction writes the source: its rows' cursor values (now()
 * of a transaction begun before it was prepared) are unknown, and may lie
 * below any bound until COMMIT PREPARED makes them visible.  Runs go on
 * without moving; the NOTICE names the transaction to end.
 */
static void
hold_for_prepared_writer(Pipeline *p, Checkpoint *cp, RunWindow *w)
{
	TransactionId xid;
	char	   *gid;

	if (!prepared_writer(p, &xid))
		return;
	gid = prepared_gid(xid);
	ereport(NOTICE,
			(errmsg("pipeline \"%s\" loads nothing new while prepared transaction \"%s\" (xid %u) writes its source",
					p->name, gid, xid),
			 errdetail("The rows of a prepared transaction may carry cursor values from before it was prepared, and become visible when it commits."),
			 errhint("End it with COMMIT PREPARED or ROLLBACK PREPARED (see pg_prepared_xacts).")));
	if (cp->isnull)
	{
		cap_upper(p, w, CursorLeast(p), psprintf("prepared transaction \"%s\" writes the source", gid));
		w->empty = true;
	}
	else
		cap_upper(p, w, cp->value, psprintf("prepared transaction \"%s\" writes the source", gid));
}

/*
 * Compute the window of a normal run.  Must be called connected to SPI, as
 * the pipeline's owner.  With wait_for_writers = false (incr_plan) the wait
 * for writers of an integer cursor is skipped.
 */
static void
ComputeRunWindow(Pipeline *p, PipelineShape *shape, Checkpoint *cp,
				 bool wait_writers, RunWindow *w)
{
	bool		local = (shape->source_relkind != RELKIND_FOREIGN_TABLE);

	memset(w, 0, sizeof(RunWindow));
	w->upper = CursorGreatestFinite(p);
	w->upper_unbounded = true;
	w->upper_reason = "no bound";
	if (cp->isnull)
	{
		w->checkpoint = w->lower = CursorLeast(p);
		w->lower_unbounded = true;
	}
	else
	{
		w->checkpoint = cp->value;
		w->lower = CursorLowerBound(p, cp->value);
	}

	if (!cp->isnull)
		CheckXid8FromThisCluster(p, shape->source_relkind, cp->value, "checkpoint");

	if (!incr_safe_upper_bound)
		w->upper_reason = "safe upper bound disabled (incremental.safe_upper_bound = off)";
	else if (!local)
		w->upper_reason = "foreign source: no safe bound, late rows need lag";
	else if (PipelineCursor(p)->bound == BOUND_GREATEST_AFTER_WRITERS)
	{
		Datum		greatest;
		Datum		finite = CursorGreatestFinite(p);

		if (query_cursor_value(p, BuildMaxCursorSql(p, shape), 1, &finite, &greatest))
			cap_upper(p, w, greatest, "greatest cursor value before waiting for writers");
		else
		{
			cap_upper(p, w, CursorLeast(p), "empty source");
			w->empty = true;
		}
		if (wait_writers)
			wait_for_writers(p);
		/* and for those writing through the other nodes of a Citus cluster */
		if (wait_writers && CitusRelationKind(p->source) != CITUS_NONE)
			CitusWaitForWriters(p);
	}
	else if (PipelineCursor(p)->bound == BOUND_OLDEST_XID)
	{
		Datum		b = oldest_running_xid8();

		cap_upper(p, w, ModeOf(p)->user_statement ? CursorPredecessor(p, b) : b,
				  "oldest running transaction id");
	}
	else
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz oldest = 0;
		int			pid = 0;
		Datum		b;
		char	   *reason;

		TimestampTz citus_oldest = 0;
		char	   *citus_where = NULL;

		if (oldest_open_transaction(&oldest, &pid) && oldest < now)
			reason = psprintf("start of the oldest open transaction (pid %d)", pid);
		else
		{
			oldest = now;
			reason = "time of the check";
		}
		/* clients may write a Citus table through any node: see them all */
		if (CitusRelationKind(p->source) != CITUS_NONE &&
			CitusOldestOpenTransaction(p->source, &citus_oldest, &citus_where) &&
			citus_oldest < oldest)
		{
			oldest = citus_oldest;
			reason = psprintf("start of the oldest open transaction of the Citus cluster (%s)",
							  citus_where);
		}
		b = CursorFromTime(p, oldest);
		cap_upper(p, w, ModeOf(p)->user_statement ? CursorPredecessor(p, b) : b, reason);
		hold_for_prepared_writer(p, cp, w);
	}

	/*
	 * A query pipeline's checkpoint is its window's end, not the greatest value
	 * read (it reads nothing itself), so the end must be a value of the source.
	 */
	if (ModeOf(p)->user_statement)
	{
		Datum		greatest;
		Datum		finite = CursorGreatestFinite(p);

		if (cp->isnull)
			refuse_rows_at_least_value(p, shape);

		if (query_cursor_value(p, BuildMaxCursorSql(p, shape), 1, &finite, &greatest))
			cap_upper(p, w, greatest, "greatest cursor value");
		else
		{
			cap_upper(p, w, CursorLeast(p), "empty source");
			w->empty = true;
		}
	}

	/* a keyless append counts rows up to the target's greatest value as loaded */
	if (ModeOf(p)->target_max_loaded && ModeOf(p)->target_max_loaded(p))
	{
		Datum		loaded;

		if (query_cursor_value(p, BuildTargetMaxSql(p, shape), 0, NULL, &loaded) &&
			(cp->isnull || CursorLessThan(p, cp->value, loaded)))
			w->checkpoint = loaded;
	}

	if (p->batch_size > 0)
		cut_at_batch(p, shape, w, w->checkpoint);
}

/*
 * Compute the window of a backfill: [from, to], cut at the checkpoint.  A
 * backfill re-processes what runs already passed; what lies beyond the
 * checkpoint is the next runs' to load, and loading it here too would make
 * a keyless append insert it twice.  It needs no safe bound, since the
 * checkpoint does not move.  The whole window counts as possibly loaded
 * already ($3 = its end), so keyless appends compare all of it.
 */
static void
ComputeBackfillWindow(Pipeline *p, PipelineShape *shape, Checkpoint *cp,
					  Datum from, Datum to, bool batched, RunWindow *w)
{
	memset(w, 0, sizeof(RunWindow));
	w->lower = from;
	w->upper = to;
	w->upper_reason = "backfill range";
	if (cp->isnull)
	{
		w->upper = CursorLeast(p);
		w->upper_reason = "no checkpoint yet: nothing to backfill";
	}
	else if (CursorLessThan(p, cp->value, to))
	{
		w->upper = cp->value;
		w->upper_reason = "backfill range, cut at the checkpoint";
	}
	/* a batch of a long backfill: batch_size rows past from, on a whole value */
	if (batched && p->batch_size > 0 && !cp->isnull)
		cut_at_batch(p, shape, w, from);
	w->checkpoint = w->upper;
}

/*
 * Execute a run of a cursor pipeline: its window (a backfill's, or from the
 * checkpoint to the safe bound), then the mode's statement over it.
 */
static void
cursor_execute(const RunRequest *req, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
			   RunRecord *rec, RunResult *res, MemoryContext cxt)
{
	RunWindow  *w = &res->window;
	char	   *sql;
	List	   *first;
	ListCell   *lc;

	if (req->backfill)
		ComputeBackfillWindow(p, shape, cp, CursorValueIn(p, req->from_value),
							  CursorValueIn(p, req->to_value), req->batched, w);
	else
		ComputeRunWindow(p, shape, cp, true, w);
	shape->tombstones = TombstoneUseFor(p, shape);
	sql = BuildRunSql(p, shape);
	first = BuildRunFirstSqls(p, shape);
	/* the statements are in incr_plan; at DEBUG1 they are in the log too */
	foreach(lc, first)
		ereport(DEBUG1,
				(errmsg_internal("statement before a run of pipeline \"%s\": %s",
								 p->name, (char *) lfirst(lc))));
	ereport(DEBUG1,
			(errmsg_internal("statement of a run of pipeline \"%s\": %s", p->name, sql)));

	/* the window goes into the history now, so that a failed run shows it too */
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		res->sql = pstrdup(sql);
		/* in cxt too: a failed run's error context leaves every statement out (run.c) */
		res->first_sqls = NIL;
		foreach(lc, first)
			res->first_sqls = lappend(res->first_sqls, pstrdup((char *) lfirst(lc)));

		rec->window_from = w->lower_unbounded ? NULL : CursorValueOut(p, w->lower);
		rec->window_to = w->upper_unbounded ? NULL : CursorValueOut(p, w->upper);
		MemoryContextSwitchTo(old);
	}
	ExecuteRunStatement(req, p, shape, sql, cp, rec, res, cxt);
}

/*
 * incr_plan of a cursor pipeline: the window the next run would use,
 * computed as the run would but without waiting for writers, and the
 * statement it would execute.
 */
static void
cursor_plan(StringInfo buf, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
			MemoryContext cxt)
{
	RunWindow	w;
	bool		user_statement = ModeOf(p)->user_statement;

	ComputeRunWindow(p, shape, cp, false, &w);
	shape->tombstones = TombstoneUseFor(p, shape);

	MemoryContextSwitchTo(cxt);
	appendStringInfo(buf, "-- pipeline %s: %s from %s into %s, cursor %s (%s)\n",
					 SqlCommentSafe(quote_identifier(p->name)), PipelineModeName(p->mode),
					 SqlCommentSafe(shape->source_sql), SqlCommentSafe(shape->target_sql),
					 SqlCommentSafe(quote_identifier(p->cursor_column)),
					 format_type_be(p->cursor_type));
	appendStringInfo(buf, "-- $1 lower bound, %s: %s%s\n",
					 user_statement ? "exclusive" : "inclusive",
					 CursorValueOut(p, w.lower),
					 w.lower_unbounded ? " (no checkpoint yet)" :
					 p->lag ? " (checkpoint less lag)" : " (checkpoint)");
	appendStringInfo(buf, "-- $2 upper bound, inclusive: %s (%s)\n",
					 CursorValueOut(p, w.upper), w.upper_reason);
	appendStringInfo(buf, "-- $3 checkpoint: %s\n",
					 cp->isnull ? "none" : CursorValueOut(p, w.checkpoint));
	if (!user_statement && RunTokensSupported())
		appendStringInfoString(buf, "-- $4 the run's token, drawn at random by each run: the counting functions refuse any other\n");
	{
		List	   *first = BuildRunFirstSqls(p, shape);
		ListCell   *lc;

		/* the window's count over Citus may find it needs the one statement */
		if (first != NIL && ModeOf(p)->unsplit_what)
			appendStringInfo(buf, "-- %s runs instead as the one statement of a run on one node, through the Citus coordinator\n",
							 ModeOf(p)->unsplit_what);
		foreach(lc, first)
			appendStringInfo(buf, "%s;\n", (char *) lfirst(lc));
	}
	appendStringInfoString(buf, BuildRunSql(p, shape));
	/* a query pipeline's command may end with its own semicolon */
	while (buf->len > 0 && isspace((unsigned char) buf->data[buf->len - 1]))
		buf->data[--buf->len] = '\0';
	if (buf->len == 0 || buf->data[buf->len - 1] != ';')
		appendStringInfoChar(buf, ';');
	/* a keyed append's new rows: a plain INSERT (ExecuteRunStatement) */
	if (!user_statement && CursorLessThan(p, w.checkpoint, w.upper))
	{
		char	   *new_sql = BuildRunNewSql(p, shape);

		if (new_sql)
			appendStringInfo(buf, "\n-- the rows past what the pipeline wrote (the checkpoint%s: call it L) go in with a plain INSERT%s: the statement above runs with $2 = L, then this one with $3 = L (if a row collides, both are undone and the statement above runs alone, as written)\n%s;",
							 LoadedBoundReadsTarget(p, shape) ?
							 psprintf(", or the greatest %s in the target when greater",
									  SqlCommentSafe(quote_identifier(p->cursor_column))) : "",
							 CursorIsKey(p) ? "" :
							 " in runs of the scheduler's worker and of incr_catch_up, and into an empty target (another run of its own, by hand or from pg_cron, executes the statement above alone)",
							 new_sql);
	}
}

const SourceKind source_cursor = {
	.name = "cursor",
	.execute = cursor_execute,
	.plan = cursor_plan,
};
