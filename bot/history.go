package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/commvault"
)

// historyWindow is how far back a history looks: Commvault's listing is
// asked for the jobs that finished within it (and those still active).
const historyWindow = 30 * 24 * time.Hour

// historyTTL is how long one table group's listing answers every history
// of it, so that a channel asking at once costs one read.
const historyTTL = 30 * time.Second

// history answers with a table group's last backups as Commvault knows
// them, whoever started them. The policy is asked first: whoever may
// neither request nor approve the table group from this channel gets one
// refusal, whether or not it exists, and costs no Commvault read.
func (b *Bot) history(ctx context.Context, t *turn, cmd command) {
	t.log = t.log.With(zap.String("account", cmd.Account), zap.String("tablegroup", cmd.TableGroup))
	pol := b.policy()
	d := pol.CheckView(ctx, b.groups, auth.Subject{User: t.in.User, Channel: t.in.Channel}, cmd.Account, cmd.TableGroup)
	if !d.Allow {
		b.outcome(t, kindHistory, "denied", zap.String("rule", d.Rule))
		b.denied(d.Rule)
		asked := request{Channel: t.in.Channel, Account: cmd.Account, TableGroup: commvault.Subclient{Name: cmd.TableGroup}}
		b.audit(ctx, t.log, asked.event(t.in.User, "denied", d.Rule, "history: "+d.Reason))
		if d.Rule == auth.RuleGroupLookup {
			b.reply(ctx, t, deniedAnswer(d))
			return
		}
		b.reply(ctx, t, historyRefusedAnswer(b.command, cmd.Account, cmd.TableGroup))
		return
	}
	acct, ok := pol.Account(cmd.Account)
	if !ok { // the policy allowed an account it does not have: never proceed
		b.internalError(ctx, t, fmt.Errorf("policy allowed unknown account %q", cmd.Account))
		return
	}
	if !b.readLeft(ctx, t, kindHistory) {
		return
	}
	sc, err := b.cv.TableGroup(ctx, acct.Client, cmd.TableGroup)
	if err != nil {
		b.resolveFailed(ctx, t, kindHistory, acct, err)
		return
	}
	jobs, complete, err := b.histories.get(ctx, b.now, sc, func(ctx context.Context) ([]commvault.Job, bool, error) {
		return b.cv.TableGroupJobs(ctx, sc, historyWindow)
	})
	if err != nil {
		b.commvaultReadFailed(ctx, t, kindHistory, err)
		return
	}
	b.outcome(t, kindHistory, "history", zap.Int("jobs", len(jobs)), zap.Bool("complete", complete))
	b.reply(ctx, t, historyAnswer(historyView{
		Command: b.command, Account: acct.Name, TableGroup: sc.Name, Client: sc.ClientName, SubclientID: sc.ID,
		Jobs: newestFirst(jobs), Count: cmd.Count, Complete: complete, Window: historyWindow, Now: b.now(), Links: b.links,
	}))
}

// commvaultReadFailed tells the caller that a Commvault read failed.
func (b *Bot) commvaultReadFailed(ctx context.Context, t *turn, kind cmdKind, err error) {
	b.commvaultError(err)
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrTimeout):
		b.outcome(t, kind, "commvault-timeout", zap.Error(err))
		b.reply(ctx, t, commvaultTimeoutAnswer())
	case errors.Is(err, commvault.ErrSessionExpired):
		b.outcome(t, kind, "commvault-unavailable")
		b.reply(ctx, t, commvaultUnavailableAnswer())
	case errors.As(err, &apiErr):
		b.outcome(t, kind, "commvault-error", zap.Error(err))
		b.reply(ctx, t, commvaultErrorAnswer(commvaultProblem(apiErr)))
	default:
		b.internalError(ctx, t, err)
	}
}

// newestFirst sorts jobs by start, newest first (not yet started first),
// then by job ID, highest first; it returns a sorted copy.
func newestFirst(jobs []commvault.Job) []commvault.Job {
	out := slices.Clone(jobs)
	slices.SortStableFunc(out, func(a, b commvault.Job) int {
		switch {
		case a.Start.IsZero() != b.Start.IsZero():
			if a.Start.IsZero() {
				return -1
			}
			return 1
		case !a.Start.Equal(b.Start):
			return b.Start.Compare(a.Start)
		}
		x, _ := strconv.ParseUint(a.ID, 10, 64)
		y, _ := strconv.ParseUint(b.ID, 10, 64)
		return cmp.Compare(y, x)
	})
	return out
}

// lastGoodFull is the newest full backup that completed without errors:
// one that completed with errors did not protect every table.
func lastGoodFull(newest []commvault.Job) (commvault.Job, bool) {
	for _, j := range newest {
		if strings.Contains(strings.ToLower(j.BackupLevel), "full") && j.Succeeded() && !j.Start.IsZero() &&
			!strings.Contains(strings.ToLower(j.Status), "error") {
			return j, true
		}
	}
	return commvault.Job{}, false
}

// historyCache keeps each table group's job listing for historyTTL; those
// who ask while it is being read wait for that read rather than make
// their own. A failed read is not kept.
type historyCache struct {
	mu      sync.Mutex
	entries map[string]*historyRead
}

// historyRead is one listing of a table group's jobs, done or under way.
type historyRead struct {
	done     chan struct{} // closed when the read ended
	at       time.Time     // when it ended
	jobs     []commvault.Job
	complete bool
	err      error
}

func newHistoryCache() historyCache { return historyCache{entries: make(map[string]*historyRead)} }

// get returns sc's listing: a kept one younger than historyTTL, the one
// being read, or a new one made with read.
func (c *historyCache) get(ctx context.Context, now func() time.Time, sc commvault.Subclient,
	read func(context.Context) ([]commvault.Job, bool, error)) ([]commvault.Job, bool, error) {
	key := strconv.Itoa(sc.ClientID) + "/" + strconv.Itoa(sc.ID)
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		select {
		case <-e.done:
			if e.err == nil && now().Sub(e.at) < historyTTL {
				c.mu.Unlock()
				return e.jobs, e.complete, nil
			}
		default:
			c.mu.Unlock()
			select {
			case <-e.done:
				return e.jobs, e.complete, e.err
			case <-ctx.Done():
				return nil, false, fmt.Errorf("wait for the job listing: %w", ctx.Err())
			}
		}
	}
	e := &historyRead{done: make(chan struct{})}
	c.entries[key] = e
	for k, old := range c.entries { // drop what has expired, so the cache stays small
		select {
		case <-old.done:
			if now().Sub(old.at) >= historyTTL {
				delete(c.entries, k)
			}
		default:
		}
	}
	c.mu.Unlock()
	e.jobs, e.complete, e.err = read(ctx)
	e.at = now()
	close(e.done)
	return e.jobs, e.complete, e.err
}
