#!/usr/bin/env bash
# scripts/check_package.sh: check the packaging end to end (doc/packaging.md).
# Not part of scripts/test.sh: it takes about half a minute and installs a package.
#
# 1. installs the project's and the packaging's Debian packages if missing;
# 2. checks that META.json, incremental.control and debian/changelog agree;
# 3. copies the work tree (tracked and untracked files, not ignored ones: build
#    products and .git stay behind) to a temp dir and runs
#    `dpkg-buildpackage -us -uc -b` there;
# 4. checks the package name, version and contents (`dpkg -c`);
# 5. installs it with `dpkg -i` (this replaces the files a `make install` put in
#    /usr/lib/postgresql/15/lib and /usr/share/postgresql/15/extension), then on a
#    throwaway cluster: CREATE EXTENSION, its version, and one merge run;
# 6. always, once step 5 has begun: stops the cluster, purges the package and runs
#    `make install` from the repository, so that the development build is installed
#    again and no package owns its files. (If postgresql-15-incremental was already
#    installed before the script started, the new build is left installed instead.)
#
# Usage (as root): bash scripts/check_package.sh
#   KEEP_BUILD=1   keep the temp dir with the copy and the .deb files (path printed)
# Exit status 0 only if every step passed, the restore included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
source scripts/cluster.sh

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
BUILD_PACKAGES=(debhelper postgresql-server-dev-all dpkg-dev)

fail() { echo "check_package: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || fail "run as root (apt-get, dpkg -i)"

step "packages"
ensure_packages || fail "could not install the project's packages"
missing=()
for p in "${BUILD_PACKAGES[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}"
	apt-get update >/dev/null || fail "apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		"${missing[@]}" >/dev/null || fail "could not install ${missing[*]}"
fi

step "metadata: META.json, incremental.control, debian/changelog"
extension=incremental
version=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$extension.control")
[ -n "$version" ] || fail "no default_version in $extension.control"
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "${deb_version%-*}" = "$version" ] ||
	fail "debian/changelog version $deb_version does not match default_version $version"
python3 - "$extension" "$version" <<'PY' || fail "META.json"
import json, re, sys, os
ext, ctl_version = sys.argv[1], sys.argv[2]
semver = re.compile(r'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$')
with open("META.json") as f:
    meta = json.load(f)  # raises on invalid JSON
errors = []
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in meta:
        errors.append(f"missing mandatory field {key!r}")
if meta.get("meta-spec", {}).get("version") != "1.0.0":
    errors.append("meta-spec.version is not 1.0.0")
# PGXN versions are semver: default_version 0.1 is 0.1.0
want = ctl_version + ".0" * (2 - ctl_version.count("."))
if meta.get("version") != want:
    errors.append(f"version {meta.get('version')!r}, expected {want!r} (default_version {ctl_version})")
prov = meta.get("provides", {}).get(ext)
if not prov:
    errors.append(f"provides has no {ext!r}")
else:
    if prov.get("version") != want:
        errors.append(f"provides.{ext}.version {prov.get('version')!r}, expected {want!r}")
    # the newest full install script: CREATE EXTENSION runs it and the upgrade
    # scripts after it up to default_version
    import glob, re
    full = sorted((tuple(int(x) for x in m.group(1).split(".")), f)
                  for f in glob.glob(f"sql/{ext}--*.sql")
                  for m in [re.fullmatch(rf"sql/{re.escape(ext)}--([0-9.]+)\.sql", f)] if m)
    want_file = full[-1][1] if full else f"sql/{ext}--{ctl_version}.sql"
    if prov.get("file") != want_file:
        errors.append(f"provides.{ext}.file {prov.get('file')!r}, expected {want_file!r}")
    for key in ("file", "docfile"):
        if key in prov and not os.path.isfile(prov[key]):
            errors.append(f"provides.{ext}.{key}: no file {prov[key]}")
    if not semver.match(prov.get("version", "")):
        errors.append(f"provides.{ext}.version is not semver")
if not semver.match(meta.get("version", "")):
    errors.append("version is not semver")
pg = meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL")
if not pg or not semver.match(pg):
    errors.append("prereqs.runtime.requires.PostgreSQL missing or not semver")
for e in errors:
    print("META.json:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
echo "extension $extension $version, PGXN $version.0, Debian $deb_version"

# From here on, the EXIT trap stops the cluster, restores the development build
# (once the package install has begun) and removes the temp dir.
package=postgresql-$PG_MAJOR-$extension
work=
restore_needed=0
restore() {
	local rc=0
	cluster_stop
	if [ $restore_needed = 1 ]; then
		step "restore the development build"
		if [ "$prior" = "install ok installed" ]; then
			echo "$package was installed before this script: leaving the new build installed"
		else
			# build first, so the files are missing only between purge and install
			make -C "$REPO" PG_CONFIG="$PG_CONFIG" >/dev/null || rc=1
			dpkg --purge "$package" >/dev/null || rc=1
			make -C "$REPO" install PG_CONFIG="$PG_CONFIG" >/dev/null || rc=1
			[ $rc = 0 ] || echo "check_package: FAIL: restore (purge $package, make install)" >&2
		fi
		restore_needed=0
	fi
	if [ -n "$work" ]; then
		if [ "${KEEP_BUILD:-}" = 1 ]; then echo "check_package: kept $work"; else rm -rf "$work"; fi
	fi
	return $rc
}
on_exit() {
	local rc=$?
	trap - EXIT
	[ $rc = 0 ] || KEEP_BUILD=1 # keep the log and the copy of a failed check
	restore || rc=1
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "copy the work tree"
work=$(mktemp -d /tmp/incremental-pkg.XXXXXX)
srcdir=$work/$extension-$version
mkdir "$srcdir"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
	# tracked and untracked files, without ignored ones (build products, results/...)
	git -C "$REPO" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		xargs -0 cp -a --parents -t "$srcdir"
else
	tar -C "$REPO" --exclude=.git -cf - . | tar -C "$srcdir" -xf -
fi
echo "copy in $srcdir"


step "dpkg-buildpackage -us -uc -b (log: $work/build.log)"
if ! (cd "$srcdir" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log" >&2
	fail "dpkg-buildpackage failed"
fi
arch=$(dpkg --print-architecture)
deb=$work/${package}_${deb_version}_$arch.deb
[ -f "$deb" ] || { ls -l "$work" >&2; fail "no $deb"; }

step "check $(basename "$deb")"
contents_ok=1
[ "$(dpkg-deb -f "$deb" Package)" = "$package" ] || { echo "wrong Package field" >&2; contents_ok=0; }
[ "$(dpkg-deb -f "$deb" Version)" = "$deb_version" ] || { echo "wrong Version field" >&2; contents_ok=0; }
echo "Depends: $(dpkg-deb -f "$deb" Depends)"
files=$(dpkg -c "$deb" | awk '{print $6}' | grep -v '/$' | sed 's|^\./|/|')
echo "$files"
libdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)/extension
for f in "$libdir/$extension.so" "$sharedir/$extension.control" \
	"$sharedir/$extension--$version.sql" "/usr/share/doc/$package/copyright"; do
	grep -qxF "$f" <<<"$files" || { echo "missing from the package: $f" >&2; contents_ok=0; }
done
# every install and upgrade script of the repository, so that ALTER EXTENSION UPDATE works
for f in sql/"$extension"--*.sql; do
	grep -qxF "$sharedir/${f#sql/}" <<<"$files" ||
		{ echo "missing from the package: $sharedir/${f#sql/}" >&2; contents_ok=0; }
done
# nothing but the control file and install scripts in the extension directory
if grep "^$sharedir/" <<<"$files" | grep -vE "/$extension(\.control|--[0-9.]+(--[0-9.]+)?\.sql)\$"; then
	echo "unexpected files in $sharedir (above)" >&2
	contents_ok=0
fi
[ $contents_ok = 1 ] || fail "package contents"
if command -v lintian >/dev/null; then
	echo "-- lintian (informational; bogus-mail-host is expected: the maintainer address is not real)"
	lintian "$work"/*.changes || true
fi

step "install the package"
prior=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)

# dpkg --verify exits 0 even when it finds changed files: it lists them
verify_package() {
	local out
	out=$(dpkg --verify "$package") || return 1
	[ -z "$out" ] || { echo "$out" >&2; return 1; }
}
restore_needed=1
dpkg -i "$deb" || fail "dpkg -i $deb"
verify_package || fail "dpkg --verify $package after install"

step "CREATE EXTENSION on a throwaway cluster"
# shellcheck disable=SC2119 # no extra postgresql.conf lines
cluster_start || fail "cluster_start"
got=$(psql -X -qAt -v ON_ERROR_STOP=1 -d postgres \
	-c "CREATE EXTENSION $extension" \
	-c "SELECT extversion FROM pg_extension WHERE extname = '$extension'") ||
	fail "CREATE EXTENSION $extension"
[ "$got" = "$version" ] || fail "extversion is '$got', expected '$version'"
echo "CREATE EXTENSION $extension: version $got"
# one run, so that the library is loaded and its code runs
got=$(psql -X -qAt -v ON_ERROR_STOP=1 -d postgres 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE TABLE pkg_src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
CREATE TABLE pkg_dst (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
INSERT INTO pkg_src SELECT g, g::text, now() - interval '1 hour' FROM generate_series(1, 3) g;
SELECT FROM incr_create_pipeline('pkg', source => 'pkg_src', target => 'pkg_dst',
	cursor_column => 'updated_at', mode => 'merge', keys => ARRAY['id']);
SELECT rows_read || ' ' || rows_inserted FROM incr_run('pkg');
SELECT count(*) FROM pkg_dst;
SQL
) || fail "a merge run with the packaged library: $got"
[ "$(tr '\n' ' ' <<<"$got")" = "3 3 3 " ] || fail "merge run: expected '3 3' and 3 rows, got: $got"
echo "incr_run: 3 rows read, 3 inserted"
# another `make install` on this machine during the check would have replaced the files
verify_package ||
	fail "$package files changed during the check (a concurrent make install?)"

trap - EXIT
restore || exit 1
echo "check_package: OK: $package $deb_version built, installed, CREATE EXTENSION works; development build restored"
