package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// prepared caches the store's statements prepared, on SQLite: a profile of
// a 500-command burst showed SQLite parsing the same few statements again
// for every one of them, a sixth of the bot's CPU. database/sql prepares a
// cached statement once on each connection that runs it, and a
// transaction reuses its connection's. (pgx caches the statements it runs
// on PostgreSQL already: there the cache is nil.)
type prepared struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool // being prepared
	closed  bool

	// preparing counts the prepares under way; close cancels and waits
	// for them, so that none holds a connection (and the database's
	// files) once the store is closed.
	preparing sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// maxPrepared bounds the cache: a statement built for a batch's size
// (Take's) comes in many lengths; past the bound, statements run unprepared.
const maxPrepared = 256

func newPrepared(db *sql.DB) *prepared {
	ctx, cancel := context.WithCancel(context.Background())
	return &prepared{db: db, m: map[string]*sql.Stmt{}, pending: map[string]bool{}, ctx: ctx, cancel: cancel}
}

// stmt is query prepared, or nil when it is not (yet): the caller runs
// query as it is. A statement first seen is prepared in the background,
// not by its caller, which may hold a connection in a transaction while
// the pool has no other to give.
func (p *prepared) stmt(query string) *sql.Stmt {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[query]; ok {
		return st
	}
	if !p.closed && !p.pending[query] && len(p.m)+len(p.pending) < maxPrepared {
		p.pending[query] = true
		p.preparing.Add(1)
		go p.prepare(query)
	}
	return nil
}

// prepare prepares query and caches it; a query that does not prepare is
// left out, to run as it is (and fail there, where its error is told).
func (p *prepared) prepare(query string) {
	defer p.preparing.Done()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	st, err := p.db.PrepareContext(ctx, query)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil || p.closed {
		if st != nil {
			_ = st.Close()
		}
		return // pending stays set: it is not tried again
	}
	delete(p.pending, query)
	p.m[query] = st
}

// close stops the prepares under way, waits for them and closes the
// cached statements.
func (p *prepared) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.preparing.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, st := range p.m {
		_ = st.Close()
		delete(p.m, q)
	}
}

// txn is a transaction whose statements run prepared where the store
// caches them.
type txn struct {
	*sql.Tx
	p *prepared
}

func (t txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.p.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.p.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.p.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// pool is the database outside a transaction, its statements run
// prepared where the store caches them.
type pool struct {
	*sql.DB
	p *prepared
}

func (d pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.p.stmt(query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

func (d pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.p.stmt(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.p.stmt(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}
