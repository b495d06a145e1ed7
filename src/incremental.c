/*
 * incremental.c
 *		What every other file uses: the mode names, the extension's schema,
 *		the safe_upper_bound GUC's variable (registered in init.c), and the
 *		rollback of a subtransaction that failed.
 */
#include "postgres.h"

#include "catalog/dependency.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "incremental.h"

/* incremental.safe_upper_bound: bound each window by in-flight writers. */
bool		incr_safe_upper_bound = true;

static const char *const mode_names[] = {
	[MODE_APPEND] = "append",
	[MODE_MERGE] = "merge",
	[MODE_CDC] = "cdc",
	[MODE_SCD2] = "scd2",
	[MODE_QUERY] = "query",
	[MODE_FILES] = "files",
};

/* Return the catalog name of a mode. */
const char *
PipelineModeName(PipelineMode mode)
{
	return mode_names[mode];
}

/* Look a mode up by its catalog name; false if there is none. */
bool
PipelineModeFromName(const char *name, PipelineMode *mode)
{
	for (int i = 0; i < lengthof(mode_names); i++)
	{
		if (strcmp(mode_names[i], name) == 0)
		{
			*mode = (PipelineMode) i;
			return true;
		}
	}
	return false;
}

/* The extension's schema, looked up once per transaction. */
static LocalTransactionId schema_lxid = InvalidLocalTransactionId;
static Oid	schema_oid = InvalidOid;
static Oid	extension_oid = InvalidOid;
static char schema_quoted[NAMEDATALEN * 2 + 3];

/*
 * Look the extension's schema up, unless this transaction did already.  A
 * run asks for it several times; once per transaction is enough (the
 * extension is not relocatable, so only a DROP and CREATE EXTENSION could
 * move it).
 */
static void
lookup_extension_schema(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			schema = InvalidOid;
	Oid			extension = InvalidOid;

	if (schema_lxid == MyProc->lxid && schema_lxid != InvalidLocalTransactionId)
		return;

	/* one scan by name (PostgreSQL 15 does not export get_extension_schema()) */
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("incremental"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		extension = ((Form_pg_extension) GETSTRUCT(tup))->oid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(schema))
	{
		/* not there: the error get_extension_oid gives */
		(void) get_extension_oid("incremental", false);
		elog(ERROR, "extension \"incremental\" has no schema");
	}
	strlcpy(schema_quoted, quote_identifier(get_namespace_name(schema)),
			sizeof(schema_quoted));
	schema_oid = schema;
	extension_oid = extension;
	schema_lxid = MyProc->lxid;
}

/* Return the extension's schema name, quoted for use in SQL. */
const char *
ExtensionSchemaQuoted(void)
{
	lookup_extension_schema();
	return pstrdup(schema_quoted);
}

/*
 * True if an object found by name in the extension's schema is a member of
 * the extension, not a look-alike someone with CREATE there made (objects
 * that only a newer version creates are missing from a database not yet
 * updated).  The answers are remembered for the transaction: a run asks for
 * the same two objects several times, and each answer is a pg_depend scan.
 */
bool
ExtensionOwnsObject(Oid classid, Oid objid)
{
	static LocalTransactionId memo_lxid = InvalidLocalTransactionId;
	static struct
	{
		Oid			classid;
		Oid			objid;
		bool		owned;
	}			memo[4];
	static int	nmemo = 0;
	bool		owned;

	if (!OidIsValid(objid))
		return false;
	lookup_extension_schema();
	if (memo_lxid != MyProc->lxid)
	{
		memo_lxid = MyProc->lxid;
		nmemo = 0;
	}
	for (int i = 0; i < nmemo; i++)
		if (memo[i].classid == classid && memo[i].objid == objid)
			return memo[i].owned;
	owned = getExtensionOfObject(classid, objid) == extension_oid;
	if (nmemo < lengthof(memo))
	{
		memo[nmemo].classid = classid;
		memo[nmemo].objid = objid;
		memo[nmemo].owned = owned;
		nmemo++;
	}
	return owned;
}

/* Return the OID of the extension's schema. */
Oid
ExtensionSchemaOid(void)
{
	lookup_extension_schema();
	return schema_oid;
}

/*
 * Return the OID of the extension itself, looked up now: not the one
 * remembered for the transaction, which a DROP and CREATE EXTENSION in it
 * would leave stale (a dependency recorded on it would name no extension).
 */
Oid
ExtensionOid(void)
{
	return get_extension_oid("incremental", false);
}

/*
 * In the PG_CATCH of a block started with BeginInternalSubTransaction in
 * memory context cxt under resource owner owner: copy the error into cxt,
 * roll the subtransaction back, and return the error, for the caller to
 * record, rethrow or drop (FreeErrorData).
 */
ErrorData *
RollbackSubTransactionError(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}
