package bot

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/commvault"
)

// lostAfter is how many polls in a row a job may be missing from Commvault
// before the bot says so in the thread and stops following it. Right after
// submission Commvault can briefly report no record.
const lostAfter = 10

// followed is a submitted request whose jobs have not all ended.
type followed struct {
	req     Request
	ended   map[string]bool
	missing map[string]int // polls in a row without a record, by job ID
}

// follow starts following r's jobs.
func (b *Bot) follow(r Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.followed[r.ID] = &followed{req: r, ended: make(map[string]bool), missing: make(map[string]int)}
}

// Following reports how many requests have jobs that are still followed.
func (b *Bot) Following() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.followed)
}

// Run polls the followed jobs every poll interval until ctx ends, and posts
// each job's end in its request's thread.
func (b *Bot) Run(ctx context.Context) error {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if wait := b.poll(ctx); wait > 0 {
			b.log.Warn("commvault rate limit: polling paused", zap.Duration("for", wait))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// poll reads the state of every followed job: one listing per Commvault
// client, so that reads do not grow with the number of jobs, then a single
// read for a job the listing did not show. It returns how long to wait when
// Commvault asks the bot to slow down.
func (b *Bot) poll(ctx context.Context) (backoff time.Duration) {
	b.mu.Lock()
	byClient := make(map[int][]*followed)
	for _, f := range b.followed {
		byClient[f.req.TableGroup.ClientID] = append(byClient[f.req.TableGroup.ClientID], f)
	}
	b.mu.Unlock()

	window := 2*b.interval + time.Minute
	for clientID, fs := range byClient {
		listed := make(map[string]commvault.Job)
		jobs, err := b.cv.Jobs(ctx, clientID, window)
		if wait := retryAfter(err); wait > 0 {
			return wait
		}
		if err != nil {
			b.log.Warn("list jobs", zap.Int("client", clientID), zap.Error(err))
		}
		for _, j := range jobs {
			listed[j.ID] = j
		}
		for _, f := range fs {
			if wait := b.update(ctx, f, listed); wait > 0 {
				return wait
			}
		}
	}
	return 0
}

// update brings one request's jobs up to date and reports the ones that ended.
func (b *Bot) update(ctx context.Context, f *followed, listed map[string]commvault.Job) time.Duration {
	log := b.log.With(zap.String("request", f.req.ID))
	for _, id := range f.req.JobIDs {
		if f.ended[id] {
			continue
		}
		j, ok := listed[id]
		if !ok {
			var err error
			j, err = b.cv.Job(ctx, id)
			if wait := retryAfter(err); wait > 0 {
				return wait
			}
			switch {
			case errors.Is(err, commvault.ErrJobNotFound):
				f.missing[id]++
				if f.missing[id] >= lostAfter {
					log.Error("job lost", zap.String("job", id))
					b.thread(ctx, log, f.req, JobLostReply(id, lostAfter))
					f.ended[id] = true
					f.req.Problem = "Commvault has no record of job " + id
				}
				continue
			case err != nil:
				log.Warn("read job", zap.String("job", id), zap.Error(err))
				continue
			}
		}
		f.missing[id] = 0
		if !j.Terminal() {
			continue
		}
		log.Info("job ended", zap.String("job", id), zap.String("status", j.Status))
		f.ended[id] = true
		f.req.Jobs = append(f.req.Jobs, j)
		b.thread(ctx, log, f.req, JobEndReply(j))
	}
	if len(f.ended) < len(f.req.JobIDs) {
		return 0
	}
	f.req.State = StateFinished
	if f.req.Problem != "" && len(f.req.Jobs) < len(f.req.JobIDs) {
		f.req.State = StateUnknown
	}
	b.updateParent(ctx, log, f.req)
	b.mu.Lock()
	delete(b.followed, f.req.ID)
	b.mu.Unlock()
	return 0
}

// retryAfter is how long Commvault asked to wait, if err is a 429.
func retryAfter(err error) time.Duration {
	var apiErr *commvault.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		return 0
	}
	if apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter
	}
	return time.Minute
}
