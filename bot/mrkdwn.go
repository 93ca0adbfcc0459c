package bot

// How messages are written: Slack mrkdwn escaping, Block Kit pieces, and the
// formats of levels, times, durations and sizes that every message shares.

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/backupbot/backupbot/commvault"
)

// esc makes user- or server-supplied text safe to show: it cannot ping,
// link, or format (Slack needs only &, < and > escaped).
func esc(s string) string { return slackutilsx.EscapeMessage(s) }

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func section(s string) *slack.SectionBlock { return slack.NewSectionBlock(mrkdwn(s), nil, nil) }

func contextBlock(parts ...string) *slack.ContextBlock {
	elems := make([]slack.MixedElement, 0, len(parts))
	for _, p := range parts {
		elems = append(elems, mrkdwn(p))
	}
	return slack.NewContextBlock("", elems...)
}

// levelName is how a level reads in messages.
func levelName(l commvault.Level) string {
	switch l {
	case commvault.Full:
		return "full"
	case commvault.Incremental:
		return "incremental"
	}
	return strings.ToLower(string(l))
}

// clockTime is a time of day for messages, in UTC.
func clockTime(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func jobDuration(j commvault.Job) (time.Duration, bool) {
	if j.Start.IsZero() || j.End.IsZero() || j.End.Before(j.Start) {
		return 0, false
	}
	return j.End.Sub(j.Start), true
}

// formatDuration reads like "1h02m", "3m05s" or "42s".
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// formatSize reads like "512 B", "3.4 MiB" or "1.2 GiB".
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
