package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/internal/fuzzy"
)

// commvaultLogin connects as the bot would and lists the first account's table
// groups, which logs in; then it resolves every account.
func (r *checkReport) commvaultLogin(ctx context.Context, cfg config, simulate bool, pol *auth.Policy) {
	what := "commvault " + cfg.CommvaultURL
	cv, err := connectCommvault(ctx, cfg, simulate, 0)
	if err != nil {
		fix := "correct " + varName(err)
		if simulate {
			fix = "let backupbot listen on 127.0.0.1 (the simulator's address)"
		}
		r.fail(what, err.Error()+"; the accounts were not checked", fix)
		return
	}
	defer cv.stop()
	if !cv.simulated && cfg.CommvaultAccessToken != "" {
		// The newest pair is the one the replicas keep, not the configured one.
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		st, err := store.Open(ctx, cfg.DatabaseURL, nil)
		cancel()
		if err != nil {
			r.fail(what, "the database that keeps the access token does not open: "+err.Error()+"; the accounts were not checked",
				"set BACKUPBOT_DATABASE_URL to the bot's database")
			return
		}
		defer func() { _ = st.Close() }()
		cv.shareTokens(st)
	}

	accounts := pol.Accounts()
	if len(accounts) == 0 { // auth.Parse refuses such a policy
		r.fail(what, "the policy has no account to log in with", "add an account to the policy")
		return
	}
	_, err = cv.client.Subclients(ctx, accounts[0].Client)
	if problem, fix := commvaultProblem(err, cfg); problem != "" {
		r.fail(what, problem+"; the accounts were not checked", fix)
		return
	}
	detail := authDetail(cv.client, cfg.CommvaultUsername, time.Now())
	if cv.simulated {
		what, detail = "commvault (built-in simulator at "+cv.url+")", "answers"
	}
	r.pass(what, detail)
	for _, a := range accounts {
		r.account(ctx, cv.client, a)
	}
}

// commvaultProblem says what err means for the login check, and what to do;
// "" when the server took the credentials. A Commvault error about the
// account itself (an errorCode in a 200) counts as logged in: the account's
// own check reports it.
func commvaultProblem(err error, cfg config) (problem, fix string) {
	const checkURL = "check COMMVAULT_API_URL: the REST API's base, like https://cs.example.com/commandcenter/api"
	var (
		ae  *commvault.APIError
		se  *commvault.SessionError
		cve *tls.CertificateVerificationError
		ue  *url.Error
	)
	const better = "set COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN (an access token from Command Center, renewed), " +
		"or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, instead of COMMVAULT_AUTHTOKEN"
	// The commvault package has no typed login error; its login errors
	// read "log in as USER: …".
	login := err != nil && strings.Contains(err.Error(), "log in as ")
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, commvault.ErrTimeout):
		return fmt.Sprintf("no answer within %s: %v", cfg.CommvaultTimeout, err),
			"check that COMMVAULT_API_URL is reachable from here (DNS, proxy, firewall), or raise COMMVAULT_TIMEOUT"
	case errors.As(err, &se) && se.Bare:
		return se.Error(), `give COMMVAULT_AUTHTOKEN with its "QSDK " prefix, or better: ` + better
	case errors.As(err, &se):
		return "the session token was refused: " + se.Error(), better
	case errors.As(err, &ae) && strings.Contains(err.Error(), "renew access token"):
		return "the access token was not renewed: " + ae.Error(),
			"create a new access token in Command Center (its user → Access tokens) and set COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN to it"
	case errors.As(err, &ae) && login:
		return "login refused: " + ae.Error(), "check COMMVAULT_USERNAME and COMMVAULT_PASSWORD (and that the user is not locked)"
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden):
		if cfg.CommvaultAccessToken != "" {
			return "the access token was refused: " + ae.Error(),
				"create a new access token in Command Center and set COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN to it"
		}
		return "the session was refused: " + ae.Error(), "check that the user of COMMVAULT_USERNAME may use the REST API"
	case errors.As(err, &ae) && ae.StatusCode == http.StatusOK:
		return "", ""
	case errors.As(err, &ae):
		return "Commvault answered " + ae.Error(), checkURL
	case errors.As(err, &cve):
		return "its TLS certificate is not trusted: " + cve.Err.Error(),
			"set COMMVAULT_CA_FILE to the PEM bundle of the CA that signed it, or use the host name the certificate names"
	case errors.As(err, &ue):
		return "cannot connect: " + ue.Err.Error(), "check COMMVAULT_API_URL and that the server is reachable from here"
	}
	return err.Error(), checkURL
}

// account checks that the account's client exists in Commvault with
// DynamoDB table groups, and that every table group the policy lists is one
// of them.
func (r *checkReport) account(ctx context.Context, cv *commvault.Client, a *auth.Account) {
	what := "account " + a.Name
	subs, err := cv.Subclients(ctx, a.Client)
	var ae *commvault.APIError
	clientFix := fmt.Sprintf("set accounts.%s.client in the policy to the cloud account's client name in Commvault", a.Name)
	switch {
	case errors.As(err, &ae) && ae.StatusCode == http.StatusOK:
		r.fail(what, fmt.Sprintf("client %s: Commvault says %v", a.Client, ae), clientFix)
		return
	case err != nil:
		r.fail(what, err.Error(), "check that Commvault is up and that its user may list the client's subclients")
		return
	case len(subs) == 0:
		r.fail(what, a.Client+" has no DynamoDB table groups", "add the table groups to the cloud account in Commvault, or "+clientFix)
		return
	}

	type problem struct{ text, fix string }
	var problems []problem
	for _, name := range a.TableGroups {
		_, err := cv.TableGroup(ctx, a.Client, name)
		var nf *commvault.NotFoundError
		var amb *commvault.AmbiguousError
		switch {
		case errors.As(err, &nf):
			problems = append(problems, problem{
				fmt.Sprintf("table group %q not found in %s (%s)", name, a.Client, didYouMean(name, nf.Listed)),
				"correct tablegroups in the policy",
			})
		case errors.As(err, &amb):
			problems = append(problems, problem{err.Error(), fmt.Sprintf("name it in tablegroups with its instance, like %s/%s", amb.Instances[0], amb.Name)})
		case err != nil:
			problems = append(problems, problem{err.Error(), "name the table group in tablegroups exactly as Commvault does"})
		}
	}
	detail := fmt.Sprintf("%d %s", len(subs), plural(len(subs), "table group", "table groups"))
	if len(a.TableGroups) > 0 && len(problems) == 0 {
		detail += ", including the policy's " + strings.Join(a.TableGroups, ", ")
	}
	r.pass(what+" → "+a.Client, detail)
	for _, p := range problems {
		r.fail(what, p.text, p.fix)
	}
}

// maxListed is how many of an account's table groups a hint names.
const maxListed = 8

// didYouMean offers the listed names close to name (fuzzy.Closest), or else
// the first few names there are.
func didYouMean(name string, listed []string) string {
	if near := fuzzy.Closest(name, listed, 3); len(near) > 0 {
		return "did you mean " + orList(near) + "?"
	}
	names := listed
	if len(names) > maxListed {
		names = append(names[:maxListed:maxListed], "…")
	}
	return "it has " + strings.Join(names, ", ")
}

// orList reads "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
