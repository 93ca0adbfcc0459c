package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// scrubBatch is how many inbox items one ForgetInboxField transaction
// rewrites.
const scrubBatch = 200

// ForgetInboxField removes the top-level key from the JSON payload of every
// inbox item that is done, and of every item not done that was received
// more than undoneAfter ago (on the store's clock): a credential the
// payload carries, such as a response URL, is then kept no longer than it
// is needed. Payloads that are not JSON objects, or lack the key, are left
// as they are. It returns how many items it rewrote.
func (s *DB) ForgetInboxField(ctx context.Context, key string, undoneAfter time.Duration) (int64, error) {
	if key == "" || undoneAfter <= 0 {
		return 0, fmt.Errorf("forget inbox field %q: no key, or a window %v that is not positive", key, undoneAfter)
	}
	quoted, err := json.Marshal(key)
	if err != nil {
		return 0, fmt.Errorf("forget inbox field %q: %w", key, err)
	}
	// LIKE narrows the rows read (its _ and % match more than themselves,
	// never less); the JSON decoding decides.
	pattern := "%" + string(quoted) + "%"
	before := s.now().Add(-undoneAfter).UnixNano()
	var total int64
	for {
		var n int64
		var more bool
		err := s.inTx(ctx, func(tx txn) error {
			var err error
			n, more, err = s.forgetBatch(ctx, tx, key, pattern, before)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("forget inbox field %q: %w", key, err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// forgetBatch rewrites up to scrubBatch payloads that hold key; more says
// there may be others.
func (s *DB) forgetBatch(ctx context.Context, tx txn, key, pattern string, before int64) (n int64, more bool, err error) {
	rows, err := tx.QueryContext(ctx, s.q(qForgetCandidates), before, pattern, scrubBatch)
	if err != nil {
		return 0, false, err
	}
	type rewrite struct{ id, old, new string }
	var todo []rewrite
	listed := 0
	for rows.Next() {
		listed++
		var id, payload string
		if err := rows.Scan(&id, &payload); err != nil {
			rows.Close()
			return 0, false, err
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal([]byte(payload), &fields) != nil || fields == nil {
			continue
		}
		if _, ok := fields[key]; !ok {
			continue
		}
		delete(fields, key)
		b, err := json.Marshal(fields)
		if err != nil {
			rows.Close()
			return 0, false, err
		}
		todo = append(todo, rewrite{id, payload, string(b)})
	}
	if err := rows.Close(); err != nil {
		return 0, false, err
	}
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	for _, r := range todo {
		res, err := tx.ExecContext(ctx, s.q(qForgetField), r.new, r.id, r.old)
		if err != nil {
			return 0, false, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, false, err
		}
		n += k
	}
	// Rows listed but not rewritten (no such key after all) would be listed
	// again: stop when a batch rewrote none.
	return n, listed == scrubBatch && n > 0, nil
}
