package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// qBeginTake opens a group commit's transaction on PostgreSQL, READ
// COMMITTED whatever the connections' default, as s.d.txOptions does.
const qBeginTake = "BEGIN ISOLATION LEVEL READ COMMITTED"

// pgTakeOne is qTakeOne with PostgreSQL's placeholders: the text it is
// prepared under as Take's connection opens, and sent as.
var pgTakeOne = rebindDollar(qTakeOne)

// takePipelined is commitOnce on PostgreSQL: the BEGIN and the batch's one
// statement (qTakeOne) are sent together, in one round trip, on Take's own
// connection; then, once every Take of the batch has moved from waiting to
// committing, the COMMIT (a round trip of its own, so that a Take given up
// while the statement runs is rolled back with the batch). Both statements
// are prepared as the connection opens (openPostgres).
func (s *DB) takePipelined(ctx context.Context, live []*takeReq) ([]bool, error) {
	now := s.now()
	seen := make([]bool, len(live))
	keys := keysOf(live, now, seen)
	items := itemsOf(live, now, seen)
	conn, err := s.takeDB.Conn(ctx)
	if err != nil {
		return nil, beginError{err}
	}
	defer conn.Close()
	var recorded, inserted map[string]bool
	err = conn.Raw(func(driverConn any) error {
		dc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("take: the connection is a %T, not pgx's", driverConn)
		}
		c := dc.Conn()
		var b pgx.Batch
		b.Queue(qBeginTake)
		b.Queue(pgTakeOne, keys.keys, keys.expires, keys.first, now.UnixNano(),
			items.ids, items.kinds, items.payloads, items.received, items.attempts, items.owners, items.until, items.takes)
		br := c.SendBatch(ctx, &b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return beginError{err}
		}
		rows, err := br.Query()
		if err == nil {
			recorded, inserted, err = scanPgxTaken(rows, len(keys.keys), len(items.ids))
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = committing(live)
		}
		// The COMMIT (or the ROLLBACK) must not be cut short once sent:
		// its outcome is known only when it has run.
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if err != nil {
			_, _ = c.Exec(end, "ROLLBACK") // the error that matters is the statement's
			return err
		}
		_, err = c.Exec(end, "COMMIT")
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, k := range keys.keys {
		if !recorded[k] {
			seen[keys.first[i]] = true // there, unexpired: renewed by the statement
		}
	}
	items.admit(inserted, seen)
	return seen, nil
}

// scanPgxTaken reads what qTakeOne's rows return, the keys and the item
// ids it recorded, and closes them.
func scanPgxTaken(rows pgx.Rows, nKeys, nItems int) (keys, items map[string]bool, err error) {
	defer rows.Close()
	keys, items = make(map[string]bool, nKeys), make(map[string]bool, nItems)
	for rows.Next() {
		var v string
		var item bool
		if err := rows.Scan(&v, &item); err != nil {
			return nil, nil, err
		}
		if item {
			items[v] = true
		} else {
			keys[v] = true
		}
	}
	return keys, items, rows.Err()
}
