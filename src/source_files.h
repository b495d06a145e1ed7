/*
 * source_files.h
 *		Files pipelines: finding the files of a pattern that are new or
 *		changed, and checking that a file did not change while it loaded.
 */
#ifndef INCREMENTAL_SOURCE_FILES_H
#define INCREMENTAL_SOURCE_FILES_H

#include "catalog.h"
#include "incremental.h"
#include "source.h"
#include "utils/relcache.h"

/* An entry of copy_options: an option with its value, or a list of columns. */
typedef struct CopyOption
{
	char	   *name;
	bool		columns;		/* takes column names: names, else value */
	char	   *value;
	List	   *names;
} CopyOption;

extern void CheckFilesPattern(Pipeline *pipeline);
extern void CheckFilesPrivilege(Pipeline *pipeline);
extern List *CopyOptionList(Pipeline *pipeline);
extern void CheckCopyOptions(Pipeline *pipeline, Relation target);

#endif							/* INCREMENTAL_SOURCE_FILES_H */
