package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// commvaultAuth checks that the environment sets exactly one way to
// authenticate to Commvault, whole: COMMVAULT_ACCESS_TOKEN with
// COMMVAULT_REFRESH_TOKEN, COMMVAULT_USERNAME with COMMVAULT_PASSWORD, or
// COMMVAULT_AUTHTOKEN. Having none is checkCommvault's to say.
func (c *config) commvaultAuth() error {
	access := c.CommvaultAccessToken != "" || c.CommvaultRefreshToken != ""
	login := c.CommvaultUsername != "" || c.CommvaultPassword != ""
	switch {
	case c.CommvaultAccessToken != "" && c.CommvaultRefreshToken == "":
		return errors.New("COMMVAULT_REFRESH_TOKEN: required with COMMVAULT_ACCESS_TOKEN (Command Center shows both when it creates the token)")
	case c.CommvaultRefreshToken != "" && c.CommvaultAccessToken == "":
		return errors.New("COMMVAULT_ACCESS_TOKEN: required with COMMVAULT_REFRESH_TOKEN")
	case c.CommvaultUsername != "" && c.CommvaultPassword == "":
		return errors.New("COMMVAULT_PASSWORD: required with COMMVAULT_USERNAME")
	case c.CommvaultPassword != "" && c.CommvaultUsername == "":
		return errors.New("COMMVAULT_USERNAME: required with COMMVAULT_PASSWORD")
	case access && login:
		return errors.New("COMMVAULT_ACCESS_TOKEN: set either it (with COMMVAULT_REFRESH_TOKEN) or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, not both")
	case access && c.CommvaultToken != "":
		return errors.New("COMMVAULT_AUTHTOKEN: set either it or COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN, not both")
	case login && c.CommvaultToken != "":
		return errors.New("COMMVAULT_AUTHTOKEN: set either it or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, not both")
	}
	return nil
}

// tokenChain is the commvault.TokenChain the client is built with, before
// the database is open: it is the *store.DB given to use, where the newest
// access token pair is kept for every replica.
type tokenChain struct {
	db atomic.Pointer[store.DB]
}

var errNoTokenStore = errors.New("the database that keeps the Commvault access token is not open yet")

func (t *tokenChain) use(db *store.DB) { t.db.Store(db) }

func (t *tokenChain) LatestTokens(ctx context.Context, chain string) (string, string, time.Time, error) {
	db := t.db.Load()
	if db == nil {
		return "", "", time.Time{}, errNoTokenStore
	}
	return db.LatestTokens(ctx, chain)
}

func (t *tokenChain) RenewTokens(ctx context.Context, chain string,
	renew func(context.Context, string, string, time.Time) (string, string, time.Time, error),
) (string, string, time.Time, error) {
	db := t.db.Load()
	if db == nil {
		return "", "", time.Time{}, errNoTokenStore
	}
	return db.RenewTokens(ctx, chain, renew)
}

// consoleKeepsTokens refuses an access token in the console without
// BACKUPBOT_DATABASE_URL: its temporary database would lose the renewed
// pair, and the bot, renewing the one it was configured with, would make
// Commvault invalidate the chain.
func consoleKeepsTokens(cfg config, simulated bool) error {
	if _, set := os.LookupEnv("BACKUPBOT_DATABASE_URL"); set || simulated || cfg.CommvaultAccessToken == "" {
		return nil
	}
	return errors.New("BACKUPBOT_DATABASE_URL: required with COMMVAULT_ACCESS_TOKEN: set it to the bot's database, " +
		"which keeps the newest access token (a temporary one would lose it, and the chain would be invalidated)")
}

// authDetail says how the client authenticates, and when its access token
// expires, for `backupbot check`.
func authDetail(c *commvault.Client, username string, now time.Time) string {
	switch mode, exp := c.Auth(); {
	case mode == commvault.AuthLogin:
		return "logged in as " + username
	case mode == commvault.AuthSessionToken:
		return "session token accepted (it expires after 30 minutes without use and cannot be renewed: " +
			"an access token with its refresh token is better)"
	case exp.IsZero():
		return "access token accepted; renewed with its refresh token when it expires (Commvault gives the expiry at the first renewal)"
	default:
		return fmt.Sprintf("access token accepted; the current one expires at %s (in %s) and is renewed before then",
			exp.UTC().Format("15:04 UTC"), exp.Sub(now).Round(time.Minute))
	}
}
