/*
 * window.h
 *		The window of cursor values a run processes: from the checkpoint (less
 *		the lag) to a safe upper bound, cut at the batch size.
 */
#ifndef INCREMENTAL_WINDOW_H
#define INCREMENTAL_WINDOW_H

#include "catalog.h"
#include "cursor.h"
#include "incremental.h"
#include "pipeline.h"

/*
 * Bounds are values of the cursor type.  An unbounded side holds the type's
 * least or greatest value (-infinity for timestamps, dates and numeric), so
 * that every run statement has the same parameters.
 */
typedef struct RunWindow
{
	Datum		lower;			/* inclusive */
	Datum		upper;			/* inclusive */
	Datum		checkpoint;		/* the checkpoint, or the least value if none */
	bool		lower_unbounded;
	bool		upper_unbounded;
	char	   *upper_reason;	/* what set the upper bound, for incr_plan */
	bool		empty;			/* the source has no cursor value at all */
} RunWindow;

extern void ComputeRunWindow(Pipeline *pipeline, PipelineShape *shape,
							 Checkpoint *checkpoint, bool wait_for_writers,
							 RunWindow *window);
extern void ComputeBackfillWindow(Pipeline *pipeline, PipelineShape *shape,
								  Checkpoint *checkpoint, Datum from, Datum to,
								  bool batched, RunWindow *window);
extern char *BuildPendingSql(Pipeline *pipeline, const char *source_sql,
							 bool from_start);
extern bool SourceIsSubscribed(Oid source);
extern void CheckXid8FromThisCluster(Pipeline *pipeline, char source_relkind,
									 Datum value, const char *what);

#endif							/* INCREMENTAL_WINDOW_H */
