package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFile bounds what a *_FILE variable's file may hold: a token, a
// password or a URL is far smaller.
const maxSecretFile = 64 << 10

// secretFiles reads each secret whose NAME_FILE variable is set (config
// declares them) from that file, as a Kubernetes Secret mounted as files
// holds them: one value, a trailing newline trimmed. Setting both NAME and
// NAME_FILE is an error. No error ever shows what a file holds.
func (c *config) secretFiles() error {
	for _, s := range []struct {
		name  string
		value *string
		file  string
	}{
		{"SLACK_APP_TOKEN", &c.SlackAppToken, c.SlackAppTokenFile},
		{"SLACK_BOT_TOKEN", &c.SlackBotToken, c.SlackBotTokenFile},
		{"COMMVAULT_AUTHTOKEN", &c.CommvaultToken, c.CommvaultTokenFile},
		{"COMMVAULT_ACCESS_TOKEN", &c.CommvaultAccessToken, c.CommvaultAccessTokenFile},
		{"COMMVAULT_REFRESH_TOKEN", &c.CommvaultRefreshToken, c.CommvaultRefreshTokenFile},
		{"COMMVAULT_USERNAME", &c.CommvaultUsername, c.CommvaultUsernameFile}, // not a secret, but kept in the Secret beside its password
		{"COMMVAULT_PASSWORD", &c.CommvaultPassword, c.CommvaultPasswordFile},
		{"BACKUPBOT_DATABASE_URL", &c.DatabaseURL, c.DatabaseURLFile},
	} {
		if s.file == "" {
			continue
		}
		if c.isSet(s.name) {
			return fmt.Errorf("%s_FILE: set either it or %s, not both", s.name, s.name)
		}
		v, err := readSecretFile(s.file)
		if err != nil {
			return fmt.Errorf("%s_FILE: %w", s.name, err)
		}
		*s.value = v
		c.set[s.name] = true // as if the environment had set it
	}
	return nil
}

// readSecretFile reads one secret value from path. Its errors name the
// path, never the content.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	case len(data) > maxSecretFile:
		return "", fmt.Errorf("%s holds more than %d KiB: it is not one secret", path, maxSecretFile>>10)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	switch {
	case v == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(v, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line: it should hold the value only", path)
	}
	return v, nil
}
