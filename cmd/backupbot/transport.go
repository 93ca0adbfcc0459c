package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkAPIURL accepts an API base URL that a token or password is sent
// to: https, or http only to this machine (tests, a local proxy).
func checkAPIURL(name, raw string) error {
	if err := checkURL(name, raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw) // checkURL parsed it
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s: http:// would send the credentials unencrypted to %s: use https:// "+
			"(plain http is accepted only to 127.0.0.1, ::1 or localhost)", name, u.Hostname())
	}
	return nil
}

// checkDatabaseTLS refuses a PostgreSQL URL to another machine unless it
// verifies the server's certificate: pgx's default, sslmode=prefer,
// encrypts without checking whom it talks to, or falls back to plaintext,
// and the database decides what runs. The error never shows the URL's
// password.
func checkDatabaseTLS(dbURL string) error {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("BACKUPBOT_DATABASE_URL: not a postgres:// URL that can be read")
	}
	q := u.Query()
	var remote []string
	hosts := strings.Split(u.Host, ",") // pgx takes several, for failover
	if h := q.Get("host"); h != "" {
		hosts = strings.Split(h, ",")
	}
	for _, h := range hosts {
		host := h
		if hh, _, err := net.SplitHostPort(h); err == nil {
			host = hh
		}
		host = strings.Trim(host, "[]")
		if host != "" && !strings.HasPrefix(host, "/") && !isLoopback(host) { // "" and /path: a Unix socket here
			remote = append(remote, host)
		}
	}
	switch mode := q.Get("sslmode"); {
	case len(remote) == 0, mode == "verify-full", mode == "verify-ca":
		return nil
	case mode == "":
		return fmt.Errorf("BACKUPBOT_DATABASE_URL: PostgreSQL at %s is not loopback and the URL has no sslmode: pgx's default "+
			"(prefer) encrypts without checking the server's certificate, or falls back to plaintext. Add sslmode=verify-full "+
			"(with sslrootcert=PATH for a private CA), or sslmode=verify-ca", strings.Join(remote, ","))
	default:
		return fmt.Errorf("BACKUPBOT_DATABASE_URL: sslmode=%s to PostgreSQL at %s does not check the server's certificate: "+
			"use sslmode=verify-full (with sslrootcert=PATH for a private CA), or sslmode=verify-ca", mode, strings.Join(remote, ","))
	}
}

// isLoopback reports whether host (a name or an IP address) is this
// machine: localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
