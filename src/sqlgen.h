/*
 * sqlgen.h
 *		The pieces every run statement is built from (sqlgen.c): column
 *		lists, key matches, the window and its tally, upserts, tombstones.
 */
#ifndef INCREMENTAL_SQLGEN_H
#define INCREMENTAL_SQLGEN_H

#include "lib/stringinfo.h"

#include "shape.h"
#include "incremental.h"

/*
 * What a statement is built for, passed to every builder that writes a
 * call of the extension's counting functions.
 */
typedef struct BuildContext
{
	bool		run_tokens;		/* pass the run's token $4 (a database at 0.3) */
	bool		omit_tally;		/* count nothing (incr_verify's expected rows) */

	/*
	 * The statement is for a pipeline over Citus tables (PipelineOverCitus).
	 * Its parameters are then cast to their types, since a worker parses the
	 * text Citus sends it without them, and it calls no _incr_tally, which
	 * cannot count on a worker: the run counts the window with
	 * SqlWindowCount instead.
	 */
	bool		citus;

	/*
	 * A run over Citus whose INSERT Citus executes in two steps, the rows
	 * collected on the coordinator, then inserted from there: it sends that
	 * INSERT, with its RETURNING, without the statement's parameters, so
	 * RETURNING cannot compare with the checkpoint $3, and the late rows are
	 * not known.  That is a target distributed or replicated by Citus fed
	 * from a table of another kind, or by a keyless append (its EXCEPT ALL
	 * is not pushed down).
	 */
	bool		late_unknown;

	/*
	 * A run over Citus into a hash-distributed target, which a run split in
	 * two statements can delete from with a join of the source: Citus
	 * refuses such a DELETE of a table of the coordinator.
	 */
	bool		citus_distributed_target;

	/*
	 * A wal statement (ModeOps.build_wal) reads its changes from this FROM
	 * item, with the columns mode.h gives for WAL_CHANGES_RELATION: that
	 * relation's name for a run over decoded changes, or a parenthesised
	 * SELECT of the source's rows as 'I' changes for the first run's copy of
	 * the table.  Builders write "FROM <wal_changes> AS c" and nothing else
	 * of where changes come from.
	 */
	const char *wal_changes;
} BuildContext;

/* Which columns sql_columns writes. */
typedef enum ColumnFilter
{
	ALL_COLUMNS,
	NON_KEY_COLUMNS,
	KEY_COLUMNS
} ColumnFilter;

/* The final SELECT's columns after the counts: tomb's and revived's keys and versions. */
extern const char *const SqlTombstoneColumns;

extern void sql_columns(StringInfo buf, List *columns, const char *prefix,
						ColumnFilter filter);
extern bool sql_has_columns(List *columns, ColumnFilter filter);
extern void sql_key_match(StringInfo buf, List *columns, const char *left,
						  const char *right);
extern void sql_key_groups(StringInfo buf, List *columns, const char *prefix);
extern char *sql_target_type(ColumnMap *col);
extern void sql_source_expr(StringInfo buf, ColumnMap *col);
extern void sql_source_exprs(StringInfo buf, List *columns, bool with_names);
extern char *sql_param(const BuildContext *ctx, Pipeline *p, int n);
extern void sql_cursor_cmp(StringInfo buf, const BuildContext *ctx, const char *alias,
						   Pipeline *p, const char *op, int param);
extern void sql_tally(StringInfo buf, const BuildContext *ctx, Pipeline *p);
extern void sql_window(StringInfo buf, const BuildContext *ctx, Pipeline *p);
extern char *sql_delete_expr(Pipeline *p, PipelineShape *shape);
extern void sql_keyed_source(StringInfo buf, const BuildContext *ctx, Pipeline *p,
							 PipelineShape *shape, bool latest_wins, List *extras);
extern void sql_insert_head(StringInfo buf, PipelineShape *shape,
							const char *extra_column);
extern void sql_row_changed(StringInfo buf, List *columns, const char *extra_column,
							const char *left, const char *right);
extern void sql_upsert(StringInfo buf, const BuildContext *ctx, PipelineShape *shape,
					   const char *guard, const char *extra_column, const char *live);
extern const char *sql_inserted_expr(PipelineShape *shape);
extern char *sql_late_expr(const BuildContext *ctx, Pipeline *p, PipelineShape *shape);
extern void sql_count_late(StringInfo buf, const BuildContext *ctx, PipelineShape *shape);
extern void sql_key_json(StringInfo buf, List *columns, const char *alias);
extern void sql_tombstone_exists(StringInfo buf, Pipeline *p, PipelineShape *shape,
								 const char *alias, bool any_key, const char *op);
extern void sql_tombstone_ctes(StringInfo buf, Pipeline *p, PipelineShape *shape,
							   const char *is_delete, const char *version_column,
							   const char *truncate);
extern void sql_latest_rows(StringInfo buf, const BuildContext *ctx, Pipeline *p,
							PipelineShape *shape, bool with_cursor);
/* A FROM item "b" with the values a change c left out, from the target (sql_wal_filled). */
typedef void (*WalFallback) (StringInfo buf, Pipeline *p, PipelineShape *shape);

extern bool sql_wal_fillable(ColumnMap *col);
extern void sql_wal_key_before_match(StringInfo buf, List *columns, const char *left,
									 const char *alias);
extern void sql_wal_op_is(StringInfo buf, const char *alias, char op);
extern void sql_wal_filled(StringInfo buf, const BuildContext *ctx, Pipeline *p,
						   PipelineShape *shape, const char *extra, WalFallback fallback);
extern char *SqlCommentSafe(const char *text);
extern char *SqlAddColumn(const char *target_sql, ColumnMap *col);
extern char *SqlWindowCount(Pipeline *p, PipelineShape *shape, const char *extra);

#endif							/* INCREMENTAL_SQLGEN_H */
