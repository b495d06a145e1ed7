/*
 * pipeline.h
 *		Defining pipelines (pipeline.c): the warnings incr_plan also gives.
 */
#ifndef INCREMENTAL_PIPELINE_H
#define INCREMENTAL_PIPELINE_H

#include "incremental.h"

extern void WarnInclusiveLowerBound(Pipeline *pipeline);
extern void WarnScheduleNotRunning(Pipeline *pipeline);

#endif							/* INCREMENTAL_PIPELINE_H */
