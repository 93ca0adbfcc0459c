package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// runBot runs the Slack bot.
func runBot(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	simulate := fs.Bool("simulate", false, "use the built-in Commvault simulator")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	if err := checkSlack(cfg); err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	if _, _, err := loadPolicy(cfg, false); err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	if !*simulate {
		if err := cfg.checkCommvault(); err != nil {
			fmt.Fprintf(stderr, "backupbot: %v\n", err)
			return exitUsage
		}
	}
	_ = ctx
	fmt.Fprintln(stderr, "backupbot: the configuration is valid, but the Slack transport arrives in a later version; "+
		"`backupbot console` runs the same bot in the terminal")
	return exitError
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
