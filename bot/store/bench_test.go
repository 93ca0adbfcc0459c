package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the hot paths: recording an envelope before its ack
// (Take), alone and in a burst (group commit), and a state transition; on
// SQLite, and on PostgreSQL when BACKUPBOT_TEST_POSTGRES is set:
//
//	go test ./bot/store -run '^$' -bench . -benchtime 3s
//
// Speed goals live here, not in timed tests.

// onEachDatabase runs bench on a new SQLite file and, when
// BACKUPBOT_TEST_POSTGRES is set, on a new PostgreSQL schema.
func onEachDatabase(b *testing.B, bench func(b *testing.B, s *DB)) {
	open := func(b *testing.B, url string) *DB {
		s, err := Open(context.Background(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	b.Run("sqlite", func(b *testing.B) {
		bench(b, open(b, "sqlite:"+filepath.Join(b.TempDir(), "backupbot.db")))
	})
	// What synchronous=FULL costs: the same with NORMAL, which in WAL mode
	// may lose the last commits to a power loss (the store never runs so).
	b.Run("sqlite-normal", func(b *testing.B) {
		s, err := openSQLiteSync(context.Background(), filepath.Join(b.TempDir(), "backupbot.db"), time.Now, "NORMAL")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		bench(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv(postgresEnv) == "" {
			b.Skip("set " + postgresEnv)
		}
		bench(b, open(b, newPostgresURL(b)))
	})
}

var benchEnvelopes atomic.Int64

// take records one new envelope, as the bot does before its ack.
func take(b *testing.B, s *DB) {
	n := benchEnvelopes.Add(1)
	item := InboxItem{ID: fmt.Sprintf("env-%d", n), Kind: "command",
		Payload: []byte(`{"input":{"User":"U0L00001","Channel":"C0LOAD","Text":"dynamodb load tg0001 full load test","Origin":"env"}}`)}
	seen, err := s.Take(context.Background(), 15*time.Minute, []string{fmt.Sprintf("trigger:%d", n)},
		item, "replica-a", 10*time.Second)
	if err != nil || seen {
		b.Fatalf("Take = %v, %v", seen, err)
	}
}

// BenchmarkTake is one envelope recorded at a time: a commit each.
func BenchmarkTake(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, s *DB) {
		for b.Loop() {
			take(b, s)
		}
	})
}

// BenchmarkTakeBurst is envelopes recorded by 64 goroutines at once, as in
// a burst: committed together. The time per op is per envelope.
func BenchmarkTakeBurst(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, s *DB) {
		b.SetParallelism(32) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				take(b, s)
			}
		})
	})
}

// BenchmarkTransition is one state transition, holding the request for
// its replica, as the flows make them (approved ⇄ submitting).
func BenchmarkTransition(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, s *DB) {
		ctx := context.Background()
		r := request("r-bench", 3, 12)
		r.State = Approved
		if err := s.Create(ctx, r, Event{Action: "request"}); err != nil {
			b.Fatal(err)
		}
		states := [2]State{Approved, Submitting}
		i := 0
		for b.Loop() {
			from, to := states[i%2], states[(i+1)%2]
			i++
			_, err := s.Transition(ctx, r.ID, []State{from}, Change{To: to, Actor: "backupbot",
				Owner: "replica-a", HeldUntil: time.Now().Add(30 * time.Second)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
