package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot"
)

// runBot runs the Slack bot until ctx ends.
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

	pol, polName, err := loadPolicy(cfg, false)
	if err != nil {
		log.Error("policy", zap.Error(err))
		return exitUsage
	}
	cv, err := connectCommvault(ctx, cfg, *simulate, 0)
	if err != nil {
		log.Error("commvault", zap.Error(err))
		return exitUsage
	}
	defer cv.stop()
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
	log.Info("starting", zap.String("slack_team", who.TeamID), zap.String("bot_user", who.UserID),
		zap.String("policy", polName), zap.String("policy_hash", pol.Hash),
		zap.String("commvault", cv.url), zap.Bool("commvault_simulated", cv.simulated))

	b, err := bot.New(bot.Config{
		Chat: bot.NewSlackChat(api, log), Commvault: cv.client, Policy: func() *auth.Policy { return pol },
		Groups: bot.NewSlackGroups(api, nil), Store: st, Log: log, Command: cfg.Command, PollInterval: cfg.PollInterval,
	})
	if err != nil {
		log.Error("bot", zap.Error(err))
		return exitError
	}
	transport, err := bot.NewSlack(bot.SlackConfig{API: api, Handler: b, Log: log, Command: cfg.Command, Dedup: st})
	if err != nil {
		log.Error("slack", zap.Error(err))
		return exitError
	}
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
