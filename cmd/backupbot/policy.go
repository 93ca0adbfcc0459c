package main

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
)

// policyHolder is the policy in force; SIGHUP replaces it with a valid new
// one, and an invalid file leaves it as it is.
type policyHolder struct {
	p    atomic.Pointer[auth.Policy]
	info *prometheus.GaugeVec // backupbot_policy_info{hash}
	log  *zap.Logger
}

func newPolicyHolder(cfg config, info *prometheus.GaugeVec, log *zap.Logger) (*policyHolder, error) {
	pol, _, err := loadPolicy(cfg, false)
	if err != nil {
		return nil, err
	}
	h := &policyHolder{log: log, info: info}
	h.set(pol)
	h.warn(pol)
	return h, nil
}

// warn logs what the policy allows but should not (auth.Policy.Warnings).
func (h *policyHolder) warn(pol *auth.Policy) {
	for _, w := range pol.Warnings() {
		h.log.Warn("policy: "+w, zap.String("policy_hash", pol.Hash))
	}
}

func (h *policyHolder) get() *auth.Policy { return h.p.Load() }

func (h *policyHolder) set(pol *auth.Policy) {
	h.p.Store(pol)
	h.info.Reset()
	h.info.WithLabelValues(pol.Hash).Set(1)
}

func (h *policyHolder) ready() error {
	if h.get() == nil {
		return errors.New("no policy")
	}
	return nil
}

// reload re-reads the policy file.
func (h *policyHolder) reload(path string) {
	pol, err := auth.Load(path)
	if err != nil {
		h.log.Error("policy reload rejected; the active policy stays", zap.String("active_hash", h.get().Hash), zap.Error(err))
		return
	}
	h.set(pol)
	h.log.Info("policy reloaded", zap.String("policy", path), zap.String("policy_hash", pol.Hash))
	h.warn(pol)
}
