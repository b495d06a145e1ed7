/*
 * keptplan.h
 *		Plans kept across runs in the session, most recently used first, each
 *		list with its maximum (keptplan.c): the run statements (statement.c)
 *		and the window queries (source_cursor.c).
 */
#ifndef INCREMENTAL_KEPTPLAN_H
#define INCREMENTAL_KEPTPLAN_H

#include "executor/spi.h"
#include "nodes/pg_list.h"

/*
 * The head of an entry; a cache with fields of its own embeds it as its
 * first member.  An entry with a name is found by its name and which, and
 * replaced when its text or type changed; one without a name is found by
 * its text and type.
 */
typedef struct KeptPlan
{
	char	   *name;			/* e.g. the pipeline's, or NULL */
	int			which;			/* which of the name's statements */
	char	   *sql;
	Oid			type;			/* the parameters' type */
	SPIPlanPtr	plan;			/* kept (SPI_keepplan); NULL until prepared */
	int			use_count;		/* executions of the plan under way */
	bool		dropped;		/* out of its list: free when unused */
} KeptPlan;

/* A list of kept plans, of entries of entry_size bytes, up to about max. */
typedef struct KeptPlans
{
	List	   *entries;		/* most recently used first */
	int			max;
	Size		entry_size;
} KeptPlans;

extern KeptPlan *KeptPlanGet(KeptPlans *plans, const char *name, int which,
							 const char *sql, Oid type, bool *created);
extern void KeptPlanBeginUse(KeptPlan *entry);
extern void KeptPlanEndUse(KeptPlan *entry);
extern void KeptPlanDrop(KeptPlan *entry);

#endif							/* INCREMENTAL_KEPTPLAN_H */
