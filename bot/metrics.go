package bot

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Metrics are the bot's Prometheus metrics. Their names and labels are part
// of what operators build dashboards and alerts on: change them with care.
type Metrics struct {
	commands      *prometheus.CounterVec
	denials       *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	expiries      prometheus.Counter
	submissions   *prometheus.CounterVec
	submitSeconds prometheus.Histogram
	cvErrors      *prometheus.CounterVec
	internal      prometheus.Counter
	jobsFollowed  prometheus.Gauge
	jobsEnded     *prometheus.CounterVec
	cvReads       prometheus.Counter
	untold        prometheus.Counter
	kills         *prometheus.CounterVec
	readsPaused   prometheus.Gauge

	slackCalls     *prometheus.CounterVec
	ackSeconds     prometheus.Histogram
	envelopes      *prometheus.CounterVec
	connections    prometheus.Gauge
	appConnections prometheus.Gauge
}

// NewMetrics registers the bot's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_commands_total",
			Help: "Slash commands served, by kind and outcome."}, []string{"kind", "outcome"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_denials_total",
			Help: "Requests and clicks refused, by the rule that decided."}, []string{"rule"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_approvals_total",
			Help: "Approval decisions, by decision (approved, rejected)."}, []string{"decision"}),
		expiries: prometheus.NewCounter(prometheus.CounterOpts{Name: "backupbot_expiries_total",
			Help: "Requests that expired waiting for approval."}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_submissions_total",
			Help: "CreateTask submissions, by outcome (submitted, failed, unknown)."}, []string{"outcome"}),
		submitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backupbot_commvault_submit_seconds",
			Help: "How long Commvault took to answer CreateTask.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		cvErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_commvault_errors_total",
			Help: "Commvault errors the bot met, by kind (timeout, rate_limited, http, error_code, unknown_outcome, session_expired, other)."},
			[]string{"kind"}),
		internal: prometheus.NewCounter(prometheus.CounterOpts{Name: "backupbot_internal_errors_total",
			Help: "Unexpected errors shown to users as a reference."}),
		jobsFollowed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "backupbot_jobs_followed",
			Help: "Requests whose Commvault jobs are being followed."}),
		jobsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_jobs_ended_total",
			Help: "Followed jobs that ended, by final status."}, []string{"status"}),
		cvReads: prometheus.NewCounter(prometheus.CounterOpts{Name: "backupbot_commvault_job_reads_total",
			Help: "Commvault reads made to follow jobs (listings and single jobs)."}),
		untold: prometheus.NewCounter(prometheus.CounterOpts{Name: "backupbot_thread_reply_failures_total",
			Help: "Outcome and job-end thread replies Slack did not take; each is posted again until it does."}),
		kills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_job_kills_total",
			Help: "Commvault job kills asked by a cancel, by outcome (killed, refused, unknown, error)."}, []string{"outcome"}),
		readsPaused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "backupbot_commvault_reads_paused_seconds",
			Help: "How long job polling is paused after Commvault's last HTTP 429, in seconds; 0 while it is not."}),
		slackCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_slack_api_errors_total",
			Help: "Slack Web API calls that failed, by method and kind (rate_limited, error)."}, []string{"method", "kind"}),
		ackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backupbot_slack_ack_seconds",
			Help: "Time from receiving an envelope to acking it.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		envelopes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backupbot_slack_envelopes_total",
			Help: "Socket-mode envelopes, by type and what became of them (queued, duplicate, busy, draining, unrecorded, ignored, given_up)."},
			[]string{"type", "result"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "backupbot_slack_connections",
			Help: "Socket-mode connections this replica has open now."}),
		appConnections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "backupbot_slack_app_connections",
			Help: "Socket-mode connections the Slack app has open, all replicas together, as Slack's last hello said (it allows 10)."}),
	}
	for _, c := range []prometheus.Collector{m.commands, m.denials, m.decisions, m.expiries, m.submissions, m.submitSeconds,
		m.cvErrors, m.internal, m.jobsFollowed, m.jobsEnded, m.cvReads, m.untold, m.kills, m.readsPaused, m.slackCalls, m.ackSeconds, m.envelopes, m.connections, m.appConnections} {
		f(c)
	}
	return m
}

// outcome logs one line for a served command and counts it.
func (b *Bot) outcome(t *turn, kind cmdKind, outcome string, fields ...zap.Field) {
	if kind == "" {
		kind = "invalid"
	}
	b.metrics.commands.WithLabelValues(string(kind), outcome).Inc()
	t.log.Info("command", append([]zap.Field{zap.String("outcome", outcome)}, fields...)...)
}

// denied counts a refusal by the rule that decided.
func (b *Bot) denied(rule string) { b.metrics.denials.WithLabelValues(rule).Inc() }
