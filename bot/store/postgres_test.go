package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// postgresEnv names the PostgreSQL database the tests use; unset, they are
// skipped.
const postgresEnv = "BACKUPBOT_TEST_POSTGRES"

// postgresURL is the test database's URL, or skips the test.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(postgresEnv)
	if u == "" {
		t.Skip("PostgreSQL tests skipped: set " + postgresEnv +
			"=postgres://postgres@127.0.0.1:5432/test?sslmode=disable (a database the tests may create schemas in) to run them")
	}
	return u
}

// postgresAdmin is the connection that creates and drops the tests' schemas.
var postgresAdmin = sync.OnceValues(func() (*sql.DB, error) {
	db, err := sql.Open("pgx", os.Getenv(postgresEnv))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return db, nil
})

// postgresSlots bounds the tests' schemas in use at once, and so their
// connections (at most pgMaxConns+1 per store, two stores in one test), below
// the server's max_connections however many tests run in parallel.
var postgresSlots = make(chan struct{}, 4)

// newPostgresURL makes a schema of the test's own and returns the test
// database's URL with it as the search_path. The schema is dropped when the
// test ends, after the stores it opened are closed.
func newPostgresURL(t testing.TB) string {
	t.Helper()
	base := postgresURL(t)
	postgresSlots <- struct{}{}
	t.Cleanup(func() { <-postgresSlots })
	admin, err := postgresAdmin()
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	schema := "bb_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("%s: create schema %s: %v", postgresEnv, schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPostgres(t *testing.T) {
	postgresURL(t)
	testStore(t, func(t *testing.T) string { return newPostgresURL(t) })
}

// TestPostgresSerializableDefault runs the suite on connections whose
// default isolation is SERIALIZABLE, as a server or role may set it: the
// store's transactions are READ COMMITTED all the same.
func TestPostgresSerializableDefault(t *testing.T) {
	postgresURL(t)
	testStore(t, func(t *testing.T) string {
		return newPostgresURL(t) + "&default_transaction_isolation=serializable"
	})
}

// TestPostgresTransitionStatements checks which way Transition runs: as
// one statement at PostgreSQL's default isolation, READ COMMITTED, and as
// a transaction of several where the connections' default is stricter
// (where the one statement would fail each time another moved the
// request first: the suite's concurrent chain finds that).
func TestPostgresTransitionStatements(t *testing.T) {
	postgresURL(t)
	for _, tt := range []struct {
		param string
		one   bool
	}{
		{"", true},
		{"&default_transaction_isolation=read%20committed", true},
		{"&default_transaction_isolation=repeatable%20read", false},
		{"&default_transaction_isolation=serializable", false},
	} {
		s := reopen(t, newPostgresURL(t)+tt.param, newClock())
		if s.d.oneStatement != tt.one {
			t.Errorf("URL parameters %q: one-statement transitions %v, want %v", tt.param, s.d.oneStatement, tt.one)
		}
	}
}

// TestPostgresTakeConnectionBroken checks that Take's own connection,
// which is not pinged before a batch, is replaced when it broke while idle
// (a server restart, a failover): the batch whose BEGIN finds it broken
// runs again on a new one, and the envelope is recorded.
func TestPostgresTakeConnectionBroken(t *testing.T) {
	ctx := context.Background()
	s := reopen(t, newPostgresURL(t), newClock())
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:before"}, item("before", 0), "a", time.Minute); err != nil || seen {
		t.Fatalf("Take before = %v, %v", seen, err)
	}
	var pid int
	if err := s.takeDB.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := postgresAdmin()
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := admin.QueryRowContext(ctx, "SELECT pg_terminate_backend($1, 5000)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:after"}, item("after", 0), "a", time.Minute); err != nil || seen {
		t.Fatalf("Take after its connection broke = %v, %v; want recorded", seen, err)
	}
	if _, ok := claim(t, s, "after", "a", time.Minute); !ok {
		t.Error("the envelope taken after the connection broke is not in the inbox")
	}
}

// TestPostgresMigrations checks that the migrations are applied once, in
// the URL's schema, and that a newer schema is refused.
func TestPostgresMigrations(t *testing.T) {
	ctx := context.Background()
	dbURL := newPostgresURL(t)
	ms, err := migrations(postgresMigrationFiles(t))
	if err != nil {
		t.Fatalf("the embedded migrations: %v", err)
	}
	var want []int
	for _, m := range ms {
		want = append(want, m.version)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 3 {
		s, err := Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping %d: %v", i, err)
		}
		s.Close()
		if got := recordedVersions(t, db); !slices.Equal(got, want) {
			t.Fatalf("schema_migrations after open %d = %v, want %v", i, got, want)
		}
	}
	// Other tests make schemas of their own at the same time: look in ours.
	u, _ := url.Parse(dbURL)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_name = 'requests' AND table_schema = $1`, u.Query().Get("search_path")).Scan(&n); err != nil {
		t.Fatalf("the requests table: %v", err)
	}
	if n != 1 {
		t.Errorf("the search_path's schema %s holds %d requests tables, want 1", u.Query().Get("search_path"), n)
	}

	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dbURL, nil)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a newer schema = nil error, want one")
	}
	u, _ = url.Parse(dbURL)
	for _, w := range []string{u.Host, strings.TrimPrefix(u.Path, "/"), "9999", "newer"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open of a newer schema = %v, want an error with %q", err, w)
		}
	}
}

// TestPostgresOpenRefuses checks Open's errors for PostgreSQL URLs that are
// wrong or name no server: they tell no password. It needs no server.
func TestPostgresOpenRefuses(t *testing.T) {
	// A port on 127.0.0.1 where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	// A server that accepts connections and never answers.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()

	tests := []struct {
		name, url string
		want      []string // in the error
	}{
		{"nobody listens", "postgres://backup:s3cret@" + closed + "/backupbot", []string{closed + "/backupbot", "connect"}},
		{"postgresql", "postgresql://backup:s3cret@" + closed + "/backupbot?sslmode=disable", []string{closed, "connect"}},
		{"upper case", "POSTGRES://backup:s3cret@" + closed + "/backupbot?sslmode=disable", []string{closed, "connect"}},
		{"escaped password", "postgres://backup:s3%63ret@" + closed + "/backupbot?sslmode=disable", []string{closed}},
		{"password parameter", "postgres://backup@" + closed + "/backupbot?sslmode=disable&password=s3cret", []string{closed}},
		{"search_path", "postgres://backup:s3cret@" + closed + "/backupbot?sslmode=disable&search_path=bb", []string{closed}},
		{"no answer", "postgres://backup:s3cret@" + mute.Addr().String() + "/backupbot?sslmode=disable", []string{mute.Addr().String()}},
		{"bad port", "postgres://backup:s3cret@127.0.0.1:notaport/backupbot", []string{"invalid PostgreSQL URL", "port"}},
		{"slash in the password", "postgres://backup:s3cret/x@127.0.0.1/backupbot", []string{"invalid PostgreSQL URL"}},
		{"bad escape", "postgres://backup:s3cret%zz@127.0.0.1/backupbot", []string{"invalid PostgreSQL URL"}},
		{"bad sslmode", "postgres://backup:s3cret@127.0.0.1/backupbot?sslmode=bogus", []string{"invalid PostgreSQL URL", "sslmode"}},
		{"bad connect_timeout", "postgres://backup:s3cret@127.0.0.1/backupbot?connect_timeout=soon", []string{"invalid PostgreSQL URL", "connect_timeout"}},
		{"no host part", "postgres:backup:s3cret@127.0.0.1/backupbot", []string{"postgres://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			s, err := Open(ctx, tt.url, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error, want one", tt.url)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Open(%q) took %v", tt.url, d)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q) = %v, want an error with %q", tt.url, err, w)
				}
			}
			for _, secret := range []string{"s3cret", "s3%63ret", "backup:"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Open(%q) = %v: tells %q", tt.url, err, secret)
				}
			}
		})
	}
}

func TestPostgresSecrets(t *testing.T) {
	for _, tt := range []struct {
		rest string
		want []string // among the secrets
	}{
		{"//u:pw@h/db", []string{"pw"}},
		{"//u:p%40w@h/db", []string{"p%40w", "p@w"}},
		{"//u:p@w@h/db", []string{"p@w"}},
		{"//u:p/w@h/db?x=a@b", []string{"p/w"}},
		{"//u:pw@h/db?options=a@b", []string{"pw"}},
		{"//u@h/db?password=pw&sslpassword=key%21", []string{"pw", "key%21", "key!"}},
	} {
		got := pgSecrets(tt.rest)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("pgSecrets(%q) = %q, want %q among them", tt.rest, got, w)
			}
		}
	}
	if got := pgSecrets("//u@h/db?sslmode=disable"); len(got) != 0 {
		t.Errorf("pgSecrets of a URL without a password = %q, want none", got)
	}
	err := redact(fmt.Errorf("open: %w", ErrNotFound), []string{"pw"})
	if !errors.Is(err, ErrNotFound) || err.Error() != "open: store: not found" {
		t.Errorf("redact without a secret in it = %v", err)
	}
	err = redact(fmt.Errorf("open pw@h: %w", ErrNotFound), []string{"pw"})
	if !errors.Is(err, ErrNotFound) || err.Error() != "open xxxxx@h: store: not found" {
		t.Errorf("redact = %v, want the secret masked and ErrNotFound wrapped", err)
	}
}

func TestPostgresErrorCodes(t *testing.T) {
	for _, tt := range []struct {
		err               error
		unique, retryable bool
	}{
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), true, false},
		{&pgconn.PgError{Code: "40P01"}, false, true},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40001"}), false, true},
		{&pgconn.PgError{Code: "23503"}, false, false},
		{errors.New("23505"), false, false},
		{nil, false, false},
	} {
		if got := pgUnique(tt.err); got != tt.unique {
			t.Errorf("pgUnique(%v) = %v, want %v", tt.err, got, tt.unique)
		}
		if got := pgRetryable(tt.err); got != tt.retryable {
			t.Errorf("pgRetryable(%v) = %v, want %v", tt.err, got, tt.retryable)
		}
	}
}

// postgresMigrationFiles are the embedded PostgreSQL migrations.
func postgresMigrationFiles(t *testing.T) fs.FS {
	t.Helper()
	fsys, err := fs.Sub(postgresFiles, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// TestPostgresSchema checks that the PostgreSQL migrations keep step with
// SQLite's (the same versions) and that the partial unique index lists
// the Active states.
func TestPostgresSchema(t *testing.T) {
	pg, err := migrations(postgresMigrationFiles(t))
	if err != nil {
		t.Fatalf("the PostgreSQL migrations: %v", err)
	}
	lite, err := migrations(sqliteMigrationFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	version := func(m migration) int { return m.version }
	if p, l := mapSlice(pg, version), mapSlice(lite, version); !slices.Equal(p, l) {
		t.Errorf("PostgreSQL migrations %v, SQLite's %v: want the same versions", p, l)
	}
	index := regexp.MustCompile(`(?s)CREATE UNIQUE INDEX requests_one_active .*?WHERE state IN \(([^)]*)\)`)
	m := index.FindStringSubmatch(pg[0].sql)
	if m == nil || m[1] != activeStates {
		t.Errorf("the index requests_one_active lists %q, want %q", m, activeStates)
	}
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	var out []U
	for _, v := range s {
		out = append(out, f(v))
	}
	return out
}
