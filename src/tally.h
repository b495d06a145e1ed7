/*
 * tally.h
 *		The row tally of the runs in progress: rows read and the greatest
 *		cursor value, counted by _incr_tally inside the run's statement.
 */
#ifndef INCREMENTAL_TALLY_H
#define INCREMENTAL_TALLY_H

#include "fmgr.h"

#include "incremental.h"

/*
 * What _incr_tally counts while a run statement executes: rows read, and the
 * greatest cursor value read.  Each run has its own, on the stack of runs in
 * progress: a run started from inside another (a trigger on its target)
 * pushes its own and pops it when it ends or fails, so it never touches the
 * counts of the run that contains it.  A run draws a random token and passes
 * it to the statement as $4; _incr_tally counts only for the innermost run,
 * and only when it is called with that run's token, so no other SQL (a
 * source view, a function, a trigger) can forge counts or the checkpoint:
 * it cannot know the token.
 */
typedef struct Tally
{
	struct Tally *outer;		/* the run this one is nested in, or NULL */
	int64		token;			/* the run's token; unused when legacy */
	bool		legacy;			/* a database at 0.1 or 0.2: no tokens */
	int64		count;
	bool		has_max;
	Datum		max;
	Oid			type;			/* the cursor's type (a base type) */
	bool		typbyval;
	int16		typlen;
	FmgrInfo	cmp;
	MemoryContext cxt;
	int64		updates;		/* _incr_count_update: rows an upsert updated */
} Tally;

extern void TallyPush(Tally *t, Pipeline *pipeline, bool legacy, MemoryContext cxt);
extern Tally *TallyInnermost(void);
extern void TallyRestore(Tally *outer);

#endif							/* INCREMENTAL_TALLY_H */
