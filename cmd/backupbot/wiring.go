package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
	"github.com/backupbot/backupbot/deploy"
)

// newLogger logs JSON lines for production, or readable lines for a person.
func newLogger(w io.Writer, level zapcore.Level, readable bool) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if readable {
		enc = zap.NewDevelopmentEncoderConfig()
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(w), level))
}

// loadPolicy reads the policy file; with sampleByDefault and no
// BACKUPBOT_POLICY set, it uses the built-in sample instead. Its errors are
// configuration errors: a missing file or an invalid policy.
func loadPolicy(cfg config, sampleByDefault bool) (*auth.Policy, string, error) {
	if !cfg.isSet("BACKUPBOT_POLICY") && sampleByDefault {
		p, err := auth.Parse(deploy.SamplePolicyName, deploy.SamplePolicy())
		return p, deploy.SamplePolicyName, configErr(err)
	}
	p, err := auth.Load(cfg.Policy)
	return p, cfg.Policy, configErr(err)
}

// commvaultConn is the Commvault client the bot uses, and where it points.
type commvaultConn struct {
	client    *commvault.Client
	simulated bool
	url       string
	stop      func()      // stops the in-process simulator, if any
	tokens    *tokenChain // where an access token's chain is kept, once shareTokens is called
}

// shareTokens keeps the access token chain in db, where every replica
// reads the newest pair and renews it once between them.
func (c commvaultConn) shareTokens(db *store.DB) {
	if c.tokens != nil {
		c.tokens.use(db)
	}
}

// connectCommvault builds the client for COMMVAULT_API_URL, or starts the
// built-in simulator on 127.0.0.1 when simulate is set, with two weeks of
// past jobs and new jobs that take jobDuration (0: the simulator's default).
// A problem with the settings is a configError; the simulator failing to
// start is not.
func connectCommvault(ctx context.Context, cfg config, simulate bool, jobDuration time.Duration) (commvaultConn, error) {
	return connectCommvaultWith(ctx, cfg, simulate, jobDuration, nil)
}

// connectCommvaultWith is connectCommvault with the HTTP transport wrapped
// by wrap (for metrics), if it is not nil.
func connectCommvaultWith(ctx context.Context, cfg config, simulate bool, jobDuration time.Duration,
	wrap func(http.RoundTripper) http.RoundTripper) (commvaultConn, error) {
	hc, err := commvault.NewHTTPClient(cfg.CommvaultTimeout, cfg.CommvaultCAFile)
	if err != nil {
		return commvaultConn{}, configErr(fmt.Errorf("COMMVAULT_CA_FILE: %w", err))
	}
	if wrap != nil {
		hc.Transport = wrap(hc.Transport)
	}
	if !simulate {
		if err := cfg.checkCommvault(); err != nil {
			return commvaultConn{}, configErr(err)
		}
		tokens := &tokenChain{}
		c, err := commvault.New(commvault.Config{
			BaseURL: cfg.CommvaultURL, AccessToken: cfg.CommvaultAccessToken, RefreshToken: cfg.CommvaultRefreshToken, Tokens: tokens,
			Token: cfg.CommvaultToken, Username: cfg.CommvaultUsername, Password: cfg.CommvaultPassword,
			HTTPClient: hc, Timeout: cfg.CommvaultTimeout,
		})
		if err != nil {
			return commvaultConn{}, configErr(fmt.Errorf("COMMVAULT_API_URL: %w", err))
		}
		return commvaultConn{client: c, url: cfg.CommvaultURL, stop: func() {}, tokens: tokens}, nil
	}

	token := "QSDK " + randomHex(16)
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- simulator.ListenAndServe(ctx, "127.0.0.1:0", simulator.Config{Tokens: []string{token}, JobDuration: jobDuration,
			History: simulator.SampleHistory(simulator.Catalogue(), time.Now())}, func(url string) { ready <- url })
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		return commvaultConn{}, fmt.Errorf("start commvault simulator: %w", err)
	case <-time.After(10 * time.Second):
		cancel()
		return commvaultConn{}, errors.New("start commvault simulator: not listening after 10s")
	}
	c, err := commvault.New(commvault.Config{BaseURL: url, Token: token, HTTPClient: hc, Timeout: cfg.CommvaultTimeout})
	if err != nil {
		cancel()
		return commvaultConn{}, fmt.Errorf("connect to commvault simulator: %w", err)
	}
	stop := func() { cancel(); <-done }
	return commvaultConn{client: c, simulated: true, url: url, stop: stop}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// openStore opens BACKUPBOT_DATABASE_URL. With tempByDefault and the
// variable unset, it uses a SQLite file in a temporary folder instead,
// removed by the returned cleanup. A database that cannot be opened is a
// runtime failure, not a configuration error: config checked the URL.
func openStore(ctx context.Context, cfg config, tempByDefault bool) (*store.DB, string, func(), error) {
	return openStoreAt(ctx, cfg, tempByDefault, nil)
}

// openStoreAt is openStore with the store's clock (nil: time.Now).
func openStoreAt(ctx context.Context, cfg config, tempByDefault bool, now func() time.Time) (*store.DB, string, func(), error) {
	url, cleanup := cfg.DatabaseURL, func() {}
	if !cfg.isSet("BACKUPBOT_DATABASE_URL") && tempByDefault {
		dir, err := os.MkdirTemp("", "backupbot-console-")
		if err != nil {
			return nil, "", nil, fmt.Errorf("temporary database: %w", err)
		}
		url, cleanup = "sqlite:"+filepath.Join(dir, "backupbot.db"), func() { _ = os.RemoveAll(dir) }
	}
	st, err := store.Open(ctx, url, now)
	if err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("database %s: %w", displayDatabase(url), err)
	}
	return st, url, func() { _ = st.Close(); cleanup() }, nil
}
