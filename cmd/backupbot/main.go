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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

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
		return runBot(ctx, args, stdout, stderr)
	case "version":
		return runVersion(args, stdout, stderr)
	case "help":
		switch {
		case len(args) == 0 || (len(args) == 1 && args[0] == "help"):
			return runBot(ctx, []string{"--help"}, stdout, stderr)
		case len(args) == 1 && isCommand(args[0]):
			return run(ctx, []string{args[0], "--help"}, stdin, stdout, stderr)
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
