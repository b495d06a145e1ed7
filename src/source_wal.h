/*
 * source_wal.h
 *		The wal source kind (source_wal.c): what defining, dropping and
 *		resetting a wal pipeline (capture => 'wal') need of it.
 */
#ifndef INCREMENTAL_SOURCE_WAL_H
#define INCREMENTAL_SOURCE_WAL_H

#include "catalog.h"
#include "incremental.h"

extern void WalCheckDefinition(Pipeline *pipeline, bool cursor_given);
extern char *WalNewSlotName(void);
extern void WalCreatePublication(Pipeline *pipeline);
extern void WalDropPipeline(Pipeline *pipeline);
extern void WalResetPipeline(Pipeline *pipeline, Checkpoint *to);

#endif							/* INCREMENTAL_SOURCE_WAL_H */
