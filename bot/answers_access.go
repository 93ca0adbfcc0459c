package bot

// More private answers, beside answers.go (which is at its size limit):
// refused clicks, and reads asked too often. Every sentence here is in a
// golden file (message_test.go).

import (
	"fmt"
	"time"
)

// clickFromElsewhereAnswer: a click that did not come from the workspace
// and app the bot serves.
func clickFromElsewhereAnswer() Message {
	return Message{Text: "🚫 That click did not come from the Slack workspace and app that run backupbot here, so it does nothing. " +
		"Nothing was changed."}
}

// notItsCardAnswer: a click on a message that is not request id's card.
func notItsCardAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("🚫 That button is not on the card of request %s, so it does nothing. Nothing was changed; "+
		"use the buttons on the request's own card.", esc(id))}
}

// noLongerAllowedAnswer: the approval was refused because the policy of now
// refuses the request itself (problem): it is ended.
func noLongerAllowedAnswer(id, problem string) Message {
	return Message{Text: fmt.Sprintf("🚫 Request %s can no longer run: %s. It is ended without running, and its card says so.",
		esc(id), esc(problem))}
}

// recheckFailedAnswer: the request could not be checked against the policy
// at the click, because a user group lookup failed.
func recheckFailedAnswer(id string) Message {
	return Message{Text: fmt.Sprintf("I could not check request %s against the policy just now (Slack did not say who is in "+
		"its user groups). Nothing was changed; click again in a minute.", esc(id))}
}

// slowDownAnswer: the caller asked for job states and histories too often;
// again in wait.
func slowDownAnswer(perMinute int, wait time.Duration) Message {
	return Message{Text: fmt.Sprintf("You have asked for %d job states or histories in the last minute, as many as I answer "+
		"one person (each costs Commvault reads, which are limited). Ask again in %s.", perMinute, formatDuration(max(wait, time.Second)))}
}
