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

// shortTime is a date and time to the minute, in UTC, for lists.
func shortTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// ago reads like "12 min ago", "5 h ago" or "3 days ago".
func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", max(int(d.Minutes()), 0))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// quoteName quotes a name with spaces, as a command needs it typed.
func quoteName(name string) string {
	if strings.ContainsAny(name, " \t") {
		return `"` + name + `"`
	}
	return name
}

// slackDate shows t in each reader's own time zone with Slack's date
// formatting, and fallback (the time in UTC) where Slack cannot.
func slackDate(t time.Time, fallback string) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), fallback)
}

// jobLinks shows job IDs as links to their page in Command Center, from a
// template holding {jobId} (COMMVAULT_JOB_URL); the zero value shows them
// plain.
type jobLinks struct{ template string }

// id is the job ID, linked when there is a template and the ID is digits.
func (l jobLinks) id(jobID string) string {
	if l.template == "" || jobID == "" || strings.Trim(jobID, "0123456789") != "" {
		return esc(jobID)
	}
	return "<" + linkTarget(strings.ReplaceAll(l.template, "{jobId}", jobID)) + "|" + jobID + ">"
}

// ids is the job IDs, each as id shows it, separated by commas.
func (l jobLinks) ids(jobIDs []string) string {
	out := make([]string, len(jobIDs))
	for i, id := range jobIDs {
		out[i] = l.id(id)
	}
	return strings.Join(out, ", ")
}

// linkTarget makes a URL safe inside <…|label>: Slack's three escapes, and
// a | (which would end the URL) percent-encoded.
func linkTarget(u string) string {
	return strings.ReplaceAll(esc(u), "|", "%7C")
}

// look is how one rendering of a message shows job IDs and times: links
// where the bot knows the job URL; times in the reader's zone (local, for
// blocks) or in UTC (the text fallback, notifications, the console).
type look struct {
	links jobLinks
	local bool
}

// clock is a time of day, as clockTime.
func (l look) clock(t time.Time) string {
	if l.local {
		return slackDate(t, clockTime(t))
	}
	return clockTime(t)
}

// time is a date and time, as formatTime.
func (l look) time(t time.Time) string {
	if l.local {
		return slackDate(t, formatTime(t))
	}
	return formatTime(t)
}

// dated is a message whose text gives its times in UTC and whose one
// section block gives them in each reader's zone; body renders it for a look.
func dated(links jobLinks, body func(look) string) Message {
	return Message{Text: body(look{links: links}), Blocks: []slack.Block{section(body(look{links: links, local: true}))}}
}

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

// maxUpdateText is the longest text chat.update takes, in characters.
const maxUpdateText = 4000

// fitText cuts s, mrkdwn, to at most limit characters as Slack counts them,
// at a space (so that no mention, link or escape is cut in two), ending
// it with "…".
func fitText(s string, limit int) string {
	if runes(s) <= limit {
		return s
	}
	r := []rune(s)
	cut := min(len(r), limit-1)
	for cut > 0 && runes(string(r[:cut])) > limit-1 {
		cut--
	}
	if sp := strings.LastIndexByte(string(r[:cut]), ' '); sp > 0 {
		return string(r[:cut])[:sp] + "…"
	}
	return string(r[:cut]) + "…"
}
