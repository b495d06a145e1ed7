/*
 * run.h
 *		Running a pipeline once (run.c) and recording a failed run so that
 *		the record outlives the rollback (recorder.c).
 */
#ifndef INCREMENTAL_RUN_H
#define INCREMENTAL_RUN_H

#include "catalog.h"
#include "describe.h"
#include "source.h"

/* A failed run handed back to a caller that records it itself (the scheduler). */
typedef struct RunFailure
{
	MemoryContext cxt;			/* where to copy the record; survives the abort */
	bool		filled;
	int64		run_id;
	RunRecord	record;
} RunFailure;

/* What a caller of ExecuteRun may want beyond the incr_runs row. */
typedef struct RunOutcome
{
	RunRecord	record;
	bool		moved;			/* the checkpoint moved */
	char	   *checkpoint;		/* the checkpoint after the run, as text; NULL if none */
	bool		idle;			/* it ran, moved nothing and wrote nothing */
} RunOutcome;

/*
 * Who ran before BeginAsOwner, and the settings level it opened, for
 * EndAsOwner to restore.
 */
typedef struct AsOwner
{
	Oid			save_userid;
	int			save_sec_context;
	int			nestlevel;
} AsOwner;

extern void BeginAsOwner(Pipeline *pipeline, AsOwner *as);
extern void EndAsOwner(AsOwner *as);
extern PipelineShape *DescribeForRun(Pipeline *pipeline);
extern Datum ExecuteRun(RunRequest *req, RunOutcome *outcome);
extern void RecordFailedRun(int64 run_id, RunRecord *run);

#endif							/* INCREMENTAL_RUN_H */
