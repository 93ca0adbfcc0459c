package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot"
)

// Defaults of `backupbot console`: a user and a channel that the sample
// policy knows.
const (
	consoleUser    = "U0CONSOLE"
	consoleChannel = "C01OPS"
)

// runConsole runs the bot core in the terminal for one user.
func runConsole(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", consoleUser, "the Slack user ID you act as")
	channel := fs.String("channel", consoleChannel, "the Slack channel ID you type in")
	simulate := fs.Bool("simulate", false, "use the built-in Commvault simulator even if COMMVAULT_API_URL is set")
	jobDuration := fs.Duration("job-duration", 0, "with the simulator: how long a job takes (default 8s)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	if _, set := os.LookupEnv("BACKUPBOT_LOG_LEVEL"); !set {
		cfg.logLevel = cfg.logLevel + 1 // warnings only: the terminal is for the conversation
	}
	log := newLogger(stderr, cfg.logLevel, true)
	defer func() { _ = log.Sync() }()

	pol, polName, err := loadPolicy(cfg, true)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	simulated := *simulate || cfg.CommvaultURL == ""
	if err := consoleKeepsTokens(cfg, simulated); err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	cv, err := connectCommvault(ctx, cfg, simulated, *jobDuration)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	defer cv.stop()
	st, dbURL, closeStore, err := openStore(ctx, cfg, true)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	defer closeStore()
	cv.shareTokens(st)
	interval := cfg.PollInterval
	if _, set := os.LookupEnv("BACKUPBOT_JOB_POLL_INTERVAL"); !set && cv.simulated {
		interval = time.Second // the simulator's jobs take seconds, not hours
	}

	con := bot.NewConsole(stdout, nil)
	b, err := bot.New(bot.Config{
		Chat: con, Commvault: cv.client, Policy: func() *auth.Policy { return pol },
		Groups: auth.StaticGroups(pol.Groups), Store: st, Log: log, Command: cfg.Command, PollInterval: interval,
	})
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitError
	}
	if cv.simulated {
		con.Printf("backupbot console — Commvault: built-in simulator at %s (COMMVAULT_API_URL is not set, or --simulate)", cv.url)
	} else {
		con.Printf("backupbot console — Commvault: %s", cv.url)
	}
	con.Printf("Policy %s, hash %s. State in %s. You are %s in channel %s.", polName, pol.Hash, dbURL, *user, *channel)
	con.Printf("Type %s help, or %s dynamodb demo orders full before the migration; approve <id> [--as U…] "+
		"or deny <id> [--as U…] [reason] click a card's buttons as an approver. quit or Ctrl-D ends.", cfg.Command, cfg.Command)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follower := make(chan error, 1)
	go func() { follower <- b.Run(ctx) }()
	sess := bot.ConsoleSession{Bot: b, Console: con, User: *user, Channel: *channel, Prompt: isTerminal(stdin)}
	err = sess.Run(ctx, stdin)
	cancel()
	<-follower
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitError
	}
	return exitOK
}

// isTerminal reports whether r is a character device, like a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
