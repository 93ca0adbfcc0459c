package main

import (
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errs syncBuffer
			if code := run(t.Context(), args, strings.NewReader(""), &out, &errs); code != exitOK {
				t.Fatalf("exit %d, want 0; stderr %q", code, errs.String())
			}
			if errs.String() != "" {
				t.Errorf("stderr = %q, want the help on stdout only", errs.String())
			}
			help := out.String()
			for _, c := range commands() {
				if !strings.Contains(help, "  "+c.name+" ") {
					t.Errorf("help does not list the command %s", c.name)
				}
			}
			for _, want := range []string{"--simulate", "--version", "Exit status", "  2  a usage or configuration error"} {
				if !strings.Contains(help, want) {
					t.Errorf("help lacks %q", want)
				}
			}
			// Every variable config reads, with its default.
			ct := reflect.TypeFor[config]()
			for i := range ct.NumField() {
				f := ct.Field(i)
				name := f.Tag.Get("envconfig")
				if name == "" {
					continue
				}
				def := f.Tag.Get("default")
				if def == "" {
					def = "-"
				}
				if !strings.Contains(help, "  "+name+" ") || !strings.Contains(helpLine(help, name), " "+def+" ") {
					t.Errorf("help does not list %s with its default %q: %q", name, def, helpLine(help, name))
				}
			}
		})
	}
}

// helpLine is the line of text that starts with "  "+name.
func helpLine(text, name string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "  "+name+" ") {
			return line
		}
	}
	return ""
}

func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errs syncBuffer
				if code := run(t.Context(), args, strings.NewReader(""), &out, &errs); code != exitOK {
					t.Fatalf("exit %d, want 0; stderr %q", code, errs.String())
				}
				if !strings.HasPrefix(out.String(), "Usage: backupbot "+c.name) || !strings.Contains(out.String(), "Exit status") {
					t.Errorf("help = %q", out.String())
				}
			})
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var flagOut, cmdOut, errs syncBuffer
	if code := run(t.Context(), []string{"--version"}, strings.NewReader(""), &flagOut, &errs); code != exitOK {
		t.Fatalf("--version: exit %d, stderr %q", code, errs.String())
	}
	run(t.Context(), []string{"version"}, strings.NewReader(""), &cmdOut, &errs)
	if flagOut.String() != cmdOut.String() || !strings.HasPrefix(flagOut.String(), "backupbot ") {
		t.Errorf("--version = %q, version = %q", flagOut.String(), cmdOut.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"check", "extra"}, {"help", "nope"}, {"console", "--job-duration", "soon"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			clearEnv(t)
			var out, errs syncBuffer
			if code := run(t.Context(), args, strings.NewReader(""), &out, &errs); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, errs.String())
			}
			if !strings.Contains(errs.String(), "--help") {
				t.Errorf("stderr %q does not point to --help", errs.String())
			}
		})
	}
}

// refusedAddr is a 127.0.0.1 address where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The bot's start-up errors name the real cause, and runtime failures exit 1.
func TestStartupErrors(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	slackDown := "http://" + refusedAddr(t) + "/api/"
	tests := []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"slack unreachable", map[string]string{"SLACK_API_URL": slackDown},
			exitError, "cannot reach Slack at " + slackDown + ": connection refused"},
		{"bot token refused", map[string]string{"SLACK_BOT_TOKEN": "xoxb-wrong-secret"},
			exitError, "slack refused SLACK_BOT_TOKEN: auth.test says invalid_auth"},
		{"database unreachable", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://postgres@" + refusedAddr(t) + "/test?sslmode=disable&connect_timeout=5"},
			exitError, "database postgres://postgres@"},
		{"invalid policy", map[string]string{"BACKUPBOT_POLICY": "../../deploy/Dockerfile"},
			exitUsage, "Dockerfile"},
		{"port taken", map[string]string{"BACKUPBOT_HTTP_ADDR": takenAddr(t)},
			exitError, "BACKUPBOT_HTTP_ADDR: listen on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			env := map[string]string{"SLACK_APP_TOKEN": fake.AppToken(), "SLACK_BOT_TOKEN": fake.BotToken(),
				"SLACK_API_URL": fake.APIURL(), "BACKUPBOT_POLICY": "../../deploy/policy.yaml",
				"BACKUPBOT_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "bot.db"), "BACKUPBOT_HTTP_ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			var out, errs syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(t.Context(), []string{"--simulate"}, strings.NewReader(""), &out, &errs) }()
			select {
			case code := <-done:
				if code != tt.code {
					t.Errorf("exit %d, want %d; log:\n%s", code, tt.code, errs.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still running; log:\n%s", errs.String())
			}
			if !strings.Contains(errs.String(), tt.want) {
				t.Errorf("log does not say %q:\n%s", tt.want, errs.String())
			}
			if strings.Contains(errs.String(), "wrong-secret") {
				t.Errorf("log shows the token:\n%s", errs.String())
			}
		})
	}
}

// takenAddr is a 127.0.0.1 address something listens on until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
