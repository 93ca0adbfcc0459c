package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "backupbot.db")
	})
}

func TestOpenRefuses(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir", "backupbot.db")
	isDir := t.TempDir()
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		want      string // in the error
	}{
		{"mysql", "mysql://backup:s3cret@db.example.com/backupbot", `unsupported database "mysql"`},
		{"postgres", "postgres://backup:s3cret@db.example.com:port/backupbot", "invalid PostgreSQL URL"},
		{"no scheme", "backupbot.db", "no scheme"},
		{"no scheme but a colon", "backup:s3cret@db.example.com", "unsupported"},
		{"nothing", "", "no scheme"},
		{"empty path", "sqlite:", "no path"},
		{"memory", "sqlite::memory:", "in-memory"},
		{"memory alone", ":memory:", "no scheme"},
		{"memory URI", "sqlite:file::memory:?cache=shared", "in-memory"},
		{"parameters", "sqlite:backupbot.db?_pragma=journal_mode(DELETE)", "without parameters"},
		{"a host", "sqlite://db.example.com/backupbot.db", "names a host"},
		{"missing directory", "sqlite:" + missing, missing},
		{"a directory", "sqlite:" + isDir, isDir},
		{"not a database", "sqlite:" + notDB, notDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.url, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error, want one with %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %v, want an error with %q", tt.url, err, tt.want)
			}
			for _, secret := range []string{"s3cret", "_pragma=busy", "_txlock"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Open(%q) = %v: tells %q", tt.url, err, secret)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the missing directory %s", filepath.Dir(missing))
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tt := range []struct{ url, file string }{
		{"sqlite:relative.db", filepath.Join(dir, "relative.db")},
		{"SQLite:sub/../upper.db", filepath.Join(dir, "upper.db")},
		{"sqlite:" + filepath.Join(dir, "absolute.db"), filepath.Join(dir, "absolute.db")},
		{"sqlite://" + filepath.Join(dir, "slashes.db"), filepath.Join(dir, "slashes.db")},
		{"sqlite:" + filepath.Join(dir, "odd 100% #1.db"), filepath.Join(dir, "odd 100% #1.db")},
	} {
		if strings.Contains(tt.url, "sub/") {
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(context.Background(), tt.url, nil)
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.url, err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping(%q): %v", tt.url, err)
		}
		s.Close()
		if _, err := os.Stat(tt.file); err != nil {
			t.Errorf("Open(%q) did not create %s: %v", tt.url, tt.file, err)
		}
	}
}

// sqliteMigrationFiles are the embedded SQLite migrations.
func sqliteMigrationFiles(t *testing.T) fs.FS {
	t.Helper()
	fsys, err := fs.Sub(sqliteFiles, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// migrated opens the SQLite file at path without the store and returns the
// versions recorded in schema_migrations.
func migrated(t *testing.T, path string) []int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return recordedVersions(t, db)
}

// recordedVersions is the versions in db's schema_migrations, in order.
func recordedVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrations(t *testing.T) {
	ms, err := migrations(sqliteMigrationFiles(t))
	if err != nil {
		t.Fatalf("the embedded migrations: %v", err)
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.version)
	}
	path := filepath.Join(t.TempDir(), "backupbot.db")
	for i := range 3 { // applied once, not again at each open
		s, err := Open(context.Background(), "sqlite:"+path, nil)
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		s.Close()
		if got := migrated(t, path); !slices.Equal(got, want) {
			t.Fatalf("schema_migrations after open %d = %v, want %v", i, got, want)
		}
	}

	// A newer backupbot migrated the file further: this one refuses it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(context.Background(), "sqlite:"+path, nil)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a newer schema = nil error, want one")
	}
	for _, w := range []string{path, "9999", "newer"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open of a newer schema = %v, want an error with %q", err, w)
		}
	}
}

func TestMigrationNames(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("CREATE TABLE t (x INTEGER);")}
	for _, tt := range []struct {
		name  string
		files fstest.MapFS
		want  []int // nil: an error
	}{
		{"ordered by number", fstest.MapFS{"0010_b.sql": sql, "0002_a.sql": sql, "README.md": sql}, []int{2, 10}},
		{"no number", fstest.MapFS{"init.sql": sql}, nil},
		{"zero", fstest.MapFS{"0000_init.sql": sql}, nil},
		{"same number", fstest.MapFS{"0001_a.sql": sql, "1_b.sql": sql}, nil},
		{"none", fstest.MapFS{}, nil},
	} {
		ms, err := migrations(tt.files)
		var got []int
		for _, m := range ms {
			got = append(got, m.version)
		}
		if (err == nil) != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("%s: migrations = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// TestActiveStates checks that the SQL's list of active states, in the
// queries and in the partial unique index, is State.Active's.
func TestActiveStates(t *testing.T) {
	var want []string
	for _, s := range states {
		if s.Active() {
			want = append(want, "'"+string(s)+"'")
		}
	}
	if got := strings.Split(activeStates, ", "); !slices.Equal(got, want) {
		t.Errorf("activeStates = %v, want %v", got, want)
	}
	ms, err := migrations(sqliteMigrationFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	index := regexp.MustCompile(`(?s)CREATE UNIQUE INDEX requests_one_active .*?WHERE state IN \(([^)]*)\)`)
	m := index.FindStringSubmatch(ms[0].sql)
	if m == nil || m[1] != activeStates {
		t.Errorf("the index requests_one_active lists %q, want %q", m, activeStates)
	}
}

func TestRebindDollar(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"UPDATE t SET a = ? WHERE id = ? AND state IN (?, ?)", "UPDATE t SET a = $1 WHERE id = $2 AND state IN ($3, $4)"},
		{strings.Repeat("?", 12), "$1$2$3$4$5$6$7$8$9$10$11$12"},
	} {
		if got := rebindDollar(tt.in); got != tt.want {
			t.Errorf("rebindDollar(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := inList(3); got != "?, ?, ?" {
		t.Errorf("inList(3) = %q", got)
	}
}

func TestTimes(t *testing.T) {
	for _, tm := range []time.Time{t0, t0.In(cet), time.Unix(0, 0), time.Date(2200, 1, 1, 0, 0, 0, 1, time.UTC)} {
		n, ok := unixNano(tm).(int64)
		got := fromUnixNano(sql.NullInt64{Int64: n, Valid: ok})
		if !got.Equal(tm) || got.Location() != time.UTC {
			t.Errorf("time %v stored and read back = %v, want it Equal, in UTC", tm, got)
		}
	}
	if v := unixNano(time.Time{}); v != nil {
		t.Errorf("unixNano(zero) = %v, want NULL", v)
	}
	if got := fromUnixNano(sql.NullInt64{}); !got.IsZero() {
		t.Errorf("fromUnixNano(NULL) = %v, want the zero time", got)
	}
}

// Every connection commits with synchronous=FULL: in WAL mode NORMAL can
// lose the last commits to a power loss.
func TestSQLiteSynchronousFull(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range sqliteMaxConns + 1 { // more than one connection
		var mode int
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != 2 {
			t.Fatalf("PRAGMA synchronous = %d, want 2 (FULL)", mode)
		}
	}
}

// The statements a SQLite store runs again are run prepared: the first
// time as they are, while they are prepared in the background, then from
// the cache, in and outside transactions; a statement that does not
// prepare runs as it is and fails there; closing the store closes them.
func TestSQLitePreparedStatements(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.p == nil {
		t.Fatal("no statement cache on SQLite")
	}
	cached := func(q string) bool {
		s.p.mu.Lock()
		defer s.p.mu.Unlock()
		return s.p.m[q] != nil
	}
	q := s.q(qRequestExists)
	count := func() error {
		var n int
		if err := s.run.QueryRowContext(t.Context(), q, "r-none").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d requests r-none, want none", n)
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for !cached(q) {
		if err := count(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("qRequestExists never prepared")
		}
		time.Sleep(time.Millisecond)
	}
	if err := count(); err != nil {
		t.Fatalf("qRequestExists from the cache: %v", err)
	}
	err = s.tx(t.Context(), func(tx txn) error {
		var n int
		return tx.QueryRowContext(t.Context(), q, "r-none").Scan(&n)
	})
	if err != nil {
		t.Fatalf("a cached statement in a transaction: %v", err)
	}
	for range 3 {
		if _, err := s.run.ExecContext(t.Context(), "SELECT * FROM no_such_table"); err == nil {
			t.Fatal("a statement that cannot prepare ran")
		}
	}
	if cached("SELECT * FROM no_such_table") {
		t.Error("a statement that cannot prepare is cached")
	}
	st := s.p.stmt(q)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec("r-none"); err == nil {
		t.Error("a cached statement still runs after Close")
	}
}
