package bot

// The private answers: what only the caller sees (usage, refusals, help,
// list, status, history, cancel, busy, restarting, unknown table group,
// internal error).
// Every sentence here is in a golden file (message_test.go).

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// usageAnswer says what was wrong with a command and shows the right form.
func usageAnswer(command string, err error) Message {
	var ue *usageError
	if !errors.As(err, &ue) {
		ue = &usageError{Problem: err.Error()}
	}
	text := esc(ue.Problem)
	if ue.Usage != "" {
		text += "\nUsage: `" + esc(command+" "+ue.Usage) + "`"
	}
	text += "\nType `" + esc(command) + " help` for every command."
	return Message{Text: text}
}

// channelLink is an escaped Slack channel link, like &lt;#C01OPS&gt;.
var channelLink = regexp.MustCompile(`&lt;#([CG][A-Z0-9]+)&gt;`)

// deniedAnswer tells the caller that the policy refused, and why. The
// reason may quote what the user typed, so all of it is escaped, and then
// its channel links (which cannot ping) are made links again.
func deniedAnswer(d auth.Decision) Message {
	reason := channelLink.ReplaceAllString(esc(d.Reason), "<#$1>")
	return Message{Text: "🚫 Not allowed: " + reason + ". Nothing was submitted."}
}

// helpAnswer is the usage of every command, with the caller's own accounts.
func helpAnswer(command string, accounts []string, example string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* — Commvault DynamoDB backups from Slack.\n", esc(command))
	for _, k := range []cmdKind{kindBackup, kindStatus, kindHistory, kindList, kindCancel, kindEmergency, kindHelp} {
		fmt.Fprintf(&b, "• `%s %s`\n", esc(command), esc(usageOf(k)))
	}
	if len(accounts) == 0 {
		b.WriteString("You may not request backups of any account from this channel.")
		return Message{Text: b.String()}
	}
	fmt.Fprintf(&b, "Accounts you may back up from here: %s.\nExample: `%s`", esc(strings.Join(accounts, ", ")), esc(example))
	return Message{Text: b.String()}
}

// listEntry is one account in a `list` answer.
type listEntry struct {
	Account, Client string
	NeedsApproval   bool
	TableGroups     []string
	Problem         string // why the table groups are missing, if they are
}

// listAnswer lists the accounts, and their table groups, the caller may back up.
func listAnswer(command, only string, entries []listEntry) Message {
	if len(entries) == 0 {
		if only != "" {
			return Message{Text: fmt.Sprintf("You may not back up *%s* from this channel (or there is no such account). "+
				"`%s list` shows what you may.", esc(only), esc(command))}
		}
		return Message{Text: "You may not request backups of any account from this channel."}
	}
	var b strings.Builder
	b.WriteString("Accounts you may back up from here:")
	for _, e := range entries {
		fmt.Fprintf(&b, "\n• *%s* (Commvault client %s)", esc(e.Account), esc(e.Client))
		if e.NeedsApproval {
			b.WriteString(", needs approval")
		}
		switch {
		case e.Problem != "":
			b.WriteString(": " + esc(e.Problem))
		case len(e.TableGroups) == 0:
			b.WriteString(": no table groups")
		default:
			b.WriteString(": " + esc(strings.Join(e.TableGroups, ", ")))
		}
	}
	return Message{Text: b.String()}
}

// unknownTableGroupAnswer names the closest table groups the caller may use.
func unknownTableGroupAnswer(command, account, client, name string, suggestions []string) Message {
	text := fmt.Sprintf("There is no table group *%s* in *%s* (Commvault client %s).", esc(name), esc(account), esc(client))
	if len(suggestions) > 0 {
		text += " Did you mean: " + esc(strings.Join(suggestions, ", ")) + "?"
	}
	text += fmt.Sprintf(" `%s list %s` shows them all.", esc(command), esc(account))
	return Message{Text: text}
}

// ambiguousTableGroupAnswer: the table group name is in several DynamoDB
// instances of the client; the caller picks one as INSTANCE/NAME.
func ambiguousTableGroupAnswer(command, account, client, name string, instances []string) Message {
	choices := make([]string, len(instances))
	for i, in := range instances {
		choices[i] = "`" + esc(in+"/"+name) + "`"
	}
	return Message{Text: fmt.Sprintf("*%s* is a table group of %d DynamoDB instances of *%s* (Commvault client %s), "+
		"so I cannot tell which one you mean. Name it with its instance: %s. Nothing was submitted; `%s list %s` shows them all.",
		esc(name), len(instances), esc(account), esc(client), strings.Join(choices, " or "), esc(command), esc(account))}
}

// commvaultUnavailableAnswer: Commvault refused the bot's session token.
func commvaultUnavailableAnswer() Message {
	return Message{Text: "Commvault is unavailable: it refused backupbot's session token, which cannot be renewed. " +
		"Nothing was submitted; try again once backupbot's operators have given it new Commvault credentials."}
}

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

// busyAnswer refuses a request because its table group already has one
// that is pending, approved or running, and links to its thread.
func busyAnswer(existing store.Request, link string) Message {
	where := "its thread"
	if link != "" {
		where = "<" + link + "|its thread>"
	}
	return Message{Text: fmt.Sprintf("⛔ %s / %s already has a backup %s (request %s by <@%s>): see %s. "+
		"One backup at a time per table group; nothing was submitted.", esc(existing.Account), esc(existing.TableGroup),
		activeWords(existing.State), existing.ID, existing.User, where)}
}

func activeWords(s store.State) string {
	switch s {
	case store.Pending:
		return "waiting for approval"
	case store.Approved, store.Submitting:
		return "being submitted"
	}
	return "running"
}

// internalErrorAnswer is what a user sees when something unexpected broke:
// a short reference that is also in the log, never the error itself.
func internalErrorAnswer(ref string) Message {
	return Message{Text: fmt.Sprintf("Something went wrong on my side (ref %s). The details are in the bot's log under that reference.", ref)}
}

// lookupTimeoutAnswer: Commvault did not list the table groups in time.
func lookupTimeoutAnswer() Message {
	return Message{Text: "Commvault did not answer in time while I looked up the table group. " +
		"Nothing was submitted; try again in a minute."}
}

// lookupErrorAnswer: Commvault refused to list the table groups of client.
func lookupErrorAnswer(client, problem string) Message {
	return Message{Text: fmt.Sprintf("Commvault answered with an error while I looked up the table groups of %s: %s. "+
		"Nothing was submitted.", esc(client), esc(problem))}
}

// statusRefusedAnswer refuses a status in words that say nothing of the
// job: the same whether it does not exist or is not the caller's to see.
func statusRefusedAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("There is no job %s that you may see from here: Commvault has no such job, or it is not "+
		"in an account you may request or approve backups of from this channel.", esc(id))}
}

// commvaultTimeoutAnswer: Commvault did not answer a read in time.
func commvaultTimeoutAnswer() Message {
	return Message{Text: "Commvault did not answer in time. Try again in a minute."}
}

// commvaultErrorAnswer: Commvault answered a read with an error.
func commvaultErrorAnswer(problem string) Message {
	return Message{Text: "Commvault answered with an error: " + esc(problem) + "."}
}

// clickRefusedAnswer: the policy does not let the clicker decide request id.
func clickRefusedAnswer(verb, id, reason string) Message {
	return Message{Text: fmt.Sprintf("🚫 You may not %s %s: %s. Nothing was changed.", verb, id, esc(reason))}
}

// noSuchRequestAnswer: a click or cancel named a request that does not exist.
func noSuchRequestAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("There is no request %s. Nothing was changed.", esc(id))}
}

// notWaitingAnswer tells a late clicker what became of request id; r is
// the request as it is now, or nil when it cannot be read.
func notWaitingAnswer(id string, r *request, links jobLinks) Message {
	if r == nil {
		return Message{Text: fmt.Sprintf("Request %s no longer waits for a decision. Nothing was changed.", esc(id))}
	}
	return Message{Text: fmt.Sprintf("Request %s no longer waits for a decision: %s. Nothing was changed.", r.ID,
		stateLine(*r, look{links: links}))}
}

// expiredAnswer: a click or cancel came after the request expired.
func expiredAnswer(r request) Message {
	return Message{Text: fmt.Sprintf("Request %s expired at %s; nothing was changed. "+
		"The requester can ask again.", r.ID, clockTime(r.Expires))}
}

// noSuchButtonAnswer: a click on a button the bot does not know.
func noSuchButtonAnswer() Message {
	return Message{Text: "That button does nothing: no request waits for it. Nothing was changed."}
}

// The transport's answers, when it cannot take a command or click.

// busyNowAnswer: every worker is busy and the queue is full.
func busyNowAnswer() Message {
	return Message{Text: "backupbot is busy right now; try again in a minute. Nothing was submitted."}
}

// restartingAnswer: the bot is shutting down and takes no new work.
func restartingAnswer() Message {
	return Message{Text: "backupbot is restarting; try again in a minute. Nothing was submitted."}
}

// unrecordedAnswer: the command could not be recorded before the ack.
func unrecordedAnswer() Message {
	return Message{Text: "backupbot cannot record your command right now (its database does not answer); " +
		"try again in a minute. Nothing was submitted."}
}

// notServedAnswer: a slash command this bot does not serve reached it.
func notServedAnswer(command string) Message {
	return Message{Text: "This bot serves " + command + " only."}
}

// clickNotTakenAnswer: a click the transport could not take.
func clickNotTakenAnswer() Message {
	return Message{Text: "backupbot is busy or restarting and did not take that click; click again in a minute. Nothing was changed."}
}

// givenUpAnswer tells the sender of a command (in) or click (c) that
// backupbot took it but could not finish serving it: the replicas that
// served it stopped, attempts times.
func givenUpAnswer(command string, in *Input, c *Click, attempts int) Message {
	if c != nil {
		return Message{Text: fmt.Sprintf("⚠️ backupbot took your click on request %s but could not finish serving it "+
			"(it was interrupted %d times). Its card in the channel shows what became of the request.", esc(c.Value), attempts)}
	}
	text := ""
	if in != nil {
		text = in.Text
	}
	return Message{Text: fmt.Sprintf("⚠️ backupbot took your command `%s` but could not finish serving it "+
		"(it was interrupted %d times). If its request shows in the channel, that request goes on; "+
		"otherwise nothing was submitted. Look there before asking again.", esc(strings.TrimSpace(command+" "+text)), attempts)}
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
