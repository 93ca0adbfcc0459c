package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/backupbot/backupbot/bot/store"
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

// what names the backup in one line: "full backup of demo / orders".
func what(r request) string {
	return fmt.Sprintf("%s backup of *%s* / *%s*", levelName(r.Level), esc(r.Account), esc(r.TableGroup.Name))
}

// stateLine says where the request stands, with an emoji a reader can scan.
func stateLine(r request) string {
	switch r.State {
	case store.Pending:
		line := "⏳ waiting for approval"
		if !r.Expires.IsZero() {
			line += " until " + clockTime(r.Expires)
		}
		return line
	case store.Approved, store.Submitting:
		if r.DecidedBy != "" {
			return fmt.Sprintf("✅ approved by <@%s> at %s — submitting to Commvault", r.DecidedBy, clockTime(r.DecidedAt))
		}
		return "⏳ submitting to Commvault"
	case store.Submitted:
		return fmt.Sprintf("🔄 running — task %d, %s %s", r.TaskID, plural(len(r.JobIDs), "job", "jobs"), esc(strings.Join(r.JobIDs, ", ")))
	case store.Finished:
		return finishedLine(r)
	case store.Failed:
		return "❌ failed: " + esc(r.Problem)
	case store.Unknown:
		return "⚠️ outcome unknown — check Commvault before asking again"
	case store.Rejected:
		line := fmt.Sprintf("🚫 denied by <@%s> at %s", r.DecidedBy, clockTime(r.DecidedAt))
		if r.Problem != "" {
			line += ": " + esc(r.Problem)
		}
		return line
	case store.Expired:
		return fmt.Sprintf("⌛ expired at %s: nobody approved it in time", clockTime(r.Expires))
	case store.Cancelled:
		line := fmt.Sprintf("↩️ withdrawn by <@%s> at %s", r.DecidedBy, clockTime(r.DecidedAt))
		if r.Problem != "" {
			line += " (" + esc(r.Problem) + ")"
		}
		return line
	}
	return string(r.State)
}

// clockTime is a time of day for messages, in UTC.
func clockTime(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func finishedLine(r request) string {
	parts := make([]string, 0, len(r.Jobs))
	worst := "✅"
	for _, j := range r.Jobs {
		parts = append(parts, fmt.Sprintf("job %s %s", esc(j.ID), esc(j.Status)))
		switch {
		case !j.Succeeded():
			worst = "❌"
		case j.Degraded() && worst == "✅":
			worst = "⚠️"
		}
	}
	return fmt.Sprintf("%s finished — task %d, %s", worst, r.TaskID, strings.Join(parts, ", "))
}

// parentMessage is the channel message for a request: who asked for what,
// exactly what will run, and where it stands.
func parentMessage(r request) Message {
	sc := r.TableGroup
	head := fmt.Sprintf("<@%s> requested a %s", r.User, what(r))
	if r.State == store.Pending {
		head = fmt.Sprintf("<@%s> requests a %s", r.User, what(r))
	}
	if r.Emergency {
		head = "🚨 *EMERGENCY (break-glass)* " + head
	}
	text := fmt.Sprintf("%s — %s. Request %s.", head, stateLine(r), r.ID)
	approved := r.DecidedBy != "" && r.State != store.Rejected && r.State != store.Cancelled && r.State != store.Approved &&
		r.State != store.Submitting
	if approved {
		text += fmt.Sprintf(" Approved by <@%s> at %s.", r.DecidedBy, clockTime(r.DecidedAt))
	}
	if r.Reason != "" {
		text += " Reason: " + esc(r.Reason)
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Requested by*\n<@" + r.User + ">"),
		mrkdwn("*Level*\n" + levelName(r.Level)),
		mrkdwn(fmt.Sprintf("*Account*\n%s (%s)", esc(r.Account), esc(sc.ClientName))),
		mrkdwn(fmt.Sprintf("*Table group*\n%s (subclient %d)", esc(sc.Name), sc.ID)),
		mrkdwn(fmt.Sprintf("*Instance / backup set*\n%s / %s", esc(sc.InstanceName), esc(sc.BackupsetName))),
		mrkdwn("*State*\n" + stateLine(r)),
	}
	if approved {
		fields = append(fields, mrkdwn(fmt.Sprintf("*Approved by*\n<@%s> at %s", r.DecidedBy, clockTime(r.DecidedAt))))
	}
	blocks := []slack.Block{
		section(head),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if r.Reason != "" {
		blocks = append(blocks, section("*Reason*\n"+esc(r.Reason)))
	}
	if r.State == store.Pending {
		who := mentions(r.Approvers)
		text = fmt.Sprintf("%s — needs approval by %s (until %s). Request %s.", head, who, clockTime(r.Expires), r.ID)
		if r.Reason != "" {
			text += " Reason: " + esc(r.Reason)
		}
		blocks = append(blocks, section("*Approvers:* "+who+" — the requester cannot approve their own request."),
			slack.NewActionBlock("approval:"+r.ID, approveButton(r.ID), denyButton(r)))
	}
	blocks = append(blocks, contextBlock("Request "+r.ID))
	return Message{Text: text, Blocks: blocks}
}

func approveButton(id string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(ActionApprove, id, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).
		WithStyle(slack.StylePrimary)
}

func denyButton(r request) *slack.ButtonBlockElement {
	confirm := slack.NewConfirmationBlockObject(
		slack.NewTextBlockObject(slack.PlainTextType, "Deny this backup?", false, false),
		mrkdwn(fmt.Sprintf("The %s requested by <@%s> will not run.", what(r), r.User)),
		slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Keep it", false, false)).WithStyle(slack.StyleDanger)
	return slack.NewButtonBlockElement(ActionDeny, r.ID, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).
		WithStyle(slack.StyleDanger).WithConfirm(confirm)
}

// mentions renders policy entries as Slack mentions.
func mentions(ids []string) string {
	if len(ids) == 0 {
		return "nobody (no approvers are configured)"
	}
	ms := make([]string, 0, len(ids))
	for _, id := range ids {
		ms = append(ms, mention(id))
	}
	return strings.Join(ms, " ")
}

// submittedReply is the thread reply with Commvault's task and job IDs.
func submittedReply(r request) Message {
	text := fmt.Sprintf("✅ Submitted to Commvault: task %d, %s %s. I'll post here when %s.",
		r.TaskID, plural(len(r.JobIDs), "job", "jobs"), esc(strings.Join(r.JobIDs, ", ")),
		plural(len(r.JobIDs), "it ends", "they end"))
	return Message{Text: text}
}

// jobEndReply is the thread reply when a job reaches its final state.
func jobEndReply(j commvault.Job) Message {
	icon := "✅"
	switch {
	case !j.Succeeded():
		icon = "❌"
	case j.Degraded():
		icon = "⚠️"
	}
	text := fmt.Sprintf("%s Job %s %s", icon, esc(j.ID), esc(j.Status))
	if d, ok := jobDuration(j); ok {
		text += " after " + formatDuration(d)
	}
	if j.SizeBytes > 0 {
		text += ", " + formatSize(j.SizeBytes)
	}
	text += "."
	if !j.Succeeded() && j.PendingReason != "" {
		text += " Reason: " + esc(j.PendingReason)
	}
	return Message{Text: text}
}

// submitFailedReply says in the thread that Commvault refused the backup.
func submitFailedReply(problem string) Message {
	return Message{Text: "❌ Commvault did not start the backup: " + esc(problem) + ". Nothing is running; you can ask again."}
}

// outcomeUnknownReply says in the thread that the submission may or may not
// have reached Commvault, and that the bot will not resubmit it.
// interrupted says whether the bot stopped mid-submission (else Commvault
// did not answer in time).
func outcomeUnknownReply(r request, interrupted bool, ref string) Message {
	why := "Commvault did not answer the backup request for *%s* / *%s* in time"
	if interrupted {
		why = "I stopped between sending the backup request for *%s* / *%s* to Commvault and recording its answer"
	}
	return Message{Text: fmt.Sprintf("⚠️ Outcome unknown: "+why+", so a job may or may not have started. "+
		"Check Commvault's Job Controller for client %s before asking again — I will not resubmit it, "+
		"and I am looking for the job. (ref %s)", esc(r.Account), esc(r.TableGroup.Name), esc(r.TableGroup.ClientName), ref)}
}

// internalErrorMessage is what a user sees when something unexpected broke:
// a short reference that is also in the log, never the error itself.
func internalErrorMessage(ref string) Message {
	return Message{Text: fmt.Sprintf("Something went wrong on my side (ref %s). The details are in the bot's log under that reference.", ref)}
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
