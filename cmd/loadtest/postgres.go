package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	// bot/store registers pgx's database/sql driver, "pgx": the schema is
	// managed through it, with no module beyond the project's own.
	_ "github.com/backupbot/backupbot/bot/store"
)

// appName is the application_name of every PostgreSQL session of the
// suite (the bots' and its own), so that others can be told apart.
const appName = "backupbot-loadtest"

// pgSchema is a fresh schema for one run, and the URLs that use it.
type pgSchema struct {
	name   string
	admin  *sql.DB // the suite's own session, outside the schema
	botURL string  // the bots' BACKUPBOT_DATABASE_URL: search_path is the schema
	host   string
	port   string
}

// withParams returns raw with the query parameters set.
func withParams(raw string, params map[string]string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("-postgres: not a postgres:// URL")
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// newSchema creates the schema bb_load_<random> in the database of raw.
func newSchema(ctx context.Context, raw string) (*pgSchema, error) {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "bb_load_" + hex.EncodeToString(b)
	adminURL, err := withParams(raw, map[string]string{"application_name": appName})
	if err != nil {
		return nil, err
	}
	botURL, _ := withParams(raw, map[string]string{"application_name": appName, "search_path": name})
	db, err := sql.Open("pgx", adminURL.String())
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(2)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(cctx, "CREATE SCHEMA "+name); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres %s: create schema: %w", adminURL.Redacted(), err)
	}
	port := adminURL.Port()
	if port == "" {
		port = "5432"
	}
	return &pgSchema{name: name, admin: db, botURL: botURL.String(), host: adminURL.Hostname(), port: port}, nil
}

// through is the bots' URL with addr (a proxy's) as the server's address.
func (s *pgSchema) through(addr string) (string, error) {
	u, err := url.Parse(s.botURL)
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}

// target is the server's address, host:port.
func (s *pgSchema) target() string { return net.JoinHostPort(s.host, s.port) }

// drop removes the schema and everything in it, and closes the session.
func (s *pgSchema) drop() error {
	defer s.admin.Close()
	var err error
	for attempt := 0; attempt < 5; attempt++ { // the server may be restarting
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = s.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+s.name+" CASCADE")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("drop schema %s: %w", s.name, err)
}

// waitUp waits until the server answers, up to within.
func (s *pgSchema) waitUp(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.admin.PingContext(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres did not answer within %v: %w", within, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// otherSessions counts the client sessions on the server that are not the
// suite's own.
func (s *pgSchema) otherSessions(ctx context.Context) (int, error) {
	return otherSessions(ctx, s.admin)
}

func otherSessions(ctx context.Context, db *sql.DB) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
		AND coalesce(application_name, '') <> $1`, appName).Scan(&n)
	return n, err
}

// countOtherSessions is otherSessions on the server of raw.
func countOtherSessions(ctx context.Context, raw string) (int, error) {
	u, err := withParams(raw, map[string]string{"application_name": appName})
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return otherSessions(ctx, db)
}

// cluster is a local PostgreSQL cluster pg_ctlcluster can restart.
type cluster struct {
	version string
	name    string
}

// localCluster finds the cluster serving host:port on this machine, when
// restarting it is possible: root, pg_ctlcluster and pg_lsclusters
// installed, a local address, a cluster online on that port. Otherwise it
// says why not.
func localCluster(ctx context.Context, host, port string) (cluster, string) {
	switch {
	case os.Geteuid() != 0:
		return cluster{}, "not root: pg_ctlcluster cannot restart the server"
	case host != "127.0.0.1" && host != "localhost" && host != "::1":
		return cluster{}, "the server at " + host + " is not local"
	}
	for _, tool := range []string{"pg_ctlcluster", "pg_lsclusters"} {
		if _, err := exec.LookPath(tool); err != nil {
			return cluster{}, tool + " is not installed"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pg_lsclusters", "--json").Output()
	if err != nil {
		return cluster{}, fmt.Sprintf("pg_lsclusters: %v", err)
	}
	var list []struct {
		Version json.Number `json:"version"`
		Cluster string      `json:"cluster"`
		Port    json.Number `json:"port"`
		Running int         `json:"running"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return cluster{}, fmt.Sprintf("pg_lsclusters --json: %v", err)
	}
	for _, c := range list {
		if c.Port.String() == port && c.Running == 1 {
			return cluster{version: c.Version.String(), name: c.Cluster}, ""
		}
	}
	return cluster{}, "no running local cluster listens on port " + port
}

// restart restarts the cluster (fast shutdown: sessions are cut) and
// returns how long pg_ctlcluster took.
func (c cluster) restart(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	started := time.Now()
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", "--skip-systemctl-redirect", c.version, c.name, "restart").CombinedOutput()
	if err != nil {
		return time.Since(started), fmt.Errorf("pg_ctlcluster %s %s restart: %w: %s", c.version, c.name, err, strings.TrimSpace(string(out)))
	}
	return time.Since(started), nil
}

func (c cluster) String() string { return c.version + "/" + c.name }
