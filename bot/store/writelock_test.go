package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The write lock goes to a waiting group commit first, but a group commit
// and another writer that both wait take turns; a writer that gives up
// waiting is passed over.
func TestWriteLockOrder(t *testing.T) {
	var l writeLock
	ctx := context.Background()
	if err := l.lock(ctx, false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	waiting := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.commits) + len(l.others)
	}
	queue := func(name string, urgent bool) {
		before := waiting()
		wg.Go(func() {
			if err := l.lock(ctx, urgent); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			l.unlock()
		})
		for waiting() == before { // queued in this order
			time.Sleep(time.Millisecond)
		}
	}
	queue("other1", false)
	queue("commit1", true)
	queue("other2", false)
	queue("commit2", true)
	gone, cancel := context.WithCancel(ctx)
	given := make(chan error, 1)
	go func() { given <- l.lock(gone, false) }()
	for waiting() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-given; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait = %v", err)
	}
	l.unlock()
	wg.Wait()
	want := []string{"commit1", "other1", "commit2", "other2"}
	if len(order) != len(want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order = %v, want %v", order, want)
		}
	}
	if l.held {
		t.Error("the lock is still held")
	}
}
