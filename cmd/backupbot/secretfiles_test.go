package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretFile writes content to a file of the test's and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every secret can come from a file (a Kubernetes Secret mounted as
// files): the value is the file's, without its trailing newline.
func TestSecretsFromFiles(t *testing.T) {
	clearEnv(t)
	values := map[string]string{
		"SLACK_APP_TOKEN": "xapp-1-from-a-file", "SLACK_BOT_TOKEN": "xoxb-from-a-file",
		"COMMVAULT_ACCESS_TOKEN": "access-from-a-file", "COMMVAULT_REFRESH_TOKEN": "refresh-from-a-file",
		"BACKUPBOT_DATABASE_URL": "sqlite:/var/lib/backupbot/from-a-file.db",
	}
	for name, v := range values {
		t.Setenv(name+"_FILE", secretFile(t, v+"\n"))
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"SLACK_APP_TOKEN": cfg.SlackAppToken, "SLACK_BOT_TOKEN": cfg.SlackBotToken,
		"COMMVAULT_ACCESS_TOKEN": cfg.CommvaultAccessToken, "COMMVAULT_REFRESH_TOKEN": cfg.CommvaultRefreshToken,
		"BACKUPBOT_DATABASE_URL": cfg.DatabaseURL}
	for name, want := range values {
		if got[name] != want {
			t.Errorf("%s from its file = %q, want %q", name, got[name], want)
		}
	}
	if !cfg.isSet("BACKUPBOT_DATABASE_URL") {
		t.Error("BACKUPBOT_DATABASE_URL from a file does not count as set (the console would use a temporary database)")
	}

	clearEnv(t)
	t.Setenv("COMMVAULT_USERNAME_FILE", secretFile(t, "admin\n"))
	t.Setenv("COMMVAULT_PASSWORD_FILE", secretFile(t, "pw\r\n"))
	t.Setenv("COMMVAULT_AUTHTOKEN_FILE", secretFile(t, "QSDK token"))
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "COMMVAULT_AUTHTOKEN: set either it or COMMVAULT_USERNAME") {
		t.Errorf("a password and a session token from files = %v, want them refused together like variables", err)
	}
	os.Unsetenv("COMMVAULT_AUTHTOKEN_FILE")
	cfg, err = loadConfig()
	if err != nil || cfg.CommvaultUsername != "admin" || cfg.CommvaultPassword != "pw" {
		t.Errorf("COMMVAULT_USERNAME_FILE, COMMVAULT_PASSWORD_FILE = %q, %q, %v; want admin, pw", cfg.CommvaultUsername, cfg.CommvaultPassword, err)
	}
}

// A variable and its file together, or a file that cannot serve, stop
// start-up with the variable and the path named, never the content.
func TestSecretFileErrors(t *testing.T) {
	const secret = "xoxb-s3cr3t-never-shown"
	tests := []struct {
		name string
		env  func(t *testing.T) map[string]string
		want string
	}{
		{"both", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN": secret, "SLACK_BOT_TOKEN_FILE": secretFile(t, secret)}
		}, "SLACK_BOT_TOKEN_FILE: set either it or SLACK_BOT_TOKEN, not both"},
		{"missing", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": "/nonexistent/token"}
		}, "SLACK_BOT_TOKEN_FILE: cannot read /nonexistent/token: no such file or directory"},
		{"empty", func(t *testing.T) map[string]string {
			return map[string]string{"COMMVAULT_REFRESH_TOKEN_FILE": secretFile(t, "\n")}
		}, "is empty"},
		{"two lines", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_APP_TOKEN_FILE": secretFile(t, secret+"\n"+secret+"\n")}
		}, "holds more than one line"},
		{"a directory", func(t *testing.T) map[string]string {
			return map[string]string{"BACKUPBOT_DATABASE_URL_FILE": t.TempDir()}
		}, "BACKUPBOT_DATABASE_URL_FILE: cannot read"},
		{"a bad value read from a file", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": secretFile(t, "xapp-"+secret)}
		}, "SLACK_BOT_TOKEN: a bot token starts with xoxb-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env(t) {
				t.Setenv(k, v)
			}
			var out, errs syncBuffer
			if code := run(t.Context(), []string{"console"}, strings.NewReader(""), &out, &errs); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errs.String(), tt.want) {
				t.Errorf("stderr = %q, want %q", errs.String(), tt.want)
			}
			if strings.Contains(errs.String()+out.String(), "s3cr3t") {
				t.Errorf("output shows the file's content: %q", errs.String())
			}
		})
	}
}

// Credentials go only over TLS that checks whom it talks to, except to
// this machine.
func TestTransportSecurity(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // "" when accepted
	}{
		{"postgres elsewhere without sslmode", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://bot:pw-Secret9@db.example.com:5432/backupbot"},
			"BACKUPBOT_DATABASE_URL: PostgreSQL at db.example.com is not loopback and the URL has no sslmode"},
		{"postgres elsewhere, sslmode=require", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://bot:pw-Secret9@db.example.com/backupbot?sslmode=require"},
			"sslmode=require to PostgreSQL at db.example.com does not check the server's certificate: use sslmode=verify-full"},
		{"postgres, prefer", map[string]string{"BACKUPBOT_DATABASE_URL": "postgresql://db.example.com/b?sslmode=prefer"}, "sslmode=prefer"},
		{"postgres, a host parameter elsewhere", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://127.0.0.1/b?host=db.example.com"}, "db.example.com"},
		{"postgres, one of several hosts elsewhere", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://127.0.0.1:5432,db2.example.com:5432/b"}, "db2.example.com"},
		{"postgres verify-full", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://bot@db.example.com/b?sslmode=verify-full&sslrootcert=/ca.pem"}, ""},
		{"postgres verify-ca", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://bot@db.example.com/b?sslmode=verify-ca"}, ""},
		{"postgres on loopback", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}, ""},
		{"postgres on localhost", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://localhost/test"}, ""},
		{"postgres on ::1", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres://[::1]:5432/test"}, ""},
		{"postgres on a unix socket", map[string]string{"BACKUPBOT_DATABASE_URL": "postgres:///test?host=/var/run/postgresql"}, ""},
		{"commvault over http", map[string]string{"COMMVAULT_API_URL": "http://cs.example.com/commandcenter/api"},
			"COMMVAULT_API_URL: http:// would send the credentials unencrypted to cs.example.com: use https://"},
		{"slack over http", map[string]string{"SLACK_API_URL": "http://slack.example.com/api/"}, "SLACK_API_URL: http://"},
		{"commvault over http to this machine", map[string]string{"COMMVAULT_API_URL": "http://127.0.0.1:8400/commandcenter/api"}, ""},
		{"slack over http to localhost", map[string]string{"SLACK_API_URL": "http://localhost:9/api/"}, ""},
		{"commvault over https", map[string]string{"COMMVAULT_API_URL": "https://cs.example.com/commandcenter/api"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("loadConfig = %v, want it accepted", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("loadConfig = %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "pw-Secret9"):
				t.Errorf("the error shows the database password: %v", err)
			}
		})
	}
}
