/*
 * keptplan.c
 *		Plans kept across runs in the session, most recently used first: a
 *		run that finds little to do spends most of its time parsing and
 *		planning its statements, so they are prepared once and kept.
 *
 * A run may start inside another (a trigger on a target, or a function of a
 * source view, can call incr_run), and the inner run looks up, replaces and
 * pushes out entries of the same lists.  So an entry whose plan is executing
 * is counted (KeptPlanBeginUse) and never freed under its run: one replaced
 * or pushed out meanwhile is only marked dropped, and freed when its last
 * use ends (KeptPlanEndUse).  The plan cache takes care of the relations,
 * privileges and settings under each plan.
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "keptplan.h"

/* True if entry is the one sought: by name and which, or by text and type. */
static bool
kept_plan_matches(KeptPlan *entry, const char *name, int which, const char *sql, Oid type)
{
	if (name != NULL)
		return entry->name != NULL && entry->which == which &&
			strcmp(entry->name, name) == 0;
	return entry->name == NULL && entry->type == type && strcmp(entry->sql, sql) == 0;
}

/* Free an entry that is out of its list, now or when its last use ends. */
void
KeptPlanDrop(KeptPlan *entry)
{
	entry->dropped = true;
	if (entry->use_count > 0)
		return;
	if (entry->plan)
		SPI_freeplan(entry->plan);
	pfree(entry->sql);
	if (entry->name)
		pfree(entry->name);
	pfree(entry);
}

/*
 * Return the entry of the statement sql, moved to the front of plans, or a
 * new one (zeroed, with no plan yet; *created set, if given) when there is none or a
 * named entry had another text or type.  Entries past plans->max that are
 * not in use are pushed out, least recently used first.
 */
KeptPlan *
KeptPlanGet(KeptPlans *plans, const char *name, int which, const char *sql,
			Oid type, bool *created)
{
	ListCell   *lc;
	KeptPlan   *entry = NULL;
	MemoryContext old;

	foreach(lc, plans->entries)
	{
		KeptPlan   *e = (KeptPlan *) lfirst(lc);

		if (kept_plan_matches(e, name, which, sql, type))
		{
			entry = e;
			plans->entries = foreach_delete_current(plans->entries, lc);
			break;
		}
	}
	if (entry && (entry->type != type || strcmp(entry->sql, sql) != 0))
	{
		KeptPlanDrop(entry);
		entry = NULL;
	}
	if (created)
		*created = (entry == NULL);
	if (entry == NULL)
	{
		entry = MemoryContextAllocZero(TopMemoryContext, plans->entry_size);
		entry->name = name ? MemoryContextStrdup(TopMemoryContext, name) : NULL;
		entry->which = which;
		entry->sql = MemoryContextStrdup(TopMemoryContext, sql);
		entry->type = type;
	}
	/* push out the least recently used entries no run is executing */
	for (int i = list_length(plans->entries) - 1;
		 i >= 0 && list_length(plans->entries) >= plans->max; i--)
	{
		KeptPlan   *e = (KeptPlan *) list_nth(plans->entries, i);

		if (e->use_count == 0)
		{
			plans->entries = list_delete_nth_cell(plans->entries, i);
			KeptPlanDrop(e);
		}
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	plans->entries = lcons(entry, plans->entries);
	MemoryContextSwitchTo(old);
	return entry;
}

/* Count a use of the entry's plan: it is not freed until the use ends. */
void
KeptPlanBeginUse(KeptPlan *entry)
{
	entry->use_count++;
}

/* End a use of the entry's plan; free the entry if it was dropped meanwhile. */
void
KeptPlanEndUse(KeptPlan *entry)
{
	entry->use_count--;
	if (entry->dropped)
		KeptPlanDrop(entry);
}
