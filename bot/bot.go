// Package bot is backupbot's conversation: it parses slash commands, checks
// them against the policy, submits Commvault backups, and follows their jobs,
// talking to people through a small Chat interface that Slack and the console
// both implement.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// backups is what the core needs from Commvault; *commvault.Client has it.
type backups interface {
	Subclients(ctx context.Context, client string) ([]commvault.Subclient, error)
	TableGroup(ctx context.Context, client, name string) (commvault.Subclient, error)
	CreateBackup(ctx context.Context, sc commvault.Subclient, level commvault.Level) (commvault.Task, error)
	Job(ctx context.Context, id string) (commvault.Job, error)
	Jobs(ctx context.Context, clientID int, finishedWithin time.Duration) ([]commvault.Job, error)
	TableGroupJobs(ctx context.Context, sc commvault.Subclient, within time.Duration) ([]commvault.Job, bool, error)
	KillJob(ctx context.Context, id string) error
}

// requests is what the flows need of the store; *store.DB is one.
type requests interface {
	Create(ctx context.Context, r store.Request, e store.Event) error
	Get(ctx context.Context, id string) (store.Request, error)
	Transition(ctx context.Context, id string, from []store.State, ch store.Change) (store.Request, error)
	SetParentTS(ctx context.Context, id, ts string) (set bool, recorded string, err error)
	Hold(ctx context.Context, id, owner string, until time.Time) (bool, error)
	ByState(ctx context.Context, states ...store.State) ([]store.Request, error)
	Followed(ctx context.Context, unknownSince time.Time) ([]store.Request, error)
	Transitions(ctx context.Context, id string) ([]store.Transition, error)
	Audit(ctx context.Context, e store.Event) error
	JobEnded(ctx context.Context, requestID, jobID, status string, at time.Time, tell []byte, e *store.Event) (first bool, notice int64, err error)
	EndedJobs(ctx context.Context, requestID string) (map[string]string, error)
}

// outbox is what telling a thread needs of the store: the notices a
// request's thread must still be told.
type outbox interface {
	Untold(ctx context.Context, requestID string) ([]store.Notice, error)
	DueNotices(ctx context.Context, limit int) ([]store.Notice, error)
	NoticePosted(ctx context.Context, id int64) error
	NoticeFailed(ctx context.Context, id int64, retryIn time.Duration) error
}

// leases is what job following needs so that one replica at a time does
// it, and what it needs to keep the store within its retention.
type leases interface {
	Lease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	Purge(ctx context.Context, requestsBefore, auditBefore time.Time) (requests, events int64, err error)
	ForgetInboxField(ctx context.Context, key string, undoneAfter time.Duration) (int64, error)
}

// storage is where the bot keeps its state; *store.DB is one.
type storage interface {
	requests
	outbox
	leases
}

// Config is what New needs. Chat, Commvault, Policy and Groups are required.
type Config struct {
	Chat         Chat
	Commvault    backups
	Policy       func() *auth.Policy // the policy in force now (it may be reloaded)
	Groups       auth.GroupLookup
	Store        storage  // requests, transitions, audit trail, the followers lease: a *store.DB
	Metrics      *Metrics // default: registered nowhere
	Log          *zap.Logger
	Command      string           // the slash command's name; default "/backup"
	PollInterval time.Duration    // how often followed jobs are polled; default 30s
	Now          func() time.Time // default time.Now
	NewID        func() string    // error references, and request IDs outside Slack; default random hex
	Replica      string           // this process's name among replicas; default host and a random suffix
	// SubmitTimeout is the Commvault client's timeout: CreateTask is given
	// four times it. Default 30s.
	SubmitTimeout time.Duration
	// Retention is how long requests that ended are kept, with their
	// transitions; AuditRetention how long the audit trail is (at least as
	// long). Defaults 400 days.
	Retention, AuditRetention time.Duration
	// JobURL links every job ID in messages to its page: a URL holding
	// {jobId}, such as https://cs.example.com/commandcenter/#/jobs/{jobId}.
	// Empty: plain IDs.
	JobURL string
	// Workspace is where clicks must come from (see Workspace); zero
	// outside Slack.
	Workspace Workspace
}

// Bot runs the conversation. Handle serves one command; Run follows jobs.
type Bot struct {
	chat         Chat
	cv           backups
	policy       func() *auth.Policy
	groups       auth.GroupLookup
	store        storage
	metrics      *Metrics
	log          *zap.Logger
	command      string
	interval     time.Duration
	now          func() time.Time
	newID        func() string
	newRequestID func() string
	replica      string

	submitTimeout time.Duration
	retention     time.Duration
	auditKeep     time.Duration
	holdEvery     time.Duration // how often a held request's hold is renewed
	parentRetry   time.Duration // the first wait before recording a parent message again
	links         jobLinks

	mu      sync.Mutex
	missing map[string]int // polls in a row a followed job had no record, by job ID
	purged  time.Time      // when retention last ran
	limited int            // polls in a row Commvault answered 429 (backoff)

	histories historyCache // recent job listings, by table group
	reads     readLimit    // status and history asked, by user

	workspace  Workspace     // where clicks must come from
	app        string        // the Slack app clicks must be for (under mu): configured, or the first hello's
	announcing chan struct{} // one token for each audit channel announcement being posted
	scrubbed   time.Time     // when response URLs were last scrubbed from the inbox
}

// defaultRetention is how long ended requests and the audit trail are kept
// by default: 400 days, longer than a year's audit cycle.
const defaultRetention = 400 * 24 * time.Hour

// New checks cfg and returns a Bot.
func New(cfg Config) (*Bot, error) {
	switch {
	case cfg.Chat == nil:
		return nil, errors.New("new bot: no chat")
	case cfg.Commvault == nil:
		return nil, errors.New("new bot: no commvault client")
	case cfg.Policy == nil || cfg.Policy() == nil:
		return nil, errors.New("new bot: no policy")
	case cfg.Groups == nil:
		return nil, errors.New("new bot: no group lookup")
	case cfg.Store == nil:
		return nil, errors.New("new bot: no store")
	case cfg.JobURL != "" && !strings.Contains(cfg.JobURL, "{jobId}"):
		return nil, errors.New("new bot: the job URL has no {jobId}")
	}
	b := &Bot{
		chat: cfg.Chat, cv: cfg.Commvault, policy: cfg.Policy, groups: cfg.Groups, store: cfg.Store, metrics: cfg.Metrics,
		log: cfg.Log, command: cfg.Command, interval: cfg.PollInterval, now: cfg.Now, newID: cfg.NewID,
		replica: cfg.Replica, submitTimeout: cfg.SubmitTimeout, retention: cfg.Retention, auditKeep: cfg.AuditRetention,
		holdEvery: holdTTL / 3, parentRetry: 200 * time.Millisecond, links: jobLinks{template: cfg.JobURL},
		missing: make(map[string]int), histories: newHistoryCache(), reads: newReadLimit(),
		workspace: cfg.Workspace, app: cfg.Workspace.AppID, announcing: make(chan struct{}, maxAnnouncing),
	}
	if b.log == nil {
		b.log = zap.NewNop()
	}
	if b.metrics == nil {
		b.metrics = NewMetrics(prometheus.NewRegistry())
	}
	if b.command == "" {
		b.command = "/backup"
	}
	if b.interval <= 0 {
		b.interval = 30 * time.Second
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.newID == nil {
		b.newID = randomID
		b.newRequestID = func() string { return randomHex(6) }
	} else {
		b.newRequestID = b.newID
	}
	if b.replica == "" {
		b.replica = replicaName()
	}
	if b.submitTimeout <= 0 {
		b.submitTimeout = 30 * time.Second
	}
	if b.retention <= 0 {
		b.retention = defaultRetention
	}
	b.auditKeep = max(b.auditKeep, b.retention)
	return b, nil
}

// replicaName names this process among replicas: its host and a random
// suffix (a restarted process is another replica).
func replicaName() string {
	host, _ := os.Hostname()
	return host + "-" + randomID()
}

// randomID is 24 random bits in hex: error references and replica names.
func randomID() string { return randomHex(3) }

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(p)
}

// turn is one command or click being served: what came in (who, where,
// and the way back to them) and the logger that names it. The flows that
// answer the caller take it; what runs on after the answer (a submission,
// job following) logs only.
type turn struct {
	in    Input
	log   *zap.Logger
	click *Click // the button press being served, if it is one: it must be on the request's own card
	via   string // "console" when a console decision acts in someone's name
}

func (b *Bot) newTurn(in Input) *turn {
	return &turn{in: in, log: b.log.With(zap.String("user", in.User), zap.String("channel", in.Channel))}
}

// Handle serves one slash command from start to the end of its submission;
// the jobs it starts are followed by Run. Every outcome reaches the caller:
// usage errors, refusals and answers privately, backups in the channel.
func (b *Bot) Handle(ctx context.Context, in Input) {
	t := b.newTurn(in)
	cmd, err := parse(in.Text)
	if err != nil {
		b.outcome(t, "", "usage-error", zap.Error(err))
		b.reply(ctx, t, usageAnswer(b.command, err))
		return
	}
	t.log = t.log.With(zap.String("command", string(cmd.Kind)))
	switch cmd.Kind {
	case kindHelp:
		b.outcome(t, kindHelp, "help")
		b.reply(ctx, t, b.help(ctx, t.in))
	case kindList:
		b.list(ctx, t, cmd)
	case kindStatus:
		b.status(ctx, t, cmd)
	case kindCancel:
		b.cancel(ctx, t, cmd)
	case kindHistory:
		b.history(ctx, t, cmd)
	case kindBackup, kindEmergency:
		b.backup(ctx, t, cmd)
	default:
		b.internalError(ctx, t, fmt.Errorf("command kind %q has no handler", cmd.Kind))
	}
}

// Receipt is what the sender of a slash command sees at once, before the
// command is served: a backup request shows within a second that it is
// under way, however long Commvault takes to list the table groups. It
// parses the text, and nothing else: it must be quick.
func (b *Bot) Receipt(in Input) *Message {
	cmd, err := parse(in.Text)
	if err != nil || (cmd.Kind != kindBackup && cmd.Kind != kindEmergency) {
		return nil
	}
	m := receiptAnswer(cmd)
	return &m
}

// Click serves one button press: Approve or Deny on an approval card.
func (b *Bot) Click(ctx context.Context, c Click) {
	t := b.newTurn(Input{User: c.User, Channel: c.Channel, ResponseURL: c.ResponseURL})
	t.log = t.log.With(zap.String("action", c.ActionID), zap.String("request", c.Value))
	t.click = &c
	if why := b.foreign(c); why != "" {
		b.clickFromElsewhere(ctx, t, why)
		return
	}
	switch c.ActionID {
	case ActionApprove:
		b.decide(ctx, t, c.Value, c.MessageTS, true, "")
	case ActionDeny:
		b.decide(ctx, t, c.Value, c.MessageTS, false, "")
	default:
		t.log.Info("click", zap.String("outcome", "no-such-button"))
		b.reply(ctx, t, noSuchButtonAnswer())
	}
}

// reply shows m to the caller only. A failure to reach the caller is logged:
// there is no one else to tell.
func (b *Bot) reply(ctx context.Context, t *turn, m Message) {
	if err := b.chat.Ephemeral(ctx, t.in, m); err != nil {
		t.log.Error("private answer", zap.Error(err))
	}
}

// internalError logs err under a fresh reference and shows the caller only
// the reference.
func (b *Bot) internalError(ctx context.Context, t *turn, err error) {
	ref := b.newID()
	t.log.Error("internal error", zap.String("ref", ref), zap.Error(err))
	b.metrics.internal.Inc()
	b.reply(ctx, t, internalErrorAnswer(ref))
}
