/*
 * plan.h
 *		Building the SQL a run executes.  Every statement that touches a
 *		pipeline's source or target is written in plan.c and nowhere else.
 */
#ifndef INCREMENTAL_PLAN_H
#define INCREMENTAL_PLAN_H

#include "incremental.h"
#include "pipeline.h"

/*
 * The parameters of a run statement, the first three of the cursor's type:
 *   $1  lower bound of the window, inclusive (re-reads ties and the lag)
 *   $2  upper bound of the window, inclusive
 *   $3  the checkpoint the window starts from
 *   $4  the run's token (int8), for _incr_tally and _incr_count_update
 *       (unused in a database at 0.1 or 0.2, which has no tokens)
 * It returns one row: rows inserted, updated, deleted, and late (written rows
 * at or below the checkpoint; NULL when the target has no cursor column).
 * Or, when RunSqlReturnsRows, it is one INSERT that returns a row for each
 * row it writes: inserted (else updated), deleted, and late (NULL when the
 * target has no cursor column), for the caller to count.
 * When the shape's tombstones are not TOMBSTONES_OFF, the row of counts has
 * four more columns: the keys (jsonb[]) the run's deletes leave tombstones
 * for and their versions (an array of the cursor's type), and the keys
 * written again past their tombstone and their versions (RecordTombstones).
 */
#define RUN_SQL_NPARAMS 4
#define RUN_SQL_NCOUNTS 4

extern bool RunTokensSupported(void);
extern bool RunSqlReturnsRows(Pipeline *pipeline);
extern bool PipelineKeepsTombstones(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildRunSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildCopySql(Pipeline *pipeline, const char *target_sql, const char *path);
extern char *BuildWindowCountSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildMaxCursorSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildTargetMaxSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildBatchEndSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildBatchPrevSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildExpectedSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildPendingSql(Pipeline *pipeline, const char *source_sql,
							 bool from_start);

#endif							/* INCREMENTAL_PLAN_H */
