/*
 * source_files.c
 *		The files source kind, the "new files in a folder" pattern: a run
 *		lists the files that match the pipeline's pattern, keeps those whose
 *		path is new or whose content changed since it was loaded, and loads
 *		each with one COPY into the target (BuildCopySql, here too).  incr_files records every file loaded with its
 *		size, modification time and SHA-256, in the run's transaction.
 *
 * What "changed" means.  A file whose size and modification time are those
 * recorded is not read again: a run lists the folder and looks each file up
 * in incr_files, but reads the bytes of new and modified files only.  A file whose size or modification time differ is
 * read and its SHA-256 compared: the same bytes (a touch, a copy that kept
 * them) are not loaded again, other bytes are, as a new version of the file.
 * A file rewritten in place with the same size and its old modification
 * time put back is not noticed.
 *
 * Files still being written.  COPY reads what is there.  Each file is read
 * once for its checksum and once by COPY; if its size or modification time
 * moved in between, or its size is not what was read, the run fails and
 * loads nothing.  A writer that pauses between writes is not seen: writers
 * should move complete files into the folder, or the pipeline's lag should
 * outlast their pauses (files modified within the lag wait for a later run).
 */
#include "postgres.h"

#include <glob.h>
#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "source_files.h"
#include "sqlgen.h"

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

static char *BuildCopySql(Pipeline *p, const char *target_sql, const char *path);

#define FILE_READ_CHUNK 65536

/*
 * Check a files pattern at creation: an absolute path with wildcards in its
 * last part only, whose folder exists and can be read.  At runs a folder
 * that went away or cannot be read is an error too (glob's GLOB_ERR), not an
 * empty folder.  Wildcards in folder names are refused because glob skips a
 * folder it cannot search without saying so when the last part is literal.
 */
void
CheckFilesPattern(Pipeline *p)
{
	char	   *dir;
	struct stat st;
	DIR		   *folder;

	if (p->files[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pattern of pipeline \"%s\" must be an absolute path", p->name),
				 errdetail("The pattern is \"%s\".", p->files),
				 errhint("Name the folder from the root, as the server sees it: files => '/data/in/*.csv'.")));
	if (p->files[strlen(p->files) - 1] == '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pattern of pipeline \"%s\" names a folder, not files", p->name),
				 errhint("Add a file name pattern: files => '%s*.csv'.", p->files)));
	dir = pstrdup(p->files);
	get_parent_directory(dir);
	if (strpbrk(dir, "*?[\\") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pattern of pipeline \"%s\" may have wildcards in its file name only", p->name),
				 errdetail("The folder part \"%s\" has a wildcard or a backslash.", dir),
				 errhint("Make one pipeline per folder.")));
	if (stat(p->files, &st) == 0 && S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("files pattern of pipeline \"%s\" names a folder, not files", p->name),
				 errhint("Add a file name pattern: files => '%s/*.csv'.", p->files)));
	if (stat(dir, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read folder \"%s\" of files pipeline \"%s\": %m", dir, p->name),
				 errhint("The folder must exist on the database server and be readable by its operating system user.")));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" in files pattern of pipeline \"%s\" is not a folder", dir, p->name)));
	folder = AllocateDir(dir);
	if (folder == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read folder \"%s\" of files pipeline \"%s\": %m", dir, p->name),
				 errhint("The folder must exist on the database server and be readable by its operating system user.")));
	FreeDir(folder);
}

/*
 * Refuse a files pipeline to a role that may not read server files: the
 * current user, who is the owner during runs.  COPY would refuse too; this
 * says why before anything is read.
 */
void
CheckFilesPrivilege(Pipeline *p)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
	{
		const char *role = GetUserNameFromId(GetUserId(), false);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to load files for pipeline \"%s\"", p->name),
				 errdetail("Files pipelines read files on the database server, which only superusers and members of pg_read_server_files may do; role \"%s\" is neither.",
						   role),
				 errhint("A superuser can run: GRANT pg_read_server_files TO %s;",
						 quote_identifier(role))));
	}
}

/* The COPY options a files pipeline may set, and whether each takes a list of columns. */
static const struct
{
	const char *name;
	bool		columns;
}			copy_option_names[] = {
	{"format", false},
	{"delimiter", false},
	{"null", false},
	{"header", false},
	{"quote", false},
	{"escape", false},
	{"encoding", false},
	{"force_not_null", true},
	{"force_null", true},
	{"columns", true},
};

/* Raise the error for a copy_options entry of the wrong shape. */
static void
bad_copy_option(Pipeline *p, const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid copy_options entry \"%s\" of pipeline \"%s\"", key, p->name),
			 errdetail("%s", detail),
			 errhint("Write copy_options as a JSON object, as in '{\"format\": \"csv\", \"header\": true, \"columns\": [\"id\", \"amount\"]}'.")));
}

/*
 * The entries of a files pipeline's copy_options (CopyOption *), in the
 * object's order, with an error for any entry of the wrong shape.  Values
 * are strings or booleans, the column lists arrays of strings; whether
 * COPY accepts them is checked by CheckCopyOptions.
 */
List *
CopyOptionList(Pipeline *p)
{
	List	   *options = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (p->copy_options == NULL)
		return NIL;
	if (!JB_ROOT_IS_OBJECT(p->copy_options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("copy_options of pipeline \"%s\" must be a JSON object", p->name),
				 errhint("Pass for instance copy_options => '{\"format\": \"csv\", \"header\": true}'.")));

	it = JsonbIteratorInit(&p->copy_options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CopyOption *opt;
		int			i;

		if (tok != WJB_KEY)
			continue;
		opt = palloc0(sizeof(CopyOption));
		opt->name = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < lengthof(copy_option_names); i++)
			if (strcmp(copy_option_names[i].name, opt->name) == 0)
				break;
		if (i == lengthof(copy_option_names))
			bad_copy_option(p, opt->name,
							"The options are format, delimiter, null, header, quote, escape, encoding, force_not_null, force_null and columns (the target columns the files fill, in their order).");
		opt->columns = copy_option_names[i].columns;

		tok = JsonbIteratorNext(&it, &v, true);
		if (opt->columns)
		{
			JsonbIterator *ait;
			JsonbValue	e;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
				JsonContainerSize(v.val.binary.data) == 0)
				bad_copy_option(p, opt->name, "It takes a non-empty array of column names.");
			ait = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&ait, &e, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM)
					continue;
				if (e.type != jbvString)
					bad_copy_option(p, opt->name, "Each column name must be a JSON string.");
				opt->names = lappend(opt->names, pnstrdup(e.val.string.val, e.val.string.len));
			}
		}
		else if (v.type == jbvString)
			opt->value = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvBool)
			opt->value = pstrdup(v.val.boolean ? "true" : "false");
		else
			bad_copy_option(p, opt->name, "It takes a JSON string or boolean.");
		options = lappend(options, opt);
	}
	return options;
}

/* Check that a column named in copy_options is a column COPY can fill. */
static void
check_copy_column(Pipeline *p, Relation target, CopyOption *opt, const char *column,
				  List *copied)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(target), column);

	if (attnum <= 0 || TupleDescAttr(RelationGetDescr(target), attnum - 1)->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" in copy_options \"%s\" of pipeline \"%s\" is not a column target \"%s\" can be loaded into",
						column, opt->name, p->name, RelationGetRelationName(target))));
	if (copied != NIL && !list_member(copied, makeString((char *) column)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" in copy_options \"%s\" of pipeline \"%s\" is not in its \"columns\"",
						column, opt->name, p->name)));
}

/*
 * Check a files pipeline's copy_options against its target, as the COPY of
 * a run would see them, so that a run does not fail on what creation could
 * have said: the columns exist, and COPY accepts the options together.
 */
void
CheckCopyOptions(Pipeline *p, Relation target)
{
	List	   *options = CopyOptionList(p);
	List	   *copied = NIL;
	ListCell   *lc;
	ListCell   *c;
	char	   *sql;
	List	   *stmts;
	CopyStmt   *stmt;
	CopyFormatOptions format;

	foreach(lc, options)
	{
		CopyOption *opt = lfirst(lc);

		if (strcmp(opt->name, "columns") != 0)
			continue;
		foreach(c, opt->names)
		{
			if (list_member(copied, makeString(lfirst(c))))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is named twice in copy_options \"columns\" of pipeline \"%s\"",
								(char *) lfirst(c), p->name)));
			copied = lappend(copied, makeString(lfirst(c)));
		}
	}
	foreach(lc, options)
	{
		CopyOption *opt = lfirst(lc);

		foreach(c, opt->names)
			check_copy_column(p, target, opt, lfirst(c),
							  strcmp(opt->name, "columns") == 0 ? NIL : copied);
	}

	sql = BuildCopySql(p, quote_qualified_identifier(get_namespace_name(RelationGetNamespace(target)),
													 RelationGetRelationName(target)),
					   "/");
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(stmts) != 1 ||
		!IsA(linitial_node(RawStmt, stmts)->stmt, CopyStmt))
		elog(ERROR, "copy statement of pipeline \"%s\" did not parse as one COPY: %s",
			 p->name, sql);
	stmt = (CopyStmt *) linitial_node(RawStmt, stmts)->stmt;
	memset(&format, 0, sizeof(format));
	ProcessCopyOptions(NULL, &format, true, stmt->options);
}

/* The modification time of a file as a timestamptz, to the microsecond. */
static TimestampTz
file_mtime(struct stat *st)
{
	return time_t_to_timestamptz(st->st_mtim.tv_sec) + st->st_mtim.tv_nsec / 1000;
}

/* Order files oldest first, then by path. */
static int
file_cmp(const ListCell *a, const ListCell *b)
{
	FileEntry  *fa = lfirst(a);
	FileEntry  *fb = lfirst(b);

	if (fa->modified_at != fb->modified_at)
		return fa->modified_at < fb->modified_at ? -1 : 1;
	return strcmp(fa->path, fb->path);
}

/* What glob's error callback saw: the folder it could not read, and why. */
static char glob_error_path[MAXPGPATH];
static int	glob_error_errno;

/* glob's error callback: keep a copy of the path, which glob frees. */
static int
glob_error(const char *path, int eerrno)
{
	strlcpy(glob_error_path, path, sizeof(glob_error_path));
	glob_error_errno = eerrno;
	return 1;
}

/* Order files by path, byte by byte (as COLLATE "C" does). */
static int
file_path_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((FileEntry *) lfirst(a))->path, ((FileEntry *) lfirst(b))->path);
}

/*
 * Refuse a file name that is not valid in the database's encoding: it could
 * be neither recorded in incr_files nor restored from a dump.  The error
 * shows it with its other bytes escaped.
 */
static void
check_path_encoding(Pipeline *p, const char *path)
{
	StringInfoData shown;

	if (pg_verify_mbstr(GetDatabaseEncoding(), path, strlen(path), true))
		return;
	initStringInfo(&shown);
	for (const unsigned char *c = (const unsigned char *) path; *c; c++)
	{
		if (*c >= 0x20 && *c < 0x7f && *c != '\\')
			appendStringInfoChar(&shown, *c);
		else
			appendStringInfo(&shown, "\\x%02x", *c);
	}
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("name of file \"%s\" of pipeline \"%s\" is not valid in encoding \"%s\"",
					shown.data, p->name, GetDatabaseEncodingName()),
			 errdetail("Its path could not be recorded in incr_files."),
			 errhint("Rename the file, or move it out of the folder.")));
}

/*
 * The regular files that match the pipeline's pattern now (FileEntry *, with
 * path, size and modification time), by path.  A folder that cannot be read
 * is an error: an empty listing would look like nothing new.
 */
static List *
list_files(Pipeline *p)
{
	glob_t		g;
	int			ret;
	List	   *volatile files = NIL;

	glob_error_path[0] = '\0';
	glob_error_errno = 0;
	ret = glob(p->files, GLOB_ERR, glob_error, &g);
	if (ret == GLOB_NOMATCH)
	{
		globfree(&g);
		return NIL;
	}
	if (ret != 0)
	{
		char	   *path = pstrdup(glob_error_path[0] ? glob_error_path : p->files);

		globfree(&g);
		errno = glob_error_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 ret == GLOB_ABORTED ?
				 errmsg("could not read folder \"%s\" of files pipeline \"%s\": %m", path, p->name) :
				 errmsg("could not list the files of pipeline \"%s\"", p->name),
				 errhint("The folders of the pattern must exist and be readable by the database server's operating system user.")));
	}
	PG_TRY();
	{
		for (size_t i = 0; i < g.gl_pathc; i++)
		{
			struct stat st;
			FileEntry  *f;

			CHECK_FOR_INTERRUPTS();
			/* gone since it was listed, or not a regular file (a folder, a socket) */
			if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			check_path_encoding(p, g.gl_pathv[i]);
			f = palloc0(sizeof(FileEntry));
			f->path = pstrdup(g.gl_pathv[i]);
			f->size = st.st_size;
			f->modified_at = file_mtime(&st);
			files = lappend(files, f);
		}
	}
	PG_FINALLY();
	{
		globfree(&g);
	}
	PG_END_TRY();
	list_sort(files, file_path_cmp);
	return files;
}

/* Raise the error for a file that changed while the run read it. */
static void
file_changed(Pipeline *p, FileEntry *f)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("file \"%s\" changed while pipeline \"%s\" was loading it", f->path, p->name),
			 errdetail("Its size or modification time is no longer what the run found; nothing of this run is kept, and the next run tries again."),
			 errhint("Have writers move complete files into the folder, or give the pipeline a lag longer than a writer's pauses.")));
}

/* Read a file and set its SHA-256; it must still have the size listed. */
static void
file_checksum(Pipeline *p, FileEntry *f)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *buf = palloc(FILE_READ_CHUNK);
	FILE	   *file;
	int64		total = 0;
	size_t		n;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not start a SHA-256 checksum: %s", pg_cryptohash_error(ctx));
	file = AllocateFile(f->path, PG_BINARY_R);
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" of pipeline \"%s\" for reading: %m",
						f->path, p->name)));
	while ((n = fread(buf, 1, FILE_READ_CHUNK, file)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_cryptohash_update(ctx, (uint8 *) buf, n) < 0)
			elog(ERROR, "could not compute a SHA-256 checksum: %s", pg_cryptohash_error(ctx));
		total += n;
	}
	if (ferror(file))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\" of pipeline \"%s\": %m", f->path, p->name)));
	FreeFile(file);
	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute a SHA-256 checksum: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	pfree(buf);
	if (total != f->size)
		file_changed(p, f);

	f->checksum = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	hex_encode((char *) digest, PG_SHA256_DIGEST_LENGTH, f->checksum);
	f->checksum[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
}

/*
 * The window of a files pipeline's run: the files to load, oldest first, at
 * most batch_size of them; files modified within the lag wait.
 */
static void
ComputeFileWindow(Pipeline *p, FileWindow *w)
{
	List	   *found;
	List	   *loaded;
	ListCell   *lc;
	ListCell   *known;

	memset(w, 0, sizeof(*w));
	w->listed_at = GetCurrentTimestamp();
	if (p->lag)
	{
		w->settle = true;
		w->settled_before =
			DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													TimestampTzGetDatum(w->listed_at),
													IntervalPGetDatum(p->lag)));
	}

	/* pair each file found with its incr_files row: both lists are by path */
	found = list_files(p);
	loaded = LoadedFiles(p, found);
	known = list_head(loaded);
	foreach(lc, found)
	{
		FileEntry  *f = lfirst(lc);

		while (known && strcmp(((FileEntry *) lfirst(known))->path, f->path) < 0)
			known = lnext(loaded, known);
		if (known && strcmp(((FileEntry *) lfirst(known))->path, f->path) == 0)
			f->loaded = lfirst(known);
	}
	list_sort(found, file_cmp);

	foreach(lc, found)
	{
		FileEntry  *f = lfirst(lc);
		FileEntry  *before = f->loaded;

		if (before && before->size == f->size && before->modified_at == f->modified_at)
		{
			w->unchanged++;
			continue;
		}
		if (w->settle && f->modified_at > w->settled_before)
		{
			w->settling++;
			continue;
		}
		if (p->batch_size > 0 && list_length(w->load) >= p->batch_size)
		{
			w->held_back++;
			continue;
		}
		file_checksum(p, f);
		if (before && before->size == f->size && strcmp(before->checksum, f->checksum) == 0)
		{
			f->run_id = before->run_id;
			w->touched = lappend(w->touched, f);
			w->unchanged++;
			continue;
		}
		f->changed = (before != NULL);
		w->load = lappend(w->load, f);
	}
}

/* After its COPY: fail if the file is not as it was when its checksum was read. */
static void
CheckFileUnchanged(Pipeline *p, FileEntry *f)
{
	struct stat st;

	if (stat(f->path, &st) != 0 || st.st_size != f->size || file_mtime(&st) != f->modified_at)
		file_changed(p, f);
}

/*
 * The COPY that loads one file of a files pipeline into its target, with the
 * column list and options of copy_options.  COPY takes no parameters, so
 * the path is a quoted literal; option values are literals and column names
 * quoted identifiers, and the options' names come from a fixed list
 * (CopyOptionList), so no text of the definition reaches the statement unquoted.
 */
static char *
BuildCopySql(Pipeline *p, const char *target_sql, const char *path)
{
	StringInfoData buf;
	StringInfoData with;
	ListCell   *lc;

	initStringInfo(&buf);
	initStringInfo(&with);
	appendStringInfo(&buf, "COPY %s", target_sql);
	foreach(lc, CopyOptionList(p))
	{
		CopyOption *opt = lfirst(lc);
		StringInfo	out = (strcmp(opt->name, "columns") == 0) ? &buf : &with;
		ListCell   *c;

		if (out == &with)
			appendStringInfo(&with, "%s%s ", with.len > 0 ? ", " : "", opt->name);
		else
			appendStringInfoChar(&buf, ' ');
		if (!opt->columns)
		{
			appendStringInfoString(out, quote_literal_cstr(opt->value));
			continue;
		}
		appendStringInfoChar(out, '(');
		foreach(c, opt->names)
			appendStringInfo(out, "%s%s", c == list_head(opt->names) ? "" : ", ",
							 quote_identifier(lfirst(c)));
		appendStringInfoChar(out, ')');
	}
	appendStringInfo(&buf, " FROM %s", quote_literal_cstr(path));
	if (with.len > 0)
		appendStringInfo(&buf, " WITH (%s)", with.data);
	return buf.data;
}

/* Error context of a files run: the file being loaded. */
static void
file_error_context(void *arg)
{
	errcontext("loading file \"%s\"", ((FileEntry *) arg)->path);
}

/*
 * Execute a run of a files pipeline: its window is the files that are new
 * or changed, its statement one COPY per file, its counts what each COPY
 * loaded.  The checkpoint is the newest modification time loaded; what was
 * loaded is recorded in incr_files by files_record, in this transaction.
 */
static void
files_execute(const RunRequest *req, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
			  RunRecord *rec, RunResult *res, MemoryContext cxt)
{
	FileWindow	fw;
	ErrorContextCallback errcallback;
	ListCell   *lc;
	TimestampTz newest = cp->isnull ? DT_NOBEGIN : DatumGetTimestampTz(cp->value);
	MemoryContext old;

	/* the files outlive SPI: the caller records them in incr_files */
	old = MemoryContextSwitchTo(cxt);
	ComputeFileWindow(p, &fw);
	rec->window_to = CursorValueOut(p, TimestampTzGetDatum(fw.settle ? fw.settled_before
															: fw.listed_at));
	MemoryContextSwitchTo(old);

	errcallback.callback = file_error_context;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	foreach(lc, fw.load)
	{
		FileEntry  *f = lfirst(lc);
		int			ret;

		errcallback.arg = f;
		ret = SPI_execute(BuildCopySql(p, shape->target_sql, f->path), false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "COPY of file \"%s\" failed (SPI result %d)", f->path, ret);
		CheckFileUnchanged(p, f);
		f->rows = SPI_processed;
		rec->rows_read += f->rows;
		if (f->modified_at > newest)
			newest = f->modified_at;
	}
	error_context_stack = errcallback.previous;
	rec->rows_inserted = rec->rows_read;
	rec->rows_in_window = rec->rows_read;
	rec->rows_affected = rec->rows_read;
	rec->rows_window_known = true;

	/* a batch that loaded a file made progress, whatever its files' age */
	res->moved = (fw.load != NIL);
	res->new_checkpoint = TimestampTzGetDatum(newest);
	res->files_loaded = fw.load;
	res->files_touched = fw.touched;
}

/* Record in incr_files the files the run loaded, and those only touched. */
static void
files_record(Pipeline *p, int64 run_id, RunResult *res)
{
	RecordFiles(p, run_id, res->files_loaded, res->files_touched);
}

/* incr_plan of a files pipeline: the files the next run would load, and their COPY. */
static void
files_plan(StringInfo buf, Pipeline *p, PipelineShape *shape, Checkpoint *cp,
		   MemoryContext cxt)
{
	FileWindow	fw;
	ListCell   *lc;

	MemoryContextSwitchTo(cxt);
	ComputeFileWindow(p, &fw);
	appendStringInfo(buf, "-- pipeline %s: files %s into %s\n",
					 SqlCommentSafe(quote_identifier(p->name)),
					 SqlCommentSafe(quote_literal_cstr(p->files)), SqlCommentSafe(shape->target_sql));
	appendStringInfo(buf, "-- checkpoint (the newest modification time loaded, or set by incr_reset): %s\n",
					 cp->isnull ? "none" : CursorValueOut(p, cp->value));
	appendStringInfo(buf, "-- %d to load, %d unchanged since loaded, ", list_length(fw.load), fw.unchanged);
	if (fw.settle)
		appendStringInfo(buf, "%d modified within the lag (after %s), ", fw.settling,
						 CursorValueOut(p, TimestampTzGetDatum(fw.settled_before)));
	appendStringInfo(buf, "%d left for later runs by batch_size\n", fw.held_back);
	foreach(lc, fw.load)
	{
		FileEntry  *f = lfirst(lc);

		appendStringInfo(buf, "-- %s file, " INT64_FORMAT " bytes, modified %s, sha256 %s\n%s;\n",
						 f->changed ? "changed" : "new", f->size,
						 CursorValueOut(p, TimestampTzGetDatum(f->modified_at)), f->checksum,
						 BuildCopySql(p, shape->target_sql, f->path));
	}
}

/* Refuse to backfill a files pipeline: it has no cursor range to re-read. */
static void
files_refuse_backfill(Pipeline *p)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("files pipeline \"%s\" cannot be backfilled", p->name),
			 errdetail("It loads files, not a range of cursor values."),
			 errhint("To load files again, forget them with incr_reset(%s, <modified after>) and run the pipeline.",
					 quote_literal_cstr(p->name))));
}

const SourceKind source_files = {
	.name = "files",
	.execute = files_execute,
	.plan = files_plan,
	.record = files_record,
	.refuse_backfill = files_refuse_backfill,
	.error_context = true,
};
