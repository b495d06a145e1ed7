/*
 * mode_query.c
 *		The query mode: the user's command is the run statement, with $1 the
 *		window's start (exclusive) and $2 its end (checked in describe.c).
 */
#include "postgres.h"

#include "mode.h"

/* The run statement is the user's command as it is. */
static void
build_query(StringInfo buf, const BuildContext *ctx, Pipeline *p, PipelineShape *shape)
{
	appendStringInfoString(buf, p->command);
}

const ModeOps mode_query = {
	.source = SOURCE_CURSOR,
	.user_statement = true,
	.build_run = build_query,
};
