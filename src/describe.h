/*
 * describe.h
 *		Checking a pipeline against its relations, at creation, before every
 *		run, and for incr_plan and incr_verify (describe.c).
 */
#ifndef INCREMENTAL_DESCRIBE_H
#define INCREMENTAL_DESCRIBE_H

#include "incremental.h"
#include "shape.h"

/* Why a pipeline is described: creation records, a run may adapt, a plan only looks. */
typedef enum DescribeFor
{
	DESCRIBE_FOR_CREATE,
	DESCRIBE_FOR_RUN,
	DESCRIBE_FOR_PLAN
} DescribeFor;

extern PipelineShape *DescribePipeline(Pipeline *pipeline, DescribeFor purpose);
extern void ReadCursorType(Pipeline *pipeline);

#endif							/* INCREMENTAL_DESCRIBE_H */
