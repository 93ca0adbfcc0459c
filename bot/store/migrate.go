package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migration is one numbered schema change, NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the numbered .sql files of fsys, in order.
func migrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name does not start with its version (0001_…)", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations")
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate brings the schema up to date in one transaction and records each
// migration it applies in schema_migrations. A database whose version is
// newer than the newest migration the program has is refused: it was
// written by a newer backupbot. The transaction holds the dialect's
// migrateLock, so that of processes opening one new database together, one
// creates the schema and the others find it done.
func (s *DB) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.migrations)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	return s.inTx(ctx, func(tx txn) error {
		if s.d.migrateLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.migrateLock); err != nil {
				return fmt.Errorf("lock the schema for migrating: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, qCreateMigrations); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, s.q(qSchemaVersion)).Scan(&cur); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if cur > latest {
			return fmt.Errorf("the database's schema version is %d, newer than this backupbot knows (%d): run a newer backupbot", cur, latest)
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(qRecordMigration), m.version, s.now().UnixNano()); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
