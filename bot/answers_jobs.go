package bot

// The private answers about jobs: status, history and cancel (the rest are
// in answers.go). Every sentence here is in a golden file (message_test.go).

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commvault"
)

// statusAnswer is a job's state as Commvault reports it.
func statusAnswer(j commvault.Job, links jobLinks) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Job %s: *%s*", links.id(j.ID), esc(j.Status))
	if !j.Terminal() {
		fmt.Fprintf(&b, ", %d%% done", j.Percent)
		if j.Phase != "" {
			fmt.Fprintf(&b, " (phase %s)", esc(j.Phase))
		}
	}
	if j.ClientName != "" || j.SubclientName != "" {
		fmt.Fprintf(&b, "\nTable group %s of %s", esc(j.SubclientName), esc(j.ClientName))
		if j.BackupLevel != "" {
			fmt.Fprintf(&b, ", %s", esc(strings.ToLower(j.BackupLevel)))
		}
	}
	if !j.Start.IsZero() {
		b.WriteString("\nStarted " + formatTime(j.Start))
	}
	if !j.End.IsZero() {
		b.WriteString(", ended " + formatTime(j.End))
		if d, ok := jobDuration(j); ok {
			b.WriteString(" (" + formatDuration(d) + ")")
		}
	}
	if j.SizeBytes > 0 {
		b.WriteString("\nSize " + formatSize(j.SizeBytes))
	}
	switch {
	case j.PendingReason == "":
	case j.Terminal():
		b.WriteString("\nReason: " + esc(j.PendingReason))
	default:
		b.WriteString("\nPending: " + esc(j.PendingReason))
	}
	return Message{Text: b.String()}
}

// statusRefusedAnswer refuses a status in words that say nothing of the
// job: the same whether it does not exist or is not the caller's to see.
func statusRefusedAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("There is no job %s that you may see from here: Commvault has no such job, or it is not "+
		"in an account you may request or approve backups of from this channel.", esc(id))}
}

// cancelRefusedAnswer refuses a cancel in words that say nothing of the
// request or job: the same whether or not it exists.
func cancelRefusedAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("🚫 You may not cancel %s, or there is no such request or job: only its requester "+
		"and the account's approvers may. Nothing was changed.", esc(id))}
}

// withdrawnAnswer: a request that waited for approval is withdrawn.
func withdrawnAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("Request %s is withdrawn.", id)}
}

// cancelledUnsentAnswer: an approved request is cancelled before it was sent.
func cancelledUnsentAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("Request %s is cancelled before it was sent to Commvault: nothing runs.", id)}
}

// stillSubmittingAnswer: the request is being sent, so no job is known yet.
func stillSubmittingAnswer(command, id string) Message {
	return Message{Text: fmt.Sprintf("Request %s is being sent to Commvault right now, so there is no job to kill yet. "+
		"Nothing was changed; cancel again in a minute: `%s cancel %s`.", id, esc(command), id)}
}

// cancelUnknownAnswer: the submission's outcome is unknown, so no job is known.
func cancelUnknownAnswer(command string, r request) Message {
	return Message{Text: fmt.Sprintf("Whether request %s started a job is unknown, so I know no job of it to kill. "+
		"If Commvault's Job Controller shows one, an approver of %s can kill it: `%s cancel <jobId>`. Nothing was changed.",
		r.ID, esc(r.Account), esc(command))}
}

// alreadyEndedAnswer: the request has ended; there is nothing to cancel.
func alreadyEndedAnswer(r request, links jobLinks) Message {
	return Message{Text: fmt.Sprintf("Request %s has already ended: %s. Nothing was changed.", r.ID, stateLine(r, look{links: links}))}
}

// killedAnswer tells the canceller what became of each kill; inThread says
// the jobs' ends will be posted in a request's thread.
func killedAnswer(outcomes []killOutcome, links jobLinks, inThread bool) Message {
	text := killWords(outcomes, links) + "."
	text = strings.ToUpper(text[:1]) + text[1:]
	switch {
	case anyKilled(outcomes) && inThread:
		text += " The thread says so, and will show the job's end."
	case !anyKilled(outcomes):
		text += " Nothing was changed."
	}
	return Message{Text: text}
}

// historyRefusedAnswer refuses a history in words that say nothing of the
// table group: the same whether or not it exists.
func historyRefusedAnswer(command, account, tableGroup string) Message {
	return Message{Text: fmt.Sprintf("🚫 You may not see the backups of *%s* / *%s* from here, or there is no such table group. "+
		"`%s list` shows what you may back up.", esc(account), esc(tableGroup), esc(command))}
}

// historyView is what a history answer shows.
type historyView struct {
	Command, Account, TableGroup, Client string
	SubclientID                          int
	Jobs                                 []commvault.Job // every job found, newest first
	Count                                int             // how many to show
	Complete                             bool            // false: Commvault listed more than was read
	Window                               time.Duration   // how far back Commvault was asked
	Now                                  time.Time
	Links                                jobLinks
}

// maxAnswerRunes keeps an answer within Slack's message limits (4,000
// characters), room left for the closing line.
const maxAnswerRunes = 3600

// historyAnswer lists a table group's last jobs, newest first, the last
// good full backup on top, cut with "…and N more" to fit.
func historyAnswer(v historyView) Message {
	days := int(v.Window / (24 * time.Hour))
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* / *%s* (Commvault client %s, subclient %d): ", esc(v.Account), esc(v.TableGroup), esc(v.Client), v.SubclientID)
	if len(v.Jobs) == 0 {
		fmt.Fprintf(&b, "Commvault has no backup of it in the last %d days.", days)
		return Message{Text: b.String()}
	}
	shown := min(v.Count, len(v.Jobs))
	if shown < len(v.Jobs) {
		fmt.Fprintf(&b, "the last %d of %d backups in the last %d days, newest first.\n", shown, len(v.Jobs), days)
	} else {
		fmt.Fprintf(&b, "%d %s in the last %d days, newest first.\n", shown, plural(shown, "backup", "backups"), days)
	}
	if j, ok := lastGoodFull(v.Jobs); ok {
		fmt.Fprintf(&b, "*Last good full:* %s, job %s (%s).\n", ago(v.Now.Sub(j.Start)), v.Links.id(j.ID), shortTime(j.Start))
	} else {
		fmt.Fprintf(&b, "*Last good full:* none in the last %d days.\n", days)
	}
	listed := 0
	for _, j := range v.Jobs[:shown] {
		line := historyLine(j, v.Now, v.Links) + "\n"
		if utf8.RuneCountInString(b.String())+utf8.RuneCountInString(line) > maxAnswerRunes {
			break
		}
		b.WriteString(line)
		listed++
	}
	if more := len(v.Jobs) - listed; more > 0 {
		fmt.Fprintf(&b, "…and %d more", more)
		switch {
		case listed < shown:
			b.WriteString(" (no room for them in one message)")
		case listed < maxHistory:
			fmt.Fprintf(&b, ": `%s history %s %s %d` shows up to %d", esc(v.Command), esc(v.Account), esc(quoteName(v.TableGroup)),
				maxHistory, maxHistory)
		}
		b.WriteString(".\n")
	}
	if !v.Complete {
		fmt.Fprintf(&b, "Commvault listed more jobs of %s than I read; older ones may be missing.\n", esc(v.Client))
	}
	return Message{Text: strings.TrimSuffix(b.String(), "\n")}
}

// historyLine is one job of a history: ID, level, state, start, duration, size.
func historyLine(j commvault.Job, now time.Time, links jobLinks) string {
	icon, state := "🔄", esc(j.Status)
	switch {
	case !j.Terminal():
		if j.Percent > 0 {
			state += fmt.Sprintf(" %d%%", j.Percent)
		}
	case !j.Succeeded():
		icon = "❌"
	case j.Degraded():
		icon = "⚠️"
	default:
		icon = "✅"
	}
	level, start, took, size := "—", "not started", "—", "—"
	if j.BackupLevel != "" {
		level = esc(strings.ToLower(j.BackupLevel))
	}
	if !j.Start.IsZero() {
		start = shortTime(j.Start)
	}
	if d, ok := jobDuration(j); ok {
		took = formatDuration(d)
	} else if !j.Terminal() && !j.Start.IsZero() && now.After(j.Start) {
		took = "running for " + formatDuration(now.Sub(j.Start))
	}
	if j.SizeBytes > 0 {
		size = formatSize(j.SizeBytes)
	}
	return fmt.Sprintf("• %s · %s · %s %s · %s · %s · %s", links.id(j.ID), level, icon, state, start, took, size)
}
