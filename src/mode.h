/*
 * mode.h
 *		The modes: what a run does to the target with the changes it reads.
 *		One ModeOps per mode (mode_*.c), found through one table (mode.c).
 */
#ifndef INCREMENTAL_MODE_H
#define INCREMENTAL_MODE_H

#include "lib/stringinfo.h"

#include "incremental.h"
#include "shape.h"
#include "sqlgen.h"

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
 * target has no cursor column), for the caller to count; and it may return
 * a fourth column, superseded, true for a row it updates only to make room
 * for one it inserts (scd2 closing a version for the next): the two count
 * as one update.
 * When the shape's tombstones are not TOMBSTONES_OFF, the row of counts has
 * four more columns: the keys (jsonb[]) the run's deletes leave tombstones
 * for and their versions (an array of the cursor's type), and the keys
 * written again past their tombstone and their versions (RecordTombstones).
 */
#define RUN_SQL_NPARAMS 4
#define RUN_SQL_NCOUNTS 4

/* The source kinds; which one a pipeline reads is its mode's (ModeOps.source). */
typedef enum SourceKindId
{
	SOURCE_CURSOR,				/* a relation and a growing column (source_cursor.c) */
	SOURCE_FILES,				/* a folder of files (source_files.c) */
	SOURCE_WAL					/* a table's changes decoded from the WAL
								 * (source_wal.c), for capture => 'wal' */
} SourceKindId;

/*
 * The changes of a wal run (capture => 'wal'), as the run statement reads
 * them: the ephemeral named relation WAL_CHANGES_RELATION, registered with
 * SPI for the run's statement only (no SQL-callable function hands changes
 * out), one row per change the window holds, in this column order:
 *
 *   _incr_seq         int8         1, 2, ...: commit order, then the order
 *                                  of the changes in their transaction
 *   _incr_op          "char"       'I' insert, 'U' update, 'D' delete,
 *                                  'T' truncate of the source
 *   _incr_lsn         pg_lsn       end of the commit record of the change's
 *                                  transaction (the checkpoint's unit)
 *   _incr_commit_time timestamptz  commit time of that transaction
 *   _incr_unchanged   text[]       the columns (target names) whose values
 *                                  the change did not carry (an unchanged
 *                                  TOAST value), to be kept as the key had
 *                                  them; NULL when there are none
 *   _incr_old_<key>   per key column, the key's type: the old key of an
 *                                  update that changed the key, else NULL
 *   then the shape's columns (source columns the target has, by name), of
 *   the target columns' types, converted by their input functions: the new
 *   row for 'I' and 'U', the old row for 'D' (only the key unless the source
 *   has REPLICA IDENTITY FULL), all NULL for 'T'.
 *
 * A ModeOps.build_wal statement reads it and returns one row of counts like
 * any run statement (RUN_SQL_NCOUNTS; late is NULL).
 */
#define WAL_CHANGES_RELATION "_incr_changes"

/* Build a mode's statement (a run's, or incr_verify's expected rows). */
typedef void (*ModeBuilder) (StringInfo buf, const BuildContext *ctx,
							 Pipeline *p, PipelineShape *shape);

/* A mode: its statement builders and what the run driver must know of it. */
typedef struct ModeOps
{
	SourceKindId source;		/* the source kind its pipelines read */

	/*
	 * The statement runs the user's command, with $1 the window's start
	 * (exclusive) and $2 its end: it counts nothing itself, and its window
	 * ends below the safe bound, at a value of the source.
	 */
	bool		user_statement;
	ModeBuilder build_run;		/* NULL: the source kind builds its own (files) */

	/*
	 * The statements to run before build_run's, in order (a List of char *),
	 * over the same window and parameters, each returning a row per row it
	 * writes as a RunSqlReturnsRows statement does; build_run's then returns
	 * rows too.  Each sees what the ones before it wrote.  NIL when the run
	 * needs none.  For a run over Citus, where statements that each go to
	 * the shards beat one of CTEs that goes through the coordinator.  NULL:
	 * never.
	 */
	List	   *(*build_first) (const BuildContext *ctx, Pipeline *p, PipelineShape *shape);

	/*
	 * Where build_first splits a run over Citus: an output column to add to
	 * the window's count (SqlWindowCount), an aggregate over its source rows
	 * s that Citus computes on the shards, greater than zero when the window
	 * needs the mode's one statement instead (PipelineShape.one_statement),
	 * executed through the coordinator; nothing when the run is not split.
	 * unsplit_what says of which windows, for incr_plan.  NULL: never.
	 */
	ModeBuilder build_unsplit;
	const char *unsplit_what;
	ModeBuilder build_expected; /* NULL: incr_verify cannot check the mode */
	ModeBuilder build_wal;		/* the statement over WAL_CHANGES_RELATION;
								 * NULL: the mode refuses capture => 'wal' */
	bool		(*returns_rows) (const BuildContext *ctx, Pipeline *p,
								 PipelineShape *shape);	/* NULL: never (RunSqlReturnsRows) */
	bool		(*keeps_tombstones) (Pipeline *p, PipelineShape *shape);	/* NULL: never */
	bool		late_without_cursor;	/* its statements tell late rows without
										 * the cursor column in the target (scd2:
										 * valid_from); otherwise rows_late is NULL
										 * there */
	bool		(*target_max_loaded) (Pipeline *p); /* rows up to the target's greatest
													 * cursor count as loaded; NULL: no */

	/*
	 * The run's new rows, past the checkpoint $3 up to $2, as a plain INSERT
	 * (no ON CONFLICT, no RETURNING: it counts what SPI_processed says), for
	 * a pipeline whose new rows cannot collide with rows it wrote
	 * (plain_new_rows); the run statement then covers $1 to $3 only.  See
	 * ExecuteRunStatement for what happens when they collide all the same.
	 * NULL: never.
	 */
	ModeBuilder build_run_new;
	bool		(*plain_new_rows) (Pipeline *p, PipelineShape *shape);
} ModeOps;

extern const ModeOps mode_append;
extern const ModeOps mode_merge;
extern const ModeOps mode_cdc;
extern const ModeOps mode_scd2;
extern const ModeOps mode_query;

extern const ModeOps *ModeOf(Pipeline *pipeline);
extern bool RunTokensSupported(void);
extern bool RunSqlReturnsRows(Pipeline *pipeline, PipelineShape *shape);
extern TombstoneUse TombstoneUseFor(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildRunSql(Pipeline *pipeline, PipelineShape *shape);
extern List *BuildRunFirstSqls(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildRunNewSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildWindowCountSql(Pipeline *pipeline, PipelineShape *shape);
extern char *BuildExpectedSql(Pipeline *pipeline, PipelineShape *shape);

#endif							/* INCREMENTAL_MODE_H */
