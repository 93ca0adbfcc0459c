// Command backupbot is a chat-ops bot that submits Commvault DynamoDB
// backups on request, with a policy, and follows their jobs.
//
//	backupbot                 the Slack bot
//	backupbot console         the same core, driven from the terminal
//	backupbot audit           print the audit trail
//	backupbot check           check the configuration, Commvault and Slack
//	backupbot version         the version and commit
//	backupbot simulator       a standalone Commvault simulator
//
// Configuration is read from the environment (see README.md).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // something failed while running
	exitUsage = 2 // bad arguments or configuration
)

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
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
		return runBot(ctx, args, stderr)
	case "version":
		return runVersion(stdout)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "backupbot: unknown command %q\n%s", sub, usage)
	return exitUsage
}

const usage = `usage:
  backupbot [--simulate]                              run the Slack bot
  backupbot console [--user U…] [--channel C…] [--simulate]
                                                      the bot in the terminal, as one user
  backupbot audit [--since 24h] [--format jsonl|csv]  print the audit trail
  backupbot check [--simulate]                        check config, policy, Commvault, Slack, database
  backupbot version                                   the version and commit
  backupbot simulator [--addr 127.0.0.1:8400]         a Commvault simulator on a port
Configuration comes from the environment; see README.md.
`
