package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot"
)

// slackTimeout bounds every Slack Web API call.
const slackTimeout = 30 * time.Second

// botOptions are the flags of `backupbot` (the Slack bot).
type botOptions struct {
	simulate, version bool
	clockOffset       time.Duration
}

func botFlagSet(o *botOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("backupbot", flag.ContinueOnError)
	fs.BoolVar(&o.simulate, "simulate", false, "use the built-in Commvault simulator instead of COMMVAULT_API_URL")
	fs.BoolVar(&o.version, "version", false, "print the version and commit, and exit")
	fs.DurationVar(&o.clockOffset, "clock-offset", 0, "pretend this machine's clock is off by this much (fault tests)")
	return fs
}

// runBot runs the Slack bot until ctx ends (SIGTERM or SIGINT), then
// drains: new commands are answered "restarting", work in flight finishes
// within BACKUPBOT_SHUTDOWN_TIMEOUT, and it exits 0.
func runBot(ctx context.Context, reloads <-chan os.Signal, args []string, stdout, stderr io.Writer) int {
	var o botOptions
	fs := botFlagSet(&o)
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeHelp(w, botFlagSet(new(botOptions))) }, stdout, stderr); !ok {
		return code
	}
	if o.version {
		return runVersion(nil, stdout, stderr)
	}
	cfg, err := botConfig(o.simulate)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.logLevel, false)
	defer func() { _ = log.Sync() }()
	now := func() time.Time { return time.Now().Add(o.clockOffset) } // this machine's clock, as the flag has it
	if err := serveBot(ctx, reloads, cfg, o.simulate, now, log); err != nil {
		code := exitCode(err)
		log.Error("stopped", zap.Error(err), zap.Int("exit_code", code))
		return code
	}
	log.Info("stopped")
	return exitOK
}

// botConfig reads the environment and checks what the Slack bot needs.
func botConfig(simulate bool) (config, error) {
	cfg, err := loadConfig()
	if err == nil {
		err = checkSlack(cfg)
	}
	if err == nil && !simulate {
		err = cfg.checkCommvault()
	}
	return cfg, err
}

// serveBot builds the bot and runs it until ctx ends. /healthz answers from
// the start; /readyz once Slack and the database are up.
// now is this machine's clock; the store follows the database's (on
// PostgreSQL, the server's), and the bot uses the store's.
func serveBot(ctx context.Context, reloads <-chan os.Signal, cfg config, simulate bool, now func() time.Time, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	m := registerMetrics(reg)
	policy, err := newPolicyHolder(cfg, m.policyInfo, log)
	if err != nil {
		return err
	}
	if reloads == nil { // not caught by main (tests): from here on
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reloads = hup
	}
	ready, stopOps, err := startOps(ctx, cfg, reg, policy, log)
	if err != nil {
		return err
	}
	defer stopOps()

	cv, err := connectCommvaultWith(ctx, cfg, simulate, 0, m.timeCommvault)
	if err != nil {
		return fmt.Errorf("commvault: %w", err)
	}
	defer cv.stop()
	ready.commvault.set(func(context.Context) error { return cv.client.Ready() })
	// slack-go's default HTTP client has no timeout: a stalled call would hang its caller.
	api := slack.New(cfg.SlackBotToken, slack.OptionAppLevelToken(cfg.SlackAppToken), slack.OptionAPIURL(cfg.SlackAPIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: slackTimeout}))
	who, err := authTest(ctx, api)
	if err != nil {
		return slackStartError(err, cfg.SlackAPIURL)
	}
	st, _, closeStore, err := openStoreAt(ctx, cfg, false, now)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := st.FollowServerClock(ctx); err != nil { // every expiry and age on one clock, whatever this machine's says
		return err
	}
	ready.database.set(st.Ping)
	cv.shareTokens(st) // an access token's chain lives in the database, shared by the replicas

	replica := replicaName()
	ver, rev := buildInfo()
	log.Info("starting", zap.String("version", ver), zap.String("commit", rev), zap.String("replica", replica),
		zap.String("slack_team", who.TeamID), zap.String("bot_user", who.UserID),
		zap.String("policy", cfg.Policy), zap.String("policy_hash", policy.get().Hash),
		zap.String("commvault", cv.url), zap.Bool("commvault_simulated", cv.simulated))
	chat := bot.NewSlackChat(api, log, m.bot)
	b, err := bot.New(bot.Config{
		Chat: chat, Commvault: cv.client, Policy: policy.get,
		Groups: bot.NewSlackGroups(api, now), Store: st, Metrics: m.bot, Log: log, Command: cfg.Command,
		PollInterval: cfg.PollInterval, Replica: replica, SubmitTimeout: cfg.CommvaultTimeout, Now: st.Now, JobURL: cfg.CommvaultJobURL,
		Retention: cfg.Retention.Duration, AuditRetention: cfg.AuditRetention.Duration,
		// Clicks must come from the workspace (and organisation) auth.test
		// names; the app is the one the socket-mode hellos name.
		Workspace: bot.Workspace{TeamID: who.TeamID, EnterpriseID: who.EnterpriseID},
	})
	if err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	transport, err := bot.NewSlack(bot.SlackConfig{API: api, AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL,
		Handler: b, Log: log, Command: cfg.Command, Connections: cfg.SlackConnections, Inbox: st, Replica: replica,
		Metrics: m.bot})
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	ready.slack.set(func(context.Context) error { return transport.Ready() })
	err = runUntilDone(ctx, reloads, cfg, b, transport, policy)
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := chat.Flush(flushCtx); ferr != nil { // the cards' last updates go out before the exit
		log.Warn("shutdown", zap.Error(ferr))
	}
	return err
}

// botReadiness is what /readyz checks besides the policy: set as each comes up.
type botReadiness struct {
	slack, database, commvault lateCheck
}

// startOps serves /healthz, /readyz and /metrics on BACKUPBOT_HTTP_ADDR.
func startOps(ctx context.Context, cfg config, reg *prometheus.Registry, policy *policyHolder,
	log *zap.Logger) (*botReadiness, func(), error) {
	ready := &botReadiness{}
	stop, err := serveOps(ctx, cfg.HTTPAddr, opsHandler(reg, []readiness{
		{"slack socket connected", ready.slack.check},
		{"database reachable", ready.database.check},
		{"policy loaded", func(context.Context) error { return policy.ready() }},
		{"commvault credentials", ready.commvault.check},
	}, log), log)
	return ready, stop, err
}

// runUntilDone follows jobs and serves Slack until ctx ends, re-reading the
// policy on SIGHUP. Jobs are followed until the transport has drained.
func runUntilDone(ctx context.Context, reloads <-chan os.Signal, cfg config, b *bot.Bot, transport *bot.Slack, policy *policyHolder) error {
	go func() { // a SIGHUP queued during start-up is served first
		for {
			select {
			case <-ctx.Done():
				return
			case <-reloads:
				policy.reload(cfg.Policy)
			}
		}
	}()

	follow, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	followed := make(chan error, 1)
	go func() { followed <- b.Run(follow) }()
	err := transport.Run(ctx, cfg.ShutdownTimeout)
	stopFollowing()
	<-followed
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// replicaName names this process among the replicas: the host name and a
// random suffix.
func replicaName() string {
	host, _ := os.Hostname()
	return host + "-" + randomHex(3)
}

// authTest checks the bot token and learns who the bot is.
func authTest(ctx context.Context, api *slack.Client) (*slack.AuthTestResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return api.AuthTestContext(ctx)
}

// slackStartError says why auth.test failed at start-up: Slack refused the
// bot token, or Slack could not be reached at all.
func slackStartError(err error, apiURL string) error {
	var se slack.SlackErrorResponse
	var sce slack.StatusCodeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("slack refused SLACK_BOT_TOKEN: auth.test says %s", se.Err)
	case errors.As(err, &sce):
		return fmt.Errorf("slack auth.test at %s: HTTP %s", apiURL, sce.Status)
	}
	return fmt.Errorf("cannot reach Slack at %s: %s", apiURL, netProblem(err))
}

func checkSlack(cfg config) error {
	switch {
	case cfg.SlackAppToken == "":
		return errors.New("SLACK_APP_TOKEN: required to run the Slack bot (an xapp-… app-level token)")
	case cfg.SlackBotToken == "":
		return errors.New("SLACK_BOT_TOKEN: required to run the Slack bot (an xoxb-… bot token)")
	}
	return nil
}
