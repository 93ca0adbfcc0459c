package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

// runSimulator serves the Commvault simulator on a port until interrupted.
func runSimulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot simulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8400", "address to listen on")
	user := fs.String("username", "admin", "username POST /Login accepts")
	pass := fs.String("password", "simulator", "password POST /Login accepts")
	token := fs.String("token", "", "a static Authtoken to accept as well (default: none)")
	dur := fs.Duration("job-duration", 0, "how long a job takes from Waiting to Completed (default 8s)")
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeCommandHelp(w, fs) }, stdout, stderr); !ok {
		return code
	}
	cfg := simulator.Config{Username: *user, Password: *pass, JobDuration: *dur,
		History: simulator.SampleHistory(simulator.Catalogue(), time.Now())}
	if *token != "" {
		cfg.Tokens = []string{*token}
	}
	err := simulator.ListenAndServe(ctx, *addr, cfg, func(url string) {
		fmt.Fprintf(stdout, "Commvault simulator at %s\n", url)
		fmt.Fprintf(stdout, "  COMMVAULT_API_URL=%s COMMVAULT_USERNAME=%s COMMVAULT_PASSWORD=<the --password>\n", url, *user)
		fmt.Fprintln(stdout, "Ctrl-C stops it.")
	})
	if err != nil {
		fmt.Fprintf(stderr, "backupbot simulator: %v\n", err)
		return exitError
	}
	return exitOK
}
