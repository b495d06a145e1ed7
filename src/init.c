/*
 * init.c
 *		Module entry point: the magic block and _PG_init, which registers the
 *		GUCs and the scheduler.  Nothing calls into this file, so the
 *		registration adds no circle to the layering of the others.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "incremental.h"
#include "scheduler.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Register the GUCs, and the scheduler's launcher when preloaded. */
void
_PG_init(void)
{
	DefineCustomBoolVariable("incremental.safe_upper_bound",
							 "Bounds each run's window so that rows still being "
							 "written by open transactions are not skipped.",
							 "Turn off only to measure what the bound costs or "
							 "to show what it prevents; runs can then lose rows.",
							 &incr_safe_upper_bound,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	SchedulerInit();
	MarkGUCPrefixReserved("incremental");
}
