package main

// The "told" runs: faults under which the bot must still do what it told
// the requester (issue #11). Each fails on a bot that breaks the promise.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

const (
	stallFor = 4 * time.Second // the database stall, mid-burst
	// lateSweep is how long after a stall ended the run watches for work
	// the bot kept although it told the user to try again: the sweeper
	// serves an inbox item 10 s after it was received, every 5 s.
	lateSweep = 30 * time.Second
	// slowRetryAfter is the Retry-After of the slowslack run's 429s:
	// longer than the bot's 30 s "stuck" age.
	slowRetryAfter = 40 * time.Second
	slowCommands   = 5 // the slowslack run's commands in the busy channel
	// skewBy is how far one replica's clock is ahead in the skew run, and
	// skewRetryAfter the delay of its busy channel's cards: harmless
	// alone (below the 30 s stuck age), not with the skew added.
	skewBy         = 20 * time.Second
	skewRetryAfter = 12 * time.Second
	skewCommands   = 10
	endFailures    = 2                // failed attempts of every job-end post in the endfail run
	endFailWait    = 30 * time.Second // how long the endfail run waits for the ends after the last answer
)

// toldScenarios are the runs of the "told" group, in the order they run.
func toldScenarios() []scenario {
	stallWhy := "a command the bot kept after telling its user to try again is served by the sweeper 10-15 s later"
	return []scenario{
		{key: "stall", name: "told (a): the database stalled 4 s mid-burst", replicas: 1, spread: faultSpread,
			fault: stallDatabase, watch: lateSweep, lateWhy: stallWhy, jobEnds: true},
		{key: "stallpg", name: "told (a): PostgreSQL stalled 4 s mid-burst", replicas: 2, postgres: true, spread: faultSpread,
			fault: stallDatabase, watch: lateSweep, lateWhy: stallWhy, jobEnds: true},
		{key: "slowslack", name: fmt.Sprintf("told (b): Slack answers a busy channel's cards 429, Retry-After %s", duration(slowRetryAfter)),
			replicas: 1, busy: slowCommands, prepare: slowParents(slowRetryAfter, slowCommands),
			late: slowRetryAfter + 20*time.Second, watch: slowRetryAfter + 30*time.Second, jobEnds: true,
			lateWhy: "the busy channel's cards wait out the Retry-After; a second card or an unknown outcome would come by then",
			checks:  checks{oneParent: true, noUnknown: true}},
		{key: "skew", name: fmt.Sprintf("told (c): two replicas with clocks %s apart, a busy channel's cards delayed %s", duration(skewBy), duration(skewRetryAfter)),
			replicas: 2, postgres: true, args: []string{"--clock-offset", skewBy.String()},
			busy: skewCommands, prepare: slowParents(skewRetryAfter, skewCommands),
			late: skewRetryAfter + 20*time.Second, watch: skewRetryAfter + 30*time.Second, jobEnds: true,
			lateWhy: "the busy channel's cards wait out the Retry-After; the replica ahead may take the other's requests for stuck meanwhile",
			checks:  checks{oneParent: true, noUnknown: true, oneEnd: true}},
		{key: "endfail", name: fmt.Sprintf("told (d): Slack fails every job-end post %d times", endFailures), replicas: 1,
			prepare: failJobEnds, jobEnds: true, endsWait: endFailWait},
	}
}

// toldKeys are the runs "-runs told" stands for.
func toldKeys() []string {
	var keys []string
	for _, sc := range toldScenarios() {
		keys = append(keys, sc.key)
	}
	return keys
}

// stallDatabase holds the database's write lock for stallFor, from
// another session, once half the burst is sent: the bot can neither
// record envelopes nor mark them done meanwhile.
func stallDatabase(ctx context.Context, w *world) (string, error) {
	n := w.waitSent(ctx, w.n()/2)
	if err := ctx.Err(); err != nil {
		return "not stalled", err
	}
	how, release, err := w.lockDatabase(ctx)
	if err != nil {
		return "not stalled", err
	}
	w.s.progress("%s: %s after %d commands, for %s", w.sc.key, how, n, stallFor)
	held := time.Now()
	sleep(ctx, stallFor)
	err = release()
	took := time.Since(held)
	w.struck()
	return fmt.Sprintf("%s held for %s by another session once %d of %d commands were sent",
		how, took.Round(10*time.Millisecond), n, w.n()), err
}

// lockDatabase takes the lock that stalls the bot's writes: SQLite's
// write lock (BEGIN IMMEDIATE), or on PostgreSQL the inbox and dedup
// tables in ACCESS EXCLUSIVE mode, in a transaction that release rolls back.
func (w *world) lockDatabase(ctx context.Context) (how string, release func() error, err error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.pg != nil {
		return w.lockPostgres(ctx, lctx)
	}
	name := "file:" + strings.NewReplacer("%", "%25", "#", "%23").Replace(w.dbPath) + "?_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: %w", err)
	}
	conn, err := db.Conn(lctx)
	if err == nil {
		_, err = conn.ExecContext(lctx, "BEGIN IMMEDIATE")
		if err != nil {
			_ = conn.Close()
		}
	}
	if err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("sqlite: take the write lock: %w", err)
	}
	return "SQLite's write lock (BEGIN IMMEDIATE)", func() error {
		_, err := conn.ExecContext(context.Background(), "ROLLBACK")
		_ = conn.Close()
		_ = db.Close()
		return err
	}, nil
}

// lockPostgres locks the tables that record envelopes, dedup and inbox,
// in one transaction that lasts as long as ctx (lctx bounds the wait for
// the lock). The bot's transactions hold row locks on them, so the lock
// can be chosen as a deadlock's victim: then it tries again.
func (w *world) lockPostgres(ctx, lctx context.Context) (how string, release func() error, err error) {
	for attempt := 1; ; attempt++ {
		tx, err := w.pg.admin.BeginTx(ctx, nil)
		if err != nil {
			return "", nil, fmt.Errorf("postgres: begin: %w", err)
		}
		_, err = tx.ExecContext(lctx, "LOCK TABLE "+w.pg.name+".dedup, "+w.pg.name+".inbox IN ACCESS EXCLUSIVE MODE")
		if err == nil {
			return "LOCK TABLE dedup, inbox IN ACCESS EXCLUSIVE MODE", tx.Rollback, nil
		}
		_ = tx.Rollback()
		if !strings.Contains(err.Error(), "40P01") || attempt == 5 || lctx.Err() != nil { // deadlock_detected
			return "", nil, fmt.Errorf("postgres: lock (attempt %d): %w", attempt, err)
		}
	}
}

var cardRequest = regexp.MustCompile(`Request (r-[0-9A-Za-z-]+)\.`)

// slowParents makes the fake Slack answer HTTP 429 with retryAfter to the
// first card (chat.postMessage without thread_ts) of each of up to k
// requests in busyChannel, for retryAfter from the first: a busy channel,
// as Slack limits one.
func slowParents(retryAfter time.Duration, k int) func(w *world) string {
	return func(w *world) string {
		var mu sync.Mutex // Match runs under the fake's lock; this guards its own state
		var first time.Time
		seen := map[string]bool{}
		f := w.slack.InjectFault(slacktest.Fault{RetryAfter: retryAfter, Times: k, Match: func(c slacktest.Call) bool {
			mu.Lock()
			defer mu.Unlock()
			sm := cardRequest.FindStringSubmatch(c.Params.Get("text"))
			switch {
			case c.Method != "chat.postMessage" || c.Params.Get("channel") != busyChannel || c.Params.Get("thread_ts") != "" || sm == nil,
				seen[sm[1]], !first.IsZero() && c.At.Sub(first) >= retryAfter:
				return false
			}
			if first.IsZero() {
				first = c.At
			}
			seen[sm[1]] = true
			return true
		}})
		w.closers = append(w.closers, func() error {
			w.note("the fake Slack answered %d card(s) in %s with 429, Retry-After %s", f.Answered(), busyChannel, duration(retryAfter))
			return nil
		})
		return fmt.Sprintf("Slack answers 429 with Retry-After %s to the first card of each of up to %d requests in %s "+
			"(%d of the burst's commands), for %s from the first", duration(retryAfter), k, busyChannel, k, duration(retryAfter))
	}
}

// failJobEnds makes the fake Slack fail the first endFailures attempts to
// post each job's end in its thread: HTTP 500, then "internal_error".
func failJobEnds(w *world) string {
	var mu sync.Mutex
	attempts := map[string]int{} // job ID → attempts to post its end
	nth := func(k int) func(c slacktest.Call) bool {
		return func(c slacktest.Call) bool {
			sm := w.read.jobEnd.FindStringSubmatch(c.Params.Get("text"))
			if c.Method != "chat.postMessage" || c.Params.Get("thread_ts") == "" || sm == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			if k == 1 { // the first fault sees every attempt first
				attempts[sm[1]]++
			}
			return attempts[sm[1]] == k
		}
	}
	var faults []*slacktest.InjectedFault
	for k := 1; k <= endFailures; k++ {
		f := slacktest.Fault{Match: nth(k), Error: "internal_error"}
		if k == 1 {
			f.Status = http.StatusInternalServerError
		}
		faults = append(faults, w.slack.InjectFault(f))
	}
	w.closers = append(w.closers, func() error {
		failed := 0
		for _, f := range faults {
			failed += f.Answered()
		}
		w.note("the fake Slack failed %d job-end post(s)", failed)
		return nil
	})
	return fmt.Sprintf("Slack fails the first %d attempts to post each job's end in its thread (HTTP 500, then \"internal_error\")", endFailures)
}
