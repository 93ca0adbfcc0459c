package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/backupbot/backupbot/bot/store"
)

// runAudit prints the audit trail: who asked, who decided, what ran, what
// happened.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot audit", flag.ContinueOnError)
	since := fs.Duration("since", 24*time.Hour, "how far back to go")
	format := fs.String("format", "jsonl", "jsonl or csv")
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeCommandHelp(w, fs) }, stdout, stderr); !ok {
		return code
	}
	if *format != "jsonl" && *format != "csv" {
		fmt.Fprintf(stderr, "backupbot audit: --format %q: use jsonl or csv\n", *format)
		return exitUsage
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return exitUsage
	}
	st, _, closeStore, err := openStore(ctx, cfg, false)
	if err != nil {
		fmt.Fprintf(stderr, "backupbot audit: %v\n", err)
		return exitCode(err)
	}
	defer closeStore()
	events, err := st.AuditSince(ctx, time.Now().Add(-*since))
	if err != nil {
		fmt.Fprintf(stderr, "backupbot audit: %v\n", err)
		return exitError
	}
	if *format == "csv" {
		err = writeCSV(stdout, events)
	} else {
		err = writeJSONL(stdout, events)
	}
	if err != nil {
		fmt.Fprintf(stderr, "backupbot audit: %v\n", err)
		return exitError
	}
	return exitOK
}

// auditLine is one event as exported.
type auditLine struct {
	At         string `json:"at"`
	Request    string `json:"request,omitempty"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	Rule       string `json:"rule,omitempty"`
	Account    string `json:"account,omitempty"`
	TableGroup string `json:"tablegroup,omitempty"`
	Channel    string `json:"channel,omitempty"`
	Detail     string `json:"detail,omitempty"`
	Review     bool   `json:"review,omitempty"`
}

func lineOf(e store.Event) auditLine {
	return auditLine{At: e.At.UTC().Format(time.RFC3339Nano), Request: e.RequestID, Actor: e.Actor, Action: e.Action,
		Rule: e.Rule, Account: e.Account, TableGroup: e.TableGroup, Channel: e.Channel, Detail: e.Detail, Review: e.Review}
}

func writeJSONL(w io.Writer, events []store.Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(lineOf(e)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

func writeCSV(w io.Writer, events []store.Event) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"at", "request", "actor", "action", "rule", "account", "tablegroup", "channel", "detail", "review"})
	for _, e := range events {
		l := lineOf(e)
		_ = cw.Write([]string{l.At, l.Request, l.Actor, l.Action, l.Rule, l.Account, l.TableGroup, l.Channel, l.Detail,
			strconv.FormatBool(l.Review)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
