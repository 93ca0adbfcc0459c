package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// submit sends an approved request to Commvault, once, and reports the
// answer in its thread. The request is recorded as submitting before
// CreateTask is sent, so that a crash in between is found at start-up and
// reported as an unknown outcome rather than sent again.
func (b *Bot) submit(ctx context.Context, log *zap.Logger, r request) {
	r, err := b.transition(ctx, r, []store.State{store.Approved}, store.Change{To: store.Submitting, Actor: actorBot})
	switch {
	case errors.Is(err, store.ErrConflict):
		log.Info("not submitted: another process submits it, or it changed meanwhile", zap.Error(err))
		return
	case err != nil:
		log.Error("not submitted: cannot record it as submitting; recovery retries", zap.Error(err))
		return
	}
	// CreateTask gets its own time, whatever the caller's deadline left
	// (Slack calls before it may have waited out rate limits); the client
	// bounds each of its requests, and recovery waits longer than this.
	sendCtx, cancelSend := context.WithTimeout(context.WithoutCancel(ctx), b.submitBound())
	started := time.Now()
	task, err := b.cv.CreateBackup(sendCtx, r.TableGroup, r.Level)
	cancelSend()
	b.metrics.submitSeconds.Observe(time.Since(started).Seconds())
	b.commvaultError(err)
	// Whatever happened, the thread must hear of it, even when the command's
	// own deadline has passed.
	ctx, cancel := detached(ctx)
	defer cancel()
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		ref := b.newID()
		log.Error("submission outcome unknown", zap.String("ref", ref), zap.String("outcome", "unknown"), zap.Error(err))
		if errors.As(err, &apiErr) && apiErr.StatusCode >= 500 { // it may have created the job anyway
			b.unknown(ctx, log, r, unknownCause{status: apiErr.StatusCode}, fmt.Sprintf("Commvault answered HTTP %d", apiErr.StatusCode), ref)
			return
		}
		b.unknown(ctx, log, r, unknownCause{}, "Commvault did not answer in time", ref)
	case errors.Is(err, commvault.ErrSessionExpired):
		log.Warn("submission refused", zap.String("outcome", "failed"), zap.Error(err))
		b.failedWith(ctx, log, r, "Commvault is unavailable: backupbot's Commvault session expired", commvaultUnavailableReply())
	case errors.As(err, &apiErr):
		log.Warn("submission refused", zap.String("outcome", "failed"), zap.Error(err))
		b.failed(ctx, log, r, commvaultProblem(apiErr))
	case err != nil:
		ref := b.newID()
		log.Error("submission", zap.String("ref", ref), zap.String("outcome", "failed"), zap.Error(err))
		b.failed(ctx, log, r, "Commvault could not be reached (ref "+ref+")")
	default:
		log.Info("submitted", zap.Int("task", task.ID), zap.Strings("jobs", task.JobIDs))
		b.metrics.submissions.WithLabelValues("submitted").Inc()
		r.TaskID, r.JobIDs = task.ID, task.JobIDs
		b.submitted(ctx, log, r, task)
	}
}

// submitted records that Commvault started r's jobs, then tells the thread:
// recorded first, so that no replica can declare the outcome unknown after
// the thread was told, and told until Slack takes it.
func (b *Bot) submitted(ctx context.Context, log *zap.Logger, r request, task commvault.Task) {
	ch := store.Change{To: store.Submitted, Actor: actorBot, TaskID: task.ID, JobIDs: task.JobIDs,
		Tell:  noticeOf(submittedReply(r, b.links)),
		Event: r.audited(actorBot, "submitted", "", fmt.Sprintf("task %d, jobs %s", task.ID, strings.Join(task.JobIDs, ", ")))}
	next, err := b.transition(ctx, r, []store.State{store.Submitting}, ch)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) && conflict.State == store.Unknown {
		// This replica's hold ran out (its store did not answer), and the
		// lease holder told the thread the outcome is unknown: it is known.
		ch.Detail = "Commvault's answer arrived after the outcome was declared unknown"
		next, err = b.transition(ctx, r, []store.State{store.Unknown}, ch)
	}
	if err != nil {
		log.Error("record the submission; left submitting, so recovery reports it unknown and finds the job", zap.Error(err))
		return
	}
	b.tell(ctx, log, next)
	b.updateParent(ctx, log, next)
}

// failed records and reports that Commvault did not start the backup.
func (b *Bot) failed(ctx context.Context, log *zap.Logger, r request, problem string) {
	b.failedWith(ctx, log, r, problem, submitFailedReply(problem))
}

// failedWith is failed, telling the thread m.
func (b *Bot) failedWith(ctx context.Context, log *zap.Logger, r request, problem string, m Message) {
	r, err := b.transition(ctx, r, []store.State{store.Submitting}, store.Change{To: store.Failed, Actor: actorBot, Problem: problem,
		Tell: noticeOf(m), Event: r.audited(actorBot, "failed", "", problem)})
	if err != nil {
		log.Error("record the failed submission", zap.Error(err))
		return
	}
	b.metrics.submissions.WithLabelValues("failed").Inc()
	b.tell(ctx, log, r)
	b.updateParent(ctx, log, r)
}

// unknownCause is why a submission's outcome is not known: the bot
// stopped while it was sent, Commvault answered it with a 5xx (status),
// or else did not answer in time.
type unknownCause struct {
	interrupted bool
	status      int
}

// unknown records and reports a submission whose outcome is not known.
func (b *Bot) unknown(ctx context.Context, log *zap.Logger, r request, cause unknownCause, problem, ref string) {
	r, err := b.transition(ctx, r, []store.State{store.Submitting}, store.Change{To: store.Unknown, Actor: actorBot, Problem: problem,
		Tell: noticeOf(outcomeUnknownReply(r, cause, ref)), Event: r.audited(actorBot, "unknown", "", problem+" (ref "+ref+")")})
	if err != nil {
		log.Error("record the unknown outcome", zap.Error(err))
		return
	}
	b.metrics.submissions.WithLabelValues("unknown").Inc()
	b.tell(ctx, log, r)
	b.updateParent(ctx, log, r)
}

// commvaultError counts a Commvault error by kind. A refused session
// token is also logged, in words an operator can act on.
func (b *Bot) commvaultError(err error) {
	if err == nil {
		return
	}
	var apiErr *commvault.APIError
	var nf *commvault.NotFoundError
	var amb *commvault.AmbiguousError
	var se *commvault.SessionError
	kind := "other"
	switch {
	case errors.As(err, &nf), errors.As(err, &amb), errors.Is(err, commvault.ErrJobNotFound):
		return // an answer, not an error
	case errors.As(err, &se):
		b.log.Error(se.Error())
		kind = "session_expired"
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		kind = "unknown_outcome"
	case errors.Is(err, commvault.ErrTimeout):
		kind = "timeout"
	case errors.As(err, &apiErr) && apiErr.StatusCode == 429:
		kind = "rate_limited"
	case errors.As(err, &apiErr) && apiErr.Code != 0:
		kind = "error_code"
	case errors.As(err, &apiErr):
		kind = "http"
	}
	b.metrics.cvErrors.WithLabelValues(kind).Inc()
}

// commvaultProblem is Commvault's error in words for a person.
func commvaultProblem(e *commvault.APIError) string {
	switch {
	case e.StatusCode == 429:
		return "Commvault is rate-limiting requests (HTTP 429)"
	case e.Code != 0 && e.Message != "":
		return fmt.Sprintf("%s (error code %d)", e.Message, e.Code)
	case e.Message != "":
		return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d", e.StatusCode)
}
