// Command backupbot is a chat-ops bot that submits Commvault DynamoDB
// backups on request, with a policy, and follows their jobs.
//
//	backupbot                 the Slack bot
//	backupbot console         the same core, driven from the terminal
//	backupbot audit           print the audit trail
//	backupbot check           check the configuration, Commvault and Slack
//	backupbot version         the version and commit
//	backupbot simulator       a standalone Commvault simulator
//	backupbot help            the commands, the environment, the exit codes
//
// Configuration is read from the environment: `backupbot --help` lists
// every variable with its default.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

func main() {
	// First of all: a SIGHUP's default action ends the process, and one can
	// come at any time, during start-up too. Caught from here on, it is
	// queued until the bot is up, which then re-reads the policy.
	reloads := make(chan os.Signal, 1)
	signal.Notify(reloads, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWith(ctx, reloads, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, nil, args, stdin, stdout, stderr)
}

// runWith is run with the SIGHUPs main caught (nil: the bot catches its
// own once it is up).
func runWith(ctx context.Context, reloads <-chan os.Signal, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "console":
		return runConsole(ctx, args, stdin, stdout, stderr)
	case "simulator":
		return runSimulator(ctx, args, stdout, stderr)
	case "audit":
		return runAudit(ctx, args, stdout, stderr)
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "", "bot":
		return runBot(ctx, reloads, args, stdout, stderr)
	case "version":
		return runVersion(args, stdout, stderr)
	case "help":
		switch {
		case len(args) == 0 || (len(args) == 1 && args[0] == "help"):
			return runBot(ctx, nil, []string{"--help"}, stdout, stderr)
		case len(args) == 1 && isCommand(args[0]):
			return runWith(ctx, reloads, []string{args[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprintf(stderr, "backupbot help: no command %q (backupbot --help lists them)\n", args[0])
		return exitUsage
	}
	fmt.Fprintf(stderr, "backupbot: unknown command %q (backupbot --help lists them)\n", sub)
	return exitUsage
}

func isCommand(name string) bool {
	return slices.ContainsFunc(commands(), func(c command) bool { return c.name == name })
}
