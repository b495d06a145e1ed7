/*
 * describe.c
 *		DescribePipeline, the one check of a definition against its
 *		relations that creation, every run, incr_plan and incr_verify go
 *		through: it raises a clear error for anything that would make a run
 *		fail or load the wrong rows, and returns what it found (the shape).
 *		It changes nothing: the schema drift it finds (on_schema_change
 *		add_columns) is applied by the run driver (run.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/xact.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
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
#include "miscadmin.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/reltrigger.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "catalog.h"
#include "cursor.h"
#include "source_files.h"
#include "describe.h"
#include "source_cursor.h"

static List *check_schema_drift(Pipeline *p, PipelineShape *shape, Relation source,
								Relation target, bool creating);
static const char *nulls_repeat_column(Relation rel, Oid indexoid, List *columns);
static bool collations_agree(Relation source, Oid proof, Relation target, Oid key_index);
static char *default_equality_operator(Oid type, const char *column, char **collate);

/* Return the quoted, schema-qualified name of a relation. */
static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/* Find a live, non-system column by name; NULL if there is none. */
static Form_pg_attribute
find_column(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att;
	}
	return NULL;
}

/* Raise the error for a column the pipeline needs that a relation lacks. */
static void
missing_column(Relation rel, const char *role, const char *what, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s column \"%s\" does not exist in %s \"%s\"",
					what, column, role, RelationGetRelationName(rel)),
			 errhint("Name a column of the %s; names are case-sensitive and unquoted.",
					 role)));
}

/* True if a relation has a valid index whose first column is attnum. */
static bool
has_index_leading_with(Relation rel, AttrNumber attnum)
{
	List	   *indexes;
	ListCell   *lc;
	bool		found = false;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		return false;

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		if (index->indisvalid && index->indkey.values[0] == attnum)
			found = true;
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * Find a valid, immediate, non-partial unique index of rel on plain columns
 * whose key columns are all in keys; InvalidOid if none.  With exact = true
 * the key columns must be exactly keys (what ON CONFLICT (keys) needs);
 * otherwise a subset suffices (what proves the keys unique).
 */
static Oid
find_unique_index(Relation rel, List *keys, bool exact)
{
	List	   *indexes;
	ListCell   *lc;
	Oid			found = InvalidOid;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		return InvalidOid;

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;
		bool		ok;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		ok = index->indisunique && index->indimmediate && index->indisvalid &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			(!exact || index->indnkeyatts == list_length(keys));
		for (int i = 0; ok && i < index->indnkeyatts; i++)
		{
			AttrNumber	attnum = index->indkey.values[i];
			char	   *attname = get_attname(RelationGetRelid(rel), attnum, false);
			ListCell   *kc;
			bool		inkeys = false;

			foreach(kc, keys)
			{
				if (strcmp((char *) lfirst(kc), attname) == 0)
					inkeys = true;
			}
			ok = inkeys;
		}
		ReleaseSysCache(tup);
		if (ok)
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(indexes);
	return found;
}

/* Refuse unless the current user has priv on the column of rel. */
static void
check_column_privilege(Relation rel, const char *column, AttrNumber attnum,
					   AclMode priv, const char *privname)
{
	/* column privileges add to the table's; pg_attribute_aclcheck sees only them */
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), priv) != ACLCHECK_OK &&
		pg_attribute_aclcheck(RelationGetRelid(rel), attnum, GetUserId(), priv) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for column \"%s\" of relation \"%s\"",
						column, RelationGetRelationName(rel)),
				 errdetail("The pipeline needs %s on it, and role \"%s\" does not have it.",
						   privname, GetUserNameFromId(GetUserId(), false)),
				 errhint("GRANT %s on the column or its table to the pipeline's owner.",
						 privname)));
}

/* Add to seqs the sequences that objects depending on (classid, objid, subid) are. */
static List *
sequences_depending_on(Oid classid, Oid objid, int32 subid, List *seqs)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classid));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	ScanKeyInit(&key[2], Anum_pg_depend_refobjsubid, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(subid));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 3, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == RelationRelationId && get_rel_relkind(dep->objid) == RELKIND_SEQUENCE)
			seqs = list_append_unique_oid(seqs, dep->objid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return seqs;
}

/* Add to seqs the sequences the object (classid, objid) depends on. */
static List *
sequences_depended_on(Oid classid, Oid objid, List *seqs)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classid));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->refclassid == RelationRelationId &&
			get_rel_relkind(dep->refobjid) == RELKIND_SEQUENCE)
			seqs = list_append_unique_oid(seqs, dep->refobjid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return seqs;
}

/*
 * Refuse an integer cursor filled by a sequence with CACHE > 1 (serial,
 * identity, or a DEFAULT that calls nextval).  Each session hands out its own
 * cached block of values, so values commit out of order across sessions and
 * a session can insert a value below the checkpoint long after the run that
 * moved it; no bound seen from outside the session can prevent that.
 */
static void
check_cursor_sequence(Pipeline *p, Relation source, Form_pg_attribute att)
{
	List	   *seqs;
	Oid			attrdef;
	ListCell   *lc;

	if (PipelineCursor(p)->bound != BOUND_GREATEST_AFTER_WRITERS)
		return;
	/* serial and identity columns own their sequence */
	seqs = sequences_depending_on(RelationRelationId, RelationGetRelid(source),
								  att->attnum, NIL);
	attrdef = GetAttrDefaultOid(RelationGetRelid(source), att->attnum);
	if (OidIsValid(attrdef))
		seqs = sequences_depended_on(AttrDefaultRelationId, attrdef, seqs);

	foreach(lc, seqs)
	{
		HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		int64		cache;

		if (!HeapTupleIsValid(tup))
			continue;
		cache = ((Form_pg_sequence) GETSTRUCT(tup))->seqcache;
		ReleaseSysCache(tup);
		if (cache > 1)
		{
			char	   *seqname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(lfirst_oid(lc))),
															 get_rel_name(lfirst_oid(lc)));

			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cursor column \"%s\" of \"%s\" is filled by sequence %s with CACHE " INT64_FORMAT,
							p->cursor_column, RelationGetRelationName(source), seqname, cache),
					 errdetail("Sessions hand out cached sequence values out of commit order, so a run could move the checkpoint past a value another session has yet to insert."),
					 errhint("ALTER SEQUENCE %s CACHE 1; or use a cursor column of type xid8 with DEFAULT pg_current_xact_id(), or a timestamp column filled by now().",
							 seqname)));
		}
	}
}

/*
 * The largest step back of the local clock in a time zone, in microseconds,
 * over the year before and the year after now: the end of daylight saving
 * time, or a zone moving its standard time west.  The offset from UTC is
 * sampled once a day, which sees every such change (they are months apart).
 */
static int64
time_zone_setback(pg_tz *tz)
{
	pg_time_t	t = (pg_time_t) time(NULL) - 366 * SECS_PER_DAY;
	long int	prev = 0;
	int64		worst = 0;

	for (int day = 0; day <= 2 * 366; day++, t += SECS_PER_DAY)
	{
		struct pg_tm *tm = pg_localtime(&t, tz);

		if (tm == NULL)
			continue;
		if (day > 0 && prev - tm->tm_gmtoff > worst)
			worst = prev - tm->tm_gmtoff;
		prev = tm->tm_gmtoff;
	}
	return worst * USECS_PER_SEC;
}

/*
 * Refuse a timestamp (without time zone) cursor when the session's TimeZone
 * puts its clock back during the year and the lag does not cover the step.
 * Such values are local times: when the clock goes back, new rows get values
 * below the checkpoint, and a run that does not read that far back never
 * loads them (rows_pending does not count them either).  Checked at creation
 * and before every run, in the TimeZone of the session that runs (for the
 * scheduler, the server's), which is the writers' when, as advised, one
 * TimeZone is used everywhere.
 */
static void
check_cursor_time_zone(Pipeline *p)
{
	int64		setback;
	Interval	step;

	if (p->cursor_kind != CURSOR_TIMESTAMP || session_timezone == NULL)
		return;
	setback = time_zone_setback(session_timezone);
	if (setback <= 0)
		return;
	memset(&step, 0, sizeof(step));
	step.time = setback;
	if (p->mode != MODE_QUERY && p->lag != NULL &&
		DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(p->lag),
										  IntervalPGetDatum(&step))) >= 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("timestamp cursor \"%s\" of pipeline \"%s\" goes back %s in time zone \"%s\"",
					p->cursor_column, p->name,
					DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&step))),
					pg_get_timezone_name(session_timezone)),
			 errdetail("A timestamp without time zone holds local time: when the clocks go back, new rows get values below the checkpoint, which %s.",
					   p->mode == MODE_QUERY ? "a query pipeline never reads again" :
					   "only a lag at least that long reads again"),
			 p->mode == MODE_QUERY ?
			 errhint("Use a timestamptz cursor column, or set TimeZone to a zone without daylight saving time (such as UTC) for the writers and the runs (ALTER DATABASE ... SET TimeZone).") :
			 errhint("Pass lag => '%s' or more, use a timestamptz cursor column, or set TimeZone to a zone without daylight saving time (such as UTC) for the writers and the runs (ALTER DATABASE ... SET TimeZone).",
					 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&step))))));
}

/*
 * Refuse, before any lock is taken, a relation named to incr_create_pipeline
 * that the current user could not lock with a query of its own: SELECT for
 * the source (read under AccessShareLock), INSERT, UPDATE, DELETE or
 * TRUNCATE for the target (RowExclusiveLock), on the table or one of its
 * columns, as LOCK TABLE requires.  Without it, a role with no rights on a
 * table would queue behind another session's lock on it, and hold up every
 * later locker, before being told no.  A relation that is gone passes: the
 * open reports it.
 */
static void
check_lock_privilege(Pipeline *p, Oid relid, const char *role)
{
	bool		is_source = (strcmp(role, "source") == 0);
	AclMode		table_privs = is_source ? ACL_SELECT :
		(ACL_INSERT | ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE);
	AclMode		column_privs = is_source ? ACL_SELECT : (ACL_INSERT | ACL_UPDATE);
	bool		is_missing = false;
	char	   *relname;

	if (pg_class_aclcheck_ext(relid, GetUserId(), table_privs, &is_missing) == ACLCHECK_OK ||
		is_missing ||
		pg_attribute_aclcheck_all(relid, GetUserId(), column_privs, ACLMASK_ANY) == ACLCHECK_OK)
		return;
	relname = get_rel_name(relid);
	if (relname == NULL)
		return;
	/* the source: no column readable, so not the cursor column either */
	if (is_source)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for column \"%s\" of relation \"%s\"",
						p->cursor_column, relname),
				 errdetail("The pipeline needs SELECT on it, and role \"%s\" does not have it.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("GRANT SELECT on the column or its table to the pipeline's owner.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for target relation \"%s\"", relname),
			 errdetail("Role \"%s\" may not write to it, and a pipeline writes to its target.",
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("GRANT INSERT (and for merge, cdc and scd2, UPDATE) on \"%s\" to role \"%s\".",
					 relname, GetUserNameFromId(GetUserId(), false))));
}

/*
 * Open a relation of a pipeline, or raise a clear error if it is gone; check
 * that it is not temporary and that the current user may use its schema.
 * The schema, and at creation the relation's privileges, are checked before
 * the lock is taken, so that a role without rights fails at once.
 */
static Relation
open_pipeline_relation(Pipeline *p, Oid relid, const char *role, LOCKMODE lockmode,
					   bool creating)
{
	Relation	rel;
	Oid			nsp = get_rel_namespace(relid);

	if (OidIsValid(nsp) && pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for schema %s", get_namespace_name(nsp)),
				 errdetail("The pipeline's %s \"%s\" is in it, and role \"%s\" has no USAGE on it.",
						   role, get_rel_name(relid),
						   GetUserNameFromId(GetUserId(), false))));
	if (creating)
		check_lock_privilege(p, relid, role);

	rel = try_relation_open(relid, lockmode);
	if (rel == NULL && creating)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s relation with OID %u does not exist", role, relid)));
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s relation of pipeline \"%s\" does not exist", role, p->name),
				 errdetail("The relation with OID %u was dropped after the pipeline was created.",
						   relid),
				 errhint("Drop the pipeline with incr_drop_pipeline and create it again.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("temporary table \"%s\" cannot be the %s of a pipeline",
						RelationGetRelationName(rel), role),
				 errdetail("A pipeline outlives the session its temporary tables belong to.")));
	return rel;
}

/* Refuse a target that is not a table. */
static void
check_target_kind(Relation target)
{
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be the target of a pipeline",
						RelationGetRelationName(target)),
				 errdetail("A target must be a table or a partitioned table.")));
}

/*
 * Refuse an UNLOGGED target, or one with an UNLOGGED partition: a crash
 * empties it while the checkpoint, which is logged, survives, so the rows
 * below the checkpoint would never be loaded again.  Checked at every run
 * too, since ALTER TABLE ... SET UNLOGGED may come after creation.
 */
static void
check_target_logged(Pipeline *p, Relation target)
{
	List	   *relids = list_make1_oid(RelationGetRelid(target));
	ListCell   *lc;

	if (target->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		relids = find_all_inheritors(RelationGetRelid(target), NoLock, NULL);
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);

		if (get_rel_persistence(relid) == RELPERSISTENCE_UNLOGGED)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("target \"%s\" of pipeline \"%s\" is unlogged",
							get_rel_name(relid), p->name),
					 errdetail("A crash empties an unlogged table but not the pipeline's checkpoint, so the rows loaded before the crash would never be loaded again."),
					 errhint("Make it logged: ALTER TABLE %s SET LOGGED;",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														get_rel_name(relid)))));
	}
}

/*
 * Open the source and target of a pipeline, checking that they exist and are
 * of kinds a pipeline can use.  Locks are kept to the end of the transaction.
 */
static void
open_relations(Pipeline *p, bool creating, Relation *source, Relation *target)
{
	if (p->source == p->target)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and target of pipeline \"%s\" are the same relation",
						p->name),
				 errhint("Load into a different table than the one read.")));

	*source = open_pipeline_relation(p, p->source, "source", AccessShareLock, creating);
	*target = open_pipeline_relation(p, p->target, "target", RowExclusiveLock, creating);
	check_target_kind(*target);
	check_target_logged(p, *target);

	switch ((*source)->rd_rel->relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
		case RELKIND_VIEW:
		case RELKIND_MATVIEW:
		case RELKIND_FOREIGN_TABLE:
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" cannot be the source of a pipeline",
							RelationGetRelationName(*source)),
					 errdetail("A source must be a table, partitioned table, view, materialized view or foreign table.")));
	}
}

/*
 * Refuse a query pipeline's command unless it is one plain DML statement or
 * SELECT: several statements, utility statements, transaction control and
 * SELECT INTO are refused with a clear error rather than reaching SPI.
 */
static void
check_command(Pipeline *p)
{
	List	   *stmts = raw_parser(p->command, RAW_PARSE_DEFAULT);
	Node	   *stmt;

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("command of query pipeline \"%s\" must be exactly one statement, not %d",
						p->name, list_length(stmts)),
				 errhint("Put several steps in one statement with WITH, or in a function the command calls.")));
	stmt = linitial_node(RawStmt, stmts)->stmt;
	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
		case T_MergeStmt:
			return;
		case T_SelectStmt:
			if (((SelectStmt *) stmt)->intoClause == NULL)
				return;
			break;
		default:
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("command of query pipeline \"%s\" must be INSERT, UPDATE, DELETE, MERGE or SELECT",
					p->name),
			 errdetail("Utility statements, transaction control and SELECT INTO cannot run inside a pipeline's run.")));
}

/* The position of a name in a list of names, or -1. */
static int
name_position(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), name) == 0)
			return foreach_current_index(lc);
	}
	return -1;
}

/* Append to buf ", name" for each name, for messages. */
static void
append_names(StringInfo buf, List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		appendStringInfo(buf, "%s%s", buf->len > 0 ? ", " : "",
						 quote_identifier((char *) lfirst(lc)));
}

/*
 * Schema drift.  Compare the source's columns with those recorded when the
 * pipeline was created (or last adapted) and apply on_schema_change: fail
 * (the default) refuses any change; ignore loads the columns source and
 * target still have in common; add_columns adds new source columns to the
 * target (as dbt's append_new_columns) and records them.  A column whose type
 * changed is refused under every policy unless the new type converts to the
 * target's without loss (an implicit cast), and a loaded column that
 * disappeared is refused unless the policy is ignore.  Returns the columns
 * add_columns adds to the target (ColumnMap *), which the run adds and then
 * records (run.c); shape gets the source's columns as found.
 */
static List *
check_schema_drift(Pipeline *p, PipelineShape *shape, Relation source, Relation target,
				   bool creating)
{
	TupleDesc	sdesc = RelationGetDescr(source);
	List	   *names = NIL;
	List	   *types = NIL;
	List	   *added = NIL;
	List	   *missing = NIL;
	List	   *changed = NIL;
	ListCell   *lc;
	ListCell   *tc;

	for (int i = 0; i < sdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(sdesc, i);

		if (att->attisdropped)
			continue;
		names = lappend(names, pstrdup(NameStr(att->attname)));
		/* qualified always, so the text does not depend on search_path */
		types = lappend(types, format_type_extended(att->atttypid, att->atttypmod,
													FORMAT_TYPE_TYPEMOD_GIVEN |
													FORMAT_TYPE_FORCE_QUALIFY));
	}
	shape->source_columns = names;
	shape->source_types = types;
	if (creating || p->source_columns == NIL)
		return NIL;

	forboth(lc, names, tc, types)
	{
		int			pos = name_position(p->source_columns, (char *) lfirst(lc));

		if (pos < 0)
			added = lappend(added, lfirst(lc));
		else if (strcmp((char *) list_nth(p->source_types, pos), (char *) lfirst(tc)) != 0)
			changed = lappend(changed, lfirst(lc));
	}
	foreach(lc, p->source_columns)
	{
		if (name_position(names, (char *) lfirst(lc)) < 0)
			missing = lappend(missing, lfirst(lc));
	}
	if (added == NIL && missing == NIL && changed == NIL)
		return NIL;

	/* a changed type must convert to the target's without loss, whatever the policy */
	foreach(lc, changed)
	{
		Form_pg_attribute satt = find_column(source, (char *) lfirst(lc));
		Form_pg_attribute tatt = find_column(target, (char *) lfirst(lc));

		if (strcmp(p->on_schema_change, "fail") == 0 ||
			(tatt && !can_coerce_type(1, &satt->atttypid, &tatt->atttypid, COERCION_IMPLICIT)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of source \"%s\" of pipeline \"%s\" changed type from %s to %s",
							(char *) lfirst(lc), RelationGetRelationName(source), p->name,
							(char *) list_nth(p->source_types,
											  name_position(p->source_columns, (char *) lfirst(lc))),
							format_type_with_typemod(satt->atttypid, satt->atttypmod)),
					 errdetail(tatt ? "The target column has type %s, and no implicit (lossless) cast leads there." :
							   "on_schema_change is fail.",
							   tatt ? format_type_be(tatt->atttypid) : ""),
					 errhint("Change the target column's type to match, then recreate the pipeline or use on_schema_change => 'ignore'.")));
	}
	if (missing != NIL && strcmp(p->on_schema_change, "ignore") != 0)
	{
		StringInfoData list;

		initStringInfo(&list);
		append_names(&list, missing);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" of pipeline \"%s\" lost columns: %s",
						RelationGetRelationName(source), p->name, list.data),
				 errdetail("They were dropped or renamed since the pipeline was created."),
				 errhint("Restore them, or recreate the pipeline, or set on_schema_change to ignore to load the columns left.")));
	}
	if (added != NIL && strcmp(p->on_schema_change, "fail") == 0)
	{
		StringInfoData list;

		initStringInfo(&list);
		append_names(&list, added);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" of pipeline \"%s\" has new columns: %s",
						RelationGetRelationName(source), p->name, list.data),
				 errdetail("on_schema_change is fail."),
				 errhint("Add them to the target, or recreate the pipeline with on_schema_change => 'add_columns' or 'ignore'.")));
	}
	if (added != NIL && strcmp(p->on_schema_change, "add_columns") == 0)
	{
		List	   *columns = NIL;

		foreach(lc, added)
		{
			Form_pg_attribute satt = find_column(source, (char *) lfirst(lc));
			ColumnMap  *col;

			if (find_column(target, (char *) lfirst(lc)) != NULL)
				continue;
			col = palloc0(sizeof(ColumnMap));
			col->name = (char *) lfirst(lc);
			col->source_type = satt->atttypid;
			col->source_typmod = satt->atttypmod;
			columns = lappend(columns, col);
		}
		return columns;
	}
	return NIL;
}

/*
 * True if a target column is one the mode writes itself rather than loads:
 * scd2's validity columns, cdc's version column, the flag a wal merge with
 * soft_delete sets on deleted rows, or the columns of an append change log's
 * operation, LSN and commit time.
 */
static bool
is_managed_column(Pipeline *p, const char *name)
{
	if (PipelineIsWal(p) && p->soft_delete && strcmp(name, p->delete_column) == 0)
		return true;
	if (p->mode == MODE_SCD2 &&
		(strcmp(name, p->valid_from_column) == 0 || strcmp(name, p->valid_to_column) == 0 ||
		 strcmp(name, p->current_column) == 0))
		return true;
	if (p->version_column && strcmp(name, p->version_column) == 0)
		return true;
	if ((p->wal_op_column && strcmp(name, p->wal_op_column) == 0) ||
		(p->wal_lsn_column && strcmp(name, p->wal_lsn_column) == 0) ||
		(p->wal_time_column && strcmp(name, p->wal_time_column) == 0))
		return true;
	return false;
}

/* The quoted names of columns (char *), comma-separated, for a hint. */
static char *
column_list(List *columns)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, columns)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
						 quote_identifier((const char *) lfirst(lc)));
	return buf.data;
}

/*
 * Check the keys: present where the mode reads them, and exactly the columns
 * of a unique index on the target (with the valid_from column for scd2), whose
 * equality operators the statements then use to match rows.
 */
static void
describe_keys(Pipeline *p, PipelineShape *shape, Relation source, Relation target)
{
	List	   *index_keys = list_copy(p->keys);
	ListCell   *lc;

	foreach(lc, p->keys)
	{
		char	   *key = (char *) lfirst(lc);

		if (!shape->json_layout && find_column(source, key) == NULL)
			missing_column(source, "source", "key", key);
		if (find_column(target, key) == NULL)
			missing_column(target, "target", "key", key);
	}
	if (p->keys == NIL)
		return;

	/*
	 * A change log (append over the WAL) holds a key once per change: no
	 * unique index, no conflict; its keys only follow a row from change to
	 * change, with their types' default equality (describe_columns).
	 */
	if (p->mode == MODE_APPEND && PipelineIsWal(p))
		return;
	if (p->mode == MODE_SCD2)
	{
		Form_pg_attribute vf = find_column(target, p->valid_from_column);

		index_keys = lappend(index_keys, p->valid_from_column);
		shape->valid_from_not_null = vf != NULL && vf->attnotnull;
	}
	shape->key_index = find_unique_index(target, index_keys, true);
	if (!OidIsValid(shape->key_index))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("keys of pipeline \"%s\" are not backed by a unique index on target \"%s\"",
						p->name, RelationGetRelationName(target)),
				 errdetail(p->mode == MODE_SCD2 ?
						   "An scd2 target needs a valid, non-partial, non-deferrable unique index on exactly the key columns and the valid_from column." :
						   "Loading by key needs a valid, non-partial, non-deferrable unique index or primary key on exactly the key columns."),
				 errhint("Create one, e.g. ALTER TABLE %s ADD PRIMARY KEY (%s).",
						 shape->target_sql, column_list(index_keys))));

	/*
	 * A unique index treats NULLs as distinct unless it says otherwise, and
	 * so does ON CONFLICT: a row whose key holds a NULL would never match the
	 * row loaded from it, and every run that reads it again would add it
	 * again.  cdc is spared: it refuses an event with a NULL key.
	 */
	if (p->mode != MODE_CDC)
	{
		const char *nullable = nulls_repeat_column(target, shape->key_index, p->keys);

		if (nullable != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" of target \"%s\" is nullable and its unique index lets NULLs repeat",
							nullable, RelationGetRelationName(target)),
					 errdetail("A row whose key holds a NULL never matches the row loaded from it, so pipeline \"%s\" would insert it again on every run that reads it.",
							   p->name),
					 errhint("Make the key columns NOT NULL (ALTER TABLE %s ALTER COLUMN %s SET NOT NULL), or back the keys with a unique index created with NULLS NOT DISTINCT.",
							 shape->target_sql, quote_identifier(nullable))));
	}
	if (!shape->json_layout)
	{
		Oid			proof = find_unique_index(source, p->keys, false);

		/*
		 * An index that lets NULLs repeat proves nothing about rows with
		 * NULLs, nor one in a collation that tells apart values that the
		 * target's (nondeterministic) collation holds equal.
		 */
		shape->source_unique_on_keys = OidIsValid(proof) &&
			nulls_repeat_column(source, proof, NIL) == NULL &&
			collations_agree(source, proof, target, shape->key_index);
	}
}

/* The collation of the index's column of that name; InvalidOid if none. */
static Oid
index_collation(Relation rel, Oid indexoid, const char *column)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	Form_pg_index index;
	oidvector  *indcollation;
	bool		isnull;
	Oid			result = InvalidOid;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	indcollation = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup,
																 Anum_pg_index_indcollation,
																 &isnull));
	for (int i = 0; i < index->indnkeyatts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
											  index->indkey.values[i] - 1);

		if (strcmp(NameStr(att->attname), column) == 0)
			result = indcollation->values[i];
	}
	ReleaseSysCache(tup);
	return result;
}

/*
 * True if values the source's unique index tells apart are apart for the
 * target's key index too: each column's target collation is deterministic
 * (equal only when the bytes are) or the source index's own.
 */
static bool
collations_agree(Relation source, Oid proof, Relation target, Oid key_index)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(proof));
	Form_pg_index index;
	bool		agree = true;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", proof);
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int i = 0; agree && i < index->indnkeyatts; i++)
	{
		const char *name = NameStr(TupleDescAttr(RelationGetDescr(source),
												 index->indkey.values[i] - 1)->attname);
		Oid			tcoll = index_collation(target, key_index, name);

		agree = !OidIsValid(tcoll) || get_collation_isdeterministic(tcoll) ||
			tcoll == index_collation(source, proof, name);
	}
	ReleaseSysCache(tup);
	return agree;
}

/*
 * The first column of the unique index (among columns, if not NIL) that can
 * hold NULLs which the index lets repeat: nullable, in an index without
 * NULLS NOT DISTINCT.  NULL if there is none.
 */
static const char *
nulls_repeat_column(Relation rel, Oid indexoid, List *columns)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	Form_pg_index index;
	const char *result = NULL;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int i = 0; !index->indnullsnotdistinct && i < index->indnkeyatts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel),
											  index->indkey.values[i] - 1);
		ListCell   *lc;
		bool		listed = (columns == NIL);

		foreach(lc, columns)
		{
			if (strcmp((char *) lfirst(lc), NameStr(att->attname)) == 0)
				listed = true;
		}
		if (listed && !att->attnotnull)
		{
			result = pstrdup(NameStr(att->attname));
			break;
		}
	}
	ReleaseSysCache(tup);
	return result;
}

/* " COLLATE schema.name" for a collation, always qualified. */
static char *
collate_clause(Oid collid)
{
	HeapTuple	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
	Form_pg_collation coll;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for collation %u", collid);
	coll = (Form_pg_collation) GETSTRUCT(tup);
	result = psprintf(" COLLATE %s.%s",
					  quote_identifier(get_namespace_name(coll->collnamespace)),
					  quote_identifier(NameStr(coll->collname)));
	ReleaseSysCache(tup);
	return result;
}

/*
 * True if two values of a key are equal under the key index's operator
 * exactly when they print the same in a tombstone's key (jsonb, with the
 * output settings fixed): the built-in equality of a type whose equal values
 * print alike, in a deterministic collation.  Other keys (a case-insensitive
 * collation, an interval, where 1 mon = 30 days, an extension's type) are
 * compared with the operator itself (sqlgen.c).
 */
static bool
key_equality_is_exact(Oid type, Oid opr, Oid collid)
{
	if (OidIsValid(collid) && !get_collation_isdeterministic(collid))
		return false;
	if (opr >= FirstNormalObjectId)
		return false;
	switch (type)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case TEXTOID:
		case NAMEOID:
		case BYTEAOID:
		case UUIDOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/*
 * The schema-qualified equality operator of a key column, from the key index;
 * also the index's collation of the column, as " COLLATE schema.name" (or ""),
 * and whether the index holds the column's NULLs equal.  Matching with both
 * is matching by the index's own equality, whatever the source's collation.
 */
static char *
key_equality_operator(Oid indexoid, const char *column, Relation target,
					  char **collate, bool *nulls_equal, bool *exact)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	Form_pg_index index = (Form_pg_index) GETSTRUCT(tup);
	oidvector  *indclass;
	oidvector  *indcollation;
	Datum		d;
	bool		isnull;
	char	   *result = NULL;

	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
	indclass = (oidvector *) DatumGetPointer(d);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &isnull);
	indcollation = (oidvector *) DatumGetPointer(d);
	*collate = "";
	*nulls_equal = false;
	for (int i = 0; i < index->indnkeyatts; i++)
	{
		AttrNumber	attnum = index->indkey.values[i];
		char	   *attname = get_attname(RelationGetRelid(target), attnum, false);

		if (strcmp(attname, column) == 0)
		{
			Oid			collid = indcollation->values[i];
			Oid			opfamily = get_opclass_family(indclass->values[i]);
			Oid			type = get_opclass_input_type(indclass->values[i]);
			Oid			opr = get_opfamily_member(opfamily, type, type, BTEqualStrategyNumber);

			HeapTuple	optup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));

			if (OidIsValid(collid))
				*collate = collate_clause(collid);
			*nulls_equal = index->indnullsnotdistinct &&
				!TupleDescAttr(RelationGetDescr(target), attnum - 1)->attnotnull;
			*exact = key_equality_is_exact(type, opr, collid);
			if (HeapTupleIsValid(optup))
			{
				Form_pg_operator op = (Form_pg_operator) GETSTRUCT(optup);

				result = psprintf("OPERATOR(%s.%s)",
								  quote_identifier(get_namespace_name(op->oprnamespace)),
								  NameStr(op->oprname));
				ReleaseSysCache(optup);
			}
		}
	}
	ReleaseSysCache(tup);
	if (result == NULL)
		elog(ERROR, "no equality operator for key column \"%s\"", column);
	return result;
}

/*
 * Describe the columns a run writes.  By default, every target column that
 * the source also has, cast by assignment.  For change events in jsonb (cdc
 * with payload_column or after_column), every target column, decoded from
 * the event.  Columns the mode manages itself (scd2's validity columns, cdc's
 * version column) are left out.
 */
static void
describe_columns(Pipeline *p, PipelineShape *shape, Relation source, Relation target)
{
	TupleDesc	tdesc = RelationGetDescr(target);
	bool		writes_updates = (p->mode != MODE_APPEND);

	for (int i = 0; i < tdesc->natts; i++)
	{
		Form_pg_attribute tatt = TupleDescAttr(tdesc, i);
		Form_pg_attribute satt = NULL;
		ColumnMap  *col;
		char	   *name = NameStr(tatt->attname);
		ListCell   *kc;

		if (tatt->attisdropped || tatt->attgenerated || is_managed_column(p, name))
			continue;
		if (!shape->json_layout)
		{
			satt = find_column(source, name);
			if (satt == NULL || (p->op_column && strcmp(name, p->op_column) == 0))
			{
				if (tatt->attnotnull && !tatt->atthasdef && !tatt->attidentity)
					ereport(ERROR,
							(errcode(ERRCODE_NOT_NULL_VIOLATION),
							 errmsg("target column \"%s\" is NOT NULL without a default and the source has no such column",
									name),
							 errhint("Add the column to the source, give it a default, or drop its NOT NULL.")));
				continue;
			}
			if (!can_coerce_type(1, &satt->atttypid, &tatt->atttypid, COERCION_ASSIGNMENT))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"%s\" has type %s in source \"%s\" but type %s in target \"%s\"",
								name, format_type_be(satt->atttypid),
								RelationGetRelationName(source),
								format_type_be(tatt->atttypid),
								RelationGetRelationName(target)),
						 errdetail("There is no assignment cast from %s to %s.",
								   format_type_be(satt->atttypid),
								   format_type_be(tatt->atttypid)),
						 errhint("Change one of the column types, or load through a view that casts.")));
		}

		col = palloc0(sizeof(ColumnMap));
		col->name = pstrdup(name);
		col->source_type = satt ? satt->atttypid : JSONBOID;
		col->source_typmod = satt ? satt->atttypmod : -1;
		col->target_type = tatt->atttypid;
		col->target_typmod = tatt->atttypmod;
		foreach(kc, p->keys)
		{
			if (strcmp((char *) lfirst(kc), name) == 0)
			{
				col->is_key = true;
				if (OidIsValid(shape->key_index))
					col->eq_operator = key_equality_operator(shape->key_index, name, target,
															 &col->key_collate,
															 &col->key_nulls_equal,
															 &col->key_exact);
				else
					col->eq_operator = default_equality_operator(tatt->atttypid, name,
																 &col->key_collate);
			}
		}
		if (tatt->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			shape->overriding_system_value = true;

		if (satt)
			check_column_privilege(source, name, satt->attnum, ACL_SELECT, "SELECT");
		/* every mode's statement reads the target too (conflicts, RETURNING) */
		check_column_privilege(target, name, tatt->attnum, ACL_SELECT, "SELECT");
		check_column_privilege(target, name, tatt->attnum, ACL_INSERT, "INSERT");
		if (writes_updates && !col->is_key)
			check_column_privilege(target, name, tatt->attnum, ACL_UPDATE, "UPDATE");

		shape->columns = lappend(shape->columns, col);
	}
	if (shape->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" and target \"%s\" have no column in common",
						RelationGetRelationName(source), RelationGetRelationName(target)),
				 errhint("Columns are matched by name.")));
}

/*
 * The default equality operator of a key column's type, as
 * "OPERATOR(schema.=)", with the column's collation: how a change log's
 * keys (no unique index) match.
 */
static char *
default_equality_operator(Oid type, const char *column, char **collate)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);
	HeapTuple	optup;
	char	   *result;

	if (!OidIsValid(tc->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key column \"%s\" has type %s, which has no equality operator",
						column, format_type_be(type)),
				 errhint("Use key columns of a type with a default btree or hash operator class.")));
	optup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
	if (!HeapTupleIsValid(optup))
		elog(ERROR, "cache lookup failed for operator %u", tc->eq_opr);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(optup))->oprnamespace)),
					  NameStr(((Form_pg_operator) GETSTRUCT(optup))->oprname));
	ReleaseSysCache(optup);
	*collate = "";
	return result;
}

/* Find a column a mode option names, of one of the given kinds, or raise an error. */
static Form_pg_attribute
option_column(Relation rel, const char *role, const char *option, const char *column,
			  const Oid *types, int ntypes, const char *typenames)
{
	Form_pg_attribute att = find_column(rel, column);
	bool		ok = false;

	if (att == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" does not exist in %s \"%s\"",
						option, column, role, RelationGetRelationName(rel))));
	for (int i = 0; i < ntypes; i++)
		ok |= (getBaseType(att->atttypid) == types[i]);
	if (ntypes > 0 && !ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" has type %s, expected %s",
						option, column, format_type_be(att->atttypid), typenames)));
	return att;
}

/* Check the columns named by the mode's options. */
static void
describe_mode_columns(Pipeline *p, PipelineShape *shape, Relation source, Relation target)
{
	static const Oid json_types[] = {JSONBOID, JSONOID};
	static const Oid text_types[] = {TEXTOID, VARCHAROID, BPCHAROID, CHAROID};
	static const Oid bool_type[] = {BOOLOID};
	/* a wal pipeline's versions are commit times, its checkpoint an LSN */
	Oid			cursor_type[1] = {PipelineIsWal(p) ? TIMESTAMPTZOID : p->cursor_type};

	if ((p->mode == MODE_CDC || (p->delete_column && !p->soft_delete && p->mode == MODE_MERGE) ||
		 (PipelineIsWal(p) && p->mode == MODE_MERGE && !p->soft_delete)) &&
		pg_class_aclcheck(RelationGetRelid(target), GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", RelationGetRelationName(target)),
				 errdetail("Pipeline \"%s\" deletes target rows, and role \"%s\" has no DELETE on it.",
						   p->name, GetUserNameFromId(GetUserId(), false)),
				 errhint("GRANT DELETE on the target to the pipeline's owner.")));
	if (p->delete_column && PipelineIsWal(p))
	{
		/* wal: deletes come from the WAL; soft_delete flags them in the target */
		static const Oid flag_types[] = {BOOLOID, TIMESTAMPTZOID};
		Form_pg_attribute att = option_column(target, "target", "delete_column",
											  p->delete_column, flag_types, 2,
											  "boolean or timestamptz");

		shape->delete_is_bool = (getBaseType(att->atttypid) == BOOLOID);
		check_column_privilege(target, p->delete_column, att->attnum, ACL_INSERT, "INSERT");
		check_column_privilege(target, p->delete_column, att->attnum, ACL_UPDATE, "UPDATE");
	}
	else if (p->delete_column)
	{
		Form_pg_attribute att = option_column(source, "source", "delete_column",
											  p->delete_column, NULL, 0, NULL);

		shape->delete_is_bool = (getBaseType(att->atttypid) == BOOLOID);
		check_column_privilege(source, p->delete_column, att->attnum, ACL_SELECT, "SELECT");
		if (p->soft_delete)
			(void) option_column(target, "target", "delete_column", p->delete_column,
								 NULL, 0, NULL);
	}
	if (p->payload_column)
		(void) option_column(source, "source", "payload_column", p->payload_column,
							 json_types, 2, "jsonb or json");
	if (p->op_column)
		(void) option_column(source, "source", "op_column", p->op_column,
							 text_types, 4, "text");
	if (p->after_column)
		(void) option_column(source, "source", "after_column", p->after_column,
							 json_types, 2, "jsonb or json");
	if (p->before_column)
		(void) option_column(source, "source", "before_column", p->before_column,
							 json_types, 2, "jsonb or json");
	if (p->version_column)
		(void) option_column(target, "target", "version_column", p->version_column,
							 cursor_type, 1, format_type_be(p->cursor_type));
	if (p->mode == MODE_SCD2)
	{
		(void) option_column(target, "target", "valid_from_column", p->valid_from_column,
							 cursor_type, 1, format_type_be(p->cursor_type));
		(void) option_column(target, "target", "valid_to_column", p->valid_to_column,
							 cursor_type, 1, format_type_be(p->cursor_type));
		(void) option_column(target, "target", "current_column", p->current_column,
							 bool_type, 1, "boolean");
	}
}

/*
 * Check the columns an append change log names for each change's operation,
 * LSN and commit time (capture => 'wal'): target columns of a fitting type
 * (so no two options name one column), that the owner may insert into.  At
 * creation a source column of the same name (a key, say) is refused too: it
 * would not be loaded.
 */
static void
describe_wal_log_columns(Pipeline *p, Relation source, Relation target, bool creating)
{
	static const Oid op_types[] = {TEXTOID, VARCHAROID, BPCHAROID, CHAROID};
	static const Oid lsn_type[] = {PG_LSNOID};
	static const Oid time_type[] = {TIMESTAMPTZOID};
	struct
	{
		const char *option;
		const char *column;
		const Oid  *types;
		int			ntypes;
		const char *typenames;
		const char *what;
	}			opts[] = {
		{"wal_op_column", p->wal_op_column, op_types, 4, "text, varchar, char or \"char\"",
		"the operation of each change (I, U, D or T)"},
		{"wal_lsn_column", p->wal_lsn_column, lsn_type, 1, "pg_lsn",
		"the LSN of each change's commit"},
		{"wal_time_column", p->wal_time_column, time_type, 1, "timestamp with time zone",
		"the commit time of each change"},
	};

	for (int i = 0; i < lengthof(opts); i++)
	{
		Form_pg_attribute att;
		bool		ok = false;

		if (opts[i].column == NULL)
			continue;
		if (!PipelineIsWal(p))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" needs capture => 'wal'", opts[i].option),
					 errdetail("It names the target column for %s captured from the WAL.",
							   opts[i].what),
					 errhint("Pass capture => 'wal', or leave the option out.")));
		att = find_column(target, opts[i].column);
		if (att == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s \"%s\" does not exist in target \"%s\"", opts[i].option,
							opts[i].column, RelationGetRelationName(target)),
					 errdetail("It names the target column for %s.", opts[i].what),
					 errhint("Add the column to the target (type %s), or name another.",
							 opts[i].typenames)));
		for (int t = 0; t < opts[i].ntypes; t++)
			ok |= (getBaseType(att->atttypid) == opts[i].types[t]);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s \"%s\" of target \"%s\" has type %s, expected %s",
							opts[i].option, opts[i].column, RelationGetRelationName(target),
							format_type_be(att->atttypid), opts[i].typenames),
					 errdetail("It receives %s.", opts[i].what),
					 errhint("Change the column's type to %s, or name another column.",
							 opts[i].typenames)));
		if (creating && find_column(source, opts[i].column) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s \"%s\" is also a column of source \"%s\"", opts[i].option,
							opts[i].column, RelationGetRelationName(source)),
					 errdetail("The column receives %s, so the source's column of that name would not be loaded.",
							   opts[i].what),
					 errhint("Name a target column the source does not have.")));
		check_column_privilege(target, opts[i].column, att->attnum, ACL_INSERT, "INSERT");
	}

	/* a value an update left out is looked up by key in the log (mode_append.c) */
	if (creating && p->wal_lsn_column && p->keys != NIL &&
		!has_index_leading_with(target, get_attnum(RelationGetRelid(target),
												   (char *) linitial(p->keys))))
		ereport(NOTICE,
				(errmsg("change log \"%s\" has no index leading with key column \"%s\"",
						RelationGetRelationName(target), (char *) linitial(p->keys)),
				 errdetail("An update that leaves a large value alone, with no earlier change of its key in the run, finds the value in the log's rows of the key."),
				 errhint("CREATE INDEX ON %s (%s, %s);", qualified_name(target),
						 column_list(p->keys), quote_identifier(p->wal_lsn_column))));
}

/*
 * Check a files pipeline against its target and describe it: a table the
 * current user may insert into, copy_options that fit it, and the right to
 * read files on the server.  Creation also checks the pattern's folder.
 */
static PipelineShape *
describe_files(Pipeline *p, PipelineShape *shape, bool creating)
{
	Relation	target = open_pipeline_relation(p, p->target, "target", RowExclusiveLock,
												creating);
	ListCell   *lc;

	check_target_kind(target);
	check_target_logged(p, target);
	shape->target_sql = qualified_name(target);
	CheckFilesPrivilege(p);
	if (check_enable_rls(p->target, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("files pipeline \"%s\" cannot load into \"%s\", which has row-level security for role \"%s\"",
						p->name, RelationGetRelationName(target),
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("COPY FROM does not support row-level security."),
				 errhint("Load into a table without row-level security policies for the pipeline's owner, and move the rows on from there.")));
	if (creating)
		CheckFilesPattern(p);
	CheckCopyOptions(p, target);

	/* INSERT on the table, or on each column the files fill */
	if (pg_class_aclcheck(p->target, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
	{
		bool		listed = false;

		foreach(lc, CopyOptionList(p))
		{
			CopyOption *opt = lfirst(lc);
			ListCell   *c;

			if (strcmp(opt->name, "columns") != 0)
				continue;
			listed = true;
			foreach(c, opt->names)
				check_column_privilege(target, lfirst(c),
									   get_attnum(p->target, lfirst(c)), ACL_INSERT, "INSERT");
		}
		if (!listed)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", RelationGetRelationName(target)),
					 errdetail("Files pipeline \"%s\" inserts into it, and role \"%s\" has no INSERT on it.",
							   p->name, GetUserNameFromId(GetUserId(), false)),
					 errhint("GRANT INSERT on the table to the pipeline's owner.")));
	}
	relation_close(target, NoLock);
	return shape;
}


/*
 * True if the relation has triggers of its own (not those PostgreSQL makes
 * for foreign keys): a run that splits its statement would fire their
 * statement-level ones more than once (ModeOps.plain_new_rows).
 */
static bool
has_user_triggers(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	if (trigdesc == NULL)
		return false;
	for (int i = 0; i < trigdesc->numtriggers; i++)
		if (!trigdesc->triggers[i].tgisinternal)
			return true;
	return false;
}

/*
 * Check a pipeline definition against its source and target and describe
 * what a run needs of them.  Raises a clear error for anything that would
 * make a run fail or load the wrong rows; creation and every run call this,
 * so a relation that changed since creation is caught before any data moves.
 * Privileges are checked for the current user, who is the owner during runs.
 * Nothing is changed: for a run, a shape with added_columns stops there, for
 * the run to add them and describe the pipeline again.
 */
PipelineShape *
DescribePipeline(Pipeline *p, DescribeFor purpose)
{
	bool		creating = (purpose == DESCRIBE_FOR_CREATE);
	PipelineShape *shape = palloc0(sizeof(PipelineShape));
	Relation	source;
	Relation	target;
	Form_pg_attribute cursor_att;
	Form_pg_attribute target_cursor_att;

	if (p->mode == MODE_FILES)
		return describe_files(p, shape, creating);
	open_relations(p, creating, &source, &target);

	shape->source_sql = qualified_name(source);
	shape->target_sql = qualified_name(target);
	shape->target_partitioned = (target->rd_rel->relkind == RELKIND_PARTITIONED_TABLE);
	shape->target_has_triggers = has_user_triggers(target);
	shape->source_relkind = source->rd_rel->relkind;

	/* the cursor; a wal pipeline has none, its changes come from the WAL */
	if (PipelineIsWal(p))
		goto columns;
	cursor_att = find_column(source, p->cursor_column);
	if (cursor_att == NULL)
		missing_column(source, "source", "cursor", p->cursor_column);
	if (getBaseType(cursor_att->atttypid) != p->cursor_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cursor column \"%s\" of source \"%s\" has type %s, expected %s",
						p->cursor_column, RelationGetRelationName(source),
						format_type_be(cursor_att->atttypid),
						format_type_be(p->cursor_type)),
				 errdetail("The column's type changed after the pipeline was created.")));
	check_column_privilege(source, p->cursor_column, cursor_att->attnum,
						   ACL_SELECT, "SELECT");
	check_cursor_sequence(p, source, cursor_att);
	check_cursor_time_zone(p);
	shape->source_has_cursor_index = has_index_leading_with(source, cursor_att->attnum);

	target_cursor_att = find_column(target, p->cursor_column);
	if (target_cursor_att != NULL)
	{
		/* loaded, and of the same type, so that values compare as they are */
		shape->target_has_cursor = (!target_cursor_att->attgenerated &&
									getBaseType(target_cursor_att->atttypid) == p->cursor_type);
	}

columns:
	if (p->mode == MODE_QUERY)
	{
		/* the command names its own columns; PostgreSQL checks them when it runs */
		check_command(p);
		relation_close(source, NoLock);
		relation_close(target, NoLock);
		return shape;
	}

	shape->json_layout = (p->payload_column != NULL || p->after_column != NULL);
	if (!shape->json_layout)
	{
		shape->added_columns = check_schema_drift(p, shape, source, target, creating);
		if (shape->added_columns != NIL && purpose == DESCRIBE_FOR_RUN)
		{
			/* the run adds them (ALTER TABLE refuses a table this session has open) */
			relation_close(source, NoLock);
			relation_close(target, NoLock);
			return shape;
		}
	}
	describe_keys(p, shape, source, target);
	describe_columns(p, shape, source, target);
	describe_mode_columns(p, shape, source, target);
	describe_wal_log_columns(p, source, target, creating);

	if (p->mode == MODE_APPEND && p->keys == NIL && !shape->target_has_cursor &&
		!PipelineIsWal(p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("append pipeline \"%s\" needs keys or the cursor column in the target",
						p->name),
				 errdetail("Rows at the checkpoint's cursor value are read again by the next run; without keys they are told apart from loaded rows by the target's cursor column \"%s\", of the source's type.",
						   p->cursor_column),
				 errhint("Pass keys => ARRAY['...'] backed by a unique index, or add column \"%s\" to the target.",
						 p->cursor_column)));

	/* keep the locks until the end of the transaction */
	relation_close(source, NoLock);
	relation_close(target, NoLock);
	return shape;
}

/* Find the type of the cursor column, which decides what a checkpoint and a lag are. */
void
ReadCursorType(Pipeline *p)
{
	Relation	source;
	Relation	target;
	Form_pg_attribute cursor_att;

	open_relations(p, true, &source, &target);
	relation_close(target, NoLock);
	cursor_att = find_column(source, p->cursor_column);
	if (cursor_att == NULL)
		missing_column(source, "source", "cursor", p->cursor_column);
	p->cursor_type = getBaseType(cursor_att->atttypid);
	/* pg_lsn is the checkpoint of capture => 'wal', not a column's cursor */
	if (!CursorKindFromType(p->cursor_type, &p->cursor_kind) || p->cursor_kind == CURSOR_LSN)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cursor column \"%s\" has type %s, which cannot be a cursor",
						p->cursor_column, format_type_be(cursor_att->atttypid)),
				 errhint("Use a column of type timestamptz, timestamp, date, smallint, integer, bigint, numeric or xid8.")));
	relation_close(source, NoLock);
}
