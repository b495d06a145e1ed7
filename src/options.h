/*
 * options.h
 *		The options some modes take: one table says how each is passed to
 *		incr_create_pipeline, which modes take it, and where Pipeline keeps it.
 */
#ifndef INCREMENTAL_OPTIONS_H
#define INCREMENTAL_OPTIONS_H

#include "fmgr.h"

#include "incremental.h"

extern void ReadPipelineOptions(FunctionCallInfo fcinfo, Pipeline *pipeline);
extern void RefuseOptions(Pipeline *pipeline);
extern char *PipelineOptionsJson(Pipeline *pipeline);
extern void LoadPipelineOptions(Pipeline *pipeline, Jsonb *options);

#endif							/* INCREMENTAL_OPTIONS_H */
