/*
 * statement.h
 *		Executing a run statement over a window (statement.c).
 */
#ifndef INCREMENTAL_STATEMENT_H
#define INCREMENTAL_STATEMENT_H

#include "source.h"
#include "utils/snapshot.h"

extern void ExecuteRunStatement(const RunRequest *req, Pipeline *pipeline,
								PipelineShape *shape, const char *sql, Checkpoint *cp,
								RunRecord *rec, RunResult *res, MemoryContext cxt);
extern bool CursorIsKey(Pipeline *pipeline);
extern bool LoadedBoundReadsTarget(Pipeline *pipeline, PipelineShape *shape);
extern void ExecuteCountsStatement(const char *sql, Oid *types, Datum *values,
								   Snapshot snap, int64 *counts);

#endif							/* INCREMENTAL_STATEMENT_H */
