package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
)

// checkTimeout bounds each Slack and database step of `backupbot check`;
// Commvault calls have COMMVAULT_TIMEOUT.
const checkTimeout = 20 * time.Second

// runCheck is `backupbot check`: it validates the configuration and the
// policy, logs in to Commvault, resolves every policy account and table
// group, tries both Slack tokens and opens the database, printing one line
// per check:
//
//	✓ policy /etc/backupbot/policy.yaml: 3 accounts (hash 3f2a…)
//	✗ account prod: table group "ordrs" not found in aws-prod-account (did you mean orders?) — fix: correct tablegroups in the policy
//
// A failed check stops only the checks that need it (a configuration error
// stops all of them). The exit status is 0 only if every check passed.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot check", flag.ContinueOnError)
	simulate := fs.Bool("simulate", false, "check against the built-in Commvault simulator instead of COMMVAULT_API_URL")
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeCommandHelp(w, fs) }, stdout, stderr); !ok {
		return code
	}
	r := &checkReport{w: stdout}
	r.run(ctx, *simulate)
	if r.failed > 0 {
		return exitError
	}
	return exitOK
}

// checkReport prints the check lines and counts the failures.
type checkReport struct {
	w       io.Writer
	secrets []string // removed from every line, should one ever slip into an error
	failed  int
}

// run performs the checks in order, skipping those whose prerequisite failed.
func (r *checkReport) run(ctx context.Context, simulate bool) {
	cfg, err := loadConfig()
	if err != nil {
		r.fail("configuration", err.Error()+" (nothing else was checked)",
			"correct "+varName(err)+" in the environment (README.md lists every variable)")
		return
	}
	r.secrets = configSecrets(cfg)
	r.pass("configuration", "environment read (command "+cfg.Command+")")

	slackOK := r.slackSettings(cfg)
	commvaultOK := r.commvaultSettings(cfg, simulate)
	pol := r.policy(cfg, commvaultOK)
	if commvaultOK && pol != nil {
		r.commvaultLogin(ctx, cfg, simulate, pol)
	}
	if slackOK {
		r.slackTokens(ctx, cfg)
	}
	r.database(ctx, cfg)
}

// pass prints "✓ what: detail".
func (r *checkReport) pass(what, detail string) {
	fmt.Fprintln(r.w, r.clean("✓ "+what+": "+detail))
}

// warn prints "⚠ what: warning": allowed, but unwise; it fails nothing.
func (r *checkReport) warn(what, warning string) {
	fmt.Fprintln(r.w, r.clean("⚠ "+what+": "+warning))
}

// fail prints "✗ what: problem — fix: fix" and counts it.
func (r *checkReport) fail(what, problem, fix string) {
	r.failed++
	fmt.Fprintln(r.w, r.clean("✗ "+what+": "+problem+" — fix: "+fix))
}

var lineBreaks = regexp.MustCompile(`\s*[\r\n]+\s*`)

// clean keeps a line on one line and without any secret.
func (r *checkReport) clean(line string) string {
	line = lineBreaks.ReplaceAllString(strings.TrimSpace(line), "; ")
	for _, s := range r.secrets {
		line = strings.ReplaceAll(line, s, "[redacted]")
	}
	return line
}

// configSecrets are the values that must never be printed. Very short ones
// are left out: replacing them would garble the lines, and nothing prints
// them anyway.
func configSecrets(cfg config) []string {
	var out []string
	for _, s := range []string{cfg.SlackBotToken, cfg.SlackAppToken, cfg.CommvaultToken, cfg.CommvaultPassword,
		cfg.CommvaultAccessToken, cfg.CommvaultRefreshToken, dbPassword(cfg.DatabaseURL)} {
		if len(s) >= 6 {
			out = append(out, s)
		}
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)

// varName is the variable a configuration error names, as "NAME: …".
func varName(err error) string {
	if name, _, ok := strings.Cut(err.Error(), ":"); ok && envName.MatchString(name) {
		return name
	}
	return "the variable"
}

func (r *checkReport) slackSettings(cfg config) bool {
	if err := checkSlack(cfg); err != nil {
		r.fail("slack settings", err.Error()+"; Slack was not checked",
			"set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…) and SLACK_APP_TOKEN to an "+
				"App-Level Token with connections:write (xapp-…)")
		return false
	}
	r.pass("slack settings", "SLACK_BOT_TOKEN and SLACK_APP_TOKEN set, Web API "+cfg.SlackAPIURL)
	return true
}

func (r *checkReport) commvaultSettings(cfg config, simulate bool) bool {
	switch {
	case simulate && cfg.CommvaultURL != "":
		r.pass("commvault settings", "--simulate: the built-in simulator, not COMMVAULT_API_URL")
		return true
	case simulate:
		r.pass("commvault settings", "--simulate: the built-in simulator")
		return true
	}
	if err := cfg.checkCommvault(); err != nil {
		r.fail("commvault settings", err.Error()+"; Commvault and the policy's accounts were not checked",
			"set COMMVAULT_API_URL and COMMVAULT_ACCESS_TOKEN with COMMVAULT_REFRESH_TOKEN (recommended), "+
				"or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, or COMMVAULT_AUTHTOKEN (or run with --simulate)")
		return false
	}
	how := "session token (COMMVAULT_AUTHTOKEN: expires, cannot be renewed)"
	switch {
	case cfg.CommvaultAccessToken != "":
		how = "access token with refresh token (COMMVAULT_ACCESS_TOKEN, renewed; the newest pair kept in " + displayDatabase(cfg.DatabaseURL) + ")"
	case cfg.CommvaultUsername != "":
		how = "login as " + cfg.CommvaultUsername
	}
	if cfg.CommvaultCAFile != "" {
		how += ", CA " + cfg.CommvaultCAFile
	}
	r.pass("commvault settings", fmt.Sprintf("%s, %s, timeout %s", cfg.CommvaultURL, how, cfg.CommvaultTimeout))
	return true
}

// policy loads BACKUPBOT_POLICY; nil when it cannot.
func (r *checkReport) policy(cfg config, commvaultOK bool) *auth.Policy {
	pol, name, err := loadPolicy(cfg, false)
	if err != nil {
		problem := err.Error()
		if commvaultOK {
			problem += "; Commvault and the accounts were not checked"
		}
		var pe *auth.ParseError
		fix := "set BACKUPBOT_POLICY to the policy file's path"
		if errors.As(err, &pe) {
			fix = "correct the file (deploy/policy.yaml is an example; the format is in README.md)"
		}
		// The error names the file (and line) itself.
		r.fail("policy", strings.TrimPrefix(problem, "read policy: "), fix)
		return nil
	}
	n := len(pol.Accounts())
	r.pass("policy "+name, fmt.Sprintf("%d %s (hash %s)", n, plural(n, "account", "accounts"), pol.Hash))
	for _, w := range pol.Warnings() {
		r.warn("policy "+name, w)
	}
	return pol
}

// database opens BACKUPBOT_DATABASE_URL, which applies any pending schema
// migration, and pings it.
func (r *checkReport) database(ctx context.Context, cfg config) {
	what := "database " + displayDatabase(cfg.DatabaseURL)
	path, isSQLite := sqliteFile(cfg.DatabaseURL)
	_, statErr := os.Stat(path)
	existed := isSQLite && statErr == nil

	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	fix := "set BACKUPBOT_DATABASE_URL to sqlite:PATH in an existing, writable directory"
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		r.fail(what, err.Error(), fix)
		return
	}
	defer func() { _ = st.Close() }()
	if err := st.Ping(ctx); err != nil {
		r.fail(what, "opens but does not answer: "+err.Error(), fix)
		return
	}
	detail := "opens, schema up to date, answers"
	if isSQLite && !existed {
		detail += " (the file did not exist: this check created it, as the bot would have)"
	}
	r.pass(what, detail)
}

// sqliteFile is the file a sqlite: URL names, as store.Open reads it.
func sqliteFile(dbURL string) (string, bool) {
	rest, ok := strings.CutPrefix(dbURL, "sqlite:")
	if !ok || rest == "" {
		return "", false
	}
	if strings.HasPrefix(rest, "///") {
		rest = rest[2:]
	}
	return rest, true
}

// displayDatabase shows a database URL without its password or parameters.
func displayDatabase(dbURL string) string {
	if strings.HasPrefix(dbURL, "sqlite:") {
		return dbURL
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(BACKUPBOT_DATABASE_URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// dbPassword is the password in a postgres:// URL, if any.
func dbPassword(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
