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
	user := fs.String("user", consoleUser, "the Slack user ID you act as")
	channel := fs.String("channel", consoleChannel, "the Slack channel ID you type in")
	simulate := fs.Bool("simulate", false, "use the built-in Commvault simulator even if COMMVAULT_API_URL is set")
	jobDuration := fs.Duration("job-duration", 0, "with the simulator: how long a job takes (default 8s)")
	impersonate := fs.Bool("allow-impersonation", false,
		"let approve and deny decide in an approver's name on BACKUPBOT_DATABASE_URL (the bot's own database); marked in the audit trail")
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeCommandHelp(w, fs) }, stdout, stderr); !ok {
		return code
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	if !cfg.isSet("BACKUPBOT_LOG_LEVEL") {
		cfg.logLevel = cfg.logLevel + 1 // warnings only: the terminal is for the conversation
	}
	log := newLogger(stderr, cfg.logLevel, true)
	defer func() { _ = log.Sync() }()

	pol, polName, err := loadPolicy(cfg, true)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitCode(err)
	}
	simulated := *simulate || cfg.CommvaultURL == ""
	if err := consoleKeepsTokens(cfg, simulated); err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	cv, err := connectCommvault(ctx, cfg, simulated, *jobDuration)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitCode(err)
	}
	defer cv.stop()
	st, dbURL, closeStore, err := openStore(ctx, cfg, true)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitCode(err)
	}
	defer closeStore()
	cv.shareTokens(st)
	interval := cfg.PollInterval
	if !cfg.isSet("BACKUPBOT_JOB_POLL_INTERVAL") && cv.simulated {
		interval = time.Second // the simulator's jobs take seconds, not hours
	}

	con := bot.NewConsole(stdout, nil)
	b, err := bot.New(bot.Config{
		Chat: con, Commvault: cv.client, Policy: func() *auth.Policy { return pol },
		Groups: auth.StaticGroups(pol.Groups), Store: st, Log: log, Command: cfg.Command, PollInterval: interval, Now: st.Now,
		Retention: cfg.Retention.Duration, AuditRetention: cfg.AuditRetention.Duration, JobURL: cfg.CommvaultJobURL,
	})
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitError
	}
	con.Printf("%s", consoleBanner(cfg, cv, polName+", hash "+pol.Hash, dbURL, *user, *channel))

	sess := bot.ConsoleSession{Bot: b, Console: con, User: *user, Channel: *channel, Prompt: isTerminal(stdin),
		SharedStore: cfg.isSet("BACKUPBOT_DATABASE_URL"), AllowImpersonation: *impersonate}
	if err := runSession(ctx, b, sess, stdin); err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitError
	}
	return exitOK
}

// runSession reads the session's input while the bot follows its jobs.
func runSession(ctx context.Context, b *bot.Bot, sess bot.ConsoleSession, stdin io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follower := make(chan error, 1)
	go func() { follower <- b.Run(ctx) }()
	err := sess.Run(ctx, stdin)
	cancel()
	<-follower
	return err
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

// consoleBanner says where the console's Commvault, policy and state are,
// and what to type.
func consoleBanner(cfg config, cv commvaultConn, policy, dbURL, user, channel string) string {
	where := "Commvault: " + cv.url
	if cv.simulated {
		where = "Commvault: built-in simulator at " + cv.url + " (COMMVAULT_API_URL is not set, or --simulate)"
	}
	return fmt.Sprintf("backupbot console — %s\nPolicy %s. State in %s. You are %s in channel %s.\n"+
		"Type %s help, %s dynamodb demo orders full before the migration, or %s history demo orders; "+
		"approve <id> [--as U…] or deny <id> [--as U…] [reason] click a card's buttons as an approver. quit or Ctrl-D ends.",
		where, policy, dbURL, user, channel, cfg.Command, cfg.Command, cfg.Command)
}
