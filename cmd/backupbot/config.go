package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap/zapcore"
)

// config is every environment variable backupbot reads, with its default
// and the description `backupbot --help` prints: the variables are declared
// here and nowhere else, so that a grep for envconfig finds them all. It
// holds secrets: never log it or put it in an error.
type config struct {
	SlackAppToken     string        `envconfig:"SLACK_APP_TOKEN" desc:"app-level token xapp-… (socket mode); required for the Slack bot"`
	SlackBotToken     string        `envconfig:"SLACK_BOT_TOKEN" desc:"bot token xoxb-…; required for the Slack bot"`
	SlackAPIURL       string        `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack's Web API base (GovSlack: https://slack-gov.com/api/)"`
	Command           string        `envconfig:"BACKUPBOT_COMMAND" default:"/backup" desc:"the slash command's name, as in the Slack app"`
	CommvaultURL      string        `envconfig:"COMMVAULT_API_URL" desc:"Commvault REST base URL, https://host/commandcenter/api; required unless --simulate"`
	CommvaultToken    string        `envconfig:"COMMVAULT_AUTHTOKEN" desc:"Commvault API token, sent as is in Authtoken"`
	CommvaultUsername string        `envconfig:"COMMVAULT_USERNAME" desc:"log in to Commvault as this user instead of a token"`
	CommvaultPassword string        `envconfig:"COMMVAULT_PASSWORD" desc:"the password of COMMVAULT_USERNAME"`
	CommvaultCAFile   string        `envconfig:"COMMVAULT_CA_FILE" desc:"PEM bundle to trust for Commvault besides the system roots"`
	CommvaultTimeout  time.Duration `envconfig:"COMMVAULT_TIMEOUT" default:"30s" desc:"Commvault per-request timeout"`
	Policy            string        `envconfig:"BACKUPBOT_POLICY" default:"policy.yaml" desc:"policy file (the console uses the built-in sample when unset)"`
	DatabaseURL       string        `envconfig:"BACKUPBOT_DATABASE_URL" default:"sqlite:backupbot.db" desc:"sqlite:PATH for one process, or postgres://… for several replicas (the console uses a temporary file when unset)"`
	HTTPAddr          string        `envconfig:"BACKUPBOT_HTTP_ADDR" default:":8080" desc:"where /healthz, /readyz and /metrics are served"`
	PollInterval      time.Duration `envconfig:"BACKUPBOT_JOB_POLL_INTERVAL" default:"30s" desc:"how often job state is polled (the console on the simulator: 1s when unset)"`
	ShutdownTimeout   time.Duration `envconfig:"BACKUPBOT_SHUTDOWN_TIMEOUT" default:"20s" desc:"how long SIGTERM waits for work in flight"`
	LogLevel          string        `envconfig:"BACKUPBOT_LOG_LEVEL" default:"info" desc:"debug, info, warn or error (the console shows warnings only when unset)"`
	Retention         days          `envconfig:"BACKUPBOT_RETENTION" default:"400d" desc:"how long ended requests and their transitions are kept: days (400d) or a duration"`
	AuditRetention    days          `envconfig:"BACKUPBOT_AUDIT_RETENTION" default:"400d" desc:"how long the audit trail is kept; at least BACKUPBOT_RETENTION"`
	SlackConnections  int           `envconfig:"BACKUPBOT_SLACK_CONNECTIONS" default:"2" desc:"socket-mode connections per replica (Slack allows the app 10 in all)"`
	CommvaultJobURL   string        `envconfig:"COMMVAULT_JOB_URL" desc:"a link for every job ID the bot shows, holding {jobId}, e.g. https://cs.example.com/commandcenter/#/jobs/{jobId}"`

	// A Command Center access token and its refresh token: the recommended
	// way to authenticate (commvaultAuth checks one way is set, whole).
	CommvaultAccessToken  string `envconfig:"COMMVAULT_ACCESS_TOKEN" desc:"Commvault Command Center access token, with COMMVAULT_REFRESH_TOKEN (recommended)"`
	CommvaultRefreshToken string `envconfig:"COMMVAULT_REFRESH_TOKEN" desc:"the refresh token of COMMVAULT_ACCESS_TOKEN; the newest pair is kept in the database"`

	// Each secret may come from a file instead (a Kubernetes Secret mounted
	// as files): NAME_FILE holds the path, and setting both is an error
	// (secretFiles reads them).
	SlackAppTokenFile         string `envconfig:"SLACK_APP_TOKEN_FILE" desc:"a file holding SLACK_APP_TOKEN (not both)"`
	SlackBotTokenFile         string `envconfig:"SLACK_BOT_TOKEN_FILE" desc:"a file holding SLACK_BOT_TOKEN (not both)"`
	CommvaultTokenFile        string `envconfig:"COMMVAULT_AUTHTOKEN_FILE" desc:"a file holding COMMVAULT_AUTHTOKEN (not both)"`
	CommvaultAccessTokenFile  string `envconfig:"COMMVAULT_ACCESS_TOKEN_FILE" desc:"a file holding COMMVAULT_ACCESS_TOKEN (not both)"`
	CommvaultRefreshTokenFile string `envconfig:"COMMVAULT_REFRESH_TOKEN_FILE" desc:"a file holding COMMVAULT_REFRESH_TOKEN (not both)"`
	CommvaultUsernameFile     string `envconfig:"COMMVAULT_USERNAME_FILE" desc:"a file holding COMMVAULT_USERNAME (not both)"`
	CommvaultPasswordFile     string `envconfig:"COMMVAULT_PASSWORD_FILE" desc:"a file holding COMMVAULT_PASSWORD (not both)"`
	DatabaseURLFile           string `envconfig:"BACKUPBOT_DATABASE_URL_FILE" desc:"a file holding BACKUPBOT_DATABASE_URL (not both)"`

	logLevel zapcore.Level
	set      map[string]bool // the variables the environment set, by name
}

// isSet reports whether the environment set variable name, rather than
// leaving it to its default.
func (c config) isSet(name string) bool { return c.set[name] }

// configVars are the names of the variables config reads, in its order.
func configVars() []string {
	t := reflect.TypeFor[config]()
	var names []string
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("envconfig"); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// writeEnvHelp lists the variables with their descriptions and defaults,
// from config's tags as envconfig reads them.
func writeEnvHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	const format = "  variable\tdefault\tmeaning\n" +
		`{{range .}}  {{usage_key .}}` + "\t" + `{{or (usage_default .) "-"}}` + "\t" + `{{usage_description .}}` + "\n" + `{{end}}`
	if err := envconfig.Usagef("", &config{}, tw, format); err != nil {
		return err
	}
	return tw.Flush()
}

// loadConfig reads the environment once. Its errors are one line that names
// the variable and never holds a value that could be a secret.
func loadConfig() (config, error) {
	c := config{set: map[string]bool{}}
	for _, name := range configVars() {
		_, c.set[name] = os.LookupEnv(name)
	}
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("%s: cannot read it as a %s", pe.KeyName, kindName(pe.TypeName))
		}
		return c, errors.New("read environment: " + err.Error())
	}
	if err := c.secretFiles(); err != nil {
		return c, err
	}
	return c, c.check()
}

func kindName(typeName string) string {
	switch {
	case strings.HasSuffix(typeName, "Duration"):
		return "duration (like 30s or 5m)"
	case strings.HasSuffix(typeName, "days"):
		return "number of days (like 400d) or a duration (like 9600h)"
	}
	return typeName
}

// days is a duration read as days ("400d") or as a Go duration ("9600h").
type days struct{ time.Duration }

// Decode reads s for envconfig.
func (d *days) Decode(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		d.Duration = time.Duration(v) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
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
	case c.SlackConnections < 1 || c.SlackConnections > 10:
		return errors.New("BACKUPBOT_SLACK_CONNECTIONS: must be 1 to 10 (Slack allows an app 10 socket-mode connections in all)")
	case c.Retention.Duration < 24*time.Hour:
		return errors.New("BACKUPBOT_RETENTION: must be at least 1d")
	case c.AuditRetention.Duration < c.Retention.Duration:
		return errors.New("BACKUPBOT_AUDIT_RETENTION: must be at least BACKUPBOT_RETENTION (the audit trail outlives the requests)")
	case c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		return errors.New("SLACK_APP_TOKEN: an app-level token starts with xapp-")
	case c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-"):
		return errors.New("SLACK_BOT_TOKEN: a bot token starts with xoxb-")
	}
	if err := c.commvaultAuth(); err != nil {
		return err
	}
	if err := checkAPIURL("SLACK_API_URL", c.SlackAPIURL); err != nil {
		return err
	}
	if !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/"
	}
	if c.CommvaultURL != "" {
		if err := checkAPIURL("COMMVAULT_API_URL", c.CommvaultURL); err != nil {
			return err
		}
	}
	if err := checkJobURL(c.CommvaultJobURL); err != nil {
		return err
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("BACKUPBOT_DATABASE_URL: use sqlite:PATH or postgres://…")
	}
	if err := checkDatabaseTLS(c.DatabaseURL); err != nil {
		return err
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

// checkJobURL accepts an empty COMMVAULT_JOB_URL (no links), or an
// absolute http(s) URL that holds {jobId} and, with a job ID in its place,
// is a URL without spaces or control characters.
func checkJobURL(tmpl string) error {
	const name = "COMMVAULT_JOB_URL"
	switch {
	case tmpl == "":
		return nil
	case !strings.Contains(tmpl, "{jobId}"):
		return errors.New(name + ": must hold {jobId}, like https://cs.example.com/commandcenter/#/jobs/{jobId}")
	case strings.ContainsFunc(tmpl, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New(name + ": must not hold spaces or control characters")
	}
	return checkURL(name, strings.ReplaceAll(tmpl, "{jobId}", "1"))
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
