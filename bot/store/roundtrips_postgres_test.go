package store

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// turnCounter is a TCP proxy on 127.0.0.1 in front of PostgreSQL that
// counts round trips: each time a client speaks after the server did (or
// first).
type turnCounter struct {
	ln    net.Listener
	turns atomic.Int64
	wg    sync.WaitGroup
}

func newTurnCounter(t *testing.T, target string) *turnCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &turnCounter{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			mu.Lock()
			open = append(open, client, server)
			mu.Unlock()
			var spoke atomic.Bool // the server spoke last
			spoke.Store(true)
			p.wg.Go(func() { copyTurns(server, client, func() { p.count(&spoke) }) })
			p.wg.Go(func() { copyTurns(client, server, func() { spoke.Store(true) }) })
		}
	})
	return p
}

func (p *turnCounter) count(spoke *atomic.Bool) {
	if spoke.Swap(false) {
		p.turns.Add(1)
	}
}

// copyTurns copies src to dst, calling read as each chunk arrives, and
// closes both when either side ends.
func copyTurns(dst, src net.Conn, read func()) {
	defer dst.Close()
	defer src.Close()
	_, _ = io.Copy(dst, notifying{src, read})
}

// notifying is a reader that calls read after each read that got bytes.
type notifying struct {
	r    io.Reader
	read func()
}

func (n notifying) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if k > 0 {
		n.read()
	}
	return k, err
}

// TestPostgresRoundTrips counts what the calls a worker makes for every
// command cost on PostgreSQL, where a round trip is what a statement
// costs (1–2 ms to a server in another zone): a claim, its renewal and the
// done mark are each one statement outside a transaction, a round trip,
// where BEGIN and COMMIT would make three.
func TestPostgresRoundTrips(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(newPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := newTurnCounter(t, target)
	u.Host = p.ln.Addr().String()
	s := reopen(t, u.String(), newClock())
	s.db.SetMaxOpenConns(1) // every call on one connection, its statements prepared by the first
	step := func(name string, want int64, f func() error) {
		t.Helper()
		before := p.turns.Load()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := p.turns.Load() - before; got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
	}
	for i, id := range []string{"warm", "counted"} {
		if seen, err := s.Take(ctx, time.Minute, []string{"trigger:" + id}, item(id, 0), "", time.Minute); err != nil || seen {
			t.Fatalf("Take %s = %v, %v", id, seen, err)
		}
		for _, c := range []struct {
			name string
			want int64
			f    func() error
		}{
			{"ClaimInbox", 1, func() error {
				if _, ok, err := s.ClaimInbox(ctx, id, "a", time.Minute); err != nil || !ok {
					return fmt.Errorf("claimed %v, %v", ok, err)
				}
				return nil
			}},
			{"RenewInbox", 1, func() error {
				if ok, err := s.RenewInbox(ctx, id, "a", time.Minute); err != nil || !ok {
					return fmt.Errorf("renewed %v, %v", ok, err)
				}
				return nil
			}},
			{"InboxDone", 1, func() error { return s.InboxDone(ctx, id, Served) }},
			// An item done already is looked for: a second statement.
			{"InboxDone of an item done already", 2, func() error { return s.InboxDone(ctx, id, Served) }},
		} {
			if i == 0 { // the statements are prepared on the connection: not counted
				if err := c.f(); err != nil {
					t.Fatalf("%s %s: %v", c.name, id, err)
				}
				continue
			}
			step(c.name+" "+id, c.want, c.f)
		}
	}
}
