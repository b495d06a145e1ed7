/*
 * source.h
 *		The source kinds: how a run learns what changed and where its
 *		checkpoint is.  One SourceKind per kind (source_*.c), one table
 *		(source.c); the run driver (run.c) calls them through it.
 */
#ifndef INCREMENTAL_SOURCE_H
#define INCREMENTAL_SOURCE_H

#include "lib/stringinfo.h"

#include "catalog.h"
#include "incremental.h"
#include "shape.h"

/* What to run: a normal run, or a backfill of [from_value, to_value]. */
typedef struct RunRequest
{
	const char *name;
	const char *trigger;		/* manual, scheduler, backfill, catch_up */
	bool		repeats;		/* the session runs the pipeline again: remembers
								 * collisions (the scheduler's worker,
								 * incr_catch_up) */
	bool		wait;			/* wait for a run in progress, or skip */
	bool		backfill;
	bool		batched;		/* backfill: one batch_size batch from from_value */
	const char *from_value;		/* backfill bounds, as text of the cursor type */
	const char *to_value;
	bool		quiet_when_idle;	/* record nothing for a run that did nothing */
	struct RunFailure *failure; /* if set, hand a failed run back, unrecorded */
} RunRequest;

/*
 * The window of a run: a range of values of the checkpoint's type (cursor
 * values; a wal kind would use pg_lsn).  An unbounded side holds the type's
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

/* What the part of a run that executes as the owner leaves for the driver. */
typedef struct RunResult
{
	RunWindow	window;
	bool		moved;			/* a value past the checkpoint was read */
	Datum		new_checkpoint;
	List	   *files_loaded;	/* files: FileEntry * loaded, for incr_files */
	List	   *files_touched;	/* files: FileEntry * with a new mtime only */
	Datum		tombstones[4];	/* keys deleted, versions, keys revived, versions */
	char	   *sql;			/* the run's statement, to keep it out of an error's context */
	List	   *first_sqls;		/* statements before it (BuildRunFirstSqls), or NIL */
} RunResult;

/*
 * A source kind.  execute and plan run as the pipeline's owner, connected
 * to SPI (BeginAsOwner); what must outlive SPI goes to cxt.
 */
typedef struct SourceKind
{
	const char *name;

	/*
	 * Before the run's first write (its checkpoint lock), as the caller,
	 * with the checkpoint read unlocked; NULL: nothing to do.  The wal kind
	 * creates its slot here, which a transaction that has written cannot.
	 */
	void		(*prepare) (Pipeline *p, Checkpoint *cp);

	/* Compute the run's window, execute its statements, fill in the counts. */
	void		(*execute) (const RunRequest *req, Pipeline *p, PipelineShape *shape,
							Checkpoint *cp, RunRecord *rec, RunResult *res,
							MemoryContext cxt);

	/* Write incr_plan's text: the window and the statements of the next run. */
	void		(*plan) (StringInfo buf, Pipeline *p, PipelineShape *shape,
						 Checkpoint *cp, MemoryContext cxt);

	/* Record what a run consumed besides the checkpoint; NULL: nothing. */
	void		(*record) (Pipeline *p, int64 run_id, RunResult *res);

	/* Refuse a backfill of the pipeline; NULL: the kind takes backfills. */
	void		(*refuse_backfill) (Pipeline *p);

	/* A failed run's history keeps the error's context (which file). */
	bool		error_context;
} SourceKind;

extern const SourceKind source_cursor;
extern const SourceKind source_files;
extern const SourceKind source_wal;

extern const SourceKind *SourceKindOf(Pipeline *pipeline);

#endif							/* INCREMENTAL_SOURCE_H */
