package bot

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
)

// Workspace is where the bot's clicks must come from: the Slack workspace
// (team) and Enterprise Grid organisation that auth.test reported for the
// bot token, and the app whose socket-mode connections deliver them. A
// click from anywhere else is refused and recorded. The zero Workspace is
// a bot outside Slack (the console, tests), whose clicks carry none.
type Workspace struct {
	TeamID       string // auth.test's team_id
	EnterpriseID string // auth.test's enterprise_id; "" outside Enterprise Grid
	// AppID is the app's ID (A…). Empty: the app named by the first
	// socket-mode hello (connection_info.app_id), that is the app whose
	// app-level token opened the connection.
	AppID string
}

// Rules of the refused clicks, for the audit trail and metrics.
const (
	ruleWorkspace = "workspace" // not from this workspace and app
	ruleCard      = "card"      // not on the request's own card
)

// learnApp is told the app of each socket-mode connection (its hello's
// connection_info.app_id): the first one is the app clicks must be for,
// unless Config.Workspace named it.
func (b *Bot) learnApp(id string) {
	if id == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.app == "":
		b.app = id
	case b.app != id:
		b.log.Error("a socket-mode connection belongs to another Slack app than the first: clicks for it are refused",
			zap.String("app", b.app), zap.String("connection_app", id))
	}
}

// foreign says why click c did not come from this workspace and app, or
// "" if it did.
func (b *Bot) foreign(c Click) string {
	b.mu.Lock()
	app := b.app
	b.mu.Unlock()
	switch ws := b.workspace; {
	case c.TeamID != ws.TeamID:
		return fmt.Sprintf("team %q, not %q", c.TeamID, ws.TeamID)
	case c.EnterpriseID != ws.EnterpriseID:
		return fmt.Sprintf("enterprise %q, not %q", c.EnterpriseID, ws.EnterpriseID)
	case c.AppID != app:
		return fmt.Sprintf("app %q, not %q", c.AppID, app)
	}
	return ""
}

// clickFromElsewhere refuses a click that came from another workspace or
// app, before its request is even read.
func (b *Bot) clickFromElsewhere(ctx context.Context, t *turn, why string) {
	c := t.click
	t.log.Warn("click", zap.String("outcome", "refused"), zap.String("rule", ruleWorkspace), zap.String("from", why))
	b.denied(ruleWorkspace)
	b.audit(ctx, t.log, store.Event{Actor: c.User, Action: "click-refused", Rule: ruleWorkspace, Channel: c.Channel,
		Detail: fmt.Sprintf("%s on request %q from %s", c.ActionID, c.Value, why)})
	b.reply(ctx, t, clickFromElsewhereAnswer())
}

// onItsCard reports whether the click being served (if any) is on r's own
// card; if not, it is refused, recorded and answered.
func (b *Bot) onItsCard(ctx context.Context, t *turn, r request, verb string) bool {
	c := t.click
	if c == nil || (c.Channel == r.Channel && c.MessageTS != "" && c.MessageTS == r.ParentTS) {
		return true
	}
	t.log.Warn("click", zap.String("outcome", "refused"), zap.String("rule", ruleCard),
		zap.String("message", c.Channel+"/"+c.MessageTS), zap.String("card", r.Channel+"/"+r.ParentTS))
	b.denied(ruleCard)
	b.audit(ctx, t.log, r.event(c.User, "click-refused", ruleCard, fmt.Sprintf("%s: clicked on message %s in %s; the request's card is %s in %s",
		verb, c.MessageTS, c.Channel, r.ParentTS, r.Channel)))
	b.reply(ctx, t, notItsCardAnswer(r.ID))
	return false
}

// recheck checks recorded request r against the policy of now: its
// requester, channel, table group, level and reason, as if asked again.
func (b *Bot) recheck(ctx context.Context, r request) auth.Decision {
	return b.policy().CheckRecorded(ctx, b.groups, auth.Recorded{Requester: r.User, Channel: r.Channel, Account: r.Account,
		TableGroup: r.TableGroup.Name, Instance: r.TableGroup.InstanceName, Level: levelName(r.Level), Reason: r.Reason,
		Emergency: r.Emergency})
}

// noLongerAllowed refuses an approval of pending request r that the
// policy of now refuses (d): the request ends rejected, with the rule that
// decided, its card and thread say so, and the clicker is told. A failed
// group lookup says nothing of the request: it stays pending.
func (b *Bot) noLongerAllowed(ctx context.Context, t *turn, r request, d auth.Decision, verb string) {
	t.log.Info("click", zap.String("outcome", "no-longer-allowed"), zap.String("rule", d.Rule), zap.Error(d.Err))
	b.denied(d.Rule)
	b.audit(ctx, t.log, r.event(t.in.User, "click-refused", d.Rule, verb+": the request is no longer allowed: "+d.Reason+b.console(t)))
	if d.Rule == auth.RuleGroupLookup {
		b.reply(ctx, t, recheckFailedAnswer(r.ID))
		return
	}
	next, err := b.endNoLongerAllowed(ctx, t.log, r, []store.State{store.Pending}, d, t.in.User)
	switch {
	case errors.Is(err, store.ErrConflict):
		b.reply(ctx, t, b.notWaitingNow(ctx, r.ID))
		return
	case err != nil:
		b.internalError(ctx, t, fmt.Errorf("record that request %s is no longer allowed: %w", r.ID, err))
		return
	}
	b.reply(ctx, t, noLongerAllowedAnswer(next.ID, next.Problem))
}

// stillAllowed reports whether approved request r, taken over by recovery,
// may still be submitted under the policy of now; if not, it ends as
// refused. A failed group lookup leaves it approved: recovery tries again
// once this replica's hold on it has lapsed.
func (b *Bot) stillAllowed(ctx context.Context, log *zap.Logger, r request) bool {
	d := b.recheck(ctx, r)
	switch {
	case d.Allow:
		return true
	case d.Rule == auth.RuleGroupLookup:
		log.Warn("recover: cannot check the approved request against the policy now; it is tried again later", zap.Error(d.Err))
		return false
	}
	log.Info("recover: the approved request is no longer allowed; not submitted", zap.String("rule", d.Rule))
	b.denied(d.Rule)
	if _, err := b.endNoLongerAllowed(ctx, log, r, []store.State{store.Approved}, d, ""); err != nil && !errors.Is(err, store.ErrConflict) {
		log.Error("record that the approved request is no longer allowed", zap.Error(err))
	}
	return false
}

// endNoLongerAllowed moves r from one of the states from to rejected, as
// the policy's decision d (not an approver's: the bot is the actor), at
// the click of clicker ("" for recovery), and tells the card, the thread,
// the audit trail and the audit channel.
func (b *Bot) endNoLongerAllowed(ctx context.Context, log *zap.Logger, r request, from []store.State, d auth.Decision,
	clicker string) (request, error) {
	problem := noLongerAllowedProblem(r, d.Rule)
	detail := "rule " + d.Rule + "; before recovery submitted it"
	if clicker != "" {
		detail = "rule " + d.Rule + "; at the approval of " + clicker
	}
	next, err := b.transition(ctx, r, from, store.Change{To: store.Rejected, Actor: actorBot, Decided: true, Problem: problem,
		Detail: detail, Event: r.audited(actorBot, "rejected", d.Rule, problem+" ("+detail+")")})
	if err != nil {
		return r, err
	}
	b.metrics.decisions.WithLabelValues("rejected").Inc()
	ctx, cancel := detached(ctx)
	defer cancel()
	b.updateParent(ctx, log, next)
	b.thread(ctx, log, next, noLongerAllowedReply(next, clicker))
	b.announce(ctx, log, next, func(link string) Message { return noLongerAllowedAnnouncement(next, clicker, link) })
	return next, nil
}

// console marks, for the audit trail, a decision made from the console
// in someone's name.
func (b *Bot) console(t *turn) string {
	if t.via == "" {
		return ""
	}
	return "; made from the " + t.via + " as " + t.in.User + ", not in Slack"
}
