/*
 * citus.h
 *		Pipelines over Citus tables: telling them apart, and what a run over
 *		them needs besides its statement (doc/citus.md).
 */
#ifndef INCREMENTAL_CITUS_H
#define INCREMENTAL_CITUS_H

#include "incremental.h"

/* How Citus holds a relation. */
typedef enum CitusKind
{
	CITUS_NONE,					/* not a Citus table, or Citus not installed */
	CITUS_DISTRIBUTED,			/* hash- or range-distributed */
	CITUS_REFERENCE,			/* replicated to every node */
	CITUS_OTHER					/* a Citus local table, append-distributed... */
} CitusKind;

extern CitusKind CitusRelationKind(Oid relid);
extern bool RelationIsCitusTable(Oid relid);
extern bool PipelineOverCitus(Pipeline *pipeline);
extern void CheckCitusPipeline(Pipeline *pipeline);
extern bool CitusOldestOpenTransaction(Oid relid, TimestampTz *start, char **where);
extern void CitusWaitForWriters(Pipeline *pipeline);

#endif							/* INCREMENTAL_CITUS_H */
