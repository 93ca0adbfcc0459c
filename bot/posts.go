package bot

// The channel's messages: the parent card of a request and the replies in
// its thread. Every sentence here is in a golden file (message_test.go).

import (
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// what names the backup in one line: "full backup of demo / orders".
func what(r request) string {
	return fmt.Sprintf("%s backup of *%s* / *%s*", levelName(r.Level), esc(r.Account), esc(r.TableGroup.Name))
}

// stateLine says where the request stands, with an emoji a reader can scan.
func stateLine(r request, l look) string {
	switch r.State {
	case store.Pending:
		line := "⏳ waiting for approval"
		if !r.Expires.IsZero() {
			line += " until " + l.clock(r.Expires)
		}
		return line
	case store.Approved, store.Submitting:
		if r.DecidedBy != "" {
			return fmt.Sprintf("✅ approved by <@%s> at %s — submitting to Commvault", r.DecidedBy, l.clock(r.DecidedAt))
		}
		return "⏳ submitting to Commvault"
	case store.Submitted:
		return fmt.Sprintf("🔄 running — task %d, %s %s", r.TaskID, plural(len(r.JobIDs), "job", "jobs"), l.links.ids(r.JobIDs))
	case store.Finished:
		return finishedLine(r, l)
	case store.Failed:
		return "❌ failed: " + esc(r.Problem)
	case store.Unknown:
		return "⚠️ outcome unknown — check Commvault before asking again"
	case store.Rejected:
		if r.DecidedBy == actorBot { // the policy refused it, not an approver
			return fmt.Sprintf("🚫 no longer allowed: %s (checked at %s)", esc(r.Problem), l.clock(r.DecidedAt))
		}
		line := fmt.Sprintf("🚫 denied by <@%s> at %s", r.DecidedBy, l.clock(r.DecidedAt))
		if r.Problem != "" {
			line += ": " + esc(r.Problem)
		}
		return line
	case store.Expired:
		return fmt.Sprintf("⌛ expired at %s: nobody approved it in time", l.clock(r.Expires))
	case store.Cancelled:
		line := fmt.Sprintf("↩️ withdrawn by <@%s> at %s", r.DecidedBy, l.clock(r.DecidedAt))
		if r.Problem != "" {
			line += " (" + esc(r.Problem) + ")"
		}
		return line
	}
	return string(r.State)
}

func finishedLine(r request, l look) string {
	parts := make([]string, 0, len(r.Jobs))
	worst := "✅"
	for _, j := range r.Jobs {
		parts = append(parts, fmt.Sprintf("job %s %s", l.links.id(j.ID), esc(j.Status)))
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
// exactly what will run, and where it stands. Its text gives times in UTC,
// its blocks in each reader's zone.
func parentMessage(r request, links jobLinks) Message {
	sc := r.TableGroup
	plainly, locally := look{links: links}, look{links: links, local: true}
	head := fmt.Sprintf("<@%s> requested a %s", r.User, what(r))
	if r.State == store.Pending {
		head = fmt.Sprintf("<@%s> requests a %s", r.User, what(r))
	}
	if r.Emergency {
		head = "🚨 *EMERGENCY (break-glass)* " + head
	}
	text := fmt.Sprintf("%s — %s. Request %s.", head, stateLine(r, plainly), r.ID)
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
		mrkdwn("*State*\n" + stateLine(r, locally)),
	}
	if approved {
		fields = append(fields, mrkdwn(fmt.Sprintf("*Approved by*\n<@%s> at %s", r.DecidedBy, locally.clock(r.DecidedAt))))
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

// denyButton asks for confirmation in a dialog whose text is plain_text, as
// Block Kit requires (Slack shows mrkdwn there raw), so it names no one:
// a mention would read "<@U…>". Names are plain: the parser keeps them to
// letters, digits, spaces and - _ . : / + @.
func denyButton(r request) *slack.ButtonBlockElement {
	confirm := slack.NewConfirmationBlockObject(
		slack.NewTextBlockObject(slack.PlainTextType, "Deny this backup?", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, fmt.Sprintf("The %s backup of %s / %s (request %s) will not run.",
			levelName(r.Level), r.Account, r.TableGroup.Name, r.ID), false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Keep it", false, false)).WithStyle(slack.StyleDanger)
	return slack.NewButtonBlockElement(ActionDeny, r.ID, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).
		WithStyle(slack.StyleDanger).WithConfirm(confirm)
}

// mention renders a policy entry (user or user group ID) as a Slack mention.
func mention(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
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
func submittedReply(r request, links jobLinks) Message {
	text := fmt.Sprintf("✅ Submitted to Commvault: task %d, %s %s. I'll post here when %s.",
		r.TaskID, plural(len(r.JobIDs), "job", "jobs"), links.ids(r.JobIDs),
		plural(len(r.JobIDs), "it ends", "they end"))
	return Message{Text: text}
}

// approvedReply says in the thread who approved the request.
func approvedReply(r request) Message {
	return dated(jobLinks{}, func(l look) string {
		return fmt.Sprintf("👍 Approved by <@%s> at %s. Submitting to Commvault.", r.DecidedBy, l.clock(r.DecidedAt))
	})
}

// deniedReply says in the thread who denied the request, and why if they said.
func deniedReply(r request) Message {
	return dated(jobLinks{}, func(l look) string {
		text := fmt.Sprintf("🚫 Denied by <@%s> at %s. Nothing runs.", r.DecidedBy, l.clock(r.DecidedAt))
		if r.Problem != "" {
			text += " Reason: " + esc(r.Problem)
		}
		return text
	})
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

// submitFailedReply says in the thread that Commvault refused the backup.
func submitFailedReply(problem string) Message {
	return Message{Text: "❌ Commvault did not start the backup: " + esc(problem) + ". Nothing is running; you can ask again."}
}

// outcomeUnknownReply says in the thread that the submission may or may not
// have reached Commvault, and that the bot will not resubmit it but looks
// for its job: the bot stopped mid-submission, Commvault answered with a
// 5xx (which a CommServe can do after it created the job), or it did not
// answer in time.
func outcomeUnknownReply(r request, cause unknownCause, ref string) Message {
	if cause.status != 0 {
		return Message{Text: fmt.Sprintf("⚠️ Outcome unknown — checking Commvault: it answered the backup request for *%s* / *%s* "+
			"with HTTP %d, which does not say whether a job started. I will not resubmit it; I am looking for the job "+
			"in the job list of client %s and will post here what I find. (ref %s)",
			esc(r.Account), esc(r.TableGroup.Name), cause.status, esc(r.TableGroup.ClientName), ref)}
	}
	why := "Commvault did not answer the backup request for *%s* / *%s* in time"
	if cause.interrupted {
		why = "I stopped between sending the backup request for *%s* / *%s* to Commvault and recording its answer"
	}
	return Message{Text: fmt.Sprintf("⚠️ Outcome unknown: "+why+", so a job may or may not have started. "+
		"Check Commvault's Job Controller for client %s before asking again — I will not resubmit it, "+
		"and I am looking for the job. (ref %s)", esc(r.Account), esc(r.TableGroup.Name), esc(r.TableGroup.ClientName), ref)}
}

// commvaultUnavailableReply says in the thread that Commvault refused the
// bot's session token, so nothing was submitted.
func commvaultUnavailableReply() Message {
	return Message{Text: "❌ Commvault is unavailable: it refused backupbot's session token, which cannot be renewed, " +
		"so nothing was submitted and nothing is running. Ask again once backupbot's operators have given it new Commvault credentials."}
}

// jobEndReply is the thread reply when a job reaches its final state.
func jobEndReply(j commvault.Job, links jobLinks) Message {
	icon := "✅"
	switch {
	case !j.Succeeded():
		icon = "❌"
	case j.Degraded():
		icon = "⚠️"
	}
	text := fmt.Sprintf("%s Job %s %s", icon, links.id(j.ID), esc(j.Status))
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

// jobLostReply says the bot stopped following a job Commvault has no record of.
func jobLostReply(id string, polls int, links jobLinks) Message {
	return Message{Text: fmt.Sprintf("⚠️ Commvault has had no record of job %s for %d polls in a row, so I stopped following it. "+
		"Check Commvault's Job Controller.", links.id(id), polls)}
}

// reconciledReply says in the thread that the job of a request whose outcome
// was unknown has been found in Commvault, and that it runs as a full
// backup when an incremental was asked for (Commvault's first backup of a
// table group is always a full).
func reconciledReply(r request, j commvault.Job, links jobLinks) Message {
	return dated(links, func(l look) string {
		text := fmt.Sprintf("🔎 Found it: Commvault shows job %s for %s / %s, started at %s, "+
			"which matches this request. I'm following it and will post here when it ends.",
			l.links.id(j.ID), esc(r.Account), esc(r.TableGroup.Name), l.time(j.Start))
		if r.Level == commvault.Incremental && strings.EqualFold(j.BackupLevel, levelName(commvault.Full)) {
			text += " Commvault runs it as a full backup: a table group's first backup always is."
		}
		return text
	})
}

// cancelledUnsentReply says in the thread that an approved request was
// cancelled before it was sent: nothing runs.
func cancelledUnsentReply(by, reason string) Message {
	text := fmt.Sprintf("🛑 Cancelled by <@%s> before it was sent to Commvault: nothing runs.", by)
	if reason != "" {
		text += " Reason: " + esc(reason)
	}
	return Message{Text: text}
}

// cancelReply says in the thread who cancelled the backup and what became
// of each job's kill; the jobs' ends follow as for any job.
func cancelReply(by, reason string, outcomes []killOutcome, links jobLinks) Message {
	head := fmt.Sprintf("🛑 Cancelled by <@%s>", by)
	if !anyKilled(outcomes) {
		head = fmt.Sprintf("⚠️ <@%s> asked to cancel this backup", by)
	}
	text := head + " — " + killWords(outcomes, links) + "."
	if reason != "" {
		text += " Reason: " + esc(reason) + "."
	}
	if slices.ContainsFunc(outcomes, func(o killOutcome) bool { return o.Killed || o.Unknown }) {
		text += " I'll post the end here."
	}
	return Message{Text: text}
}

// killWords says what became of each kill, as one clause each.
func killWords(outcomes []killOutcome, links jobLinks) string {
	parts := make([]string, 0, len(outcomes))
	for _, o := range outcomes {
		id := links.id(o.JobID)
		switch {
		case o.Killed:
			parts = append(parts, "job "+id+" killed")
		case o.Refused != "":
			parts = append(parts, fmt.Sprintf("Commvault refused to kill job %s: %s", id, esc(o.Refused)))
		case o.Unknown:
			parts = append(parts, fmt.Sprintf("the kill of job %s may or may not have reached Commvault (it did not answer in time)", id))
		case o.Ended != "":
			parts = append(parts, fmt.Sprintf("job %s had already ended (%s)", id, esc(o.Ended)))
		default:
			parts = append(parts, fmt.Sprintf("job %s could not be killed: %s", id, esc(o.Problem)))
		}
	}
	if len(parts) == 0 {
		return "no job to kill"
	}
	return strings.Join(parts, "; ")
}

// notRecordedReply says in the thread of a card the bot could not record
// that nothing was submitted.
func notRecordedReply() Message {
	return Message{Text: "❌ I could not record this request in my database, so I stopped before submitting anything. " +
		"Nothing runs; ask again in a minute."}
}

// noJobAppearedReply says in the thread that the bot stopped looking for
// the job of a request whose outcome was unknown (for reconcileFor): none
// appeared.
func noJobAppearedReply(r request) Message {
	return Message{Text: fmt.Sprintf("⌛ No job for this request appeared in Commvault in the hour after it was sent, "+
		"so I stopped looking and marked it failed. I did not resubmit it. If Commvault's Job Controller for client %s "+
		"shows its job after all, that job is this request's. You can ask again.", esc(r.TableGroup.ClientName))}
}

// noLongerAllowedProblem says, on the card of r, which rule of the policy
// of now refuses it (auth.CheckRecorded's rule).
func noLongerAllowedProblem(r request, rule string) string {
	switch rule {
	case auth.RuleRequesters:
		return fmt.Sprintf("the requester may no longer request backups of %s", r.Account)
	case auth.RuleBreakglass:
		return fmt.Sprintf("the requester is no longer a break-glass member of %s", r.Account)
	case auth.RuleChannels:
		return fmt.Sprintf("%s may no longer be backed up from this channel", r.Account)
	case auth.RuleTableGroups:
		return fmt.Sprintf("table group %s is no longer allowed for %s", r.TableGroup.Name, r.Account)
	case auth.RuleLevels:
		return fmt.Sprintf("%s backups are no longer allowed for %s", levelName(r.Level), r.Account)
	case auth.RuleRequireReason:
		return fmt.Sprintf("a backup of %s now needs a reason", r.Account)
	case auth.RuleUnknownAccount:
		return fmt.Sprintf("the policy has no account %s any more", r.Account)
	}
	return "the policy no longer allows it (rule " + rule + ")"
}

// noLongerAllowedReply says in the thread that the policy of now refused
// the request at clicker's approval ("" when recovery was to submit it).
func noLongerAllowedReply(r request, clicker string) Message {
	when := "so it was not sent to Commvault"
	if clicker != "" {
		when = fmt.Sprintf("so <@%s>'s approval did not run it", clicker)
	}
	return Message{Text: fmt.Sprintf("🚫 No longer allowed: %s, %s. Nothing runs; ask again if it should.", esc(r.Problem), when)}
}

// inThread links to a request's thread in an announcement, or names the
// request and its channel when Slack gave no link.
func inThread(r request, link string) string {
	if link == "" {
		return fmt.Sprintf("Request %s, in <#%s>.", r.ID, r.Channel)
	}
	return fmt.Sprintf("Request %s, in <#%s>: <%s|its thread>.", r.ID, r.Channel, link)
}

// breakglassAnnouncement tells the audit channel of a break-glass backup.
func breakglassAnnouncement(r request, link string) Message {
	return Message{Text: fmt.Sprintf("🚨 Break-glass: <@%s> runs a %s (Commvault client %s) without approval. Reason: %s. %s",
		r.User, what(r), esc(r.TableGroup.ClientName), esc(r.Reason), inThread(r, link))}
}

// decisionAnnouncement tells the audit channel who approved or denied r.
func decisionAnnouncement(r request, link string) Message {
	if r.State == store.Rejected {
		text := fmt.Sprintf("🚫 <@%s> denied <@%s>'s %s.", r.DecidedBy, r.User, what(r))
		if r.Problem != "" {
			text += " Reason: " + esc(r.Problem) + "."
		}
		return Message{Text: text + " " + inThread(r, link)}
	}
	return Message{Text: fmt.Sprintf("👍 <@%s> approved <@%s>'s %s. %s", r.DecidedBy, r.User, what(r), inThread(r, link))}
}

// noLongerAllowedAnnouncement tells the audit channel that the policy of
// now refused r at clicker's approval ("" when recovery was to submit it).
func noLongerAllowedAnnouncement(r request, clicker string, link string) Message {
	when := "was not sent to Commvault"
	if clicker != "" {
		when = fmt.Sprintf("was refused when <@%s> approved it", clicker)
	}
	return Message{Text: fmt.Sprintf("🚫 <@%s>'s %s %s: no longer allowed: %s. %s", r.User, what(r), when, esc(r.Problem), inThread(r, link))}
}
