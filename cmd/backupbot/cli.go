package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes, as `backupbot --help` documents them.
const (
	exitOK    = 0
	exitError = 1 // a runtime failure: the database unreachable, Slack refused, a check failed
	exitUsage = 2 // bad arguments or configuration
)

// configError is a problem with the arguments, the environment or the
// policy: the operator fixes it before trying again, so it exits with
// exitUsage. Every other error is a runtime failure.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// configErr marks err, if any, as a configuration error.
func configErr(err error) error {
	if err == nil {
		return nil
	}
	return configError{err}
}

// exitCode is the exit status for err.
func exitCode(err error) int {
	var ce configError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return exitUsage
	}
	return exitError
}

// command is one of backupbot's subcommands, for the help.
type command struct {
	name, args, summary string
}

func commands() []command {
	return []command{
		{"console", "[--user U…] [--channel C…] [--simulate] [--job-duration 8s]",
			"the bot in the terminal, as one user (the Commvault simulator unless COMMVAULT_API_URL is set)"},
		{"check", "[--simulate]", "check the configuration, policy, Commvault, Slack and the database, one line each"},
		{"audit", "[--since 24h] [--format jsonl|csv]", "print the audit trail"},
		{"simulator", "[--addr 127.0.0.1:8400]", "a standalone Commvault simulator on a port"},
		{"version", "", "the version and commit (also: backupbot --version)"},
		{"help", "[command]", "this help, or a command's (also: backupbot --help)"},
	}
}

const exitHelp = `Exit status:
  0  success
  1  a runtime failure: the database unreachable, Slack or Commvault refused or unreachable, a check failed
  2  a usage or configuration error: a bad flag or argument, a missing or malformed variable, an invalid policy
`

// writeHelp is `backupbot --help`: the commands, the bot's flags, every
// environment variable with its default, and the exit codes.
func writeHelp(w io.Writer, botFlags *flag.FlagSet) {
	fmt.Fprint(w, `backupbot: a Slack chat-ops bot that submits Commvault DynamoDB backups on
request, checked against a policy, and follows their jobs in the thread.

Usage:
  backupbot [--simulate]          run the Slack bot
  backupbot <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n`backupbot <command> --help` shows a command's flags.\n\nFlags of the bot:\n")
	botFlags.SetOutput(w)
	botFlags.PrintDefaults()
	fmt.Fprint(w, "\nEnvironment (read once at start-up; README.md has the details):\n")
	_ = writeEnvHelp(w)
	fmt.Fprint(w, "\n"+exitHelp)
}

// writeCommandHelp is `backupbot <command> --help`.
func writeCommandHelp(w io.Writer, fs *flag.FlagSet) {
	name := strings.TrimPrefix(fs.Name(), "backupbot ")
	for _, c := range commands() {
		if c.name == name {
			fmt.Fprintf(w, "Usage: backupbot %s %s\n\n%s.\n", c.name, c.args, upperFirst(c.summary))
		}
	}
	if hasFlags(fs) {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, "\nThe environment is the bot's: `backupbot --help` lists it.\n\n"+exitHelp)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseFlags parses a command's arguments, which take no positional ones.
// --help prints the help (help) to stdout; a bad flag or argument is
// reported on stderr. When ok is false the command returns code.
func parseFlags(fs *flag.FlagSet, args []string, help func(io.Writer), stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr) // flag's own message for a bad flag
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		help(stdout)
		return exitOK, false
	case err == nil && fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
	case err == nil:
		return exitOK, true
	}
	fmt.Fprintf(stderr, "%s --help shows the usage\n", fs.Name())
	return exitUsage, false
}
