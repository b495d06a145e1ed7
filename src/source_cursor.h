/*
 * source_cursor.h
 *		The cursor source kind (source_cursor.c): a relation and a growing
 *		column; its window runs from the checkpoint (less the lag) to a safe
 *		upper bound, cut at the batch size.
 */
#ifndef INCREMENTAL_SOURCE_CURSOR_H
#define INCREMENTAL_SOURCE_CURSOR_H

#include "catalog.h"
#include "cursor.h"
#include "incremental.h"
#include "shape.h"
#include "source.h"

extern char *BuildPendingSql(Pipeline *pipeline, const char *source_sql,
							 bool from_start);
extern char *BuildPastCheckpointSql(Pipeline *pipeline, const char *source_sql,
									bool from_start);
extern bool SourceIsSubscribed(Oid source);
extern void CheckXid8FromThisCluster(Pipeline *pipeline, char source_relkind,
									 Datum value, const char *what);

#endif							/* INCREMENTAL_SOURCE_CURSOR_H */
