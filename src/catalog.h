/*
 * catalog.h
 *		Reading and writing incr_pipelines, incr_checkpoints, incr_runs,
 *		incr_files and incr_tombstones.
 */
#ifndef INCREMENTAL_CATALOG_H
#define INCREMENTAL_CATALOG_H

#include "incremental.h"

#include "access/htup.h"
#include "datatype/timestamp.h"

/* A checkpoint: a value of the pipeline's cursor type, or none yet. */
typedef struct Checkpoint
{
	bool		isnull;
	Datum		value;
} Checkpoint;

/* How ReadCheckpoint locks the checkpoint row, which is the pipeline lock. */
typedef enum CheckpointLock
{
	CHECKPOINT_NO_LOCK,
	CHECKPOINT_LOCK_WAIT,
	CHECKPOINT_LOCK_NOWAIT
} CheckpointLock;

/* One row of incr_runs, as a run fills it in. */
typedef struct RunRecord
{
	const char *pipeline;
	Oid			owner;			/* the pipeline's owner, whose roles may read the row */
	const char *trigger;		/* manual, scheduler, pg_cron, backfill, catch_up */
	TimestampTz started_at;
	TimestampTz finished_at;
	char	   *window_from;	/* NULL when unbounded */
	char	   *window_to;
	int64		rows_read;
	int64		rows_inserted;
	int64		rows_updated;
	int64		rows_deleted;
	int64		rows_unchanged;
	int64		rows_late;		/* written rows at or below the checkpoint */
	bool		rows_late_known;	/* false: rows_late is NULL */
	const char *status;			/* ok, error, skipped */
	char	   *error;
	char	   *sqlstate;		/* of a failed run's error */
	char	   *detail;			/* its DETAIL */
	int64		rows_in_window; /* source rows in the window */
	int64		rows_affected;	/* rows the statement wrote */
	bool		rows_window_known;	/* false: both are NULL */
} RunRecord;

/* A file of a files pipeline: as found in its folder, or as incr_files has it. */
typedef struct FileEntry
{
	char	   *path;
	int64		size;
	TimestampTz modified_at;
	char	   *checksum;		/* SHA-256 in hex; NULL until the file is read */
	bool		changed;		/* loaded before, with other content */
	int64		rows;			/* rows its COPY loaded */
	int64		run_id;			/* incr_files: the run that loaded it */
	struct FileEntry *loaded;	/* found: its incr_files row, if any */
} FileEntry;

extern void RefuseOnStandby(const char *action, const char *name);
extern Pipeline *LoadPipeline(const char *name);
extern bool PipelineExists(const char *name);
extern void CheckPipelineOwner(Pipeline *pipeline);
extern void CheckPipelineOwnerExists(Pipeline *pipeline);
extern Datum InsertPipeline(Pipeline *pipeline, Interval *schedule);
extern void DeletePipeline(const char *name);
extern void SetPipelineEnabled(const char *name, bool enabled);
extern void SetPipelineSchedule(const char *name, Interval *schedule);
extern void StoreSourceColumns(Pipeline *pipeline);
extern bool DropCronJob(const char *name);
extern char *CronJobCommand(const char *name);
extern bool HasCronJob(const char *name);
extern bool PipelineScheduled(const char *name);
extern char *CronSchemaQuoted(void);

extern bool ReadCheckpoint(Pipeline *pipeline, CheckpointLock lock,
						   Checkpoint *checkpoint);
extern void StoreCheckpoint(Pipeline *pipeline, Checkpoint *checkpoint, int64 run_id);

extern List *LoadedFiles(Pipeline *pipeline, List *paths);
extern void RecordFiles(Pipeline *pipeline, int64 run_id, List *loaded, List *touched);
extern void ForgetFiles(Pipeline *pipeline, Checkpoint *after);

extern bool TombstonesKept(void);
extern bool HasTombstones(Pipeline *pipeline);
extern void RecordTombstones(Pipeline *pipeline, int64 run_id, Datum keys, Datum versions,
							 Datum revived, Datum revived_versions);
extern void ForgetTombstones(Pipeline *pipeline, Checkpoint *after);

extern List *WalSlotNames(void);
extern bool CheckpointWrittenHere(Pipeline *pipeline);
extern bool ReadWalCopy(Pipeline *pipeline, char **snapshot, Datum *lsn);
extern void StoreWalCopy(Pipeline *pipeline, const char *snapshot, Datum lsn);

extern int64 NextRunId(void);
extern Datum InsertRun(int64 run_id, RunRecord *run);
extern int64 PruneRuns(Interval *older_than, bool all_owners);

#endif							/* INCREMENTAL_CATALOG_H */
