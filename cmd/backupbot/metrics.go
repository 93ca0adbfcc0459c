package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backupbot/backupbot/bot"
)

// programMetrics are the metrics the bot exports on /metrics that its
// wiring updates.
type programMetrics struct {
	bot              *bot.Metrics
	policyInfo       *prometheus.GaugeVec
	commvaultSeconds *prometheus.HistogramVec
}

// registerMetrics registers on reg every metric the Slack bot exports: Go
// and process metrics, backupbot_build_info, the bot's own (bot.NewMetrics),
// the policy in force and the Commvault request latency. The bot and the
// test that checks the names the alerts and the dashboard use both build
// their registry with it.
func registerMetrics(reg prometheus.Registerer) programMetrics {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoMetric())
	m := programMetrics{
		bot: bot.NewMetrics(reg),
		policyInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "backupbot_policy_info",
			Help: "The policy in force, by the hash of its file."}, []string{"hash"}),
		commvaultSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "backupbot_commvault_request_seconds",
			Help: "Commvault REST requests, by method and HTTP status.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)},
			[]string{"method", "code"}),
	}
	reg.MustRegister(m.policyInfo, m.commvaultSeconds)
	return m
}

// timeCommvault wraps the Commvault client's transport so that every
// request is timed by method and status.
func (m programMetrics) timeCommvault(rt http.RoundTripper) http.RoundTripper {
	return promhttp.InstrumentRoundTripperDuration(m.commvaultSeconds, rt)
}
