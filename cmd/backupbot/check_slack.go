package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/slack-go/slack"
)

// botScopes are the bot token scopes backupbot needs: those of
// deploy/slack-app-manifest.yaml.
func botScopes() []string { return []string{"commands", "chat:write", "usergroups:read"} }

// slackTokens checks the bot token (auth.test) and its scopes, then the app-level
// token (apps.connections.open, whose WebSocket URL is not dialled).
func (r *checkReport) slackTokens(ctx context.Context, cfg config) {
	api := slack.New(cfg.SlackBotToken, slack.OptionAppLevelToken(cfg.SlackAppToken), slack.OptionAPIURL(cfg.SlackAPIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: slackTimeout}))

	who, err := authTest(ctx, api)
	if err != nil {
		problem, fix := slackProblem(err, cfg, "SLACK_BOT_TOKEN",
			"copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN (reinstall the app if it was removed)")
		r.fail("slack bot token", problem, fix)
	} else {
		r.pass("slack bot token", "workspace "+who.TeamID+" ("+who.Team+"), bot "+who.UserID+" ("+who.User+")")
		// auth.test needs no scope, and Slack reports the token's scopes
		// in the X-OAuth-Scopes header of every answer.
		r.scopes(who.Header)
	}

	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, wss, err := api.StartSocketModeContext(ctx)
	if err != nil {
		problem, fix := slackProblem(err, cfg, "SLACK_APP_TOKEN",
			"create an App-Level Token with the connections:write scope (the app's Basic Information → App-Level Tokens) and put it in SLACK_APP_TOKEN")
		r.fail("slack app token", problem, fix)
		return
	}
	detail := "socket mode enabled"
	// The URL holds a one-time ticket: show only the app it is for.
	if u, err := url.Parse(wss); err == nil && u.Query().Get("app_id") != "" {
		detail += " (app " + u.Query().Get("app_id") + ")"
	}
	r.pass("slack app token", detail)
}

// scopes checks the bot token's scopes, as auth.test's headers report them.
func (r *checkReport) scopes(h http.Header) {
	const what = "slack bot token scopes"
	reported := h.Values("X-OAuth-Scopes")
	if len(reported) == 0 {
		r.fail(what, "Slack did not report the token's scopes (no X-OAuth-Scopes header)",
			"check that SLACK_API_URL is Slack's Web API (https://slack.com/api/), not a proxy that drops headers")
		return
	}
	var have []string
	for _, v := range reported {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				have = append(have, s)
			}
		}
	}
	var missing, extra []string
	for _, s := range botScopes() {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range have {
		if !slices.Contains(botScopes(), s) {
			extra = append(extra, s)
		}
	}
	if len(missing) > 0 {
		r.fail(what, "missing "+strings.Join(missing, ", "),
			"add them in the app's OAuth & Permissions, or recreate the app from deploy/slack-app-manifest.yaml, and reinstall")
		return
	}
	detail := strings.Join(botScopes(), ", ")
	if len(extra) > 0 {
		detail += "; also granted, not needed: " + strings.Join(extra, ", ")
	}
	r.pass(what, detail)
}

// slackProblem says what a failed Slack call means for the token in
// variable, and what to do; tokenFix is the fix for a refused token.
func slackProblem(err error, cfg config, variable, tokenFix string) (problem, fix string) {
	var (
		se  slack.SlackErrorResponse
		rle *slack.RateLimitedError
		sce slack.StatusCodeError
	)
	switch {
	case errors.As(err, &se):
		problem = "Slack says " + se.Err
		switch se.Err {
		case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
			return problem, tokenFix
		case "not_allowed_token_type":
			return problem + " (" + variable + " holds the wrong kind of token)", tokenFix
		case "missing_scope":
			return problem + " (needed: " + se.Needed + ")", tokenFix
		}
		if variable == "SLACK_APP_TOKEN" {
			return problem, "turn Socket Mode on in the app's settings, or recreate the app from deploy/slack-app-manifest.yaml; " + tokenFix
		}
		return problem, tokenFix
	case errors.As(err, &rle):
		return "rate limited by Slack (retry after " + rle.RetryAfter.String() + ")", "run the check again in a minute"
	case errors.As(err, &sce):
		return "Slack answered HTTP " + sce.Status, "check SLACK_API_URL (" + cfg.SlackAPIURL + ")"
	}
	return "cannot reach Slack at " + cfg.SlackAPIURL + ": " + netProblem(err), "check SLACK_API_URL (" + cfg.SlackAPIURL + ") and that it is reachable from here (proxy, firewall)"
}

// netProblem says in a few words why a server could not be reached
// ("connection refused", "lookup slack.com: no such host"), rather than
// the whole chain of a failed HTTP request.
func netProblem(err error) string {
	var (
		dns   *net.DNSError
		errno syscall.Errno
		cve   *tls.CertificateVerificationError
		ue    *url.Error
	)
	switch {
	case errors.As(err, &dns):
		return dns.Error()
	case errors.As(err, &cve):
		return "its TLS certificate is not trusted: " + cve.Err.Error()
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "no answer in time"
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return err.Error()
}
