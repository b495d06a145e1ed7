/*
 * incremental.h
 *		Types shared by the concerns of the extension: a pipeline's definition,
 *		its cursor kind, and the GUCs.
 */
#ifndef INCREMENTAL_H
#define INCREMENTAL_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

/* How a run writes the target. */
typedef enum PipelineMode
{
	MODE_APPEND,
	MODE_MERGE,
	MODE_CDC,
	MODE_SCD2,
	MODE_QUERY,
	MODE_FILES
} PipelineMode;

/* The families of cursor types; each has its own checkpoint column. */
typedef enum CursorKind
{
	CURSOR_TIMESTAMPTZ,
	CURSOR_TIMESTAMP,
	CURSOR_DATE,
	CURSOR_INTEGER,				/* smallint, integer, bigint */
	CURSOR_NUMERIC,
	CURSOR_XID8,				/* transaction ids: DEFAULT pg_current_xact_id() */
	CURSOR_LSN					/* capture => 'wal': positions in the WAL */
} CursorKind;

/* A pipeline as stored in incr_pipelines. */
typedef struct Pipeline
{
	char	   *name;
	Oid			source;			/* InvalidOid for a files pipeline */
	Oid			target;
	char	   *cursor_column;	/* NULL for a files or wal pipeline */
	Oid			cursor_type;	/* type of the cursor column in the source;
								 * timestamptz for files: their mtime */
	CursorKind	cursor_kind;
	PipelineMode mode;
	List	   *keys;			/* key column names (char *), may be NIL */
	Interval   *lag;			/* NULL when the pipeline has no lag */
	int64		batch_size;		/* 0 when unlimited */
	bool		enabled;
	Oid			owner;

	/* options of some modes (incr_pipelines.options); NULL when not set */
	char	   *delete_column;	/* merge, scd2: source column marking deletes */
	bool		soft_delete;	/* merge: keep deleted rows, flagged */
	char	   *payload_column;	/* cdc: Debezium envelope (jsonb) */
	char	   *op_column;		/* cdc: flat layout, the operation */
	char	   *after_column;	/* cdc: flat layout, after image (jsonb) */
	char	   *before_column;	/* cdc: flat layout, before image (jsonb) */
	char	   *version_column;	/* cdc: target column that keeps the event cursor */
	char	   *command;		/* query: the user's statement */
	char	   *valid_from_column;	/* scd2 */
	char	   *valid_to_column;
	char	   *current_column;
	char	   *epoch_unit;		/* cdc: unit of epoch numbers without a schema */
	char	   *on_schema_change;	/* fail, ignore or add_columns */
	char	   *files;			/* files: the glob of the files to load */
	Jsonb	   *copy_options;	/* files: COPY options and column list */
	char	   *wal_op_column;	/* append with capture wal: target column of the operation */
	char	   *wal_lsn_column;	/* and of the commit's LSN */
	char	   *wal_time_column;	/* and of the commit time */
	List	   *source_columns; /* the source's columns when last described */
	List	   *source_types;	/* and their types, as text (format_type) */
	char	   *capture;		/* cursor (default) or wal: how changes are found */
	char	   *wal_slot;		/* wal: name of its slot and publication */
} Pipeline;

/* Does the pipeline capture its source's changes from the WAL (capture => 'wal')? */
#define PipelineIsWal(p) ((p)->capture != NULL && strcmp((p)->capture, "wal") == 0)

/* GUCs (incremental.c) */
extern bool incr_safe_upper_bound;

/* Names of modes and kinds, for catalog rows and messages. */
extern const char *PipelineModeName(PipelineMode mode);
extern bool PipelineModeFromName(const char *name, PipelineMode *mode);

/* The extension's schema, quoted, for generated SQL. */
extern const char *ExtensionSchemaQuoted(void);
extern Oid	ExtensionSchemaOid(void);
extern Oid	ExtensionOid(void);
extern bool ExtensionOwnsObject(Oid classid, Oid objid);
extern ErrorData *RollbackSubTransactionError(MemoryContext cxt, ResourceOwner owner);

#endif							/* INCREMENTAL_H */
