package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"
)

const (
	faultSpread   = 6 * time.Second // a fault run's burst is paced over this long
	disconnectGap = 2 * time.Second
	// cvTimeout is the bots' COMMVAULT_TIMEOUT: the bot recovers a
	// submission a dead replica left after four times it and a 15 s margin.
	cvTimeout = 5 * time.Second
	// takeover is how late after a replica fault answers may still come:
	// the bot serves work a dead replica claimed after a 10 s claim and a
	// 5 s sweep, and recovers the requests it left half done once they are
	// 30 s old (a submission: 4 × COMMVAULT_TIMEOUT + 15 s), on the replica
	// that holds the followers lease (taken over within 3 polls). A
	// replica fault run waits that long before it counts what is
	// unanswered as lost.
	takeover = 45 * time.Second
	// pgDelay is how far the pglatency run puts PostgreSQL, each way: a
	// managed database in another zone is a 1-2 ms round trip away.
	pgDelay = time.Millisecond
)

// scenarios are every run of the suite, in the order they run.
func scenarios() []scenario {
	return append([]scenario{
		{key: "baseline", name: "baseline", replicas: 1, follow: true, jobEnds: true},
		{key: "replicas", name: "replicas", replicas: 2, postgres: true, follow: true, jobEnds: true},
		{key: "pg", name: "one replica on PostgreSQL", replicas: 1, postgres: true, follow: true, jobEnds: true},
		{key: "pglatency", name: fmt.Sprintf("replicas, PostgreSQL %s away each way", duration(pgDelay)), replicas: 2,
			postgres: true, dbDelay: pgDelay, jobEnds: true},
		{key: "kill", name: "fault (a): kill -9 of one replica mid-burst", replicas: 2, postgres: true,
			fault: killReplica, late: takeover, host: true, jobEnds: true},
		{key: "pgrestart", name: "fault (b): PostgreSQL restart mid-burst", replicas: 2, postgres: true,
			spread: faultSpread, fault: restartPostgres, precheck: canRestartPostgres, late: takeover, host: true},
		{key: "disconnects", name: "fault (c): Slack disconnects every 2s", replicas: 1,
			spread: faultSpread, fault: disconnect, side: true},
		{key: "cv500", name: "fault (d): Commvault answers 500 to 10% of calls", replicas: 1, failRatio: 0.1, side: true},
	}, slices.Concat(toldScenarios(), []scenario{slackRateScenario()}, ceilingScenarios(), []scenario{floorScenario()})...)
}

// faultKeys are the runs "-runs faults" stands for.
func faultKeys() []string { return []string{"kill", "pgrestart", "disconnects", "cv500"} }

// waitSent waits until at least k burst commands were sent (or the sending
// ended), and returns how many were.
func (w *world) waitSent(ctx context.Context, k int) int {
	for ctx.Err() == nil && !closed(w.sendDone) && int(w.sent.Load()) < k {
		sleep(ctx, time.Millisecond)
	}
	return int(w.sent.Load())
}

// waitAcked waits until at least k acks arrived since the burst started
// (or 15 s passed), and returns how many did.
func (w *world) waitAcked(ctx context.Context, k int) int {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n := len(w.slack.Acks()) - w.acksBefore
	for ; ctx.Err() == nil && n < k; n = len(w.slack.Acks()) - w.acksBefore {
		sleep(ctx, 2*time.Millisecond)
	}
	return n
}

// killReplica kills the last replica with SIGKILL once half the burst is
// acked: it has acked work it has not served yet.
func killReplica(ctx context.Context, w *world) (string, error) {
	acked := w.waitAcked(ctx, w.n()/2)
	if err := ctx.Err(); err != nil {
		return "not killed", err
	}
	victim := w.bots[len(w.bots)-1]
	pid := victim.pid()
	victim.kill9()
	w.struck()
	sent := w.sent.Load()
	w.s.progress("%s: kill -9 %s (pid %d) after %d acks", w.sc.key, victim.name, pid, acked)
	return fmt.Sprintf("kill -9 of %s (pid %d) once %d of %d commands were acked (%d sent); it is not restarted",
		victim.name, pid, acked, w.n(), sent), nil
}

// canRestartPostgres says why the local server cannot, or must not, be
// restarted: not root, no pg_ctlcluster, not local, or used by others.
func canRestartPostgres(ctx context.Context, s *suite) string {
	u, err := url.Parse(s.opts.postgres)
	if err != nil {
		return "the -postgres URL does not parse"
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	if _, why := localCluster(ctx, u.Hostname(), port); why != "" {
		return why
	}
	n, err := countOtherSessions(ctx, s.opts.postgres)
	switch {
	case err != nil:
		return "cannot check who else uses the server: " + err.Error()
	case n > 0:
		return fmt.Sprintf("%d other client session(s) on the server: not restarting a server others use", n)
	}
	return ""
}

// restartPostgres restarts the local cluster once a third of the burst is
// sent, unless someone else has started using the server meanwhile.
func restartPostgres(ctx context.Context, w *world) (string, error) {
	n := w.waitSent(ctx, w.n()/3)
	if err := ctx.Err(); err != nil {
		return "not restarted", err
	}
	c, why := localCluster(ctx, w.pg.host, w.pg.port)
	if why == "" {
		if k, err := w.pg.otherSessions(ctx); err != nil || k > 0 {
			why = fmt.Sprintf("%d other client session(s) appeared (%v)", k, err)
		}
	}
	if why != "" {
		w.note("PostgreSQL was not restarted: %s", why)
		return "not restarted: " + why, nil
	}
	w.s.progress("%s: restarting PostgreSQL %s after %d commands", w.sc.key, c, n)
	w.struck() // work claimed before the restart may be served a claim lease later
	took, err := c.restart(ctx)
	if err != nil {
		return "restart failed", err
	}
	upStart := time.Now()
	if err := w.pg.waitUp(ctx, 30*time.Second); err != nil {
		return fmt.Sprintf("restarted PostgreSQL %s after %d of %d commands", c, n, w.n()), err
	}
	return fmt.Sprintf("restarted PostgreSQL %s (pg_ctlcluster restart, fast shutdown) after %d of %d commands; took %s, answering %s later",
		c, n, w.n(), took.Round(10*time.Millisecond), time.Since(upStart).Round(10*time.Millisecond)), nil
}

// disconnect makes Slack end the bot's connections every disconnectGap
// while the burst is sent (the last one as it ends): alternately a "disconnect" message on every
// connection (a refresh) and every socket dropped without a close frame.
func disconnect(ctx context.Context, w *world) (string, error) {
	tick := time.NewTicker(disconnectGap)
	defer tick.Stop()
	refreshes, drops := 0, 0
	for i := range int(faultSpread / disconnectGap) {
		select {
		case <-ctx.Done():
			return fmt.Sprintf("%d refreshes, %d drops", refreshes, drops), ctx.Err()
		case <-tick.C:
		}
		if i%2 == 0 {
			w.slack.Disconnect("refresh_requested")
			refreshes++
		} else {
			w.slack.DropConnections()
			drops++
		}
	}
	return fmt.Sprintf("every %s during the burst: %d × disconnect (refresh_requested) of every connection, %d × every socket dropped",
		disconnectGap, refreshes, drops), nil
}
