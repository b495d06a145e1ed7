/*
 * cursor.h
 *		The cursor types: one table row per type, with its extremes, its safe
 *		upper bound and how incr_checkpoints keeps its values.
 */
#ifndef INCREMENTAL_CURSOR_H
#define INCREMENTAL_CURSOR_H

#include "incremental.h"

/* How a run bounds a window of a cursor type (see source_cursor.c). */
typedef enum CursorBound
{
	BOUND_OLDEST_TRANSACTION_START, /* filled by now(): start of the oldest open transaction */
	BOUND_GREATEST_AFTER_WRITERS,	/* filled by sequences: greatest value, then wait */
	BOUND_OLDEST_XID,			/* filled by pg_current_xact_id(): the snapshot's xmin */
	BOUND_WAL_FLUSH				/* capture => 'wal': the WAL flushed (source_wal.c) */
} CursorBound;

/* One cursor type: what the window, the catalog and incr_status know of it. */
typedef struct CursorType
{
	Oid			typid;
	CursorKind	kind;
	int			checkpoint_column;	/* 1-based among incr_checkpoints' value columns */
	const char *checkpoint_column_name;
	bool		takes_lag;		/* a lag can be subtracted from its values */
	CursorBound bound;
	const char *bound_name;		/* the safe bound, as incr_status names it */
	Datum		(*extreme) (bool greatest);
	Datum		(*greatest_finite) (void);	/* NULL: extreme(true) */
	bool		(*is_finite) (Datum value); /* NULL: every value is */
	Datum		(*predecessor) (Datum value);	/* NULL: none, the value itself */
	Datum		(*minus_lag) (Datum value, Interval *lag);	/* when takes_lag */
	Datum		(*from_time) (TimestampTz t);	/* BOUND_OLDEST_TRANSACTION_START */
	bool		checkpoint_through_text;	/* SQL casts it via text (xid8 to numeric) */
	Datum		(*to_checkpoint) (Datum value); /* NULL: kept as itself */
	Datum		(*from_checkpoint) (Datum stored);	/* NULL: kept as itself */
} CursorType;

extern const CursorType *CursorTypeFor(Oid typid);
extern bool CursorKindFromType(Oid typid, CursorKind *kind);
extern const CursorType *PipelineCursor(Pipeline *pipeline);

extern Datum CursorLeast(Pipeline *pipeline);
extern Datum CursorGreatestFinite(Pipeline *pipeline);
extern bool CursorIsFinite(Pipeline *pipeline, Datum value);
extern Datum CursorPredecessor(Pipeline *pipeline, Datum value);
extern Datum CursorLowerBound(Pipeline *pipeline, Datum checkpoint);
extern Datum CursorFromTime(Pipeline *pipeline, TimestampTz t);
extern bool CursorLessThan(Pipeline *pipeline, Datum a, Datum b);
extern char *CursorValueOut(Pipeline *pipeline, Datum value);
extern Datum CursorValueIn(Pipeline *pipeline, const char *text);

extern int	CursorCheckpointColumn(Pipeline *pipeline);
extern Datum CursorToCheckpoint(Pipeline *pipeline, Datum value);
extern Datum CursorFromCheckpoint(Pipeline *pipeline, Datum stored);
extern char *CursorCheckpointExpr(Pipeline *pipeline, const char *alias);

#endif							/* INCREMENTAL_CURSOR_H */
