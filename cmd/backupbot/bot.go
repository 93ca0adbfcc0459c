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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// runBot runs the Slack bot until ctx ends (SIGTERM or SIGINT), then
// drains: new commands are answered "restarting", work in flight finishes
// within BACKUPBOT_SHUTDOWN_TIMEOUT, and it exits 0.
func runBot(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	simulate := fs.Bool("simulate", false, "use the built-in Commvault simulator")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig()
	if err == nil {
		err = checkSlack(cfg)
	}
	if err == nil && !*simulate {
		err = cfg.checkCommvault()
	}
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.logLevel, false)
	defer func() { _ = log.Sync() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoMetric())
	metrics := bot.NewMetrics(reg)
	policy, err := newPolicyHolder(cfg, reg, log)
	if err != nil {
		log.Error("policy", zap.Error(err))
		return exitUsage
	}
	// /healthz answers from here on; /readyz once Slack and the database are up.
	var slackUp atomic.Pointer[bot.Slack]
	var dbUp atomic.Pointer[store.DB]
	var cvUp atomic.Pointer[commvault.Client]
	stopOps, err := serveOps(ctx, cfg.HTTPAddr, opsHandler(reg, []readiness{
		{"slack socket connected", func(context.Context) error {
			if t := slackUp.Load(); t != nil {
				return t.Ready()
			}
			return errors.New("starting")
		}},
		{"database reachable", func(ctx context.Context) error {
			if st := dbUp.Load(); st != nil {
				return st.Ping(ctx)
			}
			return errors.New("starting")
		}},
		{"policy loaded", func(context.Context) error { return policy.ready() }},
		commvaultReady(&cvUp),
	}), log)
	if err != nil {
		log.Error("http", zap.Error(err))
		return exitUsage
	}
	defer stopOps()
	cv, err := connectCommvaultWith(ctx, cfg, *simulate, 0, commvaultMetrics(reg))
	if err != nil {
		log.Error("commvault", zap.Error(err))
		return exitUsage
	}
	defer cv.stop()
	cvUp.Store(cv.client)

	api := slack.New(cfg.SlackBotToken, slack.OptionAppLevelToken(cfg.SlackAppToken), slack.OptionAPIURL(cfg.SlackAPIURL))
	who, err := authTest(ctx, api)
	if err != nil {
		log.Error("slack auth.test: the bot token does not work", zap.Error(err))
		return exitError
	}
	st, _, closeStore, err := openStore(ctx, cfg, false)
	if err != nil {
		log.Error("store", zap.Error(err))
		return exitUsage
	}
	defer closeStore()
	dbUp.Store(st)
	cv.shareTokens(st)
	ver, rev := buildInfo()
	host, _ := os.Hostname()
	replica := host + "-" + randomHex(3)
	log.Info("starting", zap.String("version", ver), zap.String("commit", rev), zap.String("replica", replica),
		zap.String("slack_team", who.TeamID), zap.String("bot_user", who.UserID),
		zap.String("policy", cfg.Policy), zap.String("policy_hash", policy.get().Hash),
		zap.String("commvault", cv.url), zap.Bool("commvault_simulated", cv.simulated))

	b, err := bot.New(bot.Config{
		Chat: bot.NewSlackChat(api, log, metrics), Commvault: cv.client, Policy: policy.get,
		Groups: bot.NewSlackGroups(api, nil), Store: st, Metrics: metrics, Log: log, Command: cfg.Command,
		PollInterval: cfg.PollInterval, Replica: replica, SubmitTimeout: cfg.CommvaultTimeout,
	})
	if err != nil {
		log.Error("bot", zap.Error(err))
		return exitError
	}
	transport, err := bot.NewSlack(bot.SlackConfig{API: api, Handler: b, Log: log, Command: cfg.Command,
		Inbox: st, Replica: replica, Metrics: metrics})
	if err != nil {
		log.Error("slack", zap.Error(err))
		return exitError
	}
	slackUp.Store(transport)

	reloads := make(chan os.Signal, 1)
	signal.Notify(reloads, syscall.SIGHUP)
	defer signal.Stop(reloads)
	go func() {
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
	err = transport.Run(ctx, cfg.ShutdownTimeout)
	stopFollowing()
	<-followed
	if err != nil {
		log.Error("slack", zap.Error(err))
		return exitError
	}
	log.Info("stopped")
	return exitOK
}

// policyHolder is the policy in force; SIGHUP replaces it with a valid new
// one, and an invalid file leaves it as it is.
type policyHolder struct {
	p    atomic.Pointer[auth.Policy]
	info *prometheus.GaugeVec
	log  *zap.Logger
}

func newPolicyHolder(cfg config, reg prometheus.Registerer, log *zap.Logger) (*policyHolder, error) {
	pol, _, err := loadPolicy(cfg, false)
	if err != nil {
		return nil, err
	}
	h := &policyHolder{log: log, info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "backupbot_policy_info",
		Help: "The policy in force, by the hash of its file."}, []string{"hash"})}
	reg.MustRegister(h.info)
	h.set(pol)
	return h, nil
}

func (h *policyHolder) get() *auth.Policy { return h.p.Load() }

func (h *policyHolder) set(pol *auth.Policy) {
	h.p.Store(pol)
	h.info.Reset()
	h.info.WithLabelValues(pol.Hash).Set(1)
}

func (h *policyHolder) ready() error {
	if h.get() == nil {
		return errors.New("no policy")
	}
	return nil
}

// reload re-reads the policy file.
func (h *policyHolder) reload(path string) {
	pol, err := auth.Load(path)
	if err != nil {
		h.log.Error("policy reload rejected; the active policy stays", zap.String("active_hash", h.get().Hash), zap.Error(err))
		return
	}
	h.set(pol)
	h.log.Info("policy reloaded", zap.String("policy", path), zap.String("policy_hash", pol.Hash))
}

// commvaultMetrics times every Commvault request by method and status.
func commvaultMetrics(reg prometheus.Registerer) func(http.RoundTripper) http.RoundTripper {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "backupbot_commvault_request_seconds",
		Help: "Commvault REST requests, by method and HTTP status.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)},
		[]string{"method", "code"})
	reg.MustRegister(h)
	return func(rt http.RoundTripper) http.RoundTripper { return promhttp.InstrumentRoundTripperDuration(h, rt) }
}

// authTest checks the bot token and learns who the bot is.
func authTest(ctx context.Context, api *slack.Client) (*slack.AuthTestResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return api.AuthTestContext(ctx)
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
