package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/sqlite/*.sql
var sqliteFiles embed.FS

// sqliteParams are the DSN parameters every connection is opened with: WAL
// (readers do not block the writer), a busy timeout long enough that a
// writer waits for the lock instead of failing with "database is locked",
// foreign keys enforced, write transactions that take the lock as they
// begin (BEGIN IMMEDIATE), so no transaction fails upgrading a read lock,
// and synchronous=FULL: in WAL mode NORMAL may lose the last commits to a
// power loss or a node crash, and losing "approved → submitting" after
// CreateTask was sent would send it again after the restart.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)&_txlock=immediate"

// sqliteSync is the synchronous mode the store runs with; the benchmarks
// also measure NORMAL, to show what FULL costs.
const sqliteSync = "FULL"

// sqliteMaxConns caps the connections to the file. Writers queue for the
// write lock in SQLite anyway; a few connections let readers run beside them.
const sqliteMaxConns = 4

// sqlitePath is the file path in the rest of a "sqlite:" URL.
func sqlitePath(rest string) (string, error) {
	if strings.HasPrefix(rest, "//") {
		if !strings.HasPrefix(rest, "///") {
			return "", errors.New(`open store: "sqlite://" names a host, not a file: want "sqlite:PATH" or "sqlite:///ABSOLUTE/PATH"`)
		}
		rest = rest[2:]
	}
	switch {
	case rest == "":
		return "", errors.New(`open store: the database URL has no path: want "sqlite:PATH"`)
	case rest == ":memory:" || strings.HasPrefix(rest, "file:") || strings.Contains(rest, "mode=memory"):
		return "", fmt.Errorf("open store: %q is an in-memory database, which a restart empties: give the path of a file", rest)
	case strings.ContainsAny(rest, "?\x00"):
		return "", fmt.Errorf("open store %q: want a plain file path, without parameters", rest)
	}
	return rest, nil
}

// openSQLite opens (creating it if need be) the SQLite database at path,
// whose directory must exist, and brings its schema up to date.
func openSQLite(ctx context.Context, path string, now func() time.Time) (*DB, error) {
	return openSQLiteSync(ctx, path, now, sqliteSync)
}

// openSQLiteSync is openSQLite with the synchronous mode sync.
func openSQLiteSync(ctx context.Context, path string, now func() time.Time, sync string) (*DB, error) {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open store %s: directory %s does not exist", path, dir)
	}
	migrations, err := fs.Sub(sqliteFiles, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, sync))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	s := &DB{
		db:     db,
		takeDB: db,
		run:    pool{DB: db},
		d:      dialect{migrations: migrations, isUnique: sqliteUnique},
		name:   path,
		local:  now,
		stop:   make(chan struct{}),
		wl:     &writeLock{},
	}
	if err := s.migrateBusy(ctx); err != nil {
		_ = db.Close() // the error that matters is the migration's
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.p = newPrepared(db)
	s.run.p = s.p
	return s, nil
}

// migrateBusy migrates, waiting out SQLITE_BUSY: switching a new file to WAL
// takes a lock that the busy timeout does not cover, so processes opening
// the same new file at once can get it.
func (s *DB) migrateBusy(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := s.migrate(ctx)
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || attempt >= 100 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sqliteDSN is the modernc.org/sqlite name for the file at path, with the
// synchronous mode sync: a "file:" URI, in which '%' and '#' must be
// escaped.
func sqliteDSN(path, sync string) string {
	p := strings.NewReplacer("%", "%25", "#", "%23").Replace(filepath.Clean(path))
	return "file:" + p + "?" + sqliteParams + "&_pragma=synchronous(" + sync + ")"
}

// sqliteUnique reports whether err is SQLite's unique constraint violation.
func sqliteUnique(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
