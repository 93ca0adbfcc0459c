package bot

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// lostAfter is how many polls in a row a job may be missing from Commvault
// before the bot says so in the thread and stops following it. Right after
// submission Commvault can briefly report no record.
const lostAfter = 10

// housekeeping is the longest pause between expiry checks.
const housekeeping = 5 * time.Second

// followersLease names the lease that says which replica follows jobs,
// expires requests and recovers abandoned ones: one at a time, so that
// Commvault is polled once and each job's end is posted once.
const followersLease = "followers"

// Run, until ctx ends, on the replica that holds the followers lease:
// recovers what a stopped process left unfinished, expires pending
// requests whose time is up, tells threads what Slack did not take the
// first time, polls the jobs of submitted requests every poll interval,
// posts each job's end in its thread, and keeps the store within its
// retention. Another replica takes over within three housekeeping ticks of
// this one stopping.
func (b *Bot) Run(ctx context.Context) error {
	every := min(b.interval, housekeeping)
	var lease leaseState
	kept := make(chan struct{})
	go func() { // the lease is renewed on its own, however long a round takes
		defer close(kept)
		b.keepLease(ctx, every, &lease)
	}()
	defer func() { <-kept }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var next time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if lease.leading() {
			b.round(ctx, &next, lease.leading)
		}
	}
}

// leaseState says whether this replica holds the followers lease: until a
// renewal fails or says it is lost, and never longer than the lease it got
// (measured on this process's monotonic clock from before the renewal was
// sent), so that a renewal stuck on a stalled store stops the work in time.
type leaseState struct {
	validUntil atomic.Int64 // monotonic nanoseconds since leaseEpoch; 0: not held
}

var leaseEpoch = time.Now()

func (l *leaseState) leading() bool {
	v := l.validUntil.Load()
	return v != 0 && time.Since(leaseEpoch) < time.Duration(v)
}

func (l *leaseState) set(held bool, sent time.Time, valid time.Duration) {
	if !held {
		l.validUntil.Store(0)
		return
	}
	l.validUntil.Store(int64(sent.Sub(leaseEpoch) + valid))
}

// keepLease takes and renews the followers lease every tick until ctx
// ends, then gives it up so another replica takes over at once.
func (b *Bot) keepLease(ctx context.Context, every time.Duration, lease *leaseState) {
	t := time.NewTicker(every)
	defer t.Stop()
	ttl := 3 * every
	for {
		sent := time.Now()
		held := b.lead(ctx, lease.leading(), ttl)
		lease.set(held, sent, ttl-every) // a tick short of the lease: it is renewed before anyone may take it
		select {
		case <-ctx.Done():
			if held {
				lease.set(false, time.Time{}, 0)
				ctx, cancel := detached(ctx)
				defer cancel()
				if err := b.store.ReleaseLease(ctx, followersLease, b.replica); err != nil {
					b.log.Warn("release the followers lease", zap.Error(err))
				}
			}
			return
		case <-t.C:
		}
	}
}

// lead takes or renews the followers lease for ttl and reports whether
// this replica holds it.
func (b *Bot) lead(ctx context.Context, wasLeader bool, ttl time.Duration) bool {
	held, err := b.store.Lease(ctx, followersLease, b.replica, ttl)
	if err != nil && ctx.Err() == nil {
		b.log.Warn("followers lease", zap.Error(err))
	}
	if held != wasLeader {
		b.log.Info("followers lease", zap.Bool("held", held), zap.String("replica", b.replica))
	}
	return held
}

// round is one round of the lease holder's work: recovery and expiries,
// the replies Slack did not take, the jobs' poll when it is due (next),
// and retention now and then. Between its steps it checks that this
// replica still leads, and stops when it does not.
func (b *Bot) round(ctx context.Context, next *time.Time, leading func() bool) {
	b.recoverWhile(ctx, leading) // and expiries
	if !leading() {
		return
	}
	b.retell(ctx, leading)
	if !leading() {
		return
	}
	if !b.now().Before(next.Add(-min(b.interval, housekeeping) / 2)) { // a tick's jitter does not skip a poll
		*next = b.now().Add(b.interval)
		wait := b.pollWhile(ctx, leading)
		b.metrics.readsPaused.Set(wait.Seconds())
		if wait > 0 {
			b.log.Warn("commvault rate limit: polling paused", zap.Duration("for", wait), zap.Int("in_a_row", b.throttled(0)))
			*next = b.now().Add(wait)
		} else {
			b.throttled(-1)
		}
	}
	if leading() && b.now().Sub(b.scrubbed) >= scrubEvery {
		b.scrubbed = b.now()
		b.scrubResponseURLs(ctx)
	}
	if leading() && b.now().Sub(b.purged) >= retentionEvery {
		b.purged = b.now()
		b.keepWithin(ctx)
	}
}

// Following reports how many requests have jobs that are still followed.
func (b *Bot) Following(ctx context.Context) int {
	rs, err := b.store.ByState(ctx, store.Submitted)
	if err != nil {
		b.log.Warn("list submitted requests", zap.Error(err))
		return 0
	}
	return len(rs)
}

// poll reads the state of every followed job: one listing per Commvault
// client, so that reads do not grow with the number of jobs, then a single
// read for a job the listing did not show. Requests whose outcome is
// unknown are looked for in the same listings. It returns how long to wait
// when Commvault asks the bot to slow down.
func (b *Bot) poll(ctx context.Context) (backoff time.Duration) {
	return b.pollWhile(ctx, func() bool { return true })
}

// pollWhile is poll, stopping between Commvault clients once leading says
// this replica no longer holds the followers lease.
func (b *Bot) pollWhile(ctx context.Context, leading func() bool) (backoff time.Duration) {
	recs, err := b.store.Followed(ctx, b.now().Add(-reconcileFor))
	if err != nil {
		b.log.Warn("list followed requests", zap.Error(err))
		return 0
	}
	byClient := make(map[int][]request)
	followed := 0
	for _, rec := range recs {
		if rec.State == store.Submitted {
			followed++
		}
		r, err := fromRecord(rec)
		if err != nil {
			b.log.Error("read request", zap.String("request", rec.ID), zap.Error(err))
			continue
		}
		byClient[r.TableGroup.ClientID] = append(byClient[r.TableGroup.ClientID], r)
	}
	b.metrics.jobsFollowed.Set(float64(followed))
	window := 2*b.interval + time.Minute
	for clientID, rs := range byClient {
		if !leading() {
			return 0
		}
		jobs, err := b.cv.Jobs(ctx, clientID, max(window, reconcileFor))
		b.metrics.cvReads.Inc()
		b.commvaultError(err)
		if wait := b.retryAfter(err); wait > 0 {
			return wait
		}
		if err != nil {
			b.log.Warn("list jobs", zap.Int("client", clientID), zap.Error(err))
		}
		listed := make(map[string]commvault.Job, len(jobs))
		for _, j := range jobs {
			listed[j.ID] = j
		}
		if wait := b.updateAll(ctx, rs, jobs, listed); wait > 0 {
			return wait
		}
	}
	return 0
}

// updateConcurrency is how many requests one poll brings up to date at
// once. Each update is a few database round trips and Slack calls: one
// after another, a burst's job ends ending together would be told at a
// few dozen a second with the database a millisecond away.
const updateConcurrency = 8

// updateAll updates rs, the requests on one Commvault client, up to
// updateConcurrency at a time (reconciling those of unknown outcome, one
// after another), and returns the longest wait Commvault asked for; once
// one asked, no further update starts.
func (b *Bot) updateAll(ctx context.Context, rs []request, jobs []commvault.Job, listed map[string]commvault.Job) time.Duration {
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, updateConcurrency)
		mu   sync.Mutex
		wait time.Duration
	)
	waited := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return wait
	}
	for _, r := range rs {
		if waited() > 0 {
			break
		}
		if r.State == store.Unknown {
			b.reconcile(ctx, r, jobs)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if w := b.update(ctx, r, listed); w > 0 {
				mu.Lock()
				wait = max(wait, w)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return waited()
}

// update brings one request's jobs up to date, records and tells those
// that ended, and finishes the request once every end is told.
func (b *Bot) update(ctx context.Context, r request, listed map[string]commvault.Job) time.Duration {
	log := b.log.With(zap.String("request", r.ID))
	ended, err := b.store.EndedJobs(ctx, r.ID)
	if err != nil {
		log.Warn("read ended jobs", zap.Error(err))
		return 0
	}
	for _, id := range r.JobIDs {
		if _, done := ended[id]; done {
			continue
		}
		j, ok := listed[id]
		if !ok {
			var err error
			j, err = b.cv.Job(ctx, id)
			b.metrics.cvReads.Inc()
			b.commvaultError(err)
			if wait := b.retryAfter(err); wait > 0 {
				return wait
			}
			switch {
			case errors.Is(err, commvault.ErrJobNotFound):
				if b.missed(id) >= lostAfter && b.ended(ctx, log, r, id, "lost", jobLostReply(id, lostAfter, b.links)) {
					ended[id] = "lost"
				}
				continue
			case err != nil:
				log.Warn("read job", zap.String("job", id), zap.Error(err))
				continue
			}
		}
		b.found(id)
		if !j.Terminal() {
			continue
		}
		if b.ended(ctx, log, r, id, j.Status, jobEndReply(j, b.links)) {
			ended[id] = j.Status
		}
	}
	if len(ended) == 0 {
		return 0
	}
	// Every end recorded is told (this poll's, and those Slack refused before)
	// before the request may finish.
	untold, err := b.store.Untold(ctx, r.ID)
	if err != nil {
		log.Warn("read what the thread has to be told", zap.Error(err))
		return 0
	}
	if !b.post(ctx, log, r, untold) || len(ended) < len(r.JobIDs) {
		return 0
	}
	b.finishJobs(ctx, log, r, ended)
	return 0
}

// ended records a job's end with the reply that tells it; it reports
// whether the end is recorded (by this call or an earlier one).
func (b *Bot) ended(ctx context.Context, log *zap.Logger, r request, jobID, status string, tell Message) bool {
	first, _, err := b.store.JobEnded(ctx, r.ID, jobID, status, b.now(), noticeOf(tell),
		r.audited(actorBot, "job-ended", "", "job "+jobID+": "+status))
	if err != nil {
		log.Error("record job end; the next poll tries again", zap.String("job", jobID), zap.Error(err))
		return false
	}
	if first {
		log.Info("job ended", zap.String("job", jobID), zap.String("status", status))
		b.metrics.jobsEnded.WithLabelValues(status).Inc()
	}
	return true
}

// finishJobs moves a request whose jobs all ended, and were all told, to
// finished.
func (b *Bot) finishJobs(ctx context.Context, log *zap.Logger, r request, ended map[string]string) {
	r.Jobs = r.Jobs[:0]
	lost := 0
	for _, id := range r.JobIDs {
		if ended[id] == "lost" {
			lost++
			continue
		}
		r.Jobs = append(r.Jobs, commvault.Job{ID: id, Status: ended[id]})
	}
	ch := store.Change{To: store.Finished, Actor: actorBot}
	if lost > 0 {
		ch = store.Change{To: store.Unknown, Actor: actorBot, Problem: "Commvault lost track of a job"}
	}
	ch.Event = r.audited(actorBot, string(ch.To), "", "")
	next, err := b.transition(ctx, r, []store.State{store.Submitted}, ch)
	if err != nil {
		log.Error("record that every job ended", zap.String("to", string(ch.To)), zap.Error(err))
		return
	}
	b.updateParent(ctx, log, next)
}

func (b *Bot) missed(jobID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.missing[jobID]++
	return b.missing[jobID]
}

func (b *Bot) found(jobID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.missing, jobID)
}

// Backoff after a 429 that says neither Retry-After nor
// X-RateLimit-Period: a minute, doubled for each such 429 in a row, at
// most an hour (Commvault SaaS's budget window).
const (
	backoffFirst = time.Minute
	backoffMost  = time.Hour
)

// retryAfter is how long to pause polling, if err is a 429: what Commvault
// asked (Retry-After, or X-RateLimit-Period), else an exponential backoff.
func (b *Bot) retryAfter(err error) time.Duration {
	var apiErr *commvault.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		return 0
	}
	n := b.throttled(1)
	if apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter
	}
	return min(backoffFirst<<min(n-1, 6), backoffMost)
}

// throttled adds delta to the count of polls in a row paused by a 429
// (delta -1 resets it) and returns the count.
func (b *Bot) throttled(delta int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case delta < 0:
		b.limited = 0
	default:
		b.limited += delta
	}
	return b.limited
}
