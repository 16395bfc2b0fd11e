#!/usr/bin/env bash
# Backups of a CareSuite service's embedded SQLite database (docs/operations.md,
# "Backups and restore"). The services take their own on a schedule with
# --backup_dir; this script lists them, takes one on demand and restores one.
#
#   tools/backup.sh list    <backup_dir> <service>
#   tools/backup.sh now     <data_dir> <service> <backup_dir>
#   tools/backup.sh restore <backup_file> <data_dir> <service>
#
# `now` runs while the service runs (a WAL reader: writes go on). `restore`
# needs the service stopped: it refuses while the process holds
# <data_dir>/<service>.db.lock, checks the backup's integrity, moves the
# current database aside (<service>.db.before-restore-<time>, with its WAL)
# and puts the backup in its place; start the service afterwards. On
# PostgreSQL use pg_dump / pg_restore or the server's PITR instead.
set -euo pipefail

usage() {
  sed -n '6,8p' "$0" | sed 's/^# *//' >&2
  exit 2
}

need_sqlite3() {
  command -v sqlite3 >/dev/null || { echo "backup.sh: needs the sqlite3 command (Debian: sqlite3)" >&2; exit 1; }
}

# The file's folder, fsynced: a rename is durable only once its folder is.
sync_dir() { sync -f "$1" 2>/dev/null || sync; }

check_integrity() {
  local result
  result=$(sqlite3 -readonly "$1" 'PRAGMA integrity_check' 2>&1) || true
  if [ "$result" != "ok" ]; then
    echo "backup.sh: $1 fails the integrity check: $result" >&2
    exit 1
  fi
}

cmd=${1:-}
case "$cmd" in
  list)
    [ $# -eq 3 ] || usage
    # Names carry the start time (UTC), so they sort oldest first.
    find "$2" -maxdepth 1 -name "$3-*.db" -printf '%f\t%s bytes\n' | sort
    ;;
  now)
    [ $# -eq 4 ] || usage
    need_sqlite3
    data_dir=$2 service=$3 backup_dir=$4
    db="$data_dir/$service.db"
    [ -f "$db" ] || { echo "backup.sh: no database at $db" >&2; exit 1; }
    mkdir -p "$backup_dir"
    name="$service-$(date -u +%Y-%m-%dT%H%M%S.%6NZ).db"
    tmp="$backup_dir/.$name.tmp"
    rm -f "$tmp"
    # VACUUM INTO reads one consistent snapshot; the service keeps writing.
    sqlite3 "$db" ".timeout 5000" "VACUUM INTO '$tmp'"
    sync "$tmp"
    mv "$tmp" "$backup_dir/$name"
    sync_dir "$backup_dir"
    echo "$backup_dir/$name"
    ;;
  restore)
    [ $# -eq 4 ] || usage
    need_sqlite3
    backup=$2 data_dir=$3 service=$4
    db="$data_dir/$service.db"
    [ -f "$backup" ] || { echo "backup.sh: no backup at $backup" >&2; exit 1; }
    mkdir -p "$data_dir"
    # The service holds this lock (flock) while it runs.
    exec 9>>"$db.lock"
    if ! flock -n 9; then
      echo "backup.sh: $service is running on $data_dir (it holds $db.lock): stop it first" >&2
      exit 1
    fi
    check_integrity "$backup"
    if [ -f "$db" ]; then
      aside="$db.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
      mv "$db" "$aside"
      for suffix in -wal -shm; do
        if [ -f "$db$suffix" ]; then mv "$db$suffix" "$aside$suffix"; fi
      done
      echo "backup.sh: the previous database is kept as $aside" >&2
    fi
    rm -f "$db-wal" "$db-shm"
    tmp="$data_dir/.$service.db.restore.tmp"
    cp "$backup" "$tmp"
    sync "$tmp"
    mv "$tmp" "$db"
    sync_dir "$data_dir"
    echo "restored $backup as $db: start $service"
    ;;
  *)
    usage
    ;;
esac
