/*
 * source_wal.c
 *		The wal source kind (capture => 'wal'): a table's changes decoded from
 *		a logical replication slot with pgoutput, in the run's own backend,
 *		applied exactly once with the position kept in the checkpoint.
 *
 * Objects.  A wal pipeline owns a publication and a slot of one name,
 * incr_<database oid>_<16 hex digits> (options.wal_slot).  The publication
 * (FOR TABLE source, publish_via_partition_root) is created with the
 * pipeline, owned by the bootstrap superuser and a member of the extension,
 * so that no other role can add tables to it (and read their changes
 * through a run).  The slot is created by the first run, before that run
 * writes anything: creating a logical slot fails in a transaction that has
 * written, and pgoutput can only decode transactions whose catalog snapshot
 * already holds the publication, so the publication must have committed
 * before the slot exists.  Dropping the pipeline drops its publication, and
 * its slot when the transaction commits (slots are not transactional).
 *
 * Exactly once.  A run decodes without consuming: it acquires the slot,
 * first confirms to it the committed checkpoint (never more), decodes from
 * there up to the WAL flushed when it starts, applies the changes and moves
 * the checkpoint, in its own transaction, to the end of the last commit it
 * applied (or to the end of what it read, if it read everything).  Decoding
 * also skips each transaction whose commit starts below the checkpoint, so
 * a slot left behind by a crash or a rollback only costs reading again.
 *
 * Consistent start.  The first run (no checkpoint) creates the slot if it
 * is missing, then copies the source's rows with a snapshot taken after the
 * slot reached its consistent point, and records that snapshot and the WAL
 * position after it.  Every transaction that commits after the slot's
 * consistent point is decoded later; those the copy's snapshot already saw
 * (committed before it) are skipped, so that no change is applied twice.
 * Past the recorded position no transaction can be in the snapshot.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "access/xlog_internal.h"
#include "access/xlogutils.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "common/hashfn.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/logicalproto.h"
#include "replication/reorderbuffer.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "cursor.h"
#include "mode.h"
#include "source.h"
#include "source_wal.h"
#include "sqlgen.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(incremental_drop_extension);
PG_FUNCTION_INFO_V1(incremental_wal_slot);

#define WAL_SLOT_PREFIX "incr_"

/* ---------- definition ---------- */

/* Refuse a wal pipeline when the server does not write logical WAL. */
static void
refuse_without_logical_wal(Pipeline *p)
{
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal pipeline \"%s\" needs wal_level = logical", p->name),
				 errdetail("The server runs with wal_level = %s, whose WAL cannot be decoded into changes.",
						   GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	if (max_replication_slots <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal pipeline \"%s\" needs a replication slot", p->name),
				 errdetail("max_replication_slots is 0."),
				 errhint("Set max_replication_slots in postgresql.conf and restart the server.")));
}

/*
 * Refuse a source without a replica identity (its UPDATEs and DELETEs
 * would fail once it is published), or whose deletes and key-changing
 * updates would not carry the pipeline's keys: the old row of a change
 * holds only the replica identity (unless it is FULL).
 */
static void
refuse_keys_outside_identity(Pipeline *p, Relation rel)
{
	Bitmapset  *identity;
	ListCell   *lc;

	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		return;
	identity = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	/* also keyless: once published, its UPDATEs and DELETEs would fail without one */
	if (identity == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" of wal pipeline \"%s\" has no replica identity",
						RelationGetRelationName(rel), p->name),
				 errdetail("A deleted row reaches the WAL only as its replica identity; without one, PostgreSQL refuses UPDATE and DELETE on a published table."),
				 errhint("Add a primary key, or ALTER TABLE %s REPLICA IDENTITY USING INDEX ... or FULL.",
						 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													RelationGetRelationName(rel)))));
	foreach(lc, p->keys)
	{
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), (char *) lfirst(lc));

		if (attnum == InvalidAttrNumber)
			continue;			/* DescribePipeline names the missing column */
		if (!bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, identity))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"%s\" of wal pipeline \"%s\" is not in the replica identity of source \"%s\"",
							(char *) lfirst(lc), p->name, RelationGetRelationName(rel)),
					 errdetail("A delete reaches the WAL only with the replica identity's columns, so the pipeline's keys must be among them."),
					 errhint("Use the primary key's columns as keys, or ALTER TABLE %s REPLICA IDENTITY FULL.",
							 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														RelationGetRelationName(rel)))));
	}
}

/*
 * Refuse a source under row-level security for the current user: decoded
 * changes pass no policy, so they would hand out rows the user's SELECT
 * cannot see.
 */
static void
refuse_row_security(Pipeline *p, Oid relid)
{
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("wal pipeline \"%s\" cannot read source \"%s\" under row-level security",
						p->name, get_rel_name(relid)),
				 errdetail("Changes decoded from the WAL pass no policy: they would include rows role \"%s\" cannot select.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Let a role that bypasses row-level security own the pipeline, or use capture => 'cursor'.")));
}

/*
 * Refuse a plain source with inheritance children: its publication holds
 * the table only, so the children's changes would never reach the target,
 * and publishing them would make the children's UPDATEs and DELETEs need a
 * replica identity their owners never gave.  A partitioned source is
 * published as its root, but each partition's UPDATEs and DELETEs need an
 * identity of their own that carries the keys.
 */
static void
refuse_children(Pipeline *p, Relation rel)
{
	ListCell   *lc;
	List	   *parts;

	if (rel->rd_rel->relkind == RELKIND_RELATION)
	{
		if (has_subclass(RelationGetRelid(rel)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("source \"%s\" of wal pipeline \"%s\" has inheritance children",
							RelationGetRelationName(rel), p->name),
					 errdetail("A wal pipeline reads the changes of its source table alone, while its rows include the children's."),
					 errhint("Use a partitioned table, or capture => 'cursor'.")));
		return;
	}
	parts = find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL);
	foreach(lc, parts)
	{
		Relation	part;

		if (lfirst_oid(lc) == RelationGetRelid(rel) ||
			get_rel_relkind(lfirst_oid(lc)) != RELKIND_RELATION)
			continue;
		part = relation_open(lfirst_oid(lc), NoLock);
		refuse_keys_outside_identity(p, part);
		relation_close(part, NoLock);
	}
}

#define WAL_ROLE "incremental_wal"

/*
 * Refuse a wal pipeline whose owner may not hold a replication slot: a
 * superuser, a role with REPLICATION (which may make slots anyway), or a
 * member of role incremental_wal (made by the extension's script, granted
 * by a DBA).  A slot keeps WAL and dead catalog rows for the whole cluster
 * and takes one of max_replication_slots.
 */
static void
refuse_owner_without_wal_role(Pipeline *p, const char *action)
{
	Oid			walrole = get_role_oid(WAL_ROLE, true);
	char	   *owner;

	if (superuser_arg(p->owner) || has_rolreplication(p->owner) ||
		(OidIsValid(walrole) && has_privs_of_role(p->owner, walrole)))
		return;
	owner = GetUserNameFromId(p->owner, false);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" cannot %s wal pipeline \"%s\"", owner, action, p->name),
			 errdetail("A wal pipeline holds a replication slot, which keeps WAL and catalog rows for the whole cluster: its owner must be a superuser, have the REPLICATION attribute, or be a member of role \"%s\".",
					   WAL_ROLE),
			 errhint("A superuser can grant it: GRANT %s TO %s;", WAL_ROLE, quote_identifier(owner))));
}

/*
 * Refuse a generated source column that the target also has: pgoutput in
 * PostgreSQL 15 leaves generated columns out of its messages, so their
 * values would reach the target as NULL.
 */
static void
refuse_generated_columns(Pipeline *p, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated == '\0' || !OidIsValid(p->target) ||
			get_attnum(p->target, NameStr(att->attname)) == InvalidAttrNumber)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wal pipeline \"%s\" cannot load generated column \"%s\" of source \"%s\"",
						p->name, NameStr(att->attname), RelationGetRelationName(rel)),
				 errdetail("Logical decoding leaves generated columns out of the changes it gives, so the target would get NULL."),
				 errhint("Drop or rename the target's column \"%s\", or make it a generated column of the target.",
						 NameStr(att->attname))));
	}
}

/*
 * Refuse to run with a publication that is not the pipeline's own: missing,
 * not the extension's (dropped and made again by someone else), or no longer
 * publishing the source (its changes would be silently left out).
 */
static void
check_publication(Pipeline *p)
{
	Oid			pubid = get_publication_oid(p->wal_slot, true);

	if (!OidIsValid(pubid) || !ExtensionOwnsObject(PublicationRelationId, pubid) ||
		!list_member_oid(GetPublicationRelations(pubid, PUBLICATION_PART_ROOT), p->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("publication \"%s\" of wal pipeline \"%s\" is missing or was changed", p->wal_slot, p->name),
				 errdetail("A wal pipeline reads its source's changes through its own publication, which must publish the source alone."),
				 errhint("SELECT incr_reset(%s); creates it again if it is missing (and copies the table again); else drop the pipeline and create it again.",
						 quote_literal_cstr(p->name))));
}

/*
 * Check what a wal pipeline needs beyond the checks of every pipeline:
 * logical WAL, a mode that takes changes, no cursor column, a table (plain
 * or partitioned, not temporary) whose replica identity covers the keys.
 */
void
WalCheckDefinition(Pipeline *p, bool cursor_given)
{
	Relation	rel;

	refuse_without_logical_wal(p);
	if (ModeOf(p)->build_wal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s pipeline \"%s\" cannot capture changes from the WAL",
						PipelineModeName(p->mode), p->name),
				 errdetail("capture => 'wal' feeds the changes of a table to modes append, merge and scd2."),
				 errhint("Use mode merge, append or scd2, or leave capture out.")));
	if (p->delete_column && !p->soft_delete)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wal pipeline \"%s\" takes delete_column only with soft_delete", p->name),
				 errdetail("Its deletes are the source's own DELETEs, read from the WAL; delete_column names the target column soft_delete sets on deleted rows."),
				 errhint("Pass soft_delete => true, or leave delete_column out.")));
	if (cursor_given)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wal pipeline \"%s\" takes no cursor_column", p->name),
				 errdetail("Its changes are read from the WAL; their position is its checkpoint."),
				 errhint("Leave cursor_column out.")));
	if (!OidIsValid(p->source))
		return;					/* require_arg refuses it */
	rel = try_relation_open(p->source, AccessShareLock);
	if (rel == NULL)
		return;					/* DescribePipeline refuses it */
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be the source of wal pipeline \"%s\"",
						RelationGetRelationName(rel), p->name),
				 errdetail("The WAL holds the changes of tables: views, materialized views and foreign tables have none to decode."),
				 errhint("Use a table or a partitioned table, or capture => 'cursor'.")));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be the source of wal pipeline \"%s\"",
						RelationGetRelationName(rel), p->name),
				 errdetail("Temporary and unlogged tables write no changes to the WAL."),
				 errhint("Use a logged table, or capture => 'cursor'.")));
	refuse_keys_outside_identity(p, rel);
	refuse_children(p, rel);
	refuse_generated_columns(p, rel);
	refuse_row_security(p, p->source);
	relation_close(rel, NoLock);
	refuse_owner_without_wal_role(p, "create");
}

/*
 * Check again at each run what creation checked of the source and may have
 * changed since: its replica identity still covers the keys (else deletes
 * would come without them), no generated column is loaded.
 */
static void
recheck_source(Pipeline *p)
{
	Relation	rel = try_relation_open(p->source, AccessShareLock);

	if (rel == NULL)
		return;					/* the run's shape names the missing source */
	refuse_keys_outside_identity(p, rel);
	refuse_children(p, rel);
	refuse_generated_columns(p, rel);
	relation_close(rel, NoLock);
}

/* Draw the name of a new pipeline's slot and publication: incr_<database oid>_<16 hex>. */
char *
WalNewSlotName(void)
{
	uint64		r;

	if (!pg_strong_random(&r, sizeof(r)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random slot name")));
	return psprintf(WAL_SLOT_PREFIX "%u_%016" INT64_MODIFIER "x", MyDatabaseId, r);
}

/* Execute a statement of the extension's as the bootstrap superuser, search_path pinned. */
static void
exec_as_superuser(const char *sql, int expected)
{
	Oid			save_userid;
	int			save_sec_context;
	int			nestlevel;
	int			ret;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute(sql, false, 0);
	if (ret != expected)
		elog(ERROR, "could not execute (SPI result %d): %s", ret, sql);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

static bool is_our_slot(ReplicationSlot *s);

/*
 * Drop the slots of this database's wal pipelines that no pipeline has
 * (left by a crash between a drop's slot removal and its commit's end, by
 * a drop racing a first run, or by an extension dropped with its schema),
 * and that no backend holds.  Slots are only created by runs of committed
 * pipelines, so a slot whose name no pipeline holds is nobody's.  The slots
 * are listed first and the names read after, with a fresh snapshot: a slot
 * seen in the list was created by a run of a pipeline committed before it,
 * which the names then hold.  Only slots that are exactly of the form this
 * database's pipelines' are named, logical, pgoutput's and of this
 * database are considered: never another tool's, or another database's.
 */
static void
sweep_orphan_slots(void)
{
	List	   *candidates = NIL;
	List	   *ours;
	ListCell   *lc;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (int i = 0; i < max_replication_slots; i++)
	{
		ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];

		if (s->in_use && s->active_pid == 0 && is_our_slot(s))
			candidates = lappend(candidates, pstrdup(NameStr(s->data.name)));
	}
	LWLockRelease(ReplicationSlotControlLock);
	if (candidates == NIL)
		return;
	ours = WalSlotNames();
	foreach(lc, candidates)
	{
		char	   *name = (char *) lfirst(lc);
		ListCell   *n;
		bool		found = false;
		ReplicationSlot *s;

		foreach(n, ours)
			if (strcmp((char *) lfirst(n), name) == 0)
				found = true;
		if (found)
			continue;
		/* still there, still ours and still unused? */
		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		s = SearchNamedReplicationSlot(name, false);
		found = (s == NULL || s->active_pid != 0 || !is_our_slot(s));
		LWLockRelease(ReplicationSlotControlLock);
		if (found)
			continue;
		ereport(NOTICE,
				(errmsg("dropping replication slot \"%s\": no wal pipeline has it", name)));
		ReplicationSlotDrop(name, true);
	}
}

/*
 * Create the publication of a new wal pipeline: its source only, changes of
 * partitions as the root's, owned by the bootstrap superuser and a member of
 * the extension (DROP EXTENSION drops it; no role can alter it).
 */
void
WalCreatePublication(Pipeline *p)
{
	ObjectAddress pub;
	ObjectAddress ext;
	Oid			pubid;

	/* incr_reset of a pipeline whose source was dropped */
	if (get_rel_name(p->source) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source of wal pipeline \"%s\" does not exist", p->name),
				 errdetail("Its publication cannot be created again without the table."),
				 errhint("Drop the pipeline and create it again.")));
	sweep_orphan_slots();
	exec_as_superuser(psprintf("CREATE PUBLICATION %s FOR TABLE %s%s"
							   " WITH (publish = 'insert, update, delete, truncate',"
							   " publish_via_partition_root = true)",
							   quote_identifier(p->wal_slot),
							   get_rel_relkind(p->source) == RELKIND_RELATION ? "ONLY " : "",
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->source)),
														  get_rel_name(p->source))),
					  SPI_OK_UTILITY);
	pubid = get_publication_oid(p->wal_slot, false);
	ObjectAddressSet(pub, PublicationRelationId, pubid);
	ObjectAddressSet(ext, ExtensionRelationId, ExtensionOid());
	recordDependencyOn(&pub, &ext, DEPENDENCY_EXTENSION);
}

/*
 * Drop the publication of a wal pipeline, if it is there and the
 * extension's: a publication of that name that is not its member (a
 * restored dump does not hold the extension's members) is someone else's.
 */
static void
drop_publication(const char *name)
{
	Oid			pubid = get_publication_oid(name, true);
	ObjectAddress pub;

	if (!OidIsValid(pubid) || !ExtensionOwnsObject(PublicationRelationId, pubid))
		return;
	ObjectAddressSet(pub, PublicationRelationId, pubid);
	performDeletion(&pub, DROP_RESTRICT,
					PERFORM_DELETION_INTERNAL | PERFORM_DELETION_SKIP_EXTENSIONS);
}

/* ---------- slots: created by a first run, dropped at commit ---------- */

/*
 * A slot to drop when the transaction commits, with the subtransaction that
 * let it go: a subtransaction's abort forgets its drops (a drop or reset
 * rolled back to a savepoint keeps its pipeline, and so its slot).
 */
typedef struct PendingSlotDrop
{
	char	   *name;
	SubTransactionId subid;
} PendingSlotDrop;

/* Slots to drop when the transaction commits (in TopMemoryContext). */
static List *slots_to_drop = NIL;

/*
 * DROP EXTENSION incremental was attempted: the extension's oid and the
 * slot names its pipelines held then.  The slots are dropped at commit only
 * if that extension is gone by then: the event trigger fires before
 * PostgreSQL checks ownership, and the statement may fail or be rolled back.
 */
static Oid	dropping_extension = InvalidOid;
static List *extension_slots = NIL;
static bool xact_callback_registered = false;

/*
 * Tell whether a slot name is exactly of the form of this database's wal
 * pipelines' (WalNewSlotName): incr_<database oid>_<16 hex digits>.
 */
static bool
is_our_slot_name(const char *name)
{
	char	   *prefix = psprintf(WAL_SLOT_PREFIX "%u_", MyDatabaseId);
	size_t		len = strlen(prefix);

	if (strncmp(name, prefix, len) != 0 || strlen(name) != len + 16)
		return false;
	for (const char *c = name + len; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}

/*
 * Tell whether a slot (in use; ReplicationSlotControlLock held) may be one
 * of this database's wal pipelines': named so, logical, pgoutput's and of
 * this database.  Slot names are cluster-wide: a copy of this database
 * restored next to it holds the same names, and must not touch its slots.
 */
static bool
is_our_slot(ReplicationSlot *s)
{
	return SlotIsLogical(s) && s->data.database == MyDatabaseId &&
		strcmp(NameStr(s->data.plugin), "pgoutput") == 0 &&
		is_our_slot_name(NameStr(s->data.name));
}

/*
 * Drop a slot by name if it exists and may be this database's pipeline's.
 * Never wait for a backend that holds it: a first run holds it while it
 * waits for the transactions open when it began, maybe the very one that
 * drops, which would then wait for the run on the slot's condition
 * variable, a deadlock PostgreSQL does not detect.  Fail instead.
 */
static void
drop_slot(const char *name)
{
	ReplicationSlot *s;
	bool		ours;
	int			active_pid = 0;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	s = SearchNamedReplicationSlot(name, false);
	ours = (s != NULL && is_our_slot(s));
	if (ours)
	{
		SpinLockAcquire(&s->mutex);
		active_pid = s->active_pid;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	if (!ours)
		return;
	if (active_pid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("could not drop replication slot \"%s\" of a wal pipeline: a run is using it", name),
				 errdetail("Process %d holds the slot (a first run waits for the transactions open when it began, maybe this one).", active_pid),
				 errhint("Retry once that run has ended.")));
	ReplicationSlotDrop(name, true);
}

/* Tell whether DROP EXTENSION incremental has really dropped the extension. */
static bool
extension_dropped(void)
{
	return OidIsValid(dropping_extension) && get_extension_name(dropping_extension) == NULL;
}

/* Drop the slots the transaction's drops and resets let go of. */
static void
drop_pending_slots(void)
{
	ListCell   *lc;

	foreach(lc, slots_to_drop)
		drop_slot(((PendingSlotDrop *) lfirst(lc))->name);
	if (extension_dropped())
		foreach(lc, extension_slots)
			drop_slot((char *) lfirst(lc));
}

static List *prepared_first_runs;

/* Forget the pending drops, the extension drop and the prepared first runs of the transaction. */
static void
forget_pending_slots(void)
{
	ListCell   *lc;

	list_free_deep(prepared_first_runs);
	prepared_first_runs = NIL;

	foreach(lc, slots_to_drop)
		pfree(((PendingSlotDrop *) lfirst(lc))->name);
	list_free_deep(slots_to_drop);
	slots_to_drop = NIL;
	list_free_deep(extension_slots);
	extension_slots = NIL;
	dropping_extension = InvalidOid;
}

/*
 * At commit, drop the slots of the pipelines the transaction dropped or
 * reset: just before the commit, so that a failure still aborts it.  A
 * crash between the two leaves a pipeline without a slot, which its next
 * run reports (incr_reset creates it again).  Prepared transactions cannot
 * carry such drops.
 */
static void
wal_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			drop_pending_slots();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (slots_to_drop != NIL || extension_dropped())
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that dropped or reset a wal pipeline"),
						 errdetail("Its replication slot is dropped when the transaction commits.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_pending_slots();
			break;
		default:
			break;
	}
}

/*
 * At a subtransaction's end: its commit hands its pending drops to its
 * parent, its abort forgets them.
 */
static void
wal_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, slots_to_drop)
		{
			PendingSlotDrop *drop = (PendingSlotDrop *) lfirst(lc);

			if (drop->subid == mySubid)
				drop->subid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, slots_to_drop)
		{
			PendingSlotDrop *drop = (PendingSlotDrop *) lfirst(lc);

			if (drop->subid == mySubid)
			{
				pfree(drop->name);
				pfree(drop);
				slots_to_drop = foreach_delete_current(slots_to_drop, lc);
			}
		}
	}
}

/* Register the transaction callback once per backend. */
static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wal_xact_callback, NULL);
		RegisterSubXactCallback(wal_subxact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* Drop a wal pipeline's slot when the transaction commits. */
static void
drop_slot_at_commit(const char *name)
{
	MemoryContext old;
	PendingSlotDrop *drop;

	register_xact_callback();
	old = MemoryContextSwitchTo(TopMemoryContext);
	drop = palloc(sizeof(PendingSlotDrop));
	drop->name = pstrdup(name);
	drop->subid = GetCurrentSubTransactionId();
	slots_to_drop = lappend(slots_to_drop, drop);
	MemoryContextSwitchTo(old);
}

/* Remove a wal pipeline's publication now and its slot at commit (incr_drop_pipeline). */
void
WalDropPipeline(Pipeline *p)
{
	if (p->wal_slot == NULL)
		return;
	drop_publication(p->wal_slot);
	drop_slot_at_commit(p->wal_slot);
}

/*
 * incr_reset of a wal pipeline.  Starting over (to NULL), its slot goes at
 * commit, so that the next run creates it again and copies the table (a
 * lost slot's way back), and its publication is created again if it was
 * lost (a restored dump).  Moved to an LSN, the checkpoint may skip ahead,
 * never back before the slot's position: the slot has let that WAL go.
 */
void
WalResetPipeline(Pipeline *p, Checkpoint *to)
{
	if (p->wal_slot == NULL)
		return;
	if (!to->isnull)
	{
		ReplicationSlot *s;
		XLogRecPtr	confirmed = InvalidXLogRecPtr;

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		s = SearchNamedReplicationSlot(p->wal_slot, false);
		if (s != NULL)
		{
			SpinLockAcquire(&s->mutex);
			confirmed = s->data.confirmed_flush;
			SpinLockRelease(&s->mutex);
		}
		LWLockRelease(ReplicationSlotControlLock);
		if (s == NULL || DatumGetLSN(to->value) < confirmed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot move the checkpoint of wal pipeline \"%s\" before its slot's position", p->name),
					 s == NULL ? errdetail("The pipeline has no replication slot yet.") :
					 errdetail("Its slot has let go of the WAL before %X/%X.", LSN_FORMAT_ARGS(confirmed)),
					 errhint("Start over with SELECT incr_reset(%s); its next run copies the table again.",
							 quote_literal_cstr(p->name))));
		return;
	}
	if (!OidIsValid(get_publication_oid(p->wal_slot, true)))
		WalCreatePublication(p);
	drop_slot_at_commit(p->wal_slot);
	StoreWalCopy(p, NULL, (Datum) 0);
}

/*
 * _incr_drop_extension(), an event trigger at the start of DROP EXTENSION:
 * when incremental is among the extensions named, note the slots of its
 * wal pipelines, to drop at commit if the extension is gone by then.  It
 * fires before PostgreSQL checks that the role may drop the extension, and
 * the statement may yet fail or be rolled back to a savepoint, so it drops
 * nothing itself.  (The publications are members and go with it.)
 */
Datum
incremental_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_incr_drop_extension must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "incremental") == 0)
		{
			Oid			extid = get_extension_oid("incremental", true);
			List	   *names;
			ListCell   *n;
			MemoryContext old;

			if (!OidIsValid(extid))
				continue;
			names = WalSlotNames();
			register_xact_callback();
			list_free_deep(extension_slots);
			extension_slots = NIL;
			old = MemoryContextSwitchTo(TopMemoryContext);
			foreach(n, names)
				extension_slots = lappend(extension_slots, pstrdup((char *) lfirst(n)));
			MemoryContextSwitchTo(old);
			dropping_extension = extid;
		}
	}
	PG_RETURN_VOID();
}

/*
 * Create the slot of a wal pipeline if it is missing, as
 * pg_create_logical_replication_slot does, in this backend: before the
 * run's transaction writes anything.  A transaction-level advisory lock on
 * the name keeps two first runs from both creating it.  Finding the slot's
 * consistent point waits for the transactions running now to end.
 */
static void
create_slot_if_missing(Pipeline *p)
{
	LOCKTAG		tag;
	LogicalDecodingContext *volatile ctx = NULL;
	LogicalDecodingContext *done;
	uint32		h = DatumGetUInt32(hash_any((const unsigned char *) p->wal_slot,
											strlen(p->wal_slot)));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, h, 0x16, 3);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (SearchNamedReplicationSlot(p->wal_slot, true) != NULL)
		return;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("first run of wal pipeline \"%s\" cannot create its replication slot in a transaction that has written", p->name),
				 errdetail("A logical replication slot can only be created before its transaction writes anything."),
				 errhint("Run the pipeline's first run in a transaction of its own: SELECT incr_run(%s);",
						 quote_literal_cstr(p->name))));
	CheckLogicalDecodingRequirements();
	ReplicationSlotCreate(p->wal_slot, true, RS_EPHEMERAL, false);

	/*
	 * Only the top-level error recovery of a backend releases a slot it
	 * holds, not the abort of a transaction or subtransaction: a creation
	 * canceled (statement_timeout while waiting for writers, an exception
	 * block, the scheduler's run_timeout) would leave this backend holding
	 * a half-made slot.  Releasing the ephemeral slot drops it.
	 */
	PG_TRY();
	{
		ctx = CreateInitDecodingContext("pgoutput", NIL, false, InvalidXLogRecPtr,
										XL_ROUTINE(.page_read = read_local_xlog_page,
												   .segment_open = wal_segment_open,
												   .segment_close = wal_segment_close),
										NULL, NULL, NULL);
		DecodingContextFindStartpoint(ctx);
		done = ctx;
		ctx = NULL;
		FreeDecodingContext(done);
		ReplicationSlotPersist();
		ReplicationSlotRelease();
	}
	PG_CATCH();
	{
		if (ctx != NULL)
			FreeDecodingContext(ctx);
		if (MyReplicationSlot != NULL)
			ReplicationSlotRelease();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Slot names of first runs prepared and not yet executed (TopMemoryContext). */
static List *prepared_first_runs = NIL;

/*
 * Before the run's first write: create the slot of a pipeline that starts
 * over.  A first run also refuses a transaction that has written, even when
 * the slot exists: the copy's snapshot would hold the transaction's own
 * writes, which decoding then gives again once it commits (or the slot is
 * one that transaction's incr_reset drops at commit).
 */
static void
wal_prepare(Pipeline *p, Checkpoint *cp)
{
	MemoryContext old;

	if (p->wal_slot == NULL)
		elog(ERROR, "wal pipeline \"%s\" has no slot name", p->name);
	if (!cp->isnull)
		return;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("first run of wal pipeline \"%s\" cannot run in a transaction that has written", p->name),
				 errdetail("The first run creates the replication slot if it is missing and copies the table; both need a transaction that has not written yet."),
				 errhint("Run the pipeline's first run in a transaction of its own: SELECT incr_run(%s);",
						 quote_literal_cstr(p->name))));
	create_slot_if_missing(p);
	register_xact_callback();
	old = MemoryContextSwitchTo(TopMemoryContext);
	prepared_first_runs = lappend(prepared_first_runs, pstrdup(p->wal_slot));
	MemoryContextSwitchTo(old);
}

/*
 * Refuse a first run that wal_prepare did not prepare: the checkpoint,
 * read unlocked there, was set then and has been reset since, or the
 * pipeline was dropped and created again (another slot name) in between.
 */
static void
refuse_unprepared_first_run(Pipeline *p, Checkpoint *cp)
{
	Pipeline   *now = LoadPipeline(p->name);
	ListCell   *lc;
	bool		prepared = false;

	foreach(lc, prepared_first_runs)
	{
		if (strcmp((char *) lfirst(lc), p->wal_slot) == 0)
		{
			pfree(lfirst(lc));
			prepared_first_runs = foreach_delete_current(prepared_first_runs, lc);
			prepared = true;
			break;
		}
	}
	if ((cp->isnull && !prepared) || now->wal_slot == NULL ||
		strcmp(now->wal_slot, p->wal_slot) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("wal pipeline \"%s\" was reset or created again while its run started", p->name),
				 errdetail("The run prepared its replication slot for the definition and checkpoint it read before it locked the pipeline."),
				 errhint("Run it again.")));
}

/*
 * Refuse to run a pipeline whose slot is gone or invalidated
 * (max_slot_wal_keep_size): the changes it had not read are lost.  Refuse a
 * slot of that name the pipeline cannot have made: not persistent (being
 * made, or left half-made), not logical, of another database (a restored
 * copy of this one names the original's slots), of another plugin or with
 * two-phase decoding (made in advance by a REPLICATION role).  Else return
 * the slot's confirmed position.
 */
static XLogRecPtr
check_slot(Pipeline *p)
{
	ReplicationSlot *s;
	XLogRecPtr	restart;
	XLogRecPtr	confirmed;
	const char *wrong = NULL;
	bool		other_database = false;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	s = SearchNamedReplicationSlot(p->wal_slot, false);
	if (s == NULL)
	{
		LWLockRelease(ReplicationSlotControlLock);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" of wal pipeline \"%s\" does not exist", p->wal_slot, p->name),
				 errdetail("The changes since its checkpoint cannot be read."),
				 errhint("Start it over with SELECT incr_reset(%s); its next run copies the table again.",
						 quote_literal_cstr(p->name))));
	}
	SpinLockAcquire(&s->mutex);
	restart = s->data.restart_lsn;
	confirmed = s->data.confirmed_flush;
	if (!SlotIsLogical(s))
		wrong = "a physical slot";
	else if (s->data.database != MyDatabaseId)
	{
		wrong = "a slot of another database";
		other_database = true;
	}
	else if (strcmp(NameStr(s->data.plugin), "pgoutput") != 0)
		wrong = psprintf("a slot of plugin \"%s\"", NameStr(s->data.plugin));
	else if (s->data.two_phase)
		wrong = "a slot with two-phase decoding";
	else if (s->data.persistency != RS_PERSISTENT)
		wrong = "a slot not made persistent";
	else if (restart != InvalidXLogRecPtr && confirmed == InvalidXLogRecPtr)
		wrong = "a slot without a confirmed position";
	SpinLockRelease(&s->mutex);
	LWLockRelease(ReplicationSlotControlLock);
	if (wrong != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" of wal pipeline \"%s\" is not one the pipeline made", p->wal_slot, p->name),
				 errdetail("It is %s; a wal pipeline reads a persistent logical slot of its own database, of plugin pgoutput, without two-phase decoding.", wrong),
				 other_database ?
				 errhint("A copy of a database keeps the original's slot names: drop the pipeline and create it again, which names a new slot.") :
				 errhint("If the slot is not in use, drop it with pg_drop_replication_slot(%s), then start the pipeline over with SELECT incr_reset(%s);",
						 quote_literal_cstr(p->wal_slot), quote_literal_cstr(p->name))));
	if (restart == InvalidXLogRecPtr)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" of wal pipeline \"%s\" was invalidated", p->wal_slot, p->name),
				 errdetail("The server removed WAL the slot still needed (max_slot_wal_keep_size), so changes since the checkpoint are lost."),
				 errhint("Start it over with SELECT incr_reset(%s); its next run copies the table again.",
						 quote_literal_cstr(p->name))));
	return confirmed;
}

/* ---------- decoding ---------- */

/*
 * One decoded change, as text, before the values go through the target
 * types' input functions (after decoding, outside its historic snapshot).
 */
typedef struct WalDecoder
{
	Pipeline   *p;
	PipelineShape *shape;
	int			nkeys;
	int			ncols;			/* shape columns */
	TupleDesc	raw_desc;		/* the changes, values as text */
	Tuplestorestate *raw;
	MemoryContext change_cxt;	/* reset after each change */

	/* the relation message of the source: position of each shape column */
	bool		have_rel;
	bool		keys_in_identity;	/* the old row of a change carries the keys */
	int		   *colpos;			/* per shape column: index in the message, or -1 */
	int		   *keypos;			/* per key: index in the message, or -1 */

	/* the pipeline's skip rules */
	XLogRecPtr	checkpoint;		/* skip commits starting below it */
	bool		checkpoint_committed;	/* else the slot must not be confirmed to it */
	bool		has_copy;		/* the copy's snapshot still decides */
	XLogRecPtr	copy_lsn;
	uint64		copy_xmin;
	uint64		copy_xmax;
	int			copy_nxip;
	uint64	   *copy_xip;

	/* the transaction being replayed */
	bool		skipping;
	XLogRecPtr	txn_end;
	TimestampTz txn_time;
	int64		txn_changes;

	/* totals */
	int64		seq;			/* changes kept */
	XLogRecPtr	last_commit_end;	/* end of the last transaction kept */
	bool		done;			/* batch_size reached at a commit */

	OutputPluginCallbacks plugin;	/* pgoutput's own callbacks */
} WalDecoder;

/* Return a 32-bit transaction id of a running or recent transaction as a full one. */
static uint64
full_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint64		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return (epoch << 32) | xid;
}

/* Did the copy's snapshot see the transaction committed? */
static bool
copy_saw(WalDecoder *d, TransactionId xid)
{
	uint64		x = full_xid(xid);

	if (x < d->copy_xmin)
		return true;
	if (x >= d->copy_xmax)
		return false;
	for (int i = 0; i < d->copy_nxip; i++)
		if (d->copy_xip[i] == x)
			return false;
	return true;
}

/* Parse a pg_snapshot's text (xmin:xmax:xip,...) into the decoder. */
static void
parse_copy_snapshot(WalDecoder *d, const char *text)
{
	char	   *s = pstrdup(text);
	char	   *xip;
	char	   *tok;

	d->copy_xmin = strtou64(s, &s, 10);
	s++;
	d->copy_xmax = strtou64(s, &s, 10);
	xip = (*s == ':') ? s + 1 : "";
	d->copy_xip = palloc(sizeof(uint64) * (strlen(xip) / 2 + 1));
	d->copy_nxip = 0;
	for (tok = strtok(xip, ","); tok; tok = strtok(NULL, ","))
		d->copy_xip[d->copy_nxip++] = strtou64(tok, NULL, 10);
}

/* Begin of a transaction's replay: decide whether its changes are applied. */
static void
wal_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	WalDecoder *d = (WalDecoder *) ctx->output_writer_private;

	d->txn_end = txn->end_lsn;
	d->txn_time = txn->xact_time.commit_time;
	d->txn_changes = 0;
	/* applied by an earlier run whose slot did not move, or held by the copy */
	d->skipping = (txn->final_lsn < d->checkpoint) ||
		(d->has_copy && txn->final_lsn < d->copy_lsn && copy_saw(d, txn->xid));
	if (!d->skipping)
		d->plugin.begin_cb(ctx, txn);
}

/* A change of a transaction: to pgoutput, unless the transaction is skipped. */
static void
wal_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation relation,
		   ReorderBufferChange *change)
{
	WalDecoder *d = (WalDecoder *) ctx->output_writer_private;

	if (!d->skipping)
		d->plugin.change_cb(ctx, txn, relation, change);
}

/* A truncate: to pgoutput, unless the transaction is skipped. */
static void
wal_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
			 Relation relations[], ReorderBufferChange *change)
{
	WalDecoder *d = (WalDecoder *) ctx->output_writer_private;

	if (!d->skipping)
		d->plugin.truncate_cb(ctx, txn, nrelations, relations, change);
}

/* End of a transaction: it is applied whole; a full batch ends the window here. */
static void
wal_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	WalDecoder *d = (WalDecoder *) ctx->output_writer_private;

	if (d->skipping)
		return;
	d->plugin.commit_cb(ctx, txn, commit_lsn);
	if (d->txn_changes > 0)
		d->last_commit_end = txn->end_lsn;
	if (d->p->batch_size > 0 && d->seq >= d->p->batch_size)
		d->done = true;
}

/* Nothing to prepare: the message is read from ctx->out in wal_write. */
static void
wal_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid,
				  bool last_write)
{
	resetStringInfo(ctx->out);
}

/* Map the source's relation message to the shape's columns, by name. */
static void
read_relation(WalDecoder *d, LogicalRepRelation *rel)
{
	ListCell   *lc;
	int			i = 0;
	int			k = 0;

	foreach(lc, d->shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		int			pos = -1;

		for (int a = 0; a < rel->natts; a++)
			if (strcmp(rel->attnames[a], col->name) == 0)
				pos = a;
		d->colpos[i++] = pos;
		if (col->is_key)
			d->keypos[k++] = pos;
	}
	/* the identity when the change was made, which may differ from now */
	d->keys_in_identity = true;
	if (rel->replident != REPLICA_IDENTITY_FULL)
		for (k = 0; k < d->nkeys; k++)
			if (d->keypos[k] < 0 || !bms_is_member(d->keypos[k], rel->attkeys))
				d->keys_in_identity = false;
	d->have_rel = true;
}

/*
 * Add one change to the raw store: seq, op, lsn, commit time, unchanged
 * columns, old keys (update that changed the key), then the row's values.
 */
static void
add_change(WalDecoder *d, char op, LogicalRepTupleData *row, LogicalRepTupleData *old)
{
	int			natts = d->raw_desc->natts;
	Datum	   *values = palloc0(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	List	   *unchanged = NIL;
	int			base = 5 + d->nkeys;
	ListCell   *lc;
	int			i = 0;

	memset(nulls, true, sizeof(bool) * natts);
	values[0] = Int64GetDatum(++d->seq);
	nulls[0] = false;
	values[1] = CharGetDatum(op);
	nulls[1] = false;
	values[2] = LSNGetDatum(d->txn_end);
	nulls[2] = false;
	values[3] = TimestampTzGetDatum(d->txn_time);
	nulls[3] = false;

	foreach(lc, d->shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);
		int			pos = d->colpos[i];

		if (row && pos >= 0 && pos < row->ncols)
		{
			char		status = row->colstatus[pos];

			if (status == LOGICALREP_COLUMN_TEXT)
			{
				values[base + i] = PointerGetDatum(cstring_to_text_with_len(row->colvalues[pos].data,
																			row->colvalues[pos].len));
				nulls[base + i] = false;
			}
			else if (status == LOGICALREP_COLUMN_UNCHANGED)
				unchanged = lappend(unchanged, col->name);
		}
		i++;
	}
	if (unchanged != NIL)
	{
		Datum	   *names = palloc(sizeof(Datum) * list_length(unchanged));
		int			n = 0;

		foreach(lc, unchanged)
			names[n++] = CStringGetTextDatum((char *) lfirst(lc));
		values[4] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
		nulls[4] = false;
	}

	/* the old key, when an update changed it */
	if (old)
	{
		bool		changed = false;

		for (int k = 0; k < d->nkeys; k++)
		{
			int			pos = d->keypos[k];
			bool		old_null = (pos < 0 || pos >= old->ncols ||
									old->colstatus[pos] != LOGICALREP_COLUMN_TEXT);
			bool		new_null = (pos < 0 || pos >= row->ncols ||
									row->colstatus[pos] != LOGICALREP_COLUMN_TEXT);

			if (old_null != new_null ||
				(!old_null && (old->colvalues[pos].len != row->colvalues[pos].len ||
							   memcmp(old->colvalues[pos].data, row->colvalues[pos].data,
									  old->colvalues[pos].len) != 0)))
				changed = true;
		}
		for (int k = 0; changed && k < d->nkeys; k++)
		{
			int			pos = d->keypos[k];

			if (pos >= 0 && pos < old->ncols && old->colstatus[pos] == LOGICALREP_COLUMN_TEXT)
			{
				values[5 + k] = PointerGetDatum(cstring_to_text_with_len(old->colvalues[pos].data,
																		 old->colvalues[pos].len));
				nulls[5 + k] = false;
			}
		}
	}
	tuplestore_putvalues(d->raw, d->raw_desc, values, nulls);
	d->txn_changes++;
}

/*
 * Refuse a delete, or an update that changed the key, made while the
 * source's replica identity did not hold the keys: its old row lacks them,
 * so it cannot be applied, and must not be lost silently.
 */
static void
need_keys(WalDecoder *d)
{
	if (!d->keys_in_identity)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("wal pipeline \"%s\" cannot apply a change made while the keys were not in the replica identity of its source",
						d->p->name),
				 errdetail("A delete or a key-changing update committed at %X/%X carries only the replica identity's columns, not the pipeline's keys.",
						   LSN_FORMAT_ARGS(d->txn_end)),
				 errhint("Restore the source's replica identity, then start the pipeline over with SELECT incr_reset(%s);",
						 quote_literal_cstr(d->p->name))));
}

/* Refuse a change of the source before its relation message (cannot happen with pgoutput). */
static void
need_relation(WalDecoder *d)
{
	if (!d->have_rel)
		elog(ERROR, "change of pipeline \"%s\" decoded before its relation message", d->p->name);
}

/* Read one pgoutput message from ctx->out into the raw store. */
static void
wal_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
	WalDecoder *d = (WalDecoder *) ctx->output_writer_private;
	StringInfoData s;
	MemoryContext old = MemoryContextSwitchTo(d->change_cxt);
	char		action;

	s.data = ctx->out->data;
	s.len = ctx->out->len;
	s.maxlen = ctx->out->maxlen;
	s.cursor = 0;
	action = pq_getmsgbyte(&s);
	switch (action)
	{
		case LOGICAL_REP_MSG_RELATION:
			{
				LogicalRepRelation *rel = logicalrep_read_rel(&s);

				if (rel->remoteid == d->p->source)
				{
					MemoryContextSwitchTo(old);
					read_relation(d, rel);
				}
				break;
			}
		case LOGICAL_REP_MSG_INSERT:
			{
				LogicalRepTupleData row;

				if (logicalrep_read_insert(&s, &row) != d->p->source)
					break;
				need_relation(d);
				add_change(d, 'I', &row, NULL);
				break;
			}
		case LOGICAL_REP_MSG_UPDATE:
			{
				LogicalRepTupleData row;
				LogicalRepTupleData oldrow;
				bool		has_old;

				if (logicalrep_read_update(&s, &has_old, &oldrow, &row) != d->p->source)
					break;
				need_relation(d);
				if (has_old)
					need_keys(d);
				add_change(d, 'U', &row, has_old ? &oldrow : NULL);
				break;
			}
		case LOGICAL_REP_MSG_DELETE:
			{
				LogicalRepTupleData oldrow;

				if (logicalrep_read_delete(&s, &oldrow) != d->p->source)
					break;
				need_relation(d);
				need_keys(d);
				add_change(d, 'D', &oldrow, NULL);
				break;
			}
		case LOGICAL_REP_MSG_TRUNCATE:
			{
				bool		cascade;
				bool		restart;
				List	   *relids = logicalrep_read_truncate(&s, &cascade, &restart);

				if (list_member_oid(relids, d->p->source))
					add_change(d, 'T', NULL, NULL);
				break;
			}
		default:
			/* begin, commit, types, origins, messages: nothing to keep */
			break;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(d->change_cxt);
}

/*
 * Append the descriptor's columns of a wal run's changes (mode.h): the
 * meta columns, the old keys, the shape's columns; values of the target
 * columns' types, or all text for the raw store.
 */
static TupleDesc
changes_desc(PipelineShape *shape, int nkeys, bool as_text)
{
	int			ncols = list_length(shape->columns);
	TupleDesc	desc = CreateTemplateTupleDesc(5 + nkeys + ncols);
	ListCell   *lc;
	int			k = 0;
	int			i = 0;

	TupleDescInitEntry(desc, 1, "_incr_seq", INT8OID, -1, 0);
	TupleDescInitEntry(desc, 2, "_incr_op", CHAROID, -1, 0);
	TupleDescInitEntry(desc, 3, "_incr_lsn", PG_LSNOID, -1, 0);
	TupleDescInitEntry(desc, 4, "_incr_commit_time", TIMESTAMPTZOID, -1, 0);
	TupleDescInitEntry(desc, 5, "_incr_unchanged", TEXTARRAYOID, -1, 0);
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
		{
			TupleDescInitEntry(desc, 6 + k, psprintf("_incr_old_%s", col->name),
							   as_text ? TEXTOID : col->target_type,
							   as_text ? -1 : col->target_typmod, 0);
			k++;
		}
	}
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		TupleDescInitEntry(desc, 6 + nkeys + i, col->name,
						   as_text ? TEXTOID : col->target_type,
						   as_text ? -1 : col->target_typmod, 0);
		i++;
	}
	return desc;
}

/* Count the key columns of the shape. */
static int
count_keys(PipelineShape *shape)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, shape->columns)
		if (((ColumnMap *) lfirst(lc))->is_key)
			n++;
	return n;
}

/*
 * Decode the slot's changes of the source from the checkpoint up to upto
 * into d->raw.  Returns where reading stopped.  The slot is held only
 * while decoding, and confirmed up to the committed checkpoint first.
 */
static XLogRecPtr
decode_changes(WalDecoder *d, XLogRecPtr upto)
{
	LogicalDecodingContext *volatile ctx = NULL;
	LogicalDecodingContext *done;
	XLogRecPtr	end = InvalidXLogRecPtr;
	List	   *options;

	options = list_make2(makeDefElem("proto_version", (Node *) makeString("1"), -1),
						 makeDefElem("publication_names",
									 (Node *) makeString(pstrdup(quote_identifier(d->p->wal_slot))), -1));

	ReplicationSlotAcquire(d->p->wal_slot, true);
	PG_TRY();
	{
		/*
		 * What the committed checkpoint holds is done: the slot may let it
		 * go.  Not a checkpoint this transaction wrote (a second run in one
		 * transaction): confirming cannot be rolled back, and after a
		 * rollback the slot would no longer give the changes between the
		 * committed checkpoint and this one.
		 */
		if (d->checkpoint_committed &&
			d->checkpoint > MyReplicationSlot->data.confirmed_flush)
		{
			LogicalConfirmReceivedLocation(d->checkpoint);
			ReplicationSlotMarkDirty();
		}
		ctx = CreateDecodingContext(d->checkpoint, options, false,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									wal_prepare_write, wal_write, NULL);
		ctx->output_writer_private = d;
		/* pgoutput's callbacks, behind ours that skip what is applied already */
		d->plugin = ctx->callbacks;
		ctx->callbacks.begin_cb = wal_begin;
		ctx->callbacks.change_cb = wal_change;
		ctx->callbacks.truncate_cb = wal_truncate;
		ctx->callbacks.commit_cb = wal_commit;

		XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
		InvalidateSystemCaches();
		while (ctx->reader->EndRecPtr < upto && !d->done)
		{
			XLogRecord *record;
			char	   *errm = NULL;

			record = XLogReadRecord(ctx->reader, &errm);
			if (errm)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not read the WAL of wal pipeline \"%s\": %s", d->p->name, errm)));
			if (record != NULL)
				LogicalDecodingProcessRecord(ctx, ctx->reader);
			CHECK_FOR_INTERRUPTS();
		}
		end = ctx->reader->EndRecPtr;
		done = ctx;
		ctx = NULL;
		FreeDecodingContext(done);
		ReplicationSlotRelease();
		InvalidateSystemCaches();
	}
	PG_CATCH();
	{
		/* its reader holds a WAL segment's file open, which nothing else closes */
		if (ctx != NULL)
			FreeDecodingContext(ctx);
		if (MyReplicationSlot != NULL)
			ReplicationSlotRelease();
		InvalidateSystemCaches();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return end;
}

/* Convert the raw changes (text) into the changes' store, through the target types' input functions. */
static Tuplestorestate *
convert_changes(WalDecoder *d, TupleDesc desc)
{
	Tuplestorestate *store = tuplestore_begin_heap(false, false, work_mem);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(d->raw_desc, &TTSOpsMinimalTuple);
	int			natts = desc->natts;
	FmgrInfo   *in = palloc0(sizeof(FmgrInfo) * natts);
	Oid		   *ioparam = palloc0(sizeof(Oid) * natts);
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "wal row",
												  ALLOCSET_DEFAULT_SIZES);

	for (int a = 5; a < natts; a++)
	{
		Oid			func;

		getTypeInputInfo(TupleDescAttr(desc, a)->atttypid, &func, &ioparam[a]);
		fmgr_info(func, &in[a]);
	}
	tuplestore_rescan(d->raw);
	while (tuplestore_gettupleslot(d->raw, true, false, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		slot_getallattrs(slot);
		for (int a = 0; a < natts; a++)
		{
			nulls[a] = slot->tts_isnull[a];
			values[a] = slot->tts_values[a];
			if (a >= 5 && !nulls[a])
				values[a] = InputFunctionCall(&in[a], TextDatumGetCString(values[a]), ioparam[a],
											  TupleDescAttr(desc, a)->atttypmod);
		}
		tuplestore_putvalues(store, desc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(d->raw);
	d->raw = NULL;
	return store;
}

/* Register the changes as the ephemeral named relation the run statement reads. */
static void
register_changes(Tuplestorestate *store, TupleDesc desc)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	enr->md.name = WAL_CHANGES_RELATION;
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(store);
	enr->reldata = store;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "could not register the changes of a wal run");
}

/* ---------- runs ---------- */

/*
 * The first run's copy of the source's rows, shaped as 'I' changes (mode.h),
 * for the mode's statement to read in the place of the decoded changes.
 */
static char *
copy_changes_sql(Pipeline *p, PipelineShape *shape, XLogRecPtr lsn)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "(SELECT pg_catalog.row_number() OVER () AS _incr_seq,"
					 " CAST('I' AS pg_catalog.\"char\") AS _incr_op,"
					 " CAST('%X/%X' AS pg_catalog.pg_lsn) AS _incr_lsn,"
					 " pg_catalog.statement_timestamp() AS _incr_commit_time,"
					 " CAST(NULL AS pg_catalog.text[]) AS _incr_unchanged",
					 LSN_FORMAT_ARGS(lsn));
	foreach(lc, shape->columns)
	{
		ColumnMap  *col = (ColumnMap *) lfirst(lc);

		if (col->is_key)
			appendStringInfo(&buf, ", CAST(NULL AS %s) AS %s", sql_target_type(col),
							 quote_identifier(psprintf("_incr_old_%s", col->name)));
	}
	appendStringInfoString(&buf, ", ");
	sql_source_exprs(&buf, shape->columns, true);
	appendStringInfo(&buf, " FROM %s AS s)", shape->source_sql);
	return buf.data;
}

/* Build the mode's wal statement over a FROM item. */
static char *
build_wal_sql(Pipeline *p, PipelineShape *shape, const char *changes)
{
	BuildContext ctx = {.run_tokens = RunTokensSupported(), .wal_changes = changes};
	StringInfoData buf;

	initStringInfo(&buf);
	shape->tombstones = TOMBSTONES_OFF;
	ModeOf(p)->build_wal(&buf, &ctx, p, shape);
	return buf.data;
}

/* Return the text of a snapshot as pg_snapshot writes it (full transaction ids). */
static char *
snapshot_text(Snapshot snap)
{
	StringInfoData buf;
	uint64	   *xip = palloc(sizeof(uint64) * (snap->xcnt + 1));
	int			n = 0;

	for (uint32 i = 0; i < snap->xcnt; i++)
		xip[n++] = full_xid(snap->xip[i]);
	/* pg_snapshot's input wants them in order, without duplicates */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && xip[j - 1] > xip[j]; j--)
		{
			uint64		t = xip[j];

			xip[j] = xip[j - 1];
			xip[j - 1] = t;
		}
	initStringInfo(&buf);
	appendStringInfo(&buf, UINT64_FORMAT ":" UINT64_FORMAT ":",
					 full_xid(snap->xmin), full_xid(snap->xmax));
	for (int i = 0; i < n; i++)
		if (i == 0 || xip[i] != xip[i - 1])
			appendStringInfo(&buf, "%s" UINT64_FORMAT, i ? "," : "", xip[i]);
	return buf.data;
}

/* Execute the run's statement (ExecuteCountsStatement) with the wal run's parameters. */
static void
execute_counts(const char *sql, Snapshot snap, RunWindow *w, int64 *counts)
{
	Oid			types[RUN_SQL_NPARAMS] = {PG_LSNOID, PG_LSNOID, PG_LSNOID, INT8OID};
	Datum		values[RUN_SQL_NPARAMS] = {w->lower, w->upper, w->checkpoint, Int64GetDatum(0)};

	ExecuteCountsStatement(sql, types, values, snap, counts);
}

/* Fill the run's record from the counts of its statement. */
static void
record_counts(RunRecord *rec, int64 read, int64 *counts)
{
	rec->rows_read = read;
	rec->rows_inserted = counts[0];
	rec->rows_updated = counts[1];
	rec->rows_deleted = counts[2];
	rec->rows_unchanged = Max(read - counts[0] - counts[1] - counts[2], 0);
	rec->rows_in_window = read;
	rec->rows_affected = counts[0] + counts[1] + counts[2];
	rec->rows_window_known = true;
}

/* Put the window in the run's history, so that a failed run shows it too. */
static void
record_window(Pipeline *p, RunRecord *rec, RunResult *res, const char *sql, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	res->sql = pstrdup(sql);
	rec->window_from = CursorValueOut(p, res->window.lower);
	rec->window_to = CursorValueOut(p, res->window.upper);
	MemoryContextSwitchTo(old);
}

/*
 * The first run: copy the source's rows with a snapshot taken now (after the
 * slot's consistent point), record the snapshot and the WAL position after
 * it, and start the checkpoint at the slot's position.
 */
static void
copy_source(Pipeline *p, PipelineShape *shape, RunRecord *rec, RunResult *res,
			MemoryContext cxt, XLogRecPtr slot_lsn)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	XLogRecPtr	copy_lsn = GetXLogInsertRecPtr();
	char	   *sql = build_wal_sql(p, shape, copy_changes_sql(p, shape, copy_lsn));
	int64		counts[RUN_SQL_NCOUNTS];
	int64		read;
	int			ret;

	res->window.lower = LSNGetDatum(slot_lsn);
	res->window.upper = LSNGetDatum(copy_lsn);
	res->window.checkpoint = LSNGetDatum(slot_lsn);
	res->window.upper_reason = "the first run copies the table";
	record_window(p, rec, res, sql, cxt);

	/* the rows read: the copy's rows, counted in the same snapshot */
	ret = SPI_execute_snapshot(SPI_prepare(psprintf("SELECT pg_catalog.count(*) FROM %s",
													shape->source_sql), 0, NULL),
							   NULL, NULL, snap, InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows of the source (SPI result %d)", ret);
	{
		bool		isnull;

		read = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	execute_counts(sql, snap, &res->window, counts);
	record_counts(rec, read, counts);
	StoreWalCopy(p, snapshot_text(snap), LSNGetDatum(copy_lsn));
	UnregisterSnapshot(snap);

	res->moved = true;
	res->new_checkpoint = LSNGetDatum(slot_lsn);
}

/* Build the decoder of a run. */
static WalDecoder *
new_decoder(Pipeline *p, PipelineShape *shape, XLogRecPtr checkpoint)
{
	WalDecoder *d = palloc0(sizeof(WalDecoder));
	char	   *snapshot;
	Datum		copy_lsn;

	d->p = p;
	d->shape = shape;
	d->nkeys = count_keys(shape);
	d->ncols = list_length(shape->columns);
	d->raw_desc = changes_desc(shape, d->nkeys, true);
	d->raw = tuplestore_begin_heap(false, false, work_mem);
	d->change_cxt = AllocSetContextCreate(CurrentMemoryContext, "wal change",
										  ALLOCSET_DEFAULT_SIZES);
	d->colpos = palloc0(sizeof(int) * (d->ncols + 1));
	d->keypos = palloc0(sizeof(int) * (d->nkeys + 1));
	d->checkpoint = checkpoint;
	d->checkpoint_committed = !CheckpointWrittenHere(p);
	if (ReadWalCopy(p, &snapshot, &copy_lsn) && DatumGetLSN(copy_lsn) > checkpoint)
	{
		d->has_copy = true;
		d->copy_lsn = DatumGetLSN(copy_lsn);
		parse_copy_snapshot(d, snapshot);
	}
	return d;
}

/*
 * Pin the settings that shape values as text, as the apply worker does:
 * pgoutput writes each value with its type's output function, and the run
 * reads it back with the input function.  extra_float_digits below 1 would
 * round floats; DateStyle and IntervalStyle must read back what they wrote.
 * Returns the GUC nest level to pop (an error pops it with the transaction).
 */
static int
pin_value_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Execute a run of a wal pipeline: the first copies the table; the others
 * decode the changes from the checkpoint up to the WAL flushed now (or the
 * first batch_size changes, to a commit) and apply them with the mode's
 * statement.
 */
static void
wal_execute(const RunRequest *req, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
			RunRecord *rec, RunResult *res, MemoryContext cxt)
{
	XLogRecPtr	confirmed;
	XLogRecPtr	checkpoint;
	XLogRecPtr	upto = GetFlushRecPtr(NULL);
	XLogRecPtr	end;
	WalDecoder *d;
	TupleDesc	desc;
	Tuplestorestate *store;
	char	   *sql;
	int64		counts[RUN_SQL_NCOUNTS];
	int			nestlevel;

	memset(&res->window, 0, sizeof(RunWindow));
	/* as the owner: what the owner's SELECT could not see, decoding must not give */
	refuse_unprepared_first_run(p, cp);
	refuse_owner_without_wal_role(p, "run");
	confirmed = check_slot(p);
	refuse_row_security(p, p->source);
	recheck_source(p);
	check_publication(p);
	if (cp->isnull)
	{
		copy_source(p, shape, rec, res, cxt, confirmed);
		return;
	}
	checkpoint = DatumGetLSN(cp->value);
	res->window.lower = cp->value;
	res->window.checkpoint = cp->value;
	res->window.upper = LSNGetDatum(Max(upto, checkpoint));
	res->window.upper_reason = "WAL flushed when the run started";
	sql = build_wal_sql(p, shape, WAL_CHANGES_RELATION);
	record_window(p, rec, res, sql, cxt);

	d = new_decoder(p, shape, checkpoint);
	nestlevel = pin_value_settings();
	end = decode_changes(d, upto);
	desc = changes_desc(shape, d->nkeys, false);
	store = convert_changes(d, desc);
	AtEOXact_GUC(true, nestlevel);

	if (d->seq > 0)
	{
		register_changes(store, desc);
		execute_counts(sql, NULL, &res->window, counts);
		SPI_unregister_relation(WAL_CHANGES_RELATION);
	}
	else
		memset(counts, 0, sizeof(counts));
	record_counts(rec, d->seq, counts);
	tuplestore_end(store);

	/*
	 * A full batch ends at its last commit; else everything up to where
	 * reading stopped is done.  Without changes, the checkpoint moves only
	 * a segment at a time, so that an idle pipeline does not write its
	 * checkpoint (and WAL to decode) at every run, yet lets its slot free WAL.
	 */
	if (d->done)
		end = d->last_commit_end;
	else if (d->seq == 0 && end - checkpoint < (XLogRecPtr) wal_segment_size)
		end = checkpoint;
	res->moved = end > checkpoint;
	res->new_checkpoint = LSNGetDatum(end);
	if (d->done)
	{
		res->window.upper = LSNGetDatum(end);
		res->window.upper_reason = "batch_size changes, to the end of a transaction";
		MemoryContextSwitchTo(cxt);
		rec->window_to = CursorValueOut(p, res->window.upper);
	}
	/* past the copy's position its snapshot decides nothing */
	if (d->has_copy && end >= d->copy_lsn)
		StoreWalCopy(p, NULL, (Datum) 0);
}

/* incr_plan of a wal pipeline: the LSN window of the next run and its statement. */
static void
wal_plan(StringInfo buf, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
		 MemoryContext cxt)
{
	XLogRecPtr	upto = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetFlushRecPtr(NULL);
	char	   *sql;

	if (cp->isnull)
		sql = build_wal_sql(p, shape, copy_changes_sql(p, shape, upto));
	else
		sql = build_wal_sql(p, shape, WAL_CHANGES_RELATION);
	MemoryContextSwitchTo(cxt);
	appendStringInfo(buf, "-- pipeline %s: %s from %s into %s, capture wal (slot and publication %s)\n",
					 SqlCommentSafe(quote_identifier(p->name)), PipelineModeName(p->mode),
					 SqlCommentSafe(shape->source_sql), SqlCommentSafe(shape->target_sql),
					 SqlCommentSafe(p->wal_slot));
	if (cp->isnull)
		appendStringInfo(buf, "-- no checkpoint yet: the next run creates the slot if missing and copies the table's rows as inserts (WAL now at %X/%X)\n",
						 LSN_FORMAT_ARGS(upto));
	else
	{
		appendStringInfo(buf, "-- $1 from LSN, exclusive: %s (checkpoint: the end of the last change applied)\n",
						 CursorValueOut(p, cp->value));
		appendStringInfo(buf, "-- $2 up to LSN: %X/%X (WAL flushed now%s)\n", LSN_FORMAT_ARGS(upto),
						 p->batch_size > 0 ? psprintf(", or the commit after " INT64_FORMAT " changes", p->batch_size) : "");
		appendStringInfo(buf, "-- %s: the changes decoded from the slot in that window, one row each\n",
						 WAL_CHANGES_RELATION);
	}
	appendStringInfoString(buf, sql);
	while (buf->len > 0 && isspace((unsigned char) buf->data[buf->len - 1]))
		buf->data[--buf->len] = '\0';
	appendStringInfoChar(buf, ';');
}

/* A wal pipeline re-reads nothing by value: its backfill is incr_reset. */
static void
wal_refuse_backfill(Pipeline *p)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("wal pipeline \"%s\" cannot be backfilled", p->name),
			 errdetail("Its changes are read once from its replication slot; there is no range of values to read again."),
			 errhint("To load the table again, start over with SELECT incr_reset(%s);",
					 quote_literal_cstr(p->name))));
}

const SourceKind source_wal = {
	.name = "wal",
	.prepare = wal_prepare,
	.execute = wal_execute,
	.plan = wal_plan,
	.refuse_backfill = wal_refuse_backfill,
};

/*
 * _incr_wal_slot(name): the slot of a wal pipeline, the WAL it retains
 * (bytes from its restart position to the WAL written now) and its state as
 * pg_replication_slots.wal_status names it (reserved, extended, unreserved,
 * lost), or 'missing'; NULLs for other pipelines and for callers who may not
 * act on the pipeline.  For incr_status.
 */
Datum
incremental_wal_slot(PG_FUNCTION_ARGS)
{
	Pipeline   *p = LoadPipeline(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, true, false};
	ReplicationSlot *s;
	bool		found = false;
	XLogRecPtr	restart = InvalidXLogRecPtr;
	const char *status;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!PipelineIsWal(p) || p->wal_slot == NULL ||
		!has_privs_of_role(GetUserId(), p->owner))
		PG_RETURN_NULL();
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	s = SearchNamedReplicationSlot(p->wal_slot, false);
	if (s != NULL)
	{
		found = true;
		SpinLockAcquire(&s->mutex);
		restart = s->data.restart_lsn;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);

	if (!found)
		status = "missing";
	else
	{
		switch (GetWALAvailability(restart))
		{
			case WALAVAIL_RESERVED:
				status = "reserved";
				break;
			case WALAVAIL_EXTENDED:
				status = "extended";
				break;
			case WALAVAIL_UNRESERVED:
				status = "unreserved";
				break;
			default:
				status = "lost";
				break;
		}
	}
	if (found && restart != InvalidXLogRecPtr)
	{
		XLogRecPtr	now = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetXLogWriteRecPtr();

		values[1] = DirectFunctionCall1(int8_numeric,
										Int64GetDatum(now > restart ? (int64) (now - restart) : 0));
		nulls[1] = false;
	}
	values[0] = CStringGetTextDatum(p->wal_slot);
	values[2] = CStringGetTextDatum(status);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
