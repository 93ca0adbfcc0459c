package bot

import (
	"context"
	"sync"
	"time"
)

// dedupTTL is how long an envelope or trigger is remembered: longer than
// Slack's retry window (SPEC §4: at least 10 minutes).
const dedupTTL = 15 * time.Minute

// Dedup remembers which envelopes were taken; store.Store is one that
// survives restarts and is shared by replicas.
type Dedup interface {
	// Seen records keys for ttl and reports whether any of them was
	// recorded before and has not expired.
	Seen(ctx context.Context, ttl time.Duration, keys ...string) (bool, error)
}

// MemoryDedup is a Dedup in memory: it forgets on restart. Tests and the
// transport without a store use it.
type MemoryDedup struct {
	now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // key → when it expires
	sweep time.Time
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup(now func() time.Time) *MemoryDedup {
	if now == nil {
		now = time.Now
	}
	return &MemoryDedup{now: now, seen: make(map[string]time.Time)}
}

// Seen records keys and reports whether any was seen within the TTL.
func (d *MemoryDedup) Seen(_ context.Context, ttl time.Duration, keys ...string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if now.After(d.sweep) {
		for k, exp := range d.seen {
			if now.After(exp) {
				delete(d.seen, k)
			}
		}
		d.sweep = now.Add(time.Minute)
	}
	dup := false
	for _, k := range keys {
		if exp, ok := d.seen[k]; ok && !now.After(exp) {
			dup = true
		}
		d.seen[k] = now.Add(ttl)
	}
	return dup, nil
}
