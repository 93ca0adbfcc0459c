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
	"unicode/utf8"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
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
	for i, e := range entries {
		line := fmt.Sprintf("\n• *%s* (Commvault client %s)", esc(e.Account), esc(e.Client))
		if e.NeedsApproval {
			line += ", needs approval"
		}
		switch {
		case e.Problem != "":
			line += ": " + esc(e.Problem)
		case len(e.TableGroups) == 0:
			line += ": no table groups"
		default:
			line += ": " + fitNames(e.TableGroups, maxListRunes/2, fmt.Sprintf("`%s list %s` shows them all", command, e.Account))
		}
		if runes(b.String())+runes(line) > maxListRunes {
			fmt.Fprintf(&b, "\n…and %d more %s: `%s list <account>` shows one.", len(entries)-i,
				plural(len(entries)-i, "account", "accounts"), esc(command))
			break
		}
		b.WriteString(line)
	}
	return Message{Text: b.String()}
}

// maxListRunes keeps a list answer well within Slack's message limits
// (4,000 characters for a message's text, counted as Slack counts them).
const maxListRunes = 3500

// fitNames joins names, escaped, within limit characters: past it, "…and
// N more (hint)".
func fitNames(names []string, limit int, hint string) string {
	var b strings.Builder
	for i, n := range names {
		part := esc(n)
		if i > 0 {
			part = ", " + part
		}
		if runes(b.String())+runes(part) > limit {
			fmt.Fprintf(&b, " …and %d more (%s)", len(names)-i, esc(hint))
			break
		}
		b.WriteString(part)
	}
	return b.String()
}

// runes counts s as Slack counts a message's length: in characters, with
// its three escapes (&amp; &lt; &gt;) as one.
func runes(s string) int { return utf8.RuneCountInString(unescapeSlack(s)) }

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

// cannotPostAnswer tells the caller that Slack refused the request's card
// in the conversation the command came from (code), and how to fix it:
// invite the bot, or use one of channels (the account's), if it has some.
func cannotPostAnswer(code, channel string, channels []string) Message {
	var why, fix string
	switch {
	case code == "not_in_channel":
		why, fix = "I'm not a member of this channel", "invite me with `/invite @backupbot` and ask again"
	case code == "channel_not_found" && strings.HasPrefix(channel, "D"):
		why, fix = "I can't post in direct messages", "ask in a channel I'm a member of"
	case code == "channel_not_found":
		why, fix = "I'm not a member of this conversation", "invite me with `/invite @backupbot` and ask again"
	case code == "is_archived":
		why, fix = "this channel is archived", "ask in another channel"
	default:
		why, fix = "Slack does not let me post here ("+esc(code)+")", "ask in another channel"
	}
	text := "🔌 " + strings.ToUpper(why[:1]) + why[1:] + ", so I could not post your request here. Nothing was submitted: " + fix
	if len(channels) > 0 {
		links := make([]string, 0, len(channels))
		for _, c := range channels {
			links = append(links, "<#"+c+">")
		}
		text += ", or use " + strings.Join(links, " or ")
	}
	return Message{Text: text + "."}
}

// receiptAnswer is what a backup request's sender sees at once, in the ack,
// before the policy and Commvault are asked: the answer follows.
func receiptAnswer(cmd command) Message {
	return Message{Text: fmt.Sprintf("⏳ Checking your request for *%s* / *%s*: the answer follows in a moment.",
		esc(cmd.Account), esc(cmd.TableGroup))}
}
