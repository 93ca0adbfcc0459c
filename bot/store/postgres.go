package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/postgres/*.sql
var postgresFiles embed.FS

// The connection pool: enough connections for the bot's concurrent work
// (each Store call holds one for a statement or a transaction, never two),
// few enough that a few replicas stay far below the server's
// max_connections (100 by default), with one more of Take's own;
// connections are renewed now and then, so that a failover or a server
// restart is left behind.
const (
	pgMaxConns        = 10
	pgMaxIdleConns    = 5
	pgConnMaxLifetime = 30 * time.Minute
	pgConnMaxIdleTime = 5 * time.Minute
	// pgConnectTimeout bounds each connection attempt when the URL has no
	// connect_timeout: an unreachable server fails instead of hanging.
	pgConnectTimeout = 10 * time.Second
)

// pgMigrateLock makes the migration transaction wait for any other one on
// the same schema (the first of the search_path) until it commits. The
// advisory lock's two keys: a constant of backupbot's ("bbst") and the
// schema's name hashed.
const pgMigrateLock = `SELECT pg_advisory_xact_lock(1650619252, hashtext(COALESCE(current_schema(), '')))`

// PostgreSQL's error codes (SQLSTATE) the store tells apart.
const (
	pgUniqueViolation      = "23505"
	pgInvalidSchemaName    = "3F000" // as when no schema of the search_path exists
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// openPostgres opens the PostgreSQL database of the URL "postgres:"+rest and
// brings its schema up to date.
func openPostgres(ctx context.Context, rest string, now func() time.Time) (*DB, error) {
	secrets := pgSecrets(rest)
	cfg, err := pgConfig(rest, secrets)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	name := pgName(cfg)
	migrations, err := fs.Sub(postgresFiles, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxIdleConns)
	db.SetConnMaxLifetime(pgConnMaxLifetime)
	db.SetConnMaxIdleTime(pgConnMaxIdleTime)
	// The group commit of Take (what every ack waits for) has a connection
	// of its own, kept open while idle: under a burst the workers hold all
	// of db's, and an ack that waited for one of them would wait for their
	// statements too. It is renewed as the others are. Every round trip of
	// that connection is one a burst's acks wait for: its statements are
	// prepared as it opens, and it is not pinged before each batch, as
	// database/sql's connections idle for a second are (a broken one fails
	// the batch's BEGIN, and the batch runs again on a new one).
	takeDB := stdlib.OpenDB(*cfg,
		stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			for _, q := range []string{qBeginTake, pgTakeOne} {
				if _, err := c.Prepare(ctx, q, q); err != nil {
					return err
				}
			}
			return nil
		}),
		stdlib.OptionShouldPing(func(context.Context, stdlib.ShouldPingParams) bool { return false }))
	takeDB.SetMaxOpenConns(1)
	takeDB.SetMaxIdleConns(1)
	takeDB.SetConnMaxLifetime(pgConnMaxLifetime)
	s := &DB{
		db:     db,
		takeDB: takeDB,
		run:    pool{DB: db},
		d: dialect{
			rebind:      rebindDollar,
			migrations:  migrations,
			isUnique:    pgUnique,
			retryable:   pgRetryable,
			migrateLock: pgMigrateLock,
			// Whatever the server's default_transaction_isolation: the
			// migration sees the schema that another process committed
			// while it waited for the lock, and conditional UPDATEs see the
			// state that another transaction committed.
			txOptions:  &sql.TxOptions{Isolation: sql.LevelReadCommitted},
			skipLocked: " FOR UPDATE SKIP LOCKED",
			arrays:     true,
		},
		name:  name,
		local: now,
		stop:  make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close() // the error that matters is the migration's
		if pgCode(err) == pgInvalidSchemaName {
			err = fmt.Errorf("%w (does the search_path's schema exist?)", err)
		}
		return nil, redact(fmt.Errorf("open store %s: %w", name, err), secrets)
	}
	// A statement outside a transaction runs at the connections' default
	// isolation. Where that is READ COMMITTED, as it is unless the server,
	// the role or the URL says otherwise, Transition is one statement: its
	// row lock makes it see the state another transaction committed. At
	// REPEATABLE READ or SERIALIZABLE that statement would fail whenever
	// another moved the request first, so there it is a transaction of
	// several statements, READ COMMITTED like the store's others.
	var isolation string
	if err := db.QueryRowContext(ctx, "SHOW default_transaction_isolation").Scan(&isolation); err != nil {
		_ = s.Close()
		return nil, redact(fmt.Errorf("open store %s: %w", name, err), secrets)
	}
	s.d.oneStatement = isolation == "read committed" || isolation == "read uncommitted"
	// Take's connection is opened now, not by the first envelope's ack.
	if err := takeDB.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, redact(fmt.Errorf("open store %s: %w", name, err), secrets)
	}
	return s, nil
}

// pgConfig parses the URL "postgres:"+rest. Its errors hold none of the
// URL's secrets: net/url's and pgx's echo the URL, so only their reasons
// are kept, without the secrets.
func pgConfig(rest string, secrets []string) (*pgx.ConnConfig, error) {
	const want = `want "postgres://USER:PASSWORD@HOST:PORT/DATABASE"`
	if !strings.HasPrefix(rest, "//") {
		return nil, errors.New("open store: the PostgreSQL URL has no host part: " + want)
	}
	raw := "postgres:" + rest // pgx knows the scheme in lower case only
	if _, err := url.Parse(raw); err != nil {
		reason := "it does not parse (a '/', '?', '#' or '@' in the password must be escaped: %2F, %3F, %23, %40)"
		if ue, ok := errors.AsType[*url.Error](err); ok && !tellsPart(ue.Err.Error(), secrets) {
			reason = ue.Err.Error() // without the URL
		}
		return nil, redact(fmt.Errorf("open store: invalid PostgreSQL URL: %s: %s", reason, want), secrets)
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// "cannot parse `URL`: what (why)": keep what and why.
		reason := err.Error()
		if _, r, ok := strings.Cut(reason, "`: "); ok && strings.HasPrefix(reason, "cannot parse `") {
			reason = r
		}
		if strings.Contains(reason, "://") || strings.Contains(reason, "@") || tellsPart(reason, secrets) {
			reason = "it does not parse" // the URL, or a part of a password, after all
		}
		return nil, redact(fmt.Errorf("open store: invalid PostgreSQL URL: %s", reason), secrets)
	}
	return cfg, nil
}

// pgName is what errors call the database: "postgres HOST:PORT/DATABASE",
// no user, no password, no parameters.
func pgName(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "/") { // IPv6
		host = "[" + host + "]"
	}
	return fmt.Sprintf("postgres %s:%d/%s", host, cfg.Port, cfg.Database)
}

// pgSecrets are the passwords in a PostgreSQL URL (after the scheme's
// colon): the user info's and those of password= and sslpassword=
// parameters, as written, unescaped and as Go quotes them, longest first.
// It is lenient, so as to find them in a URL that does not parse too: a
// password that holds an unescaped '@' gives more than one.
func pgSecrets(rest string) []string {
	var out []string
	add := func(s string) {
		for _, v := range []string{s, unescape(s, url.PathUnescape), unescape(s, url.QueryUnescape)} {
			if v != "" {
				out = append(out, v, strings.Trim(strconv.Quote(v), `"`))
			}
		}
	}
	authority := strings.TrimPrefix(rest, "//")
	for i := range len(authority) {
		if authority[i] != '@' {
			continue
		}
		if _, pw, ok := strings.Cut(authority[:i], ":"); ok {
			add(pw)
		}
	}
	if u, err := url.Parse("postgres:" + rest); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for kv := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k := strings.ToLower(unescape(k, url.QueryUnescape)); k == "password" || k == "sslpassword" {
				add(v)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// tellsPart reports whether msg holds a part of one of the secrets, as a
// URL parser splits them: two characters or more between '/', '?', '#',
// '@', ':', '[' or ']'.
func tellsPart(msg string, secrets []string) bool {
	for _, s := range secrets {
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune("/?#@:[]", r) }) {
			if len(part) >= 2 && strings.Contains(msg, part) {
				return true
			}
		}
	}
	return false
}

// unescape is s unescaped by f, or s if it does not unescape.
func unescape(s string, f func(string) (string, error)) string {
	if u, err := f(s); err == nil {
		return u
	}
	return s
}

// redact is err, unless its message holds one of the secrets: then an
// error that says the same with each secret as "xxxxx" and wraps err (for
// errors.Is and errors.As).
func redact(err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose message tells no secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// pgCode is the SQLSTATE of PostgreSQL's error err, or "".
func pgCode(err error) string {
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		return e.Code
	}
	return ""
}

// pgUnique reports whether err is PostgreSQL's unique constraint violation.
func pgUnique(err error) bool { return pgCode(err) == pgUniqueViolation }

// pgRetryable reports whether err aborted a transaction that may be run
// again: it was chosen to break a deadlock, or (should the server's
// default isolation be SERIALIZABLE or REPEATABLE READ) it lost a race.
func pgRetryable(err error) bool {
	switch pgCode(err) {
	case pgDeadlockDetected, pgSerializationFailure:
		return true
	}
	return false
}
