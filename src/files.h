/*
 * files.h
 *		Files pipelines: finding the files of a pattern that are new or
 *		changed, and checking that a file did not change while it loaded.
 */
#ifndef INCREMENTAL_FILES_H
#define INCREMENTAL_FILES_H

#include "catalog.h"
#include "incremental.h"
#include "utils/relcache.h"

/* An entry of copy_options: an option with its value, or a list of columns. */
typedef struct CopyOption
{
	char	   *name;
	bool		columns;		/* takes column names: names, else value */
	char	   *value;
	List	   *names;
} CopyOption;

/* The files a run of a files pipeline loads, and what it leaves. */
typedef struct FileWindow
{
	TimestampTz listed_at;		/* when the folder was read */
	bool		settle;			/* files modified after settled_before wait */
	TimestampTz settled_before; /* listed_at less the lag */
	List	   *load;			/* FileEntry *, oldest first */
	List	   *touched;		/* FileEntry *: modified, but content as loaded */
	int			unchanged;		/* files loaded before and not modified */
	int			settling;		/* modified within the lag */
	int			held_back;		/* left for the next run by batch_size */
} FileWindow;

extern void CheckFilesPattern(Pipeline *pipeline);
extern void CheckFilesPrivilege(Pipeline *pipeline);
extern List *CopyOptionList(Pipeline *pipeline);
extern void CheckCopyOptions(Pipeline *pipeline, Relation target);
extern void ComputeFileWindow(Pipeline *pipeline, FileWindow *window);
extern char *BuildCopySql(Pipeline *pipeline, const char *target_sql, const char *path);
extern void CheckFileUnchanged(Pipeline *pipeline, FileEntry *file);

#endif							/* INCREMENTAL_FILES_H */
