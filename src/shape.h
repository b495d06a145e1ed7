/*
 * shape.h
 *		The shape of a pipeline's relations as DescribePipeline (describe.c)
 *		found them: what the statement builders and the source kinds need.
 */
#ifndef INCREMENTAL_SHAPE_H
#define INCREMENTAL_SHAPE_H

#include "incremental.h"

/* A column loaded from the source into the target (same name in both). */
typedef struct ColumnMap
{
	char	   *name;			/* unquoted */
	Oid			source_type;
	int32		source_typmod;
	Oid			target_type;
	int32		target_typmod;
	bool		is_key;
	char	   *eq_operator;	/* keys: OPERATOR(schema.=) of the key index */
	char	   *key_collate;	/* keys: " COLLATE schema.name" of the key index, or "" */
	bool		key_nulls_equal;	/* keys: nullable, under a NULLS NOT DISTINCT index */
	bool		key_exact;		/* keys: the index's = is equality of the printed value */
} ColumnMap;

/*
 * What a run does with incr_tombstones (TombstoneUseFor, mode.c): nothing
 * (the mode keeps no versions of deleted keys, or the catalog predates the
 * table), record the keys it deletes, or also skip upserts they forbid.
 */
typedef enum TombstoneUse
{
	TOMBSTONES_OFF,
	TOMBSTONES_RECORD,
	TOMBSTONES_CHECK
} TombstoneUse;

/* What a run needs to know about the source and target, checked (describe.c). */
typedef struct PipelineShape
{
	char	   *source_sql;		/* quoted, schema-qualified */
	char	   *target_sql;
	char		source_relkind;
	List	   *columns;		/* ColumnMap *, in target column order */
	bool		target_has_cursor;	/* same name and base type as the source's */
	bool		source_unique_on_keys;	/* a unique index proves no duplicates */
	bool		source_has_cursor_index;
	bool		overriding_system_value;	/* an identity ALWAYS column is loaded */
	bool		target_partitioned;	/* RETURNING cannot read xmax: count updates apart */
	bool		target_has_triggers;	/* user triggers: a run's statements fire them */
	Oid			key_index;		/* the target's unique index on the keys */
	bool		valid_from_not_null;	/* scd2: the target's valid_from column is NOT NULL */
	bool		json_layout;	/* cdc: rows come from jsonb change events */
	bool		delete_is_bool;	/* delete_column is boolean (else: non-NULL deletes) */
	TombstoneUse tombstones;	/* set by the run (TombstoneUseFor), OFF from DescribePipeline */
	List	   *source_columns; /* the source's columns (char *) as found, when compared */
	List	   *source_types;	/* and their types, as text (format_type) */

	/*
	 * Source columns on_schema_change add_columns adds to the target
	 * (ColumnMap *, source types only).  Under DESCRIBE_FOR_RUN the shape
	 * is then incomplete: the run adds them and describes again (run.c).
	 */
	List	   *added_columns;

	/*
	 * Set by a run over Citus whose window holds what only the mode's one
	 * statement does (ModeOps.build_unsplit: a cdc truncate): the run then
	 * executes that statement, not build_first's and build_run's.
	 */
	bool		one_statement;
} PipelineShape;

#endif							/* INCREMENTAL_SHAPE_H */
