/*
 * source.c
 *		The table of source kinds, and which one a pipeline reads: the one
 *		its mode names (ModeOps.source), or wal when it captures the WAL.
 */
#include "postgres.h"

#include "mode.h"
#include "source.h"

/* One entry per SourceKindId. */
static const SourceKind *const source_table[] = {
	[SOURCE_CURSOR] = &source_cursor,
	[SOURCE_FILES] = &source_files,
	[SOURCE_WAL] = &source_wal,
};

/* Return the source kind the pipeline reads: its mode's, or wal for capture => 'wal'. */
const SourceKind *
SourceKindOf(Pipeline *p)
{
	SourceKindId id = PipelineIsWal(p) ? SOURCE_WAL : ModeOf(p)->source;

	if ((int) id < 0 || id >= lengthof(source_table) || source_table[id] == NULL)
		elog(ERROR, "unknown source kind %d", (int) id);
	return source_table[id];
}
