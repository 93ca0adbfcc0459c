package bot

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// channelLink is an escaped Slack channel link, like &lt;#C01OPS&gt;.
var channelLink = regexp.MustCompile(`&lt;#([CG][A-Z0-9]+)&gt;`)

// deniedMessage tells the caller that the policy refused, and why. The
// reason may quote what the user typed, so all of it is escaped, and then
// its channel links (which cannot ping) are made links again.
func deniedMessage(d auth.Decision) Message {
	reason := channelLink.ReplaceAllString(esc(d.Reason), "<#$1>")
	return Message{Text: "🚫 Not allowed: " + reason + ". Nothing was submitted."}
}

// usageMessage says what was wrong with a command and shows the right form.
func usageMessage(command string, ue *usageError) Message {
	text := esc(ue.Problem)
	if ue.Usage != "" {
		text += "\nUsage: `" + esc(command+" "+ue.Usage) + "`"
	}
	text += "\nType `" + esc(command) + " help` for every command."
	return Message{Text: text}
}

// helpMessage is the usage of every command, with the caller's own accounts.
func helpMessage(command string, accounts []string, example string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* — Commvault DynamoDB backups from Slack.\n", esc(command))
	for _, k := range []cmdKind{kindBackup, kindStatus, kindList, kindCancel, kindEmergency, kindHelp} {
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

// listMessage lists the accounts, and their table groups, the caller may back up.
func listMessage(command, only string, entries []listEntry) Message {
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

// unknownTableGroupMessage names the closest table groups the caller may use.
func unknownTableGroupMessage(command, account, client, name string, suggestions []string) Message {
	text := fmt.Sprintf("There is no table group *%s* in *%s* (Commvault client %s).", esc(name), esc(account), esc(client))
	if len(suggestions) > 0 {
		text += " Did you mean: " + esc(strings.Join(suggestions, ", ")) + "?"
	}
	text += fmt.Sprintf(" `%s list %s` shows them all.", esc(command), esc(account))
	return Message{Text: text}
}

// breakglassReply mentions the account's approvers in an emergency's thread.
func breakglassReply(r request, approvers []string) Message {
	who := "No approvers are configured for this account"
	if len(approvers) > 0 {
		who = mentions(approvers) + ": please review"
	}
	return Message{Text: fmt.Sprintf("🚨 Break-glass: <@%s> skipped approval for this %s. %s. Reason: %s",
		r.User, what(r), who, esc(r.Reason))}
}

// jobLostReply says the bot stopped following a job Commvault has no record of.
func jobLostReply(id string, polls int) Message {
	return Message{Text: fmt.Sprintf("⚠️ Commvault has had no record of job %s for %d polls in a row, so I stopped following it. "+
		"Check Commvault's Job Controller.", esc(id), polls)}
}

// statusMessage is a job's state as Commvault reports it.
func statusMessage(j commvault.Job) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Job %s: *%s*", esc(j.ID), esc(j.Status))
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

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// busyMessage refuses a request because its table group already has one
// that is pending, approved or running, and links to its thread.
func busyMessage(existing store.Request, link string) Message {
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

// approvedReply says in the thread who approved the request.
func approvedReply(r request) Message {
	return Message{Text: fmt.Sprintf("👍 Approved by <@%s> at %s. Submitting to Commvault.", r.DecidedBy, clockTime(r.DecidedAt))}
}

// deniedReply says in the thread who denied the request, and why if they said.
func deniedReply(r request) Message {
	text := fmt.Sprintf("🚫 Denied by <@%s> at %s. Nothing runs.", r.DecidedBy, clockTime(r.DecidedAt))
	if r.Problem != "" {
		text += " Reason: " + esc(r.Problem)
	}
	return Message{Text: text}
}
