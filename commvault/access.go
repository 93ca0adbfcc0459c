package commvault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// TokenChain is where the processes that share one Command Center access
// token chain keep its newest pair; *store.DB is one. Commvault invalidates
// every token of the chain when it is renewed with any but the newest pair,
// so every process reads the newest pair from here, and one at a time
// renews it.
//
// The pair is a credential: an implementation keeps it out of logs, errors
// and metrics.
type TokenChain interface {
	// LatestTokens returns the newest pair stored for chain, or empty
	// strings when none is. expires is zero when it is not known.
	LatestTokens(ctx context.Context, chain string) (access, refresh string, expires time.Time, err error)
	// RenewTokens, holding a lock on chain that every process sharing it
	// waits for, calls renew with the newest stored pair (empty strings when
	// none is), stores the pair renew returns before it lets the lock go,
	// and returns that pair. Returning the pair it was given stores nothing.
	RenewTokens(ctx context.Context, chain string,
		renew func(ctx context.Context, access, refresh string, expires time.Time) (string, string, time.Time, error),
	) (access, refresh string, expires time.Time, err error)
}

// tokenPair is an access token, its refresh token and when the access
// token expires (zero: not known).
type tokenPair struct {
	access, refresh string
	expires         time.Time
}

// maxSeenPairs is how many renewed pairs secrets remembers besides the
// configured one.
const maxSeenPairs = 4

// accessChain is a client's access token chain: the newest pair this
// process knows and, when Config.Tokens is set, where the processes sharing
// the chain keep the newest pair.
type accessChain struct {
	store  TokenChain // nil: this process alone uses the chain
	name   string     // the chain's key in store
	config tokenPair  // the pair from the configuration

	mu      sync.Mutex
	pair    tokenPair   // the newest pair this process knows
	seen    []tokenPair // the last renewed pairs, for secrets
	unsaved *tokenPair  // renewed, but the store did not keep it
	from    string      // the access token unsaved replaced
	err     error       // why the chain does not work now (readiness), nil when it does
}

func newAccessChain(cfg Config) accessChain {
	p := tokenPair{access: cfg.AccessToken, refresh: cfg.RefreshToken}
	return accessChain{store: cfg.Tokens, name: chainName(cfg.BaseURL, cfg.RefreshToken), config: p, pair: p}
}

// chainName keys a chain in the store by the server and the configured
// refresh token (hashed: the name is no credential). A restart with the same
// configuration continues the stored chain; a new pair in the configuration
// starts a new one.
func chainName(base, refresh string) string {
	sum := sha256.Sum256([]byte(base + "\x00" + refresh))
	return "commvault " + hex.EncodeToString(sum[:12])
}

// next returns the access token to send instead of stale ("" at the start)
// and its expiry: at the start the newest pair known (stored, else
// configured) unless it is about to expire; else a renewal, or the pair
// another process renewed meanwhile.
func (a *accessChain) next(ctx context.Context, c *Client, stale string) (string, time.Time, error) {
	if a.store == nil {
		p := a.current()
		if stale == "" && !c.expiring(p.expires) {
			return p.access, p.expires, nil
		}
		n, err := c.renewPair(ctx, p)
		if err != nil {
			return "", time.Time{}, a.fail(err)
		}
		a.set(n, true)
		return n.access, n.expires, nil
	}
	if stale == "" {
		acc, ref, exp, err := a.store.LatestTokens(ctx, a.name)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("read the newest access token: %w", err)
		}
		if acc != "" {
			a.set(tokenPair{acc, ref, exp}, false)
		}
		p := a.current()
		if !c.expiring(p.expires) {
			return p.access, p.expires, nil
		}
		stale = p.access
	}
	return a.renewShared(ctx, c, stale)
}

// renewShared renews the chain under the store's lock, unless another
// process renewed it since this one had stale.
func (a *accessChain) renewShared(ctx context.Context, c *Client, stale string) (string, time.Time, error) {
	var renewed *tokenPair
	acc, ref, exp, err := a.store.RenewTokens(ctx, a.name, func(ctx context.Context, acc, ref string, exp time.Time) (string, string, time.Time, error) {
		p := tokenPair{acc, ref, exp}
		a.mu.Lock()
		if a.unsaved != nil && (acc == "" || acc == a.from) { // ours is newer than the stored one
			p = *a.unsaved
		} else if acc == "" {
			p = a.pair
		}
		a.mu.Unlock()
		if p.access != stale && !c.expiring(p.expires) {
			return p.access, p.refresh, p.expires, nil // renewed meanwhile: use it
		}
		n, err := c.renewPair(ctx, p)
		if err != nil {
			return "", "", time.Time{}, err
		}
		renewed = &n
		a.set(n, true) // kept before it is stored: should storing fail, this process goes on with it
		a.mu.Lock()
		a.unsaved, a.from = &n, p.access
		a.mu.Unlock()
		return n.access, n.refresh, n.expires, nil
	})
	if err != nil {
		if renewed != nil {
			a.setErr(fmt.Errorf("the renewed Commvault access token could not be stored for the other replicas: %w", err))
			return renewed.access, renewed.expires, nil
		}
		return "", time.Time{}, a.fail(err)
	}
	a.set(tokenPair{acc, ref, exp}, false)
	a.mu.Lock()
	a.unsaved, a.from, a.err = nil, "", nil
	a.mu.Unlock()
	return acc, exp, nil
}

// expiring reports whether an access token that expires at exp (zero: not
// known), got now, is to be renewed before it is used.
func (c *Client) expiring(exp time.Time) bool {
	now := c.now()
	return !exp.IsZero() && !now.Before(exp.Add(-renewMargin(now, exp)))
}

func (a *accessChain) current() tokenPair {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pair
}

// set makes p the newest pair known; fresh marks a pair this process
// renewed (which clears a refusal).
func (a *accessChain) set(p tokenPair, fresh bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pair = p
	if fresh {
		a.err = nil
	}
	if p != a.config && (len(a.seen) == 0 || a.seen[len(a.seen)-1] != p) {
		a.seen = append(a.seen, p)
		if len(a.seen) > maxSeenPairs {
			a.seen = a.seen[1:]
		}
	}
}

func (a *accessChain) setErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// fail records a refused renewal (Commvault answered, and not with a
// success) for Ready, and returns err.
func (a *accessChain) fail(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests {
		a.setErr(fmt.Errorf("the access token's renewal was refused (%w): create a new access token and refresh token", err))
	}
	return err
}

// problem is why the chain does not work now, or nil.
func (a *accessChain) problem() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// secrets are the configured pair and the last ones renewed.
func (a *accessChain) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := []string{a.config.access, a.config.refresh, a.pair.access, a.pair.refresh}
	for _, p := range a.seen {
		s = append(s, p.access, p.refresh)
	}
	return s
}

// renewRequest is the POST /V4/AccessToken/Renew body: credentials, never
// printed.
type renewRequest struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// renewFields are where an answer of Renew puts the new pair.
type renewFields struct {
	AccessToken          string  `json:"accessToken"`
	RefreshToken         string  `json:"refreshToken"`
	TokenExpiryTimestamp flexInt `json:"tokenExpiryTimestamp"` // epoch seconds
}

// renewPair renews p with POST /V4/AccessToken/Renew and returns the new
// pair, with the expiry Commvault gave (tokenExpiryTimestamp, at the top or
// in tokenInfo) or zero.
func (c *Client) renewPair(ctx context.Context, p tokenPair) (tokenPair, error) {
	var out struct {
		renewFields
		TokenInfo renewFields `json:"tokenInfo"`
	}
	r := request{method: http.MethodPost, path: "/V4/AccessToken/Renew", body: renewRequest{p.access, p.refresh}}
	if err := c.send(ctx, r, p.access, &out); err != nil {
		return tokenPair{}, fmt.Errorf("renew access token: %w", err)
	}
	f := out.renewFields
	if f.AccessToken == "" || f.RefreshToken == "" {
		f = out.TokenInfo
	}
	if f.AccessToken == "" || f.RefreshToken == "" {
		return tokenPair{}, fmt.Errorf("renew access token: %w",
			&APIError{StatusCode: http.StatusOK, Message: "no access token and refresh token in the answer"})
	}
	return tokenPair{access: f.AccessToken, refresh: f.RefreshToken, expires: epoch(f.TokenExpiryTimestamp)}, nil
}
