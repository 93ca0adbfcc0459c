package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap/zapcore"
)

// config is every environment variable backupbot reads (SPEC §6). It holds
// secrets: never log it or put it in an error.
type config struct {
	SlackAppToken     string        `envconfig:"SLACK_APP_TOKEN"`
	SlackBotToken     string        `envconfig:"SLACK_BOT_TOKEN"`
	SlackAPIURL       string        `envconfig:"SLACK_API_URL" default:"https://slack.com/api/"`
	Command           string        `envconfig:"BACKUPBOT_COMMAND" default:"/backup"`
	CommvaultURL      string        `envconfig:"COMMVAULT_API_URL"`
	CommvaultToken    string        `envconfig:"COMMVAULT_AUTHTOKEN"`
	CommvaultUsername string        `envconfig:"COMMVAULT_USERNAME"`
	CommvaultPassword string        `envconfig:"COMMVAULT_PASSWORD"`
	CommvaultCAFile   string        `envconfig:"COMMVAULT_CA_FILE"`
	CommvaultTimeout  time.Duration `envconfig:"COMMVAULT_TIMEOUT" default:"30s"`
	Policy            string        `envconfig:"BACKUPBOT_POLICY" default:"policy.yaml"`
	DatabaseURL       string        `envconfig:"BACKUPBOT_DATABASE_URL" default:"sqlite:backupbot.db"`
	HTTPAddr          string        `envconfig:"BACKUPBOT_HTTP_ADDR" default:":8080"`
	PollInterval      time.Duration `envconfig:"BACKUPBOT_JOB_POLL_INTERVAL" default:"30s"`
	ShutdownTimeout   time.Duration `envconfig:"BACKUPBOT_SHUTDOWN_TIMEOUT" default:"20s"`
	LogLevel          string        `envconfig:"BACKUPBOT_LOG_LEVEL" default:"info"`

	// A Command Center access token and its refresh token: the recommended
	// way to authenticate (commvaultAuth checks one way is set, whole).
	CommvaultAccessToken  string `envconfig:"COMMVAULT_ACCESS_TOKEN"`
	CommvaultRefreshToken string `envconfig:"COMMVAULT_REFRESH_TOKEN"`

	logLevel zapcore.Level
}

// loadConfig reads the environment once. Its errors are one line that names
// the variable and never holds a value that could be a secret.
func loadConfig() (config, error) {
	var c config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("%s: cannot read it as a %s", pe.KeyName, kindName(pe.TypeName))
		}
		return c, errors.New("read environment: " + err.Error())
	}
	return c, c.check()
}

func kindName(typeName string) string {
	if strings.HasSuffix(typeName, "Duration") {
		return "duration (like 30s or 5m)"
	}
	return typeName
}

// check validates what every mode needs.
func (c *config) check() error {
	lvl, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return fmt.Errorf("BACKUPBOT_LOG_LEVEL: %q is not a level (debug, info, warn, error)", c.LogLevel)
	}
	c.logLevel = lvl
	switch {
	case !strings.HasPrefix(c.Command, "/") || strings.ContainsAny(c.Command, " \t"):
		return fmt.Errorf("BACKUPBOT_COMMAND: %q is not a slash command (like /backup)", c.Command)
	case c.CommvaultTimeout <= 0:
		return errors.New("COMMVAULT_TIMEOUT: must be positive")
	case c.PollInterval < time.Second:
		return errors.New("BACKUPBOT_JOB_POLL_INTERVAL: must be at least 1s")
	case c.ShutdownTimeout < 0:
		return errors.New("BACKUPBOT_SHUTDOWN_TIMEOUT: must not be negative")
	case c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		return errors.New("SLACK_APP_TOKEN: an app-level token starts with xapp-")
	case c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-"):
		return errors.New("SLACK_BOT_TOKEN: a bot token starts with xoxb-")
	}
	if err := c.commvaultAuth(); err != nil {
		return err
	}
	if err := checkURL("SLACK_API_URL", c.SlackAPIURL); err != nil {
		return err
	}
	if !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/"
	}
	if c.CommvaultURL != "" {
		if err := checkURL("COMMVAULT_API_URL", c.CommvaultURL); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("BACKUPBOT_DATABASE_URL: use sqlite:PATH or postgres://…")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("BACKUPBOT_HTTP_ADDR: %q is not host:port (like :8080)", c.HTTPAddr)
	}
	return nil
}

// checkCommvault validates the Commvault settings for a real server.
func (c *config) checkCommvault() error {
	switch {
	case c.CommvaultURL == "":
		return errors.New("COMMVAULT_API_URL: required (or run with --simulate)")
	case c.CommvaultAccessToken == "" && c.CommvaultToken == "" && c.CommvaultUsername == "":
		return errors.New("COMMVAULT_ACCESS_TOKEN: required with COMMVAULT_REFRESH_TOKEN (or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, or COMMVAULT_AUTHTOKEN)")
	}
	return nil
}

// checkURL accepts an absolute http(s) URL; the error never shows the URL's
// user information.
func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: not an http(s) URL", name)
	}
	if u.User != nil {
		return fmt.Errorf("%s: must not hold credentials", name)
	}
	return nil
}
