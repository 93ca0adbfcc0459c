package store

import (
	"context"
	"sync"
)

// writeLock serialises this process's writes to a SQLite file, which
// takes one writer at a time. Without it, writers meet at the file's lock
// and wait in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15 ms… between
// tries: a writer waits up to a sleep longer than the lock was held, and the
// group commit of Take (what every ack waits for) queues behind the
// workers' writes. Here they wait their turn on a Go lock instead, woken as
// soon as it is free, and the group commit goes first: when both wait, a
// group commit and another writer take turns, so neither waits for more
// than one of the other's transactions. Another process writing to the
// file is still waited for in the busy handler.
type writeLock struct {
	mu      sync.Mutex
	held    bool
	urgent  bool            // the holder is a group commit
	commits []chan struct{} // group commits waiting, in turn
	others  []chan struct{} // other writers waiting, in turn
}

// lock waits for the lock (urgent: for a group commit) until ctx ends.
func (l *writeLock) lock(ctx context.Context, urgent bool) error {
	l.mu.Lock()
	if !l.held {
		l.held, l.urgent = true, urgent
		l.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	if urgent {
		l.commits = append(l.commits, turn)
	} else {
		l.others = append(l.others, turn)
	}
	l.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-turn: // handed over meanwhile: hand it on
			l.handOnLocked()
		default:
			l.commits = remove(l.commits, turn)
			l.others = remove(l.others, turn)
		}
		return ctx.Err()
	}
}

// unlock hands the lock to the next writer, if one waits.
func (l *writeLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handOnLocked()
}

// handOnLocked gives the lock to a waiting group commit, unless a group
// commit had it and another writer waits; else to the next writer.
func (l *writeLock) handOnLocked() {
	switch {
	case len(l.commits) > 0 && (!l.urgent || len(l.others) == 0):
		next := l.commits[0]
		l.commits, l.urgent = l.commits[1:], true
		close(next)
	case len(l.others) > 0:
		next := l.others[0]
		l.others, l.urgent = l.others[1:], false
		close(next)
	default:
		l.held, l.urgent = false, false
	}
}

func remove(q []chan struct{}, c chan struct{}) []chan struct{} {
	for i, x := range q {
		if x == c {
			return append(q[:i], q[i+1:]...)
		}
	}
	return q
}
